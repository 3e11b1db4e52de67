//! Durations as a person reads them in reports: `12µs`, `45ms`, `2s`, `1.25s`.

use std::time::Duration;

/// `12µs`, `45ms`, `2s`, `1.25s`, `2m`: whole units where they fit, else two decimals of a second.
pub fn human_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos < 1_000 {
        format!("{nanos}ns")
    } else if nanos < 1_000_000 {
        format!("{}µs", nanos / 1_000)
    } else if nanos < 1_000_000_000 {
        format!("{}ms", nanos / 1_000_000)
    } else if nanos.is_multiple_of(60_000_000_000) {
        format!("{}m", nanos / 60_000_000_000)
    } else if nanos.is_multiple_of(1_000_000_000) {
        format!("{}s", nanos / 1_000_000_000)
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::human_duration;
    use std::time::Duration;

    #[test]
    fn picks_the_unit_a_person_would() {
        let cases = [
            (Duration::from_micros(12), "12µs"),
            (Duration::from_millis(45), "45ms"),
            (Duration::from_secs(2), "2s"),
            (Duration::from_millis(1250), "1.25s"),
            (Duration::from_secs(120), "2m"),
            (Duration::from_nanos(300), "300ns"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(d), want);
        }
    }
}
