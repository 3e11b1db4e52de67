//! What a person sees when a scenario or driver file is wrong: the exact `file:line:col`, the message,
//! and the did-you-mean hint. Each case is a small file written to a scratch directory.

use dexthil::scenario::{LoadErrors, load_scenario};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

fn drivers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/drivers")
}

/// Write `text` (with `@APPLE` / `@DNP` replaced by the shipped driver paths) to a fresh file.
fn write(name: &str, text: &[u8]) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "dexthil-loader-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join(name);
    let apple = drivers_dir().join("apple-sample.yaml");
    let dnp = drivers_dir().join("dnp-printer.yaml");
    // Non-UTF-8 cases are written byte for byte.
    let bytes = match std::str::from_utf8(text) {
        Ok(t) => t
            .replace("@APPLE", &apple.display().to_string())
            .replace("@DNP", &dnp.display().to_string())
            .into_bytes(),
        Err(_) => text.to_vec(),
    };
    std::fs::write(&path, bytes).expect("write fixture");
    path
}

fn load_errors(text: &str) -> (PathBuf, LoadErrors) {
    let path = write("case.yaml", text.as_bytes());
    match load_scenario(&path) {
        Ok(s) => panic!("expected errors, loaded {}", s.name),
        Err(e) => (path, e),
    }
}

struct Case {
    what: &'static str,
    yaml: &'static str,
    /// `line:col: message fragment`
    at: &'static str,
    message: &'static str,
    hint: Option<&'static str>,
}

