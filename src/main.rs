//! The `dexthil` command line. Only argument parsing and wiring live here; everything else is the library.

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use dexthil::backends::LabChoice;
use dexthil::report::progress::SuspendingWriter;
use dexthil::runner::{self, Exit, NightlyOptions, RunArgs};
use dexthil::scenario;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "dexthil",
    version = dexthil::report::provenance::LONG_VERSION,
    about = "Hardware-in-the-loop tests for DriverKit extensions that drive USB photo printers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How tracing log lines (RUST_LOG) are written: text for people, json (one object a line) for machines
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios. Exit 0: all passed; 1: the driver broke; 2: bad input or the lab broke.
    Run(Box<RunCmd>),
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
    /// Record a printer for replay: usb.json (the libusb view), the registry (ioreg on a Mac, a rendered
    /// ioreg.txt from --lab sim or replay) and provenance.json, into a folder `--lab replay:<dir>` reads.
    Record {
        /// A station role (with --station), a printer model (DS620), or vendor:product in hex (1452:8b01)
        target: String,
        /// A station file whose role names the printer (its model, serial and location)
        #[arg(long, value_name = "FILE")]
        station: Option<PathBuf>,
        /// The folder to write (created if missing)
        #[arg(short = 'o', long = "out", value_name = "DIR")]
        out: PathBuf,
        /// sim or replay:<dir> [default: the live machine: libusb, plus ioreg on a Mac]
        #[arg(long, value_parser = LabChoice::parse)]
        lab: Option<LabChoice>,
        /// The driver file whose dext the sim runs
        #[arg(
            long,
            value_name = "FILE",
            default_value = "scenarios/drivers/dnp-printer.yaml"
        )]
        driver: PathBuf,
    },
    /// Rebuild the console report, JUnit and an HTML page from one or more journals (several Macs or
    /// partitions merge into one verdict; a killed run too). Exit: the merged verdict (0, 1 or 2).
    Report {
        /// The journals (`target/dexthil/journal-*.jsonl`)
        #[arg(required = true)]
        journals: Vec<PathBuf>,
        /// Write JUnit XML here (one suite per journal)
        #[arg(long, value_name = "PATH")]
        junit: Option<PathBuf>,
        /// Write a self-contained HTML report here
        #[arg(long, value_name = "PATH")]
        html: Option<PathBuf>,
        /// A scenario that passed only on a retry counts as a failure
        #[arg(long)]
        flaky_fails: bool,
    },
    /// What changed between two nights: newly failing, fixed, flaky, missing, slower calls. OLD and NEW are
    /// journals, or folders whose journals (*.jsonl) are one merged night. Exit 1 when something newly fails.
    Compare {
        old: PathBuf,
        new: PathBuf,
        /// A call step whose median time grew by more than this percentage (and at least 1 ms) is reported
        #[arg(long, value_name = "PERCENT", default_value_t = 50.0)]
        threshold: f64,
    },
    /// Decode IOReturn, Mach or MIG codes: name, meaning, family, and where on the user-client path they arise.
    Decode {
        /// Codes as hex (0xE00002BC), decimal, negative decimal (-307) or a name (kIOReturnNotPermitted)
        #[arg(required = true, allow_hyphen_values = true)]
        codes: Vec<String>,
    },
    /// Say why IOServiceOpen on a dext fails: checks of the files from a bug report, or of this Mac (--live).
    /// Exit 0: no check failed; 1: a check failed; 2: an input could not be read.
    Doctor(DoctorCmd),
    /// Fuzz a dext's user client from its driver file. Exit 0: no finding; 1: a finding (written as a
    /// scenario); 2: bad input or the lab broke.
    Fuzz(Box<FuzzCmd>),
    /// Be an emulated printer's firmware on a USB gadget (in the USB VM), or print the gadget set-up.
    PrinterEmu(PrinterEmuCmd),
    /// Check, on this Mac, what the darwin double assumes of closed source (run it first on a lab Mac):
    /// prints assumption → observed → verdict and writes a folder to attach to a bug report.
    /// Exit 0: every assumption holds; 1: one is broken; 2: not a Mac, or an input could not be read.
    Selftest(SelftestCmd),
    /// Internal, for `run --isolate`: run one scenario and write its events to stdout as journal lines.
    #[command(name = runner::isolate::CHILD_COMMAND, hide = true)]
    RunOne {
        #[arg(long, value_parser = LabChoice::parse)]
        lab: LabChoice,
        /// Which attempt (1 = the first run; the sim's `open_lab_error` counts them)
        #[arg(long, default_value_t = 1)]
        attempt: u32,
        /// The scenario's name, checked against the file
        #[arg(long)]
        name: String,
        /// The parent's station file: its per-printer replug choices apply here too
        #[arg(long, value_name = "FILE")]
        station: Option<PathBuf>,
        file: PathBuf,
    },
}

