//! RFC 3339 timestamps from capture time, without a calendar dependency.

use shakedown_capture::Timestamp;
use std::fmt::Write as _;

/// `2024-05-01T12:34:56.123456Z` (UTC, microseconds).
pub fn rfc3339_micros(ts: Timestamp) -> String {
    let micros = ts.0.div_euclid(1_000);
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut s = String::with_capacity(27);
    let _ = write!(
        s,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
    s
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339_micros(Timestamp(0)), "1970-01-01T00:00:00.000000Z");
        // 2000-02-29T23:59:59.999999Z
        assert_eq!(
            rfc3339_micros(Timestamp(951_868_799_999_999_000)),
            "2000-02-29T23:59:59.999999Z"
        );
        // 2026-11-21T09:28:31.5Z
        assert_eq!(
            rfc3339_micros(Timestamp(1_795_253_311_500_000_000)),
            "2026-11-21T09:28:31.500000Z"
        );
        assert_eq!(
            rfc3339_micros(Timestamp(-1_000)),
            "1969-12-31T23:59:59.999999Z"
        );
    }
}
