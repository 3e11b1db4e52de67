//! The bounds of `run`'s counts, checked when the command line is read (issue 18): `--jobs 0` would wait for
//! a worker that never comes, a huge `--jobs` spawns threads the machine cannot give, and a huge `--retries`
//! keeps a broken lab busy for ever.

/// More scenarios at once than a lab Mac has printers or cores to serve them is a typo.
pub const MAX_JOBS: usize = 256;
/// Beyond a few retries a lab failure is not flaky, it is broken.
pub const MAX_RETRIES: u32 = 10;

/// `--jobs N`: 1..=[`MAX_JOBS`].
pub fn parse_jobs(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_JOBS).contains(&n) => Ok(n),
        Ok(0) => Err(format!(
            "0 scenarios at once would run nothing: give 1..={MAX_JOBS} (1 runs them in order)"
        )),
        _ => Err(format!("`{text}` is not a count of 1..={MAX_JOBS}")),
    }
}

/// `--retries N`: 0..=[`MAX_RETRIES`].
pub fn parse_retries(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if n <= MAX_RETRIES => Ok(n),
        _ => Err(format!(
            "`{text}` is not a count of 0..={MAX_RETRIES} (retries after a lab failure)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_huge_counts_are_refused_with_the_bound() {
        assert_eq!(parse_jobs("4"), Ok(4));
        assert!(parse_jobs("0").unwrap_err().contains("1..=256"));
        assert!(parse_jobs("100000").unwrap_err().contains("1..=256"));
        assert!(parse_jobs("-1").is_err());
        assert_eq!(parse_retries("0"), Ok(0));
        assert!(parse_retries("4294967295").unwrap_err().contains("0..=10"));
    }
}
