//! Durations as Thanos flags accept them and as `/api/v1/status/flags` shows them.
//!
//! Thanos v0.31.0 registers duration flags of two kinds, and they differ in
//! both the accepted syntax and the rendered form:
//!
//! - Most duration flags go through `extkingpin.ModelDuration`, which stores a
//!   Prometheus `model.Duration` (`prometheus/common` `model/time.go`, commit
//!   f9c1994be032). Its syntax is `^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$`
//!   or a bare `0`, with a year of 365 days and a week of 7 days. It renders
//!   with millisecond precision as `2m`, `30s`, `1h30m`, `1d`, `0s`; years and
//!   weeks appear only when they divide the value exactly.
//! - A few flags are plain kingpin `Duration()` flags, a Go `time.Duration`
//!   parsed by `time.ParseDuration` (`1.5h`, `2h45m`, `300ms`, `10us`, `1µs`)
//!   and rendered by Go's `Duration.String()` (`1h0m0s`, `5m0s`, `1.5s`,
//!   `300ms`, `0s`). In `thanos query` these are `--query.lookback-delta`,
//!   `--query.metadata.default-time-range` and `--grpc-server-max-connection-age`.
//!
//! [`parse_duration`] accepts the union of both syntaxes for every duration
//! flag: units in any order, fractions on any unit, `y`/`w`/`d` next to
//! `ns`/`us`/`µs`. Thanos would reject `1d` on a Go-duration flag and `1.5h` on
//! a model-duration flag; accepting more can not break a manifest that works
//! with Thanos. Negative durations are rejected (both Thanos parsers accept a
//! sign only for Go durations, and no Thanos flag means anything by it), and so
//! is anything longer than Go's `time.Duration` can hold (about 292 years).
//!
//! This module does no IO and never panics.

use std::time::Duration;

/// Nanoseconds in one millisecond.
const MILLI: u128 = 1_000_000;
/// Nanoseconds in one second.
const SECOND: u128 = 1_000 * MILLI;
/// Nanoseconds in one minute.
const MINUTE: u128 = 60 * SECOND;
/// Nanoseconds in one hour.
const HOUR: u128 = 60 * MINUTE;
/// Nanoseconds in one day.
const DAY: u128 = 24 * HOUR;
/// Nanoseconds in one week.
const WEEK: u128 = 7 * DAY;
/// Nanoseconds in one (Prometheus) year of 365 days.
const YEAR: u128 = 365 * DAY;

/// The largest duration Go's `time.Duration` (an `int64` of nanoseconds) holds.
const MAX_NANOS: u128 = i64::MAX as u128;

/// Fraction digits beyond this many are ignored; they are far below a nanosecond
/// for every unit and keeping them could overflow the arithmetic.
const MAX_FRACTION_DIGITS: usize = 20;

/// Parses a duration flag value in Prometheus or Go syntax.
///
/// The error is a sentence fit to follow "invalid value ... for flag ...:".
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.is_empty() {
        return Err("empty duration string".to_string());
    }
    let body = text.strip_prefix('+').unwrap_or(text);
    if body.starts_with('-') {
        return Err(format!("negative durations are not allowed: {text:?}"));
    }
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    let invalid = || format!("not a valid duration string: {text:?}");
    if body.is_empty() {
        return Err(invalid());
    }
    let mut rest = body;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (nanos, tail) = parse_component(rest).ok_or_else(invalid)?;
        total = total.saturating_add(nanos);
        rest = tail;
    }
    if total > MAX_NANOS {
        return Err(format!("duration out of range: {text:?}"));
    }
    u64::try_from(total)
        .map(Duration::from_nanos)
        .map_err(|_| format!("duration out of range: {text:?}"))
}