#[derive(Args)]
struct SelftestCmd {
    /// The folder to write [default: target/dexthil/selftest-<time>/]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The driver file of Apple's sample, for the async completion and call-time checks
    #[arg(
        long,
        value_name = "FILE",
        default_value = "scenarios/drivers/apple-sample.yaml"
    )]
    sample_driver: PathBuf,
    /// Answer as the darwin double assumes a Mac does instead of probing this machine (tests)
    #[arg(long, hide = true)]
    scripted: bool,
    /// With --scripted, break one assumption (repeatable)
    #[arg(long = "scripted-fault", hide = true, value_name = "NAME")]
    scripted_faults: Vec<String>,
}

fn selftest(cmd: SelftestCmd) -> ExitCode {
    use dexthil::selftest::{self, ScriptedFault, ScriptedProbe, SelftestProbe};
    use std::io::Write;
    let probe: Box<dyn SelftestProbe> = if cmd.scripted {
        match cmd
            .scripted_faults
            .iter()
            .map(|f| ScriptedFault::parse(f))
            .collect()
        {
            Ok(faults) => Box::new(ScriptedProbe { faults }),
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::BadInputOrLab.into();
            }
        }
    } else {
        // The machine's probe comes from `os` (the macOS backend's on a Mac or through the darwin double,
        // `selftest::NOT_A_MAC` elsewhere): `selftest` sits below `os` and does not ask it.
        match dexthil::os::selftest_probe(&cmd.sample_driver) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::BadInputOrLab.into();
            }
        }
    };
    let out = cmd.out.unwrap_or_else(selftest::default_folder);
    match selftest::run(&*probe, &out) {
        Ok(done) => {
            // A closed pipe (`| head`) must not hide the verdict: the exit code still carries it.
            let mut stdout = std::io::stdout();
            let _ = write!(stdout, "{}", done.table);
            let _ = writeln!(stdout, "wrote {}", done.folder.display());
            ExitCode::from(done.exit)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::BadInputOrLab.into()
        }
    }
}

