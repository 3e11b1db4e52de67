//! proptest strategies for calls, from the driver file's dispatch entries: valid shapes, near misses,
//! selectors past the table. Values lean on the ones that break code: 0, 1, all ones, powers of two,
//! sign boundaries; lengths on 0, 1, 16 and the 4096 / 4097 in-band boundary (reference §3).

use super::case::{FuzzCall, Miss, Shape};
use crate::dispatch::{INBAND_MAX, SCALAR_MAX};
use crate::driver::{CompletionCheck, DispatchRule, Driver, SizeCheck};
use proptest::prelude::*;
use proptest::sample::select;

/// Lengths a variable struct check is tried at.
pub const STRUCT_LENGTHS: [u32; 6] = [0, 1, 16, 4095, INBAND_MAX as u32, INBAND_MAX as u32 + 1];
const SCALAR_COUNTS: [u32; 3] = [0, 1, SCALAR_MAX as u32];

fn value() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1u64),
        Just(u64::MAX),
        (0u32..64).prop_map(|k| 1u64 << k),
        Just(i64::MAX as u64),
        Just(i64::MIN as u64),
        Just(u32::MAX as u64),
        Just(i32::MAX as u64 + 1),
        any::<u64>(),
    ]
}

fn pattern() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(vec![0u8]),
        Just(vec![0xffu8]),
        proptest::collection::vec(any::<u8>(), 1..=16),
    ]
}

fn count(check: SizeCheck, choices: &'static [u32]) -> BoxedStrategy<u32> {
    match check {
        SizeCheck::Exact(n) => Just(n).boxed(),
        SizeCheck::Variable => select(choices).boxed(),
    }
}

fn completion(check: CompletionCheck) -> BoxedStrategy<bool> {
    match check {
        CompletionCheck::Required => Just(true).boxed(),
        CompletionCheck::Forbidden => Just(false).boxed(),
        CompletionCheck::DontCare => any::<bool>().boxed(),
    }
}

/// A selector with no dispatch entry: every check is `don't care`.
const UNCHECKED: DispatchRule = DispatchRule {
    completion: CompletionCheck::DontCare,
    scalars_in: SizeCheck::Variable,
    struct_in: SizeCheck::Variable,
    scalars_out: SizeCheck::Variable,
    struct_out: SizeCheck::Variable,
};

/// Scalars for a count check: exactly `n` values, or (variable) none, one or the most there may be. Only
/// the values a call sends are generated, so shrinking never spends lab time on values nobody sees.
fn scalars(check: SizeCheck) -> BoxedStrategy<Vec<u64>> {
    match check {
        SizeCheck::Exact(n) => proptest::collection::vec(value(), n as usize).boxed(),
        SizeCheck::Variable => prop_oneof![
            Just(Vec::new()),
            proptest::collection::vec(value(), 1),
            proptest::collection::vec(value(), SCALAR_MAX),
        ]
        .boxed(),
    }
}

/// A call of the entry's exact shape.
pub fn valid(id: u32, rule: Option<DispatchRule>) -> BoxedStrategy<FuzzCall> {
    let r = rule.unwrap_or(UNCHECKED);
    (
        scalars(r.scalars_in),
        count(r.struct_in, &STRUCT_LENGTHS),
        pattern(),
        count(r.scalars_out, &SCALAR_COUNTS),
        count(r.struct_out, &STRUCT_LENGTHS),
        completion(r.completion),
    )
        .prop_map(move |(scalars, len, pattern, so, sto, c)| FuzzCall {
            selector: id,
            scalars,
            // No struct, no pattern: two calls that send the same bytes are the same call.
            pattern: if len == 0 { Vec::new() } else { pattern },
            struct_len: len,
            scalars_out: so,
            struct_out: sto,
            completion: c,
            shape: Shape::Valid,
        })
        .boxed()
}

