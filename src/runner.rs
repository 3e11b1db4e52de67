//! Scenarios as libtest-mimic trials: filters, `--list`, `--format`, exit codes.