const CASES: &[Case] = &[
    Case {
        what: "misspelled call key",
        yaml: "driver: @APPLE\nsteps:\n  - open: { as: uc }\n  - call: { on: uc, selectr: Scalar }\n",
        at: "4:21",
        message: "unknown key `selectr`",
        hint: Some("selector"),
    },
    Case {
        what: "misspelled top-level key",
        yaml: "driver: @APPLE\nstep_deadlin: 5s\nsteps:\n  - sleep: 1ms\n",
        at: "2:1",
        message: "unknown key `step_deadlin`",
        hint: Some("step_deadline"),
    },
    Case {
        what: "misspelled step kind",
        yaml: "driver: @APPLE\nsteps:\n  - sleeep: 1ms\n",
        at: "3:5",
        message: "unknown name `sleeep`, expected one of `replug`, `await`",
        hint: Some("sleep"),
    },
    Case {
        what: "unknown selector name",
        yaml: "driver: @APPLE\nsteps:\n  - open: { as: uc }\n  - call: { on: uc, selector: CheckedScalr }\n",
        at: "4:31",
        message: "has no selector `CheckedScalr`",
        hint: Some("CheckedScalar"),
    },
    Case {
        what: "undefined role",
        yaml: "driver: @DNP\nprinters:\n  printer: { model: DS620 }\nsteps:\n  - replug: printr\n",
        at: "5:13",
        message: "no printer role `printr`",
        hint: Some("printer"),
    },
    Case {
        what: "call on an undefined connection",
        yaml: "driver: @APPLE\nsteps:\n  - open: { as: conn }\n  - call: { on: con, selector: Scalar }\n",
        at: "4:17",
        message: "cannot call on `con`: no earlier `open`",
        hint: Some("conn"),
    },
    Case {
        what: "call on a closed connection",
        yaml: "driver: @APPLE\nsteps:\n  - open: { as: uc }\n  - close: uc\n  - call: { on: uc, selector: 0 }\n",
        at: "5:17",
        message: "the connection was closed at",
        hint: None,
    },
    Case {
        what: "closing twice",
        yaml: "driver: @APPLE\nsteps:\n  - open: { as: uc }\n  - close: uc\n  - close: uc\n",
        at: "5:12",
        message: "cannot close `uc`",
        hint: None,
    },
    Case {
        what: "re-opening a still open name",
        yaml: "driver: @APPLE\nsteps:\n  - open: { as: uc }\n  - open: { as: uc }\n",
        at: "4:17",
        message: "connection `uc` is still open",
        hint: None,
    },
    Case {
        what: "an open expecting failure defines no connection",
        yaml: "driver: @APPLE\nsteps:\n  - open: { as: uc, expect: { return: kIOReturnNotPermitted } }\n  - close: uc\n",
        at: "4:12",
        message: "expects a failure, so it defines no connection",
        hint: None,
    },
    Case {
        what: "repeat leaves its connection open",
        yaml: "driver: @APPLE\nsteps:\n  - repeat:\n      times: 2\n      steps:\n        - open: { as: uc }\n",
        at: "6:23",
        message: "still open (opened at",
        hint: None,
    },
    Case {
        what: "bad hex",
        yaml: "driver: @APPLE\nsteps:\n  - open: { as: uc }\n  - call: { on: uc, selector: 1, struct: \"00 0g\" }\n",
        at: "4:42",
        message: "`g` is not a hex digit",
        hint: None,
    },
    Case {
        what: "vendor out of u16 range",
        yaml: "driver: @DNP\nprinters:\n  p: { vendor: 0x11452 }\nsteps:\n  - replug: p\n",
        at: "3:16",
        message: "`vendor` is 70738, out of range for u16 (0..=65535)",
        hint: None,
    },
    Case {
        what: "unknown IOReturn name",
        yaml: "driver: @APPLE\nsteps:\n  - open: { as: uc, expect: { return: kIOReturnNotPermited } }\n",
        at: "3:39",
        message: "`kIOReturnNotPermited` is not a known return code name",
        hint: Some("kIOReturnNotPermitted"),
    },
    Case {
        what: "unknown IOReturn name in a list",
        yaml: "driver: @APPLE\nsteps:\n  - open: { as: uc, expect: { return: [kIOReturnSuccess, kIOReturnBusyy] } }\n",
        at: "3:58",
        message: "`kIOReturnBusyy` is not a known return code name",
        hint: Some("kIOReturnBusy"),
    },
    Case {
        what: "bare-number duration",
        yaml: "driver: @APPLE\nsteps:\n  - sleep: 5\n",
        at: "3:12",
        message: "`5` has no unit",
        hint: None,
    },
    Case {
        what: "duration over an hour",
        yaml: "driver: @APPLE\ndeadline: 2000m\nsteps:\n  - sleep: 1ms\n",
        at: "2:11",
        message: "longer than the limit of 1 hour",
        hint: None,
    },
    Case {
        what: "tab indentation",
        yaml: "driver: @APPLE\nsteps:\n\t- sleep: 1ms\n",
        at: "3:2",
        message: "tabs disallowed",
        hint: None,
    },
    Case {
        what: "duplicate key",
        yaml: "driver: @APPLE\nsteps:\n  - sleep: 1ms\nsteps:\n  - sleep: 2ms\n",
        at: "4:1",
        message: "duplicate key `steps`",
        hint: None,
    },
    Case {
        what: "empty file",
        yaml: "",
        at: "1:1",
        message: "the file is empty",
        hint: None,
    },
    Case {
        what: "a list at top level",
        yaml: "- replug: p\n",
        at: "1:1",
        message: "expected",
        hint: None,
    },
    Case {
        what: "unknown model",
        yaml: "driver: @DNP\nprinters:\n  p: { model: DS602 }\nsteps:\n  - replug: p\n",
        at: "3:15",
        message: "`DS602` is not a printer model",
        hint: Some("DS620"),
    },
    Case {
        what: "await without a printer on a USB driver",
        yaml: "driver: @DNP\nsteps:\n  - await: { state: matched }\n",
        at: "3:5",
        message: "matches on USB interfaces: name a printer role",
        hint: None,
    },
    Case {
        what: "open without a printer on a USB driver",
        yaml: "driver: @DNP\nsteps:\n  - open: { as: uc }\n",
        at: "3:17",
        message: "`open` needs `printer:`",
        hint: None,
    },
    Case {
        what: "unknown cross-check field",
        yaml: "driver: @DNP\nprinters:\n  p: { model: DS620 }\nsteps:\n  - cross_check: { printer: p, skip: [serail] }\n",
        at: "5:39",
        message: "`serail` is not a cross-check field",
        hint: Some("serial"),
    },
    Case {
        what: "too many scalars",
        yaml: "driver: @APPLE\nsteps:\n  - open: { as: uc }\n  - call: { on: uc, selector: 0, scalars: [0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0] }\n",
        at: "4:43",
        message: "`scalars` has 65 entries; at most 64",
        hint: None,
    },
    Case {
        what: "struct over 1 MiB",
        yaml: "driver: @APPLE\nsteps:\n  - open: { as: uc }\n  - call: { on: uc, selector: 1, struct: { fill: 0, len: 1048577 } }\n",
        at: "4:58",
        message: "`len` is 1048577, out of range",
        hint: None,
    },
    Case {
        what: "repeat count zero",
        yaml: "driver: @APPLE\nsteps:\n  - repeat: { times: 0, steps: [ { sleep: 1ms } ] }\n",
        at: "3:22",
        message: "`times` is 0, out of range",
        hint: None,
    },
    Case {
        what: "huge number",
        yaml: "driver: @APPLE\nsteps:\n  - open: { as: uc }\n  - call: { on: uc, selector: 0, scalars: [123456789012345678901234567890] }\n",
        at: "4:44",
        message: "`scalars` must be an integer (u64), found a number too large for 64 bits",
        hint: None,
    },
    Case {
        what: "fault names an unknown selector",
        yaml: "driver: @APPLE\nsim:\n  faults:\n    - { hang: Scalr }\nsteps:\n  - sleep: 1ms\n",
        at: "4:15",
        message: "has no selector `Scalr`",
        hint: Some("Scalar"),
    },
    Case {
        what: "fault with a companion of another kind",
        yaml: "driver: @APPLE\nsim:\n  faults:\n    - { hang: Scalar, after: 1s }\nsteps:\n  - sleep: 1ms\n",
        at: "4:7",
        message: "`after` does not belong to a `hang` fault",
        hint: None,
    },
    Case {
        what: "missing driver file",
        yaml: "driver: ../nowhere/driver.yaml\nsteps:\n  - sleep: 1ms\n",
        at: "1:9",
        message: "cannot read driver file `../nowhere/driver.yaml`",
        hint: None,
    },
];

