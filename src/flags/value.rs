//! Flag values: checking one raw command-line value against its [`Kind`], and
//! rendering a value as the kingpin value's `String()` does, which is what
//! Thanos's `/api/v1/status/flags` shows.
//!
//! The number parsers follow Go's `strconv` as kingpin v2 calls it (see
//! [`Kind`]). Go's digit-separator underscores are not accepted.

use std::time::Duration;

use super::duration::{parse_duration, render_go_duration, render_model_duration};
use super::Kind;

/// A parsed flag value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `Bool`.
    Bool(bool),
    /// `String` and `Enum`.
    Text(String),
    /// `Int`.
    Int(i64),
    /// `Uint`.
    Uint(u64),
    /// `Float`.
    Float(f64),
    /// `Duration` and `GoDuration`.
    Duration(Duration),
    /// `Strings`, `Enums` and `Address`.
    List(Vec<String>),
    /// `Floats`.
    Floats(Vec<f64>),
    /// `Ints`.
    Ints(Vec<i64>),
}

impl Value {
    /// The value of a flag of `kind` that has no default and was not set.
    pub fn zero(kind: Kind) -> Value {
        match kind {
            Kind::Bool => Value::Bool(false),
            Kind::String | Kind::Enum(_) | Kind::TimeOrDuration => Value::Text(String::new()),
            Kind::Int => Value::Int(0),
            Kind::Uint => Value::Uint(0),
            Kind::Float => Value::Float(0.0),
            Kind::Duration | Kind::GoDuration => Value::Duration(Duration::ZERO),
            Kind::Enums(_) | Kind::Strings | Kind::Address => Value::List(Vec::new()),
            Kind::Floats => Value::Floats(Vec::new()),
            Kind::Ints => Value::Ints(Vec::new()),
        }
    }

    /// Renders the value as kingpin's `String()` for `kind` does: lists are
    /// joined with commas, model durations look like `2m`, Go durations like
    /// `2m0s`, and floats follow Go's `%v`.
    pub fn render(&self, kind: Kind) -> String {
        match self {
            Value::Bool(b) => b.to_string(),
            Value::Text(s) => s.clone(),
            Value::Int(n) => n.to_string(),
            Value::Uint(n) => n.to_string(),
            Value::Float(x) => go_float(*x),
            Value::Duration(d) if kind == Kind::GoDuration => render_go_duration(*d),
            Value::Duration(d) => render_model_duration(*d),
            Value::List(items) => items.join(","),
            Value::Floats(xs) => join(xs.iter().map(|x| go_float(*x))),
            Value::Ints(ns) => join(ns.iter().map(i64::to_string)),
        }
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(",")
}

/// Checks `raw` against `kind` and returns the flag's new value; for
/// repeatable kinds `previous` holds the values given so far.
pub fn accept(kind: Kind, previous: Option<Value>, raw: &str) -> Result<Value, String> {
    match kind {
        Kind::Bool => parse_bool(raw).map(Value::Bool),
        Kind::String => Ok(Value::Text(raw.to_string())),
        Kind::TimeOrDuration => {
            super::sidecar::TimeOrDuration::parse(raw).map(|_| Value::Text(raw.to_string()))
        }
        Kind::Int => parse_kingpin_int(raw).map(Value::Int),
        Kind::Uint => parse_go_uint(raw).map(Value::Uint),
        Kind::Float => parse_float(raw).map(Value::Float),
        Kind::Duration | Kind::GoDuration => parse_duration(raw).map(Value::Duration),
        Kind::Enum(options) => check_enum(options, raw).map(|()| Value::Text(raw.to_string())),
        Kind::Enums(options) => {
            check_enum(options, raw)?;
            Ok(Value::List(pushed(list(previous), raw)))
        }
        Kind::Strings => Ok(Value::List(pushed(list(previous), raw))),
        Kind::Address => {
            let items = list(previous);
            check_address(&items, raw)?;
            Ok(Value::List(pushed(items, raw)))
        }
        Kind::Floats => {
            let mut xs = floats(previous);
            xs.push(parse_float(raw)?);
            Ok(Value::Floats(xs))
        }
        Kind::Ints => {
            let mut ns = ints(previous);
            ns.push(parse_go_int(raw)?);
            Ok(Value::Ints(ns))
        }
    }
}

fn list(previous: Option<Value>) -> Vec<String> {
    match previous {
        Some(Value::List(items)) => items,
        _ => Vec::new(),
    }
}

fn floats(previous: Option<Value>) -> Vec<f64> {
    match previous {
        Some(Value::Floats(xs)) => xs,
        _ => Vec::new(),
    }
}

fn ints(previous: Option<Value>) -> Vec<i64> {
    match previous {
        Some(Value::Ints(ns)) => ns,
        _ => Vec::new(),
    }
}

fn pushed(mut items: Vec<String>, raw: &str) -> Vec<String> {
    items.push(raw.to_string());
    items
}

/// Go's `strconv.ParseBool`.
fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err("expected a boolean (true or false)".to_string()),
    }
}

/// A finite float as Go's `strconv.ParseFloat` reads it.
fn parse_float(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err("expected a finite number".to_string()),
    }
}

