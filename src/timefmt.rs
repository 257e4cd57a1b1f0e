//! RFC 3339 timestamps from capture time, without a calendar dependency.

use shakedown_capture::Timestamp;

/// `2024-05-01T12:34:56.123456Z` (UTC, microseconds).
pub fn rfc3339_micros(ts: Timestamp) -> String {
    String::from_utf8_lossy(&rfc3339_micros_bytes(ts)).into_owned()
}

/// [`rfc3339_micros`] as fixed-width ASCII, written without formatting
/// machinery (it is on every output record). An i64 of nanoseconds spans years
/// 1677 to 2262, so the year always has four digits.
pub fn rfc3339_micros_bytes(ts: Timestamp) -> [u8; 27] {
    let micros = ts.0.div_euclid(1_000);
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let (y, m, d) = civil_from_days(days);
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    let mut digits = |at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    digits(0, 4, y.clamp(0, 9999) as u32);
    digits(5, 2, m);
    digits(8, 2, d);
    digits(11, 2, sod / 3600);
    digits(14, 2, (sod / 60) % 60);
    digits(17, 2, sod % 60);
    digits(20, 6, frac);
    out
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