#[test]
fn each_mistake_is_reported_where_it_is_with_the_nearest_valid_name() {
    let mut failures = Vec::new();
    for case in CASES {
        let (path, errors) = load_errors(case.yaml);
        let shown = errors.to_string();
        let want_prefix = format!("{}:{}: ", path.display(), case.at);
        let hit = errors.0.iter().any(|e| {
            let text = e.to_string();
            text.starts_with(&want_prefix)
                && e.message.contains(case.message)
                && e.hint.as_deref() == case.hint
        });
        if !hit {
            failures.push(format!(
                "{}: wanted `{}{}` hint {:?}, got:\n{shown}",
                case.what, want_prefix, case.message, case.hint
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_hint_is_shown_on_its_own_line() {
    let (path, errors) = load_errors(CASES[0].yaml);
    assert_eq!(
        errors.to_string(),
        format!(
            "{}:4:21: unknown key `selectr`, expected one of `on`, `selector`, `scalars`, `struct`, \
             `scalars_out`, `struct_out`, `completion`, `within`, `expect`, `expect_log`, `expect_no_log`\n  hint: did you mean `selector`?",
            path.display()
        )
    );
}

#[test]
fn non_utf8_and_unreadable_files_are_errors_not_panics() {
    let path = write("bad.yaml", b"driver: x\nsteps: \xff\xfe\n");
    let errors = load_scenario(&path).expect_err("not UTF-8");
    assert!(
        errors.to_string().contains(":2:8: the file is not UTF-8"),
        "{errors}"
    );

    let missing = std::env::temp_dir().join("dexthil-loader-no-such-file.yaml");
    let errors = load_scenario(&missing).expect_err("missing file");
    let shown = errors.to_string();
    assert!(
        shown.starts_with(&format!(
            "{}:0:0: cannot read the file: ",
            missing.display()
        )),
        "{shown}"
    );
}

#[test]
fn odd_shapes_are_errors_never_panics() {
    let inputs: &[&str] = &[
        "~\n",
        "42\n",
        "\"just a string\"\n",
        "driver: @APPLE\nsteps: ~\n",
        "driver: @APPLE\nsteps: []\n",
        "driver: @APPLE\nprinters: []\nsteps:\n  - sleep: 1ms\n",
        "driver: @APPLE\nsteps:\n  - sleep: -5s\n",
        "driver: @APPLE\nsteps:\n  - open: { as: uc, type: -1 }\n",
        "driver: @APPLE\nsteps:\n  - open: { as: uc }\n  - call: { on: uc, selector: 0x1FFFFFFFF }\n",
        "driver: @APPLE\nsteps:\n  - open: { as: uc }\n  - call: { on: uc, selector: 0, struct: { repeat: \"\", len: 4 } }\n",
        "driver: @APPLE\nsteps:\n  - open: { as: uc }\n  - call: { on: uc, selector: 0, struct: { fill: 1 } }\n",
        "driver: @APPLE\nsteps:\n  - open: { as: uc }\n  - call: { on: uc, selector: 0, expect: { return: [] } }\n",
        "driver: @APPLE\nsteps:\n  - repeat: { times: 100001, steps: [] }\n",
        "driver: @APPLE\nsim: { faults: [ {} ] }\nsteps:\n  - sleep: 1ms\n",
        "driver: @APPLE\nsim: { user_client_properties: nope }\nsteps:\n  - sleep: 1ms\n",
        "a: &a [*a]\n",
        "driver: [\n",
    ];
    for input in inputs {
        let path = write("odd.yaml", input.as_bytes());
        let result = std::panic::catch_unwind(|| load_scenario(&path));
        match result {
            Ok(Err(errors)) => assert!(!errors.0.is_empty(), "{input:?}"),
            Ok(Ok(s)) => panic!("{input:?} loaded as {}", s.name),
            Err(_) => panic!("{input:?} panicked"),
        }
    }
}
