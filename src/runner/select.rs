//! Which scenarios a run takes: libtest's name filter and skips, the `ignore` tag, `--tag` (any-of) and
//! `--partition hash:M/N`, which splits a corpus across lab Macs by a stable hash of each scenario's name.

use crate::scenario::Scenario;
use libtest_mimic::Arguments;
use thiserror::Error;

/// `hash:M/N`: this run takes the scenarios whose name hashes to bucket M of N (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    pub index: u64,
    pub count: u64,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("`{0}` is not a partition: write `hash:M/N` with 1 <= M <= N, e.g. `hash:2/3`")]
pub struct PartitionError(pub String);

impl Partition {
    pub fn parse(text: &str) -> Result<Self, PartitionError> {
        let bad = || PartitionError(text.to_string());
        let (m, n) = text
            .strip_prefix("hash:")
            .and_then(|r| r.split_once('/'))
            .ok_or_else(bad)?;
        let index: u64 = m.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Partition { index, count })
    }

    pub fn takes(&self, name: &str) -> bool {
        stable_hash(name) % self.count == self.index - 1
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "hash:{}/{}", self.index, self.count)
    }
}

/// FNV-1a, 64 bits: the same on every machine, release and Rust version (std's hashers promise none of
/// that), so lab Macs agree on who runs what.
pub fn stable_hash(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Does libtest's filter (and skips, and the ignore flags) take this scenario? The same rules as
/// libtest-mimic, applied here so the journal can name every selected scenario up front.
fn libtest_takes(args: &Arguments, s: &Scenario) -> bool {
    let matches = |f: &str| {
        if args.exact {
            s.name == f
        } else {
            s.name.contains(f)
        }
    };
    let ignored = s.tags.iter().any(|t| t == "ignore");
    args.filter.as_deref().is_none_or(matches)
        && !args.skip.iter().any(|f| matches(f))
        && (args.include_ignored || ignored == args.ignored)
}

/// The scenarios this run takes, in corpus order.
pub fn select(scenarios: Vec<Scenario>, libtest: &Arguments, tags: &[String]) -> Vec<Scenario> {
    scenarios
        .into_iter()
        .filter(|s| libtest_takes(libtest, s))
        .filter(|s| tags.is_empty() || s.tags.iter().any(|t| tags.contains(t)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_fnv1a() {
        // Reference values of FNV-1a 64.
        assert_eq!(stable_hash(""), 0xcbf29ce484222325);
        assert_eq!(stable_hash("a"), 0xaf63dc4c8601ec8c);
    }

    #[test]
    fn partitions_parse_and_refuse_nonsense() {
        assert_eq!(
            Partition::parse("hash:2/3"),
            Ok(Partition { index: 2, count: 3 })
        );
        for bad in ["hash:0/3", "hash:4/3", "2/3", "hash:a/3", "hash:1/0"] {
            assert!(Partition::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_name_falls_in_exactly_one_partition() {
        for name in ["smoke-ds620", "a", "field-bug-17", ""] {
            let n = (1..=3)
                .filter(|m| {
                    Partition {
                        index: *m,
                        count: 3,
                    }
                    .takes(name)
                })
                .count();
            assert_eq!(n, 1, "{name}");
        }
    }
}