/// kingpin v2's `Int()`: a float, truncated toward zero, that must fit.
fn parse_kingpin_int(raw: &str) -> Result<i64, String> {
    if let Ok(n) = raw.parse::<i64>() {
        return Ok(n);
    }
    let x = parse_float(raw).map_err(|_| "expected an integer".to_string())?;
    let truncated = x.trunc();
    // The bounds are -2^63 and 2^63, exact in f64, so the check is exact too.
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&truncated) {
        return Err("integer out of range".to_string());
    }
    // The range check above makes this cast exact.
    Ok(truncated as i64)
}

/// Go's `strconv.ParseUint(raw, 0, 64)`, without underscores.
fn parse_go_uint(raw: &str) -> Result<u64, String> {
    let (digits, radix) = split_radix(raw);
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return Err("expected an unsigned integer".to_string());
    }
    u64::from_str_radix(digits, radix).map_err(|e| format!("expected an unsigned integer: {e}"))
}

/// Go's `strconv.ParseInt(raw, 0, 64)`, without underscores.
fn parse_go_int(raw: &str) -> Result<i64, String> {
    let (negative, body) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw.strip_prefix('+').unwrap_or(raw)),
    };
    let magnitude = i128::from(parse_go_uint(body).map_err(|_| "expected an integer".to_string())?);
    let signed = if negative { -magnitude } else { magnitude };
    i64::try_from(signed).map_err(|_| "integer out of range".to_string())
}

/// Splits Go's base prefixes (`0x`, `0o`, `0b`, leading `0`) off a number.
fn split_radix(raw: &str) -> (&str, u32) {
    let lower = raw.get(..2).map(str::to_ascii_lowercase);
    match lower.as_deref() {
        Some("0x") => (raw.get(2..).unwrap_or(""), 16),
        Some("0o") => (raw.get(2..).unwrap_or(""), 8),
        Some("0b") => (raw.get(2..).unwrap_or(""), 2),
        _ if raw.len() > 1 && raw.starts_with('0') => (raw.get(1..).unwrap_or(""), 8),
        _ => (raw, 10),
    }
}

/// Checks an `Enum` value; the message lists the allowed values.
fn check_enum(options: &[&str], raw: &str) -> Result<(), String> {
    if options.contains(&raw) {
        return Ok(());
    }
    let quoted: Vec<String> = options.iter().map(|o| format!("'{o}'")).collect();
    Err(format!("must be one of {}", quoted.join(", ")))
}

/// The address checks of Thanos's `extkingpin.validateAddrs`
/// (`pkg/extkingpin/flags.go` v0.31.0), applied to each new value against the
/// values the same flag already has. The messages are Thanos's.
fn check_address(previous: &[String], raw: &str) -> Result<(), String> {
    if raw.is_empty() {
        return Err("Address is empty.".to_string());
    }
    if !raw.contains('+') && !raw.contains(':') {
        return Err(format!(
            "Address {raw} is not of <host>:<port> format or a valid DNS query."
        ));
    }
    if previous.iter().any(|p| p == raw) {
        return Err(format!("Address {raw} is duplicated."));
    }
    Ok(())
}

/// Formats a float as Go's `fmt` `%v` does: the shortest representation, in
/// exponent form (`1e+06`, `1e-05`) when the decimal exponent is below -4 or
/// at least 6, the rule of `strconv.FormatFloat(x, 'g', -1, 64)`.
pub fn go_float(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let exponent = x.abs().log10().floor();
    if (-4.0..6.0).contains(&exponent) {
        return format!("{x}");
    }
    let scientific = format!("{x:e}");
    match scientific.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => scientific,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_matches_percent_v() {
        let cases: &[(f64, &str)] = &[
            (0.1, "0.1"),
            (0.25, "0.25"),
            (1.25, "1.25"),
            (3.0, "3"),
            (10.0, "10"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
        ];
        for (x, text) in cases {
            assert_eq!(go_float(*x), *text, "{x}");
        }
    }

    #[test]
    fn kingpin_int_truncates_floats() {
        let cases: &[(&str, Option<i64>)] = &[
            ("20", Some(20)),
            ("-3", Some(-3)),
            ("20.7", Some(20)),
            ("-20.7", Some(-20)),
            ("1e3", Some(1000)),
            ("+5", Some(5)),
            ("x", None),
            ("", None),
            ("inf", None),
            ("NaN", None),
            ("1e30", None),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_kingpin_int(raw).ok(), *want, "{raw:?}");
        }
    }

    #[test]
    fn go_integers_accept_base_prefixes() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("42", Some(42)),
            ("0x1f", Some(31)),
            ("0X1F", Some(31)),
            ("0o17", Some(15)),
            ("017", Some(15)),
            ("0b101", Some(5)),
            ("-1", None),
            ("+1", None),
            ("0x", None),
            ("1_000", None),
            ("18446744073709551616", None),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_go_uint(raw).ok(), *want, "{raw:?}");
        }
        assert_eq!(parse_go_int("-0x10"), Ok(-16));
        assert_eq!(parse_go_int("-9223372036854775808"), Ok(i64::MIN));
        assert!(parse_go_int("9223372036854775808").is_err());
    }

    #[test]
    fn bools_use_go_spellings() {
        for raw in ["1", "t", "T", "true", "TRUE", "True"] {
            assert_eq!(parse_bool(raw), Ok(true));
        }
        for raw in ["0", "f", "F", "false", "FALSE", "False"] {
            assert_eq!(parse_bool(raw), Ok(false));
        }
        for raw in ["yes", "", "tRUE"] {
            assert!(parse_bool(raw).is_err());
        }
    }
}
