//! Timestamps in the shape `log stream` prints them (`2025-03-14 09:26:53.512345-0700`), so lines from the
//! sim and from a Mac read alike. The sim writes UTC (`+0000`): it has no time-zone database to consult.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn log_timestamp(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:06}+0000",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_have_the_log_stream_shape() {
        let t = UNIX_EPOCH + Duration::from_micros(1_710_408_413_512_345);
        assert_eq!(log_timestamp(t), "2024-03-14 09:26:53.512345+0000");
        assert_eq!(log_timestamp(UNIX_EPOCH), "1970-01-01 00:00:00.000000+0000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert!(log_timestamp(leap).starts_with("2000-02-29 "));
    }
}
