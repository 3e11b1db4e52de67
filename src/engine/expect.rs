//! Comparing what a lab call returned with what the step expects, and the failures that say how they
//! differ (codes decoded, struct bytes as a short hex diff at the first differing offset).

use super::failure;
use crate::ioreturn::ReturnCode;
use crate::lab::CallOutcome;
use crate::report::{Failure, human_duration};
use crate::scenario::Expect;
use std::time::Duration;

/// `kIOReturnSuccess (0x00000000)` or `any of kIOReturnBusy (0xE00002D5), kIOReturnSuccess (0x00000000)`.
pub fn expected_codes(e: &Expect) -> String {
    match e.codes.as_slice() {
        [] => ReturnCode::SUCCESS.to_string(),
        [one] => one.to_string(),
        many => format!(
            "any of {}",
            many.iter()
                .map(ReturnCode::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The code is one the step allows; `what` names the call (`GetStatus on uc`).
pub fn check_code(e: &Expect, code: ReturnCode, what: &str) -> Result<(), Failure> {
    if e.allows(code) {
        return Ok(());
    }
    Err(Failure {
        code: Some(code),
        expected: Some(expected_codes(e)),
        actual: Some(code.to_string()),
        ..failure::driver(format!("{what} answered {code}"))
    })
}

pub fn check_within(e: &Expect, took: Duration, what: &str) -> Result<(), Failure> {
    match e.within {
        Some(bound) if took > bound => Err(Failure {
            expected: Some(format!("within {}", human_duration(bound))),
            actual: Some(human_duration(took)),
            ..failure::driver(format!("{what} took {}", human_duration(took)))
        }),
        _ => Ok(()),
    }
}

/// Code, scalars, struct output and time of one call.
pub fn check_call(e: &Expect, out: &CallOutcome, what: &str) -> Result<(), Failure> {
    check_code(e, out.code, what)?;
    if let Some(want) = &e.scalars
        && want != &out.scalars_out
    {
        return Err(Failure {
            expected: Some(format!("scalars {want:?}")),
            actual: Some(format!("scalars {:?}", out.scalars_out)),
            ..failure::driver(format!("{what} returned other scalar outputs"))
        });
    }
    if let Some(want) = &e.struct_out
        && let Some(diff) = hex_diff(want, &out.struct_out)
    {
        return Err(Failure {
            expected: Some(diff.expected),
            actual: Some(diff.actual),
            ..failure::driver(format!(
                "{what} returned another struct output: first difference at offset 0x{:x} \
                 ({} bytes expected, {} returned)",
                diff.offset,
                want.len(),
                out.struct_out.len()
            ))
        });
    }
    check_within(e, out.took, what)
}

/// Where two byte strings first differ, and a few bytes of each around it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HexDiff {
    pub offset: usize,
    pub expected: String,
    pub actual: String,
}

const CONTEXT_BEFORE: usize = 4;
const WINDOW: usize = 12;

pub fn hex_diff(expected: &[u8], actual: &[u8]) -> Option<HexDiff> {
    let offset = expected
        .iter()
        .zip(actual)
        .position(|(a, b)| a != b)
        .or_else(|| (expected.len() != actual.len()).then(|| expected.len().min(actual.len())))?;
    let start = offset.saturating_sub(CONTEXT_BEFORE);
    let window = |bytes: &[u8]| {
        let end = (start + WINDOW).min(bytes.len());
        let body = bytes
            .get(start..end)
            .unwrap_or(&[])
            .iter()
            .enumerate()
            .map(|(i, b)| {
                if start + i == offset {
                    format!("[{b:02x}]")
                } else {
                    format!("{b:02x}")
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        let more = if bytes.len() > end { " …" } else { "" };
        let end_mark = if bytes.len() == offset { " [end]" } else { "" };
        format!("@0x{start:x}: {body}{end_mark}{more}")
    };
    Some(HexDiff {
        offset,
        expected: window(expected),
        actual: window(actual),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioreturn::code;

    #[test]
    fn the_first_differing_byte_is_marked_in_both() {
        let want: Vec<u8> = (0..32).collect();
        let mut got = want.clone();
        got[10] = 0xff;
        let d = hex_diff(&want, &got).unwrap();
        assert_eq!(d.offset, 10);
        assert_eq!(d.expected, "@0x6: 06 07 08 09 [0a] 0b 0c 0d 0e 0f 10 11 …");
        assert_eq!(d.actual, "@0x6: 06 07 08 09 [ff] 0b 0c 0d 0e 0f 10 11 …");
        assert_eq!(hex_diff(&want, &want), None);
    }

    #[test]
    fn a_short_answer_differs_where_it_ends() {
        let d = hex_diff(&[1, 2, 3], &[1, 2]).unwrap();
        assert_eq!(d.offset, 2);
        assert_eq!(d.actual, "@0x0: 01 02 [end]");
    }

    #[test]
    fn codes_are_any_of_and_decoded_in_the_failure() {
        let e = Expect {
            codes: vec![
                ReturnCode(code::kIOReturnBusy),
                ReturnCode(code::kIOReturnSuccess),
            ],
            ..Expect::default()
        };
        assert!(check_code(&e, ReturnCode(code::kIOReturnBusy), "x").is_ok());
        let f = check_code(
            &e,
            ReturnCode(code::kIOReturnBadArgument),
            "GetStatus on uc",
        )
        .unwrap_err();
        assert_eq!(
            f.message,
            "GetStatus on uc answered kIOReturnBadArgument (0xE00002C2)"
        );
        assert_eq!(
            f.expected.as_deref(),
            Some("any of kIOReturnBusy (0xE00002D5), kIOReturnSuccess (0x00000000)")
        );
    }

    #[test]
    fn scalars_and_time_bounds_are_checked() {
        let out = CallOutcome {
            code: ReturnCode::SUCCESS,
            scalars_out: vec![1, 3],
            struct_out: vec![],
            took: Duration::from_millis(150),
        };
        let e = Expect {
            scalars: Some(vec![1, 2]),
            ..Expect::default()
        };
        assert!(
            check_call(&e, &out, "x")
                .unwrap_err()
                .message
                .contains("scalar")
        );
        let e = Expect {
            within: Some(Duration::from_millis(100)),
            ..Expect::default()
        };
        let f = check_call(&e, &out, "x").unwrap_err();
        assert_eq!(f.expected.as_deref(), Some("within 100ms"));
        assert_eq!(f.actual.as_deref(), Some("150ms"));
    }
}
