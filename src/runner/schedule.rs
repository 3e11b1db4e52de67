//! Scheduling by capability (labgrid's places, LAVA's device types): a station runs the scenarios whose
//! printer roles it can serve, each role bound to a distinct station printer by what the role asks for
//! (model, vendor/product ids, serial, location); the rest are skipped "not for this station" with the
//! reason. And the health check of only what the scenarios that do run need, each dext checked on a lab
//! that runs it.

use super::setup;
use crate::backends::LabFactory;
use crate::driver::Driver;
use crate::scenario::{Role, Scenario};
use crate::station::{Station, health};
use std::sync::Arc;
use std::time::Duration;

/// Why `station` cannot run `s`, or `None` when every role binds to a printer of its own.
pub fn not_for_station(s: &Scenario, station: &Station) -> Option<String> {
    let mut taken = vec![false; station.printers.len()];
    if bind(&s.printers, station, &mut taken) {
        return None;
    }
    // Name the first role that has no printer at all, else say the roles outnumber what serves them.
    let reason = match s
        .printers
        .iter()
        .find(|r| !station.printers.iter().any(|p| p.serves(r)))
    {
        Some(r) => format!("no printer serves role `{}` ({})", r.name, r.describe()),
        None => format!(
            "its {} roles need distinct printers and the station has too few that serve them",
            s.printers.len()
        ),
    };
    Some(format!("not for this station `{}`: {reason}", station.name))
}

/// Bind each role to a distinct printer that serves it (a handful of roles: plain backtracking).
fn bind(roles: &[Role], station: &Station, taken: &mut [bool]) -> bool {
    let Some((role, rest)) = roles.split_first() else {
        return true;
    };
    for (i, p) in station.printers.iter().enumerate() {
        if !taken[i] && p.serves(role) {
            taken[i] = true;
            if bind(rest, station, taken) {
                return true;
            }
            taken[i] = false;
        }
    }
    false
}

/// Split the selected scenarios into those this run runs and those it skips (with the reason): what the
/// station cannot serve, and on a recording (`recording`: its devices) what a recording cannot serve.
pub fn split(
    scenarios: Vec<Scenario>,
    station: Option<&Station>,
    recording: Option<&[crate::lab::UsbView]>,
) -> (Vec<Scenario>, Vec<(Scenario, String)>) {
    let mut run = Vec::new();
    let mut skipped = Vec::new();
    for s in scenarios {
        let why = station
            .and_then(|st| not_for_station(&s, st))
            .or_else(|| recording.and_then(|devices| not_for_recording(&s, devices)));
        match why {
            None => run.push(s),
            Some(reason) => skipped.push((s, reason)),
        }
    }
    (run, skipped)
}

/// Why a recording (`--lab replay:<dir>`) cannot serve `s`, or `None`: a recording is read-only and never
/// changes, so it serves `await ... matched` and `cross_check` on the printers it holds, and nothing that
/// needs a live dext or bus (open, call, close, replug, fuzz, await gone). Such scenarios are not
/// applicable to it: skipped with the first step it cannot serve, not counted as the lab's failures.
pub fn not_for_recording(s: &Scenario, devices: &[crate::lab::UsbView]) -> Option<String> {
    const WHY: &str = "a recording serves only `await ... matched` and `cross_check`";
    for r in &s.printers {
        if r.resolve(devices).is_err() {
            return Some(format!(
                "not applicable to this recording: it holds no printer for role `{}` ({})",
                r.name,
                r.describe()
            ));
        }
    }
    fn first_live(steps: &[crate::scenario::Step], prefix: &str) -> Option<(String, &'static str)> {
        use crate::scenario::StepKind as K;
        for (i, step) in steps.iter().enumerate() {
            let number = if prefix.is_empty() {
                (i + 1).to_string()
            } else {
                format!("{prefix}.{}", i + 1)
            };
            let live = match &step.kind {
                K::Replug { .. } => Some("replug"),
                K::Open { .. } => Some("open"),
                K::Call { .. } => Some("call"),
                K::Close { .. } => Some("close"),
                K::Fuzz(_) => Some("fuzz"),
                K::Await {
                    state: crate::lab::WaitFor::Gone,
                    ..
                } => Some("await gone"),
                K::Repeat { steps, .. } => {
                    if let Some(found) = first_live(steps, &number) {
                        return Some(found);
                    }
                    None
                }
                K::Await { .. } | K::CrossCheck { .. } | K::Sleep(_) | K::Log(_) => None,
            };
            if let Some(kind) = live {
                return Some((number, kind));
            }
        }
        None
    }
    first_live(&s.steps, "").map(|(number, kind)| {
        format!("not applicable to a recording: step {number} `{kind}` needs a live lab ({WHY})")
    })
}

