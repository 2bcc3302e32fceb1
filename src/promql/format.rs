//! Go's ways of printing and reading numbers and strings, where Prometheus's
//! output depends on them: `strconv.FormatFloat(v, 'f', -1, 64)` (the value
//! label of `count_values`), `%v` and `%f` of a float (error messages),
//! `strconv.Quote` (label values in messages) and `strconv.ParseFloat`
//! (bucket bounds in `le`).

/// `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest digits that read back
/// as `v`, never in exponent form.
pub(crate) fn format_f(v: f64) -> String {
    let mut out = Vec::with_capacity(24);
    write_f(&mut out, v);
    // Only ASCII digits, signs, '.' and the names of the special values.
    String::from_utf8(out).unwrap_or_default()
}

/// [`format_f`] appended to `out` without an allocation of its own: the
/// API writes one per sample. Ryu finds the shortest round-trip digits
/// (as Go's `strconv` does since Go 1.17 and Rust's `Display` does); its
/// exponent form is laid out here as plain decimal.
pub(crate) fn write_f(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
        return;
    }
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(v).as_bytes();
    let (neg, s) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    let (mant, exp) = match s.iter().position(|&c| c == b'e') {
        Some(i) => {
            let e = std::str::from_utf8(s.get(i + 1..).unwrap_or(&[]))
                .ok()
                .and_then(|e| e.parse::<i32>().ok())
                .unwrap_or(0);
            (s.get(..i).unwrap_or(&[]), e)
        }
        None => (s, 0),
    };
    // The significant digits and where the decimal point falls in them.
    let mut digits = [0u8; 24];
    let mut n = 0usize;
    let mut point: i32 = mant.len() as i32;
    for &c in mant {
        if c == b'.' {
            point = n as i32;
            continue;
        }
        if let Some(d) = digits.get_mut(n) {
            *d = c;
            n += 1;
        }
    }
    point += exp;
    let mut first = 0usize;
    while first < n && digits.get(first) == Some(&b'0') {
        first += 1;
        point -= 1;
    }
    while n > first && digits.get(n - 1) == Some(&b'0') {
        n -= 1;
    }
    if neg {
        out.push(b'-');
    }
    let digits = digits.get(first..n).unwrap_or(&[]);
    if digits.is_empty() {
        out.push(b'0');
        return;
    }
    let len = digits.len() as i32;
    if point <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-point) as usize));
        out.extend_from_slice(digits);
    } else if point >= len {
        out.extend_from_slice(digits);
        out.extend(std::iter::repeat_n(b'0', (point - len) as usize));
    } else {
        let (a, b) = digits.split_at(point as usize);
        out.extend_from_slice(a);
        out.push(b'.');
        out.extend_from_slice(b);
    }
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(v, 'g', -1, 64)`): shortest
/// digits, exponent form when the decimal exponent is below -4 or at least
/// 6 (Go uses precision 6 for this decision when printing shortest).
pub(crate) fn format_v(v: f64) -> String {
    if !v.is_finite() {
        return format_f(v);
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // `{:e}` gives the shortest digits as d.ddde<exp>.
    let e = format!("{v:e}");
    let Some((mant, exp)) = e.split_once('e') else {
        return e;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        let a = exp.unsigned_abs();
        if a < 10 {
            format!("{mant}e{sign}0{a}")
        } else {
            format!("{mant}e{sign}{a}")
        }
    } else {
        format_f(v)
    }
}

/// Go's `%f` of a float64: six decimals.
pub(crate) fn format_percent_f(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.6}")
    } else {
        format_f(v)
    }
}

/// `strconv.Quote`: a double-quoted Go string literal.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if is_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `unicode.IsPrint` (no Unicode tables here):
/// control characters, separators other than the ASCII space, common
/// format characters and private-use code points are not printable.
fn is_printable(c: char) -> bool {
    let u = c as u32;
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(u,
        0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e
        | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x206f
        | 0xd800..=0xdfff | 0xe000..=0xf8ff | 0xfeff | 0xfff9..=0xfffb
        | 0xf0000..=0x10ffff)
}

/// `strconv.ParseFloat(s, 64)` for the forms Prometheus meets in `le`
/// labels: decimal with optional exponent, `Inf`/`Infinity`/`NaN` in any
/// case with an optional sign, and hexadecimal floats (`0x1p-2`).
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ if lower.starts_with("0x") => parse_hex_float(&lower[2..])?,
        _ => {
            // Rust accepts a few spellings Go does not ("infinity" handled
            // above; a leading '+' was stripped). Reject empty bodies and
            // anything that is not a plain decimal literal.
            if body.is_empty()
                || !body
                    .bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
            {
                return None;
            }
            body.parse::<f64>().ok()?
        }
    };
    Some(if neg { -v } else { v })
}

/// A hexadecimal float body after "0x": hex digits with an optional point
/// and a mandatory binary exponent `p[+-]d+`, as Go requires.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mant, exp) = s.split_once('p')?;
    let exp: i32 = exp.parse().ok()?;
    let (int_part, frac_part) = mant.split_once('.').unwrap_or((mant, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int_part.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac_part.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go() {
        assert_eq!(format_f(6.0), "6");
        assert_eq!(format_f(0.1), "0.1");
        assert_eq!(format_f(1e21), "1000000000000000000000");
        assert_eq!(format_f(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_v(1e20), "1e+20");
        assert_eq!(format_v(1234567.0), "1.234567e+06");
        assert_eq!(format_v(1.5e-7), "1.5e-07");
        assert_eq!(format_v(123456.0), "123456");
        assert_eq!(format_percent_f(0.5), "0.500000");
        assert_eq!(format_f(-0.0), "-0");
        assert_eq!(format_f(0.0), "0");
        assert_eq!(format_f(1e-7), "0.0000001");
        assert_eq!(format_f(-1.5e-300), format!("{}", -1.5e-300));
        assert_eq!(format_f(f64::MAX).len(), 309);
        assert_eq!(format_f(123.456), "123.456");
        assert_eq!(format_f(1e15), "1000000000000000");
        assert_eq!(format_f(1e16), "10000000000000000");
        assert_eq!(format_f(0.30000000000000004), "0.30000000000000004");
    }

    proptest::proptest! {
        /// Rust's `Display` of an f64 is the same shortest, never-exponent
        /// form (and was checked against real Prometheus's answers); the
        /// ryu path must agree on every double.
        #[test]
        fn write_f_is_display(bits in proptest::num::u64::ANY) {
            let v = f64::from_bits(bits);
            proptest::prop_assume!(v.is_finite());
            proptest::prop_assert_eq!(format_f(v), format!("{v}"));
        }

        #[test]
        fn write_f_is_display_for_decimals(m in -1_000_000_000i64..1_000_000_000, e in -30i32..30) {
            let v = m as f64 * 10f64.powi(e);
            proptest::prop_assert_eq!(format_f(v), format!("{v}"));
        }
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(go_quote("\u{1}"), "\"\\x01\"");
        assert_eq!(go_quote("é"), "\"é\"");
    }

    #[test]
    fn parses_bucket_bounds() {
        assert_eq!(parse_go_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_go_float("+inf"), Some(f64::INFINITY));
        assert_eq!(parse_go_float(".2"), Some(0.2));
        assert_eq!(parse_go_float("2.0e-1"), Some(0.2));
        assert_eq!(parse_go_float("-.2"), Some(-0.2));
        assert_eq!(parse_go_float("0x1p-2"), Some(0.25));
        assert_eq!(parse_go_float(""), None);
        assert_eq!(parse_go_float("abc"), None);
    }
}
