//! `--selector-label` values: `name="value"` pairs, parsed and checked as
//! Thanos's `parseFlagLabels` (`cmd/thanos/rule.go` v0.31.0) does at start-up,
//! with its error messages.
//!
//! The value is a Go string literal, unquoted with the rules of Go's
//! `strconv.Unquote`: a double-quoted string with Go escapes, a back-quoted
//! raw string (carriage returns dropped), or a single-quoted character.

/// Parses every `--selector-label` value into a label, sorted by name as
/// Thanos sorts the set. The error is Thanos's start-up message.
pub fn parse_selector_labels(values: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut labels = Vec::with_capacity(values.len());
    for value in values {
        labels.push(parse_one(value).map_err(|e| format!("parse federation labels: {e}"))?);
    }
    labels.sort();
    Ok(labels)
}

fn parse_one(text: &str) -> Result<(String, String), String> {
    let Some((name, quoted)) = text.split_once('=') else {
        return Err(format!("unrecognized label {text:?}"));
    };
    if !is_label_name(name) {
        return Err(format!("unsupported format for label {text}"));
    }
    let value = go_unquote(quoted).ok_or("unquote label value: invalid syntax")?;
    Ok((name.to_string(), value))
}

/// Prometheus's `model.LabelName.IsValid`: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Go's `strconv.Unquote`; `None` is Go's "invalid syntax".
fn go_unquote(text: &str) -> Option<String> {
    if let Some(raw) = text.strip_prefix('`').and_then(|t| t.strip_suffix('`')) {
        return (!raw.contains('`')).then(|| raw.replace('\r', ""));
    }
    if let Some(body) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        return unescape(body, '"');
    }
    let body = text.strip_prefix('\'')?.strip_suffix('\'')?;
    let value = unescape(body, '\'')?;
    (value.chars().count() == 1).then_some(value)
}

/// Decodes the escapes of a Go string or rune literal body quoted by `quote`.
fn unescape(body: &str, quote: char) -> Option<String> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(escape(&mut chars, quote)?),
            '\n' => return None,
            c if c == quote => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// Decodes one escape after its backslash.
fn escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, quote: char) -> Option<char> {
    let c = chars.next()?;
    let simple = match c {
        'a' => '\u{7}',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\u{b}',
        '\\' => '\\',
        '\'' | '"' if c == quote => c,
        'x' => return number(chars, 2, 16),
        'u' => return number(chars, 4, 16),
        'U' => return number(chars, 8, 16),
        '0'..='7' => {
            let rest = number(chars, 2, 8)?;
            let value = c.to_digit(8)? * 64 + u32::from(rest);
            return (value <= 255).then(|| char::from_u32(value)).flatten();
        }
        _ => return None,
    };
    Some(simple)
}

/// Reads exactly `digits` digits of `radix` and returns the character.
///
/// Go decodes `\xNN` and octal escapes to single bytes; for values above
/// 0x7f this returns the code point instead, which differs from Go only for
/// label values that are not valid UTF-8 in Go either.
fn number(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    digits: usize,
    radix: u32,
) -> Option<char> {
    let mut value: u32 = 0;
    for _ in 0..digits {
        let digit = chars.next()?.to_digit(radix)?;
        value = value.checked_mul(radix)?.checked_add(digit)?;
    }
    char::from_u32(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn valid_labels_are_unquoted_and_sorted() {
        let got = parse_selector_labels(&strings(&[
            r#"zone="eu-1""#,
            r#"a="x\ty\u00e9\"""#,
            "raw=`c:\\dir`",
            "c='x'",
            r#"e="""#,
        ]));
        let want: Vec<(String, String)> = [
            ("a", "x\ty\u{e9}\""),
            ("c", "x"),
            ("e", ""),
            ("raw", "c:\\dir"),
            ("zone", "eu-1"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, Ok(want));
    }

    #[test]
    fn invalid_labels_give_thanos_messages() {
        let cases: &[(&str, &str)] = &[
            (
                "zone",
                "parse federation labels: unrecognized label \"zone\"",
            ),
            (
                "1zone=\"a\"",
                "parse federation labels: unsupported format for label 1zone=\"a\"",
            ),
            (
                "zo-ne=\"a\"",
                "parse federation labels: unsupported format for label zo-ne=\"a\"",
            ),
            (
                "zone=eu",
                "parse federation labels: unquote label value: invalid syntax",
            ),
            (
                "zone=\"eu",
                "parse federation labels: unquote label value: invalid syntax",
            ),
            (
                "zone=\"a\"b\"",
                "parse federation labels: unquote label value: invalid syntax",
            ),
            (
                "zone=\"\\q\"",
                "parse federation labels: unquote label value: invalid syntax",
            ),
            (
                "zone='ab'",
                "parse federation labels: unquote label value: invalid syntax",
            ),
        ];
        for (value, message) in cases {
            assert_eq!(
                parse_selector_labels(&strings(&[value])),
                Err(message.to_string()),
                "{value}"
            );
        }
    }
}
