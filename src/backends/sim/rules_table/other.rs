//! Rows C1-C3 (codes the sim chooses) and P1 (printers).

use super::*;

use super::dispatch::args;
use super::registry::lab_of;

pub(super) fn call_once(l: &SimLab, selector: u32) -> Result<u32, String> {
    let v = l.devices().map_err(|e| e.to_string())?;
    let svc = v
        .iter()
        .find_map(|v| l.service_entry(Some(v)))
        .ok_or("no service")?;
    let c = l
        .open(&OpenRequest {
            entry: svc.id,
            open_type: 0,
        })
        .map_err(|e| e.to_string())?
        .connection
        .ok_or("no connection")?;
    let a = args(selector, 0, 0, 1, 0, false);
    l.call(c, &a).map(|o| o.code.0).map_err(|e| e.to_string())
}

pub(super) fn other_rows() -> Vec<(&'static str, Check)> {
    vec![
        (
            "C1",
            Box::new(|| {
                let l = lab_of("scenarios/field-bugs/dext-crash-mid-call.yaml");
                expect(
                    "after a crash",
                    call_once(&l, 0)?,
                    code::MACH_SEND_INVALID_DEST,
                )
            }),
        ),
        (
            "C2",
            Box::new(|| {
                let l = lab_of("scenarios/field-bugs/unplug-mid-call.yaml");
                expect(
                    "provider gone mid-call",
                    call_once(&l, 0)?,
                    code::kIOReturnNotAttached,
                )
            }),
        ),
        (
            "C3",
            Box::new(|| {
                expect(
                    "hung call released",
                    HUNG_CALL_RELEASED,
                    code::kIOReturnAborted,
                )
            }),
        ),
        (
            "P1",
            Box::new(|| {
                use crate::printer::catalog::{IdSource, find};
                expect(
                    "DS480",
                    find("DS480").map(|m| m.device_id_1284),
                    Some("MFG:DNP;CMD:DNP;MDL:DPDS480;CLS:PRINTER;DES:DNP_DPDS480"),
                )?;
                expect(
                    "CZ-01 marked",
                    find("CZ-01").map(|m| m.device_id_source),
                    Some(IdSource::Unconfirmed),
                )
            }),
        ),
    ]
}