/// The health check of what `scenarios` need of `station`: only the printers they use, and each dext (each
/// driver file: field-bug drivers share a bundle id with another class layout) on a lab made for a scenario
/// of that dext (the sim runs one dext per lab; a real lab is the same lab for all).
/// The problems found, each once; a lab that cannot be opened is a problem too.
pub fn check_health(
    factory: &dyn LabFactory,
    station: &Station,
    scenarios: &[Scenario],
    wait: Duration,
) -> Vec<String> {
    let needs = setup::health_needs(scenarios, station);
    let mut drivers: Vec<Arc<Driver>> = Vec::new();
    for (_, d) in &needs {
        if !drivers.iter().any(|x| x.source == d.source) {
            drivers.push(d.clone());
        }
    }
    let mut problems: Vec<String> = Vec::new();
    for driver in drivers {
        let of_driver: Vec<(String, Arc<Driver>)> = needs
            .iter()
            .filter(|(_, d)| d.source == driver.source)
            .cloned()
            .collect();
        let used = Station {
            printers: station
                .printers
                .iter()
                .filter(|p| of_driver.iter().any(|(n, _)| *n == p.name))
                .cloned()
                .collect(),
            ..station.clone()
        };
        let users: Vec<Scenario> = scenarios
            .iter()
            .filter(|s| s.driver.source == driver.source)
            .cloned()
            .collect();
        let found = match setup::probe_lab(factory, &users) {
            Some(lab) => health::check(&used, &*lab, &of_driver, wait),
            None => vec![format!(
                "the `{}` lab could not be opened to look for the station's printers",
                factory.name()
            )],
        };
        for p in found {
            if !problems.contains(&p) {
                problems.push(p);
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::station::{ReplugChoice, StationPrinter};

    fn printer(name: &str, model: &str, serial: &str) -> StationPrinter {
        StationPrinter {
            name: name.into(),
            span: crate::testkit::span(1),
            model: model.into(),
            serial: Some(serial.into()),
            location: None,
            hub_port: None,
            replug: ReplugChoice::Auto,
            power_off: Duration::from_secs(1),
            power_off_attempts: 1,
        }
    }

    fn role(name: &str, model: Option<&str>, serial: Option<&str>) -> Role {
        Role {
            name: name.into(),
            span: crate::testkit::span(2),
            model: model.map(Into::into),
            vendor: None,
            product: None,
            serial: serial.map(Into::into),
            location: None,
        }
    }

    fn station(printers: Vec<StationPrinter>) -> Station {
        Station {
            name: "mac-1".into(),
            source: "ci/labs/mac-1.yaml".into(),
            backend: crate::backends::LabChoice::Sim,
            printers,
        }
    }

    #[test]
    fn roles_bind_to_distinct_printers_by_model_and_serial() {
        let st = station(vec![
            printer("a", "DS620", "S1"),
            printer("b", "DS620", "S2"),
        ]);
        let mut taken = vec![false; 2];
        let two = [
            role("x", Some("DS620"), None),
            role("y", Some("DS620"), None),
        ];
        assert!(bind(&two, &st, &mut taken));
        let mut taken = vec![false; 2];
        let three = [
            role("x", Some("DS620"), None),
            role("y", Some("DS620"), None),
            role("z", Some("DS620"), None),
        ];
        assert!(!bind(&three, &st, &mut taken), "only two DS620s");
        let mut taken = vec![false; 2];
        // The serial pins `y` to b; `x` must then take a, not b.
        let pinned = [role("x", Some("DS620"), None), role("y", None, Some("S2"))];
        assert!(bind(&pinned, &st, &mut taken));
        let mut taken = vec![false; 2];
        assert!(!bind(&[role("x", Some("CX-02"), None)], &st, &mut taken));
        assert!(!bind(&[role("x", None, Some("S3"))], &st, &mut taken));
    }
}