/// Parses one `<number><unit>` component from the front of `text` and returns
/// its length in nanoseconds (saturating) and the rest of the text.
fn parse_component(text: &str) -> Option<(u128, &str)> {
    let whole_len = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (whole, rest) = text.split_at(whole_len);
    let (fraction, rest) = match rest.strip_prefix('.') {
        Some(after) => {
            let len = after
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after.len());
            after.split_at(len)
        }
        None => ("", rest),
    };
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let unit_len = rest
        .find(|c: char| c.is_ascii_digit() || c == '.')
        .unwrap_or(rest.len());
    let (unit, tail) = rest.split_at(unit_len);
    let scale = unit_nanos(unit)?;
    Some((scaled(whole, fraction, scale), tail))
}

/// Returns how many nanoseconds one of `unit` is, for Go and Prometheus units.
fn unit_nanos(unit: &str) -> Option<u128> {
    let nanos = match unit {
        "ns" => 1,
        // Go accepts "us", U+00B5 MICRO SIGN and U+03BC GREEK SMALL LETTER MU.
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => MILLI,
        "s" => SECOND,
        "m" => MINUTE,
        "h" => HOUR,
        "d" => DAY,
        "w" => WEEK,
        "y" => YEAR,
        _ => return None,
    };
    Some(nanos)
}

/// Computes `whole.fraction × scale` in nanoseconds, saturating on overflow so
/// that the caller reports "out of range".
fn scaled(whole: &str, fraction: &str, scale: u128) -> u128 {
    let whole_nanos = digits_value(whole).saturating_mul(scale);
    let kept = fraction.get(..MAX_FRACTION_DIGITS).unwrap_or(fraction);
    let divisor = 10u128.saturating_pow(u32::try_from(kept.len()).unwrap_or(u32::MAX));
    let fraction_nanos = digits_value(kept).saturating_mul(scale) / divisor.max(1);
    whole_nanos.saturating_add(fraction_nanos)
}

/// Reads a run of ASCII digits as a number, saturating on overflow.
fn digits_value(digits: &str) -> u128 {
    digits.bytes().fold(0u128, |acc, b| {
        acc.saturating_mul(10)
            .saturating_add(u128::from(b.saturating_sub(b'0')))
    })
}

/// Renders a duration as Prometheus's `model.Duration.String()` does.
///
/// The value is truncated to whole milliseconds; zero renders as `0s`.
pub fn render_model_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    // Years and weeks are used only when they divide the rest exactly, so that
    // 90 days reads `90d` and not `12w6d`.
    let units: [(&str, u128, bool); 7] = [
        ("y", YEAR / MILLI, true),
        ("w", WEEK / MILLI, true),
        ("d", DAY / MILLI, false),
        ("h", HOUR / MILLI, false),
        ("m", MINUTE / MILLI, false),
        ("s", SECOND / MILLI, false),
        ("ms", 1, false),
    ];
    for (unit, size, exact) in units {
        if exact && !ms.is_multiple_of(size) {
            continue;
        }
        let count = ms / size;
        if count > 0 {
            out.push_str(&format!("{count}{unit}"));
            ms -= count * size;
        }
    }
    out
}

/// Renders a duration as Go's `time.Duration.String()` does.
///
/// Below one second the largest fitting unit among `ns`, `µs` and `ms` is
/// used with a decimal fraction; from one second on the form is
/// `[<h>h][<m>m]<s>[.<frac>]s`, with zero minutes shown once hours are.
pub fn render_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < MILLI {
        return format!("{}\u{b5}s", with_fraction(nanos, 1_000));
    }
    if nanos < SECOND {
        return format!("{}ms", with_fraction(nanos, MILLI));
    }
    let seconds = with_fraction(nanos % MINUTE, SECOND);
    let minutes = (nanos / MINUTE) % 60;
    let hours = nanos / HOUR;
    match (hours, nanos / MINUTE) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m{seconds}s"),
        _ => format!("{hours}h{minutes}m{seconds}s"),
    }
}