/// `n` moved by a little: one more, one less, or (for struct sizes) 0 and 4097.
fn off(n: u32, pick: u8, boundary: bool) -> u32 {
    let mut options = vec![n.saturating_add(1)];
    if n > 0 {
        options.push(n - 1);
    }
    if boundary {
        options.extend([0, INBAND_MAX as u32 + 1].into_iter().filter(|&x| x != n));
    }
    options[pick as usize % options.len()]
}

/// A valid call with one check missed; a check that cannot be missed (variable) leaves it valid. Scalars
/// added for a miss are zeros: dispatch refuses on the count alone (reference §3), whatever they hold.
pub fn near_miss(id: u32, rule: Option<DispatchRule>) -> BoxedStrategy<FuzzCall> {
    const MISSES: [Miss; 6] = [
        Miss::ScalarsIn,
        Miss::StructIn,
        Miss::ScalarsOut,
        Miss::StructOut,
        Miss::Completion,
        Miss::TooManyScalars,
    ];
    (valid(id, rule), select(&MISSES[..]), any::<u8>())
        .prop_map(move |(mut call, miss, pick)| {
            let r = rule.unwrap_or(UNCHECKED);
            let missed = match (miss, r) {
                (
                    Miss::ScalarsIn,
                    DispatchRule {
                        scalars_in: SizeCheck::Exact(n),
                        ..
                    },
                ) => {
                    call.scalars.resize(off(n, pick, false) as usize, 0);
                    call.scalars.len() != n as usize
                }
                (
                    Miss::StructIn,
                    DispatchRule {
                        struct_in: SizeCheck::Exact(n),
                        ..
                    },
                ) => {
                    call.struct_len = off(n, pick, true);
                    true
                }
                (
                    Miss::ScalarsOut,
                    DispatchRule {
                        scalars_out: SizeCheck::Exact(n),
                        ..
                    },
                ) => {
                    call.scalars_out = off(n, pick, false);
                    true
                }
                (
                    Miss::StructOut,
                    DispatchRule {
                        struct_out: SizeCheck::Exact(n),
                        ..
                    },
                ) => {
                    call.struct_out = off(n, pick, true);
                    true
                }
                (Miss::Completion, DispatchRule { completion: c, .. })
                    if c != CompletionCheck::DontCare =>
                {
                    call.completion = !call.completion;
                    true
                }
                (Miss::TooManyScalars, _) => {
                    call.scalars.resize(SCALAR_MAX + 1 + pick as usize % 4, 0);
                    true
                }
                _ => false,
            };
            if missed {
                call.shape = Shape::NearMiss(miss);
            }
            if call.struct_len == 0 {
                call.pattern.clear();
            }
            call
        })
        .boxed()
}

/// A call of a selector the table does not have: just past it, or far past it.
pub fn past_table(last: u32) -> BoxedStrategy<FuzzCall> {
    let ids = prop_oneof![
        Just(last.saturating_add(1)),
        Just(last.saturating_add(2)),
        Just(u32::MAX),
        (last.saturating_add(1)..=u32::MAX),
    ];
    (ids, valid(0, None))
        .prop_map(|(id, mut call)| {
            call.selector = id;
            call.shape = Shape::PastTable;
            call
        })
        .boxed()
}

/// Calls of `selectors` (ids of the driver's table): valid shapes most, near misses nearly as often,
/// now and then a selector past the table.
pub fn calls(driver: &Driver, selectors: &[u32]) -> BoxedStrategy<FuzzCall> {
    let rules: Vec<(u32, Option<DispatchRule>)> = driver
        .selectors
        .iter()
        .filter(|s| selectors.contains(&s.id))
        .map(|s| (s.id, s.rule))
        .collect();
    let last = driver.selectors.iter().map(|s| s.id).max().unwrap_or(0);
    let per_selector: Vec<BoxedStrategy<FuzzCall>> = rules
        .iter()
        .map(|&(id, rule)| prop_oneof![5 => valid(id, rule), 4 => near_miss(id, rule)].boxed())
        .collect();
    if per_selector.is_empty() {
        return past_table(last);
    }
    prop_oneof![
        9 => proptest::strategy::Union::new(per_selector),
        1 => past_table(last),
    ]
    .boxed()
}