#[derive(Args)]
#[command(after_help = "\
Any subset of the files works: a check whose input is missing says so and names the flag that would let it \
run. Files (or a folder of a bug report's attachments) given without a flag are recognised by their \
content. See docs/doctor.md for how to capture each file.")]
struct DoctorCmd {
    /// Gather the inputs on this Mac (systemextensionsctl, ioreg, codesign); files given still take precedence
    #[arg(long)]
    live: bool,
    /// `ioreg -l` text or `ioreg -a -l` plist taken with the printer plugged in
    #[arg(long, value_name = "FILE")]
    ioreg: Option<PathBuf>,
    /// The host's matching dictionary (what it passes to IOServiceGetMatchingServices), plist or JSON
    #[arg(long, value_name = "FILE")]
    matching: Option<PathBuf>,
    /// `codesign -d --entitlements - --xml <Host.app>` output
    #[arg(long, value_name = "FILE")]
    host_entitlements: Option<PathBuf>,
    /// `codesign -d --entitlements - --xml <the .dext>` output
    #[arg(long, value_name = "FILE")]
    dext_entitlements: Option<PathBuf>,
    /// `systemextensionsctl list` output
    #[arg(long, value_name = "FILE")]
    sysext: Option<PathBuf>,
    /// The code IOServiceOpen returned: hex, decimal or a name
    #[arg(long, value_name = "CODE", allow_hyphen_values = true)]
    code: Option<String>,
    /// A kernel log captured while the host opened (`/usr/bin/log stream ...`, see the report)
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// A crash report of the dext: `.ips` or the older `.crash` text
    #[arg(long, value_name = "FILE")]
    crash: Option<PathBuf>,
    /// Attachments (files or folders of them), each recognised by its content: ioreg dump,
    /// systemextensionsctl list, entitlements, matching dictionary, log, crash report
    #[arg(value_name = "ATTACHMENT")]
    attachments: Vec<PathBuf>,
    /// The dext's bundle id [default: the one dext the inputs name]
    #[arg(long, value_name = "ID")]
    bundle_id: Option<String>,
    /// A .dext bundle or its Info.plist: its personalities and executable's symbols are checked (with
    /// --live, its entitlements are also read)
    #[arg(long, value_name = "PATH")]
    dext: Option<PathBuf>,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
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
    /// How many scenarios run at once, 1..=256 (1 runs them in order); scenarios sharing a printer never
    /// overlap
    #[arg(long, visible_alias = "jobs", value_name = "N", value_parser = runner::limits::parse_jobs)]
    test_threads: Option<usize>,
    /// Write the JSON Lines journal here [default: target/dexthil/journal-<UTC time>.jsonl]
    #[arg(long, value_name = "PATH")]
    journal: Option<PathBuf>,
    /// When the journal fsyncs: `case` after every event, so each operation's line is on disk before the
    /// operation runs (hunting kernel panics); `batch` at each verdict and at most every 100 ms (every line
    /// is written at once either way)
    #[arg(long, value_parser = dexthil::scenario::Durability::parse, default_value = "batch")]
    durability: dexthil::scenario::Durability,
    /// Write JUnit XML here (at the end, and on SIGINT / SIGTERM)
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// A station file (ci/labs/*.yaml): its backend, and a health check of its printers before any scenario
    #[arg(long, visible_alias = "lab-file", value_name = "FILE")]
    station: Option<PathBuf>,
    /// Run only scenarios with this tag (repeatable: any of them)
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Run only this share of the corpus: `hash:M/N` (stable across machines)
    #[arg(long, value_parser = |s: &str| runner::Partition::parse(s).map_err(|e| e.to_string()))]
    partition: Option<runner::Partition>,
    /// Retry a scenario up to N times (0..=10) after an infrastructure (lab) failure; a pass on a retry is
    /// flaky
    #[arg(long, value_name = "N", default_value = "0", value_parser = runner::limits::parse_retries)]
    retries: u32,
    /// A run that selects no scenario passes (exit 0) instead of failing closed with exit 2
    #[arg(long)]
    allow_empty: bool,
    /// Show every step of every scenario (default: one line per passing scenario, failures in full)
    #[arg(short, long, conflicts_with = "quiet")]
    verbose: bool,
    /// Show only failures and the summary line
    #[arg(short, long)]
    quiet: bool,
    /// A flaky scenario fails the run (exit 2)
    #[arg(long)]
    flaky_fails: bool,
    /// Run only scenarios tagged `ignore`
    #[arg(long)]
    ignored: bool,
    /// Run scenarios tagged `ignore` too
    #[arg(long)]
    include_ignored: bool,
    /// Run each scenario in a child process: a crash (abort, segfault) of dexthil itself then fails only that
    /// scenario, as the lab's fault (exit 2), and the run goes on
    #[arg(long)]
    isolate: bool,
}

#[derive(Args)]
#[command(after_help = "See docs/fuzz.md for what is generated, the invariants, and the journal.")]
struct FuzzCmd {
    /// The driver file whose selector table is fuzzed
    #[arg(long, value_name = "FILE")]
    driver: PathBuf,
    /// Fuzz the dext on this printer (a catalog model) [default: the driver's resource service]
    #[arg(long, value_name = "MODEL")]
    printer: Option<String>,
    /// sim or macos [default: macos on a Mac, sim elsewhere]
    #[arg(long, value_parser = LabChoice::parse)]
    lab: Option<LabChoice>,
    /// How many cases to generate
    #[arg(long, default_value_t = 1000)]
    cases: u32,
    /// Replay a run exactly [default: a fresh seed, printed]
    #[arg(long)]
    seed: Option<u64>,
    /// Stop generating cases after this long (`30s`, `10m`)
    #[arg(long, value_parser = parse_duration)]
    budget: Option<std::time::Duration>,
    /// Each operation's deadline
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    within: std::time::Duration,
    /// Fuzz only these selectors (names or numbers, comma-separated) [default: all]
    #[arg(long, value_delimiter = ',')]
    selectors: Vec<String>,
    /// Where each finding's scenario is written (kept out of the corpus until a person moves it there)
    #[arg(long, value_name = "DIR", default_value = "target/dexthil/findings")]
    out: PathBuf,
    /// When the journal fsyncs: `case` before every operation, `batch` at each finding and at most every
    /// 100 ms (every line is written at once either way)
    #[arg(long, value_parser = dexthil::scenario::Durability::parse, default_value = "batch")]
    durability: dexthil::scenario::Durability,
    /// End the run at the first finding instead of going on to find others
    #[arg(long)]
    stop_at_first: bool,
    /// Write the JSON Lines journal here [default: target/dexthil/journal-<UTC time>.jsonl]
    #[arg(long, value_name = "PATH")]
    journal: Option<PathBuf>,
    /// Shrinking a finding tries at most this many simplifications (each costs lab time)
    #[arg(long, default_value_t = 512)]
    shrink_iters: u32,
    /// Shrinking a finding stops after this long
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    shrink_time: std::time::Duration,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    dexthil::scenario::parse_duration(text)
}

fn fuzz(cmd: FuzzCmd) -> Exit {
    let journal = cmd
        .journal
        .unwrap_or_else(dexthil::report::journal::default_path);
    dexthil::runner::fuzz_cli::run(dexthil::runner::fuzz_cli::FuzzCli {
        driver_file: cmd.driver,
        printer: cmd.printer,
        lab: cmd.lab.unwrap_or_else(LabChoice::default_here),
        selectors: cmd.selectors,
        out: cmd.out,
        journal,
        options: dexthil::fuzz::FuzzOptions {
            cases: cmd.cases,
            seed: cmd.seed,
            budget: cmd.budget,
            durability: cmd.durability,
            within: cmd.within,
            shrink_iters: cmd.shrink_iters,
            shrink_time: cmd.shrink_time,
            stop_at_first: cmd.stop_at_first,
            ..Default::default()
        },
    })
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

/// The nightly options of `run`; `None` when the station file is bad (its errors are printed).
fn nightly_options(cmd: &RunCmd) -> Option<NightlyOptions> {
    let station = match &cmd.station {
        Some(path) => match dexthil::station::load_station(path) {
            Ok(st) => Some(st),
            Err(errors) => {
                runner::print_file_errors(&errors, "the station file", &mut std::io::stderr());
                return None;
            }
        },
        None => None,
    };
    let journal = cmd
        .journal
        .clone()
        .unwrap_or_else(dexthil::report::journal::default_path);
    Some(NightlyOptions {
        journal: Some(journal),
        durability: cmd.durability,
        junit: cmd.junit.clone(),
        station,
        tags: cmd.tags.clone(),
        partition: cmd.partition,
        retries: cmd.retries,
        flaky_fails: cmd.flaky_fails,
        progress: true,
        signals: true,
        isolate: cmd.isolate,
        require_selection: !cmd.allow_empty,
        console: Some(if cmd.verbose {
            dexthil::report::Detail::Steps
        } else if cmd.quiet {
            dexthil::report::Detail::Quiet
        } else {
            dexthil::report::Detail::Failures
        }),
    })
}

fn run(cmd: RunCmd) -> anyhow::Result<Exit> {
    let Some(opts) = nightly_options(&cmd) else {
        return Ok(Exit::BadInputOrLab);
    };
    // The station names its backend; an explicit --lab wins.
    let lab = cmd
        .lab
        .clone()
        .or_else(|| opts.station.as_ref().map(|s| s.backend.clone()));
    let args = run_args(cmd, lab).context("reading the command line")?;
    Ok(runner::run_with(args, &opts))
}

fn run_args(cmd: RunCmd, lab: Option<LabChoice>) -> anyhow::Result<RunArgs> {
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
    let lab = lab.unwrap_or_else(LabChoice::default_here);
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

/// A journal, or a folder's journals (`*.jsonl`, sorted): one night.
fn journals_of(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("reading {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    found.sort();
    if found.is_empty() {
        bail!("{} holds no journal (*.jsonl)", path.display());
    }
    Ok(found)
}

fn compare(old: &Path, new: &Path, threshold: f64) -> anyhow::Result<Exit> {
    if !(threshold.is_finite() && threshold >= 0.0) {
        bail!("--threshold {threshold}: give a percentage of 0 or more");
    }
    Ok(runner::compare_journals(
        &journals_of(old)?,
        &journals_of(new)?,
        threshold / 100.0,
        std::io::stdout(),
    )?)
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

fn doctor(cmd: DoctorCmd) -> ExitCode {
    use dexthil::doctor::{self, Files, Inputs};
    let files = Files {
        ioreg: cmd.ioreg,
        matching: cmd.matching,
        host_entitlements: cmd.host_entitlements,
        dext_entitlements: cmd.dext_entitlements,
        sysext: cmd.sysext,
        log: cmd.log,
        dext: cmd.dext.clone(),
        crash: cmd.crash,
        code: cmd.code,
        bundle_id: cmd.bundle_id,
    };
    if !cmd.live && Inputs::nothing_given(&files, &cmd.attachments) {
        eprintln!("error: {}", doctor::NOTHING_GIVEN);
        return Exit::BadInputOrLab.into();
    }
    let inputs = Inputs::load_with(&files, &cmd.attachments).and_then(|i| {
        if cmd.live {
            doctor::live::gather(i, &doctor::live::LiveOptions { dext: cmd.dext })
        } else {
            Ok(i)
        }
    });
    match inputs {
        Ok(i) => {
            let report = doctor::diagnose(&i);
            if cmd.json {
                print!("{}", report.to_json());
            } else {
                print!("{}", report.render());
            }
            ExitCode::from(report.exit_code())
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::BadInputOrLab.into()
        }
    }
}

fn find_model(name: &str) -> anyhow::Result<&'static dexthil::printer::catalog::Model> {
    dexthil::printer::catalog::find_or_explain(name).map_err(anyhow::Error::msg)
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
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Log lines hide the progress bar while they are written, so the bar never cuts one.
    let writer = || SuspendingWriter(std::io::stderr());
    match cli.log_format {
        // Colour only on a terminal: a warning in a CI log or a file must read as plain text.
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(writer)
            .init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(writer)
            .init(),
    }
    // Only commands that print and write nothing else: `report`, `record`, `selftest`, `run` and `fuzz` must
    // live on to write their files.
    if matches!(
        cli.command,
        Command::List { .. }
            | Command::ListDevices { .. }
            | Command::Ioreg { .. }
            | Command::Decode { .. }
            | Command::Compare { .. }
            | Command::Doctor(_)
    ) {
        dexthil::os::quiet_on_closed_stdout();
    }
    let result = match cli.command {
        Command::Doctor(cmd) => return doctor(cmd),
        Command::Selftest(cmd) => return selftest(cmd),
        Command::Run(cmd) => run(*cmd),
        Command::Report {
            journals,
            junit,
            html,
            flaky_fails,
        } => runner::report_journals(
            &journals,
            &runner::ReportOutputs {
                junit,
                html,
                flaky_fails,
            },
            std::io::stdout(),
        )
        .map_err(anyhow::Error::from),
        Command::Compare {
            old,
            new,
            threshold,
        } => compare(&old, &new, threshold),
        Command::List { paths } => list(paths),
        Command::Decode { codes } => Ok(decode(&codes)),
        Command::PrinterEmu(cmd) => printer_emu(cmd),
        Command::RunOne {
            lab,
            attempt,
            name,
            station,
            file,
        } => Ok(runner::isolate::run_child(
            &file,
            &name,
            &lab,
            attempt,
            station.as_deref(),
        )),
        Command::Fuzz(cmd) => Ok(fuzz(*cmd)),
        Command::ListDevices { replay } => Ok(print_or_fail(match replay {
            Some(dir) => dexthil::inspect::recorded_devices(&dir).map_err(|e| e.to_string()),
            None => dexthil::inspect::live_devices().map_err(|e| e.to_string()),
        })),
        Command::Record {
            target,
            station,
            out,
            lab,
            driver,
        } => Ok(print_or_fail(
            dexthil::record::record(&target, &out, lab.as_ref(), &driver, station.as_deref())
                .map(|written| {
                    written
                        .iter()
                        .map(|p| format!("wrote {}\n", p.display()))
                        .collect()
                })
                .map_err(|e| e.to_string()),
        )),
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
