//! The `dexthil` command line. Only argument parsing and wiring live here; everything else is the library.

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use dexthil::backends::LabChoice;
use dexthil::runner::{self, Exit, RunArgs};
use dexthil::scenario;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "dexthil",
    version,
    about = "Hardware-in-the-loop tests for DriverKit extensions that drive USB photo printers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios. Exit 0: all passed; 1: the driver broke; 2: bad input or the lab broke.
    Run(RunCmd),
    /// List scenarios: name, file, tags, printers, driver (one a line).
    List {
        /// Scenario files or directories [default: scenarios/]
        paths: Vec<PathBuf>,
    },
    /// List the USB devices of the live bus in the libusb view, beside their IORegistry entries on a Mac.
    ListDevices {
        /// Read a recording directory (ioreg.plist or ioreg.txt, usb.json) instead of the live bus
        #[arg(long, value_name = "DIR")]
        replay: Option<PathBuf>,
    },
    /// Summarize an ioreg dump (`ioreg -a -l` plist or `ioreg -l` text): USB devices, interfaces, dext services.
    Ioreg {
        /// The dump file
        dump: PathBuf,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Decode IOReturn, Mach or MIG codes: name, meaning, family, and where on the user-client path they arise.
    Decode {
        /// Codes as hex (0xE00002BC), decimal, negative decimal (-307) or a name (kIOReturnNotPermitted)
        #[arg(required = true, allow_hyphen_values = true)]
        codes: Vec<String>,
    },
    /// Be an emulated printer's firmware on a USB gadget (in the USB VM), or print the gadget set-up.
    PrinterEmu(PrinterEmuCmd),
}

#[derive(Args)]
#[command(after_help = "\
With --gadget-script, print the configfs commands that create one printer gadget per model (the K-th on \
dummy_udc.K, its firmware side /dev/g_printerK). Otherwise serve ESC P on --device as --model for ever. \
The control file, when given, is read before each command: write a state name or STATUS number into it to \
change the printer's state while it runs (`echo paper_end > FILE`).")]
struct PrinterEmuCmd {
    /// Print the gadget set-up for these models (comma-separated catalog names) and exit
    #[arg(long, value_name = "MODELS", value_delimiter = ',', conflicts_with_all = ["device", "model"])]
    gadget_script: Vec<String>,
    /// The gadget's character device (/dev/g_printerK)
    #[arg(long, requires = "model")]
    device: Option<PathBuf>,
    /// The catalog model to be
    #[arg(long)]
    model: Option<String>,
    /// Start state: idle, printing, cooling, cover_open, paper_end, ribbon_end or a STATUS number
    #[arg(long, default_value = "idle")]
    state: String,
    /// A file whose content (a state) is applied before each command
    #[arg(long, value_name = "FILE")]
    control: Option<PathBuf>,
}

#[derive(Args)]
#[command(after_help = "\
Each TARGET that exists on disk is a scenario file or directory; any other TARGET is a name filter \
(substring, or whole name with --exact). So `dexthil run ds620` runs the scenarios whose name contains \
`ds620` from scenarios/, and `dexthil run scenarios/smoke ds620` does the same within scenarios/smoke. \
Use --path / --filter when a name and a path could be confused. At most one filter.")]
struct RunCmd {
    /// Scenario files or directories, and at most one scenario name filter
    targets: Vec<String>,
    /// A scenario file or directory (repeatable) [default: scenarios/]
    #[arg(long = "path", value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Run only scenarios whose name contains this
    #[arg(long)]
    filter: Option<String>,
    /// The filter must equal the whole name
    #[arg(long)]
    exact: bool,
    /// Skip scenarios whose name contains this (repeatable)
    #[arg(long, value_name = "FILTER")]
    skip: Vec<String>,
    /// List the selected scenarios instead of running them
    #[arg(long)]
    list: bool,
    /// Output format of the per-scenario results (the step-by-step report goes to stderr unless pretty)
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// sim, macos, vm (inside the USB VM) or replay:<dir> [default: macos on a Mac, sim elsewhere]
    #[arg(long, value_parser = LabChoice::parse)]
    lab: Option<LabChoice>,
    /// How many scenarios run at once (1 runs them in order)
    #[arg(long, value_name = "N")]
    test_threads: Option<usize>,
    /// Run only scenarios tagged `ignore`
    #[arg(long)]
    ignored: bool,
    /// Run scenarios tagged `ignore` too
    #[arg(long)]
    include_ignored: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Pretty,
    Terse,
    Json,
}

fn default_paths(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        paths
    }
}

