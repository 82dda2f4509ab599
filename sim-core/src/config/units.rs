//! Parsing and printing of the units scenario files use: durations and bandwidths.
//!
//! Values are parsed exactly (decimal digits, no floating point), so `"1.5s"` is exactly
//! 1 500 000 000 ns on every platform.

use super::quote;

/// Nanoseconds per unit, in the order they are listed in error messages.
const DURATION_UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Bits per second per unit (SI, decimal).
const BANDWIDTH_UNITS: &[(&str, u64)] = &[
    ("bps", 1),
    ("kbps", 1_000),
    ("Kbps", 1_000),
    ("Mbps", 1_000_000),
    ("Gbps", 1_000_000_000),
    ("Tbps", 1_000_000_000_000),
];

/// How a value beyond the 64-bit range is described (callers add the allowed range).
pub(crate) const TOO_LARGE: &str = "is too large";

/// What a duration may look like, for error messages.
pub const DURATION_HELP: &str =
    "a duration is a number with a unit: ns, us, ms, s, m or h (e.g. \"250us\", \"1.5s\", \"2m\")";

/// What a bandwidth may look like, for error messages.
pub const BANDWIDTH_HELP: &str =
    "a bandwidth is a number with a unit: bps, kbps, Mbps, Gbps or Tbps (e.g. \"100Mbps\", \"1Gbps\")";

/// Parses a decimal number with a unit suffix into an integer count of the base unit.
/// Returns `Err(reason)` with a short reason (the caller adds the key and the help text).
fn parse_scaled(text: &str, units: &[(&str, u64)]) -> Result<u64, String> {
    let text = text.trim();
    let split =
        text.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(|| format!("{} has no unit", quote(text)))?;
    let (number, unit) = text.split_at(split);
    let unit = unit.trim();
    if number.is_empty() {
        return Err(format!("{} does not start with a number", quote(text)));
    }
    let scale = units
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, scale)| *scale)
        .ok_or_else(|| format!("unknown unit {} in {}", quote(unit), quote(text)))?;
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if frac_part.contains('.') || (int_part.is_empty() && frac_part.is_empty()) {
        return Err(format!("{} is not a number", quote(number)));
    }
    let overflow = || format!("{} {TOO_LARGE}", quote(text));
    let mut value: u128 = 0;
    for digit in int_part.bytes() {
        value = value * 10 + u128::from(digit - b'0');
        if value > u128::from(u64::MAX) {
            return Err(overflow());
        }
    }
    let mut total = value * u128::from(scale);
    // The fraction, scaled exactly: digits beyond the base unit's precision must be zero.
    let mut place = u128::from(scale);
    for digit in frac_part.bytes() {
        let d = u128::from(digit - b'0');
        if place % 10 != 0 {
            if d != 0 {
                return Err(format!("{} is finer than the smallest unit allows", quote(text)));
            }
            continue;
        }
        place /= 10;
        total += d * place;
    }
    u64::try_from(total).map_err(|_| overflow())
}

/// Parses a duration string such as `"1.5s"` into nanoseconds.
pub fn parse_duration_ns(text: &str) -> Result<u64, String> {
    parse_scaled(text, DURATION_UNITS)
}

/// Parses a bandwidth string such as `"1Gbps"` into bits per second.
pub fn parse_bandwidth_bps(text: &str) -> Result<u64, String> {
    let bps = parse_scaled(text, BANDWIDTH_UNITS)?;
    if bps == 0 {
        return Err("bandwidth must be more than zero".to_string());
    }
    Ok(bps)
}

/// Formats nanoseconds as the shortest exact duration string (`"1.5s"`, `"250us"`), so a
/// scenario written back to a file parses to the same value.
pub fn format_duration(ns: u64) -> String {
    if ns == 0 {
        return "0s".to_string();
    }
    // Prefer the largest unit that keeps the number short and exact.
    for &(unit, scale) in
        [("h", 3_600_000_000_000u64), ("m", 60_000_000_000), ("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)]
            .iter()
    {
        if ns.is_multiple_of(scale) {
            return format!("{}{unit}", ns / scale);
        }
        if ns >= scale && unit != "h" && unit != "m" {
            let whole = ns / scale;
            let frac = ns % scale;
            let digits = scale.trailing_zeros_decimal();
            let mut frac_text = format!("{frac:0width$}", width = digits);
            while frac_text.ends_with('0') {
                frac_text.pop();
            }
            return format!("{whole}.{frac_text}{unit}");
        }
    }
    format!("{ns}ns")
}

/// Formats bits per second as a bandwidth string that parses back to the same value.
pub fn format_bandwidth(bps: u64) -> String {
    for &(unit, scale) in
        [("Tbps", 1_000_000_000_000u64), ("Gbps", 1_000_000_000), ("Mbps", 1_000_000), ("kbps", 1_000)].iter()
    {
        if bps.is_multiple_of(scale) {
            return format!("{}{unit}", bps / scale);
        }
    }
    format!("{bps}bps")
}

trait DecimalZeros {
    fn trailing_zeros_decimal(self) -> usize;
}

impl DecimalZeros for u64 {
    fn trailing_zeros_decimal(mut self) -> usize {
        let mut n = 0;
        while self >= 10 && self.is_multiple_of(10) {
            self /= 10;
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_exactly() {
        let cases = [
            ("250us", 250_000),
            ("10ms", 10_000_000),
            ("1.5s", 1_500_000_000),
            ("2m", 120_000_000_000),
            ("0.5ms", 500_000),
            ("1h", 3_600_000_000_000),
            ("3ns", 3),
            ("0s", 0),
            (".5s", 500_000_000),
            ("1.000000001s", 1_000_000_001),
        ];
        for (text, ns) in cases {
            assert_eq!(parse_duration_ns(text), Ok(ns), "{text}");
        }
    }

    #[test]
    fn bad_durations_are_errors() {
        for text in ["10", "ms", "10 parsecs", "1.2.3s", "1.5ns", "99999999999999999999h", "-1s"] {
            assert!(parse_duration_ns(text).is_err(), "{text}");
        }
    }

    #[test]
    fn durations_round_trip() {
        for ns in [1, 999, 1_000, 1_500, 250_000, 1_500_000_000, 120_000_000_000, 7_200_000_000_000, 1_234_567_891] {
            let text = format_duration(ns);
            assert_eq!(parse_duration_ns(&text), Ok(ns), "{ns} -> {text}");
        }
    }

    #[test]
    fn bandwidths() {
        assert_eq!(parse_bandwidth_bps("1Gbps"), Ok(1_000_000_000));
        assert_eq!(parse_bandwidth_bps("1.5Mbps"), Ok(1_500_000));
        assert!(parse_bandwidth_bps("0bps").is_err());
        assert!(parse_bandwidth_bps("1GB").is_err());
        for bps in [1, 1_500_000, 1_000_000_000, 56_000] {
            assert_eq!(parse_bandwidth_bps(&format_bandwidth(bps)), Ok(bps));
        }
    }
}
