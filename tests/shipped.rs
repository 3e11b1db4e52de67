//! The files the project ships for lab Macs work as shipped: `ci/nightly.sh` on the sim station, the
//! launchd plist's command, and the commands of the nightly Actions workflow (every lab job, then the merge
//! job), each taken from the file itself and run against the sim.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_dexthil");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("shipped-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `bash -c COMMAND` in `cwd` with `env`; exit code and all output.
fn bash(command: &str, cwd: &Path, env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new("bash")
        .arg("-c")
        .arg(command)
        .current_dir(cwd)
        .envs(env.iter().copied())
        .output()
        .expect("bash runs");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn nightly_sh_on_the_sim_station_passes_and_keeps_journal_and_junit() {
    let out = scratch("nightly-sh");
    let (code, text) = bash(
        "ci/nightly.sh ci/labs/sim.yaml",
        Path::new(ROOT),
        &[("DEXTHIL", BIN), ("OUT", out.to_str().unwrap())],
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("nightly sim-") && text.contains(": passed"),
        "{text}"
    );
    assert_eq!(files(&out, "journal-sim-").len(), 1, "{text}");
    assert_eq!(files(&out, "junit-sim-").len(), 1, "{text}");
}

#[test]
fn the_launchd_plists_command_runs_the_nightly() {
    let plist = plist::Value::from_file(
        Path::new(ROOT).join("ci/launchd/com.example.dexthil.nightly.plist"),
    )
    .expect("the plist parses");
    let dict = plist.as_dictionary().unwrap();
    let args: Vec<&str> = dict
        .get("ProgramArguments")
        .and_then(|a| a.as_array())
        .unwrap()
        .iter()
        .map(|v| v.as_string().unwrap())
        .collect();
    assert_eq!(&args[..2], ["/bin/bash", "-lc"], "{args:?}");
    // `cd <checkout> && git pull --ff-only && ci/nightly.sh`: the checkout is this one, and a test must not
    // pull; the rest runs as written.
    let command = args[2];
    let (setup, nightly) = command.rsplit_once("&& ").unwrap();
    assert!(
        setup.starts_with("cd ") && setup.contains("git pull"),
        "{command}"
    );
    let out = scratch("launchd");
    let (code, text) = bash(
        nightly,
        Path::new(ROOT),
        &[("DEXTHIL", BIN), ("OUT", out.to_str().unwrap())],
    );
    assert_eq!(
        code, 0,
        "`{nightly}` on this machine (no station of its name: the sim): {text}"
    );
    assert_eq!(
        files(&out, "journal-").len(),
        2,
        "the journal and its -latest link: {text}"
    );
}

/// The workflow as JSON.
fn workflow() -> serde_json::Value {
    let text = std::fs::read_to_string(Path::new(ROOT).join("ci/github/nightly-lab.yml")).unwrap();
    serde_saphyr::from_str(&text).expect("the workflow parses")
}

#[test]
fn the_actions_workflow_runs_every_station_then_merges_into_one_verdict() {
    let wf = workflow();
    let lab = &wf["jobs"]["lab"];
    let matrix = lab["strategy"]["matrix"]["include"].as_array().unwrap();
    let run_of = |job: &serde_json::Value, name: &str| -> String {
        job["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .and_then(|s| s["run"].as_str())
            .unwrap_or_else(|| panic!("no step `{name}`"))
            .to_string()
    };
    let nightly = run_of(lab, "nightly");
    // Hash partitions only among identical stations: every label's parts are 1..=of, with one `of`.
    let mut labels: Vec<&str> = matrix
        .iter()
        .map(|m| m["label"].as_str().unwrap())
        .collect();
    labels.dedup();
    for label in &labels {
        let parts: Vec<(u64, u64)> = matrix
            .iter()
            .filter(|m| m["label"] == *label)
            .map(|m| (m["part"].as_u64().unwrap(), m["of"].as_u64().unwrap()))
            .collect();
        let of = parts[0].1;
        assert!(parts.iter().all(|p| p.1 == of), "{label}: {parts:?}");
        let mut got: Vec<u64> = parts.iter().map(|p| p.0).collect();
        got.sort();
        assert_eq!(got, (1..=of).collect::<Vec<_>>(), "{label}");
    }

    // Each matrix entry's command, on the sim station (the label a sim Mac would have), into the folder the
    // merge job downloads its artifact to.
    let fleet = scratch("actions");
    for m in matrix {
        let (part, of) = (m["part"].as_u64().unwrap(), m["of"].as_u64().unwrap());
        let command = nightly
            .replace("${{ matrix.label }}", "sim")
            .replace("${{ matrix.part }}", &part.to_string())
            .replace("${{ matrix.of }}", &of.to_string());
        let out = fleet.join(format!(
            "target/fleet/nightly-{}-{part}-of-{of}",
            m["label"].as_str().unwrap()
        ));
        let (code, text) = bash(
            &command,
            Path::new(ROOT),
            &[("DEXTHIL", BIN), ("OUT", out.to_str().unwrap())],
        );
        assert_eq!(code, 0, "{command}: {text}");
        // What the upload step keeps: the dated files only.
        for link in ["journal-latest.jsonl", "junit-latest.xml"] {
            std::fs::remove_file(out.join(link)).unwrap();
        }
    }
    let merge = &wf["jobs"]["merge"];
    let report =
        run_of(merge, "one verdict, one JUnit, one report").replace("target/release/dexthil", BIN);
    let (code, text) = bash(&report, &fleet, &[]);
    assert_eq!(code, 0, "{report}: {text}");
    assert!(
        text.contains(&format!("merged {} journals", matrix.len())),
        "{text}"
    );
    assert!(fleet.join("target/fleet/junit.xml").is_file());
    assert!(fleet.join("target/fleet/report.html").is_file());
}