/// Formats `value / unit` as a decimal number without trailing zeros.
fn with_fraction(value: u128, unit: u128) -> String {
    let whole = value / unit;
    let rest = value % unit;
    if rest == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000 * MS;

    #[test]
    fn valid_durations_parse_to_nanoseconds() {
        let cases: &[(&str, u64)] = &[
            ("0", 0),
            ("0s", 0),
            ("0ms", 0),
            ("5m", 300 * S),
            ("2m", 120 * S),
            ("30s", 30 * S),
            ("1h30m", 5_400 * S),
            ("1d", 86_400 * S),
            ("1w", 604_800 * S),
            ("1y", 31_536_000 * S),
            ("250ms", 250 * MS),
            ("1y2w3d4h5m6s7ms", 33_019_506 * S + 7 * MS),
            ("1.5h", 5_400 * S),
            ("300ms", 300 * MS),
            ("2h45m", 9_900 * S),
            ("1m30.5s", 90 * S + 500 * MS),
            ("10us", 10_000),
            ("10\u{b5}s", 10_000),
            ("10\u{3bc}s", 10_000),
            ("42ns", 42),
            (".5s", 500 * MS),
            ("1.s", S),
            ("+5m", 300 * S),
            ("30m1h", 5_400 * S),
            ("1.000000000000000000000001s", S),
        ];
        for (text, nanos) in cases {
            let got = parse_duration(text);
            assert_eq!(got, Ok(Duration::from_nanos(*nanos)), "input {text:?}");
        }
    }

    #[test]
    fn invalid_durations_are_rejected_with_a_reason() {
        let cases: &[(&str, &str)] = &[
            ("", "empty duration string"),
            ("-5m", "negative durations are not allowed"),
            ("-0s", "negative durations are not allowed"),
            ("5", "not a valid duration string"),
            ("m", "not a valid duration string"),
            ("5x", "not a valid duration string"),
            ("abc", "not a valid duration string"),
            ("1h 30m", "not a valid duration string"),
            (" 5m", "not a valid duration string"),
            (".s", "not a valid duration string"),
            ("+", "not a valid duration string"),
            ("5M", "not a valid duration string"),
            ("1..5s", "not a valid duration string"),
            ("300y", "duration out of range"),
            (
                "99999999999999999999999999999999999999999h",
                "duration out of range",
            ),
        ];
        for (text, reason) in cases {
            match parse_duration(text) {
                Err(message) => assert!(message.contains(reason), "{text:?}: {message}"),
                Ok(d) => unreachable!("{text:?} parsed as {d:?}"),
            }
        }
    }

    #[test]
    fn model_rendering_matches_prometheus() {
        let cases: &[(u64, &str)] = &[
            (0, "0s"),
            (MS / 2, "0s"),
            (120 * S, "2m"),
            (30 * S, "30s"),
            (300 * S, "5m"),
            (5_400 * S, "1h30m"),
            (86_400 * S, "1d"),
            (90 * 86_400 * S, "90d"),
            (14 * 86_400 * S, "2w"),
            (365 * 86_400 * S, "1y"),
            (366 * 86_400 * S, "366d"),
            (250 * MS, "250ms"),
            (61 * S + 5 * MS, "1m1s5ms"),
        ];
        for (nanos, text) in cases {
            assert_eq!(render_model_duration(Duration::from_nanos(*nanos)), *text);
        }
    }

    #[test]
    fn go_rendering_matches_time_duration_string() {
        let cases: &[(u64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5\u{b5}s"),
            (300 * MS, "300ms"),
            (1_500_000, "1.5ms"),
            (S, "1s"),
            (1_500 * MS, "1.5s"),
            (90 * S, "1m30s"),
            (300 * S, "5m0s"),
            (3_600 * S, "1h0m0s"),
            (5_400 * S + 1, "1h30m0.000000001s"),
            (9_900 * S, "2h45m0s"),
            (86_400 * S, "24h0m0s"),
        ];
        for (nanos, text) in cases {
            assert_eq!(render_go_duration(Duration::from_nanos(*nanos)), *text);
        }
    }

    #[test]
    fn model_forms_round_trip() {
        for text in ["2m", "30s", "5m", "0s", "1h30m", "1d", "2w", "1y", "250ms"] {
            let parsed = parse_duration(text);
            assert_eq!(parsed.map(render_model_duration), Ok(text.to_string()));
        }
    }
}