fn run_args(cmd: RunCmd) -> anyhow::Result<RunArgs> {
    let mut paths = cmd.paths;
    let mut filter = cmd.filter;
    for t in cmd.targets {
        if Path::new(&t).exists() {
            paths.push(PathBuf::from(t));
        } else if let Some(first) = &filter {
            bail!(
                "`{t}` is not a file or directory, and `{first}` is already the name filter: \
                 give one filter (or use --path if `{t}` should be a path)"
            );
        } else {
            filter = Some(t);
        }
    }
    let lab = cmd.lab.unwrap_or_else(LabChoice::default_here);
    // Scenarios on a real lab share its printers: one at a time unless asked otherwise. Each sim scenario
    // gets a lab of its own, so those run in parallel.
    let test_threads = cmd
        .test_threads
        .or(if lab == LabChoice::Sim { None } else { Some(1) });
    let libtest = libtest_mimic::Arguments {
        filter,
        exact: cmd.exact,
        skip: cmd.skip,
        list: cmd.list,
        format: cmd.format.map(|f| match f {
            Format::Pretty => libtest_mimic::FormatSetting::Pretty,
            Format::Terse => libtest_mimic::FormatSetting::Terse,
            Format::Json => libtest_mimic::FormatSetting::Json,
        }),
        test_threads,
        ignored: cmd.ignored,
        include_ignored: cmd.include_ignored,
        ..libtest_mimic::Arguments::default()
    };
    Ok(RunArgs {
        paths: default_paths(paths),
        lab,
        libtest,
    })
}

fn list(paths: Vec<PathBuf>) -> anyhow::Result<Exit> {
    let scenarios = match scenario::load_corpus(&default_paths(paths)) {
        Ok(s) => s,
        Err(errors) => {
            runner::print_load_errors(&errors, &mut std::io::stderr());
            return Ok(Exit::BadInputOrLab);
        }
    };
    for line in runner::list_lines(&scenarios) {
        println!("{line}");
    }
    Ok(Exit::Passed)
}

/// Print what a read-only command produced, or its error (exit 2: bad input or no lab to read).
fn print_or_fail(result: Result<String, String>) -> Exit {
    match result {
        Ok(text) => {
            print!("{text}");
            Exit::Passed
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::BadInputOrLab
        }
    }
}

fn decode(codes: &[String]) -> Exit {
    let mut exit = Exit::Passed;
    for text in codes {
        match dexthil::ioreturn::parse(text) {
            Ok(code) => print!("{}", dexthil::decode::explain(code.0)),
            Err(e) => {
                eprintln!("error: {e}");
                exit = Exit::BadInputOrLab;
            }
        }
    }
    exit
}

fn find_model(name: &str) -> anyhow::Result<&'static dexthil::printer::catalog::Model> {
    dexthil::printer::catalog::find(name).with_context(|| {
        let names: Vec<_> = dexthil::printer::catalog::all_names().collect();
        format!("`{name}` is not a catalog model: {}", names.join(", "))
    })
}

fn printer_emu(cmd: PrinterEmuCmd) -> anyhow::Result<Exit> {
    use dexthil::printer::{emulator, gadget};
    if !cmd.gadget_script.is_empty() {
        let models = cmd
            .gadget_script
            .iter()
            .map(|n| find_model(n))
            .collect::<anyhow::Result<Vec<_>>>()?;
        print!("{}", gadget::script(&models));
        return Ok(Exit::Passed);
    }
    let (Some(device), Some(model)) = (cmd.device, cmd.model) else {
        bail!("give --gadget-script MODELS, or --device and --model");
    };
    let mut emu = emulator::Emulator::new(find_model(&model)?);
    emu.state.status = emulator::parse_state(&cmd.state)?;
    emu.control = cmd.control;
    emulator::serve_device(&mut emu, &device)
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(cmd) => run_args(cmd)
            .context("reading the command line")
            .map(runner::run),
        Command::List { paths } => list(paths),
        Command::Decode { codes } => Ok(decode(&codes)),
        Command::PrinterEmu(cmd) => printer_emu(cmd),
        Command::ListDevices { replay } => Ok(print_or_fail(match replay {
            Some(dir) => dexthil::inspect::recorded_devices(&dir).map_err(|e| e.to_string()),
            None => dexthil::inspect::live_devices().map_err(|e| e.to_string()),
        })),
        Command::Ioreg { dump, json } => Ok(print_or_fail(
            dexthil::inspect::ioreg_summary(&dump, json).map_err(|e| e.to_string()),
        )),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("error: {e:#}");
            Exit::BadInputOrLab.into()
        }
    }
}
