//! JSON string escaping as Go's `encoding/json` does it (Thanos v0.31 writes
//! its API responses with it): `"`, `\\` and control characters escaped,
//! `<`, `>`, `&`, U+2028 and U+2029 written as `\uXXXX` (HTML-safe
//! escaping is on by default in Go), invalid UTF-8 replaced by U+FFFD.
//! Writes into any buffer without building a document.

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a JSON string literal.
pub fn push_str(out: &mut String, s: &str) {
    let mut buf = Vec::with_capacity(s.len() + 2);
    write_str(&mut buf, s);
    // `write_str` only emits valid UTF-8.
    out.push_str(&String::from_utf8_lossy(&buf));
}

/// Appends `s` as a JSON string literal to a byte buffer.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&[u8]> = match c {
            '"' => Some(b"\\\""),
            '\\' => Some(b"\\\\"),
            '\n' => Some(b"\\n"),
            '\r' => Some(b"\\r"),
            '\t' => Some(b"\\t"),
            _ => None,
        };
        let needs_u = matches!(
            c,
            '\u{0}'..='\u{1f}' | '<' | '>' | '&' | '\u{2028}' | '\u{2029}'
        );
        if esc.is_none() && !needs_u {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        start = i + c.len_utf8();
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => {
                let v = c as u32;
                out.extend_from_slice(b"\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(HEX[((v >> shift) & 0xf) as usize]);
                }
            }
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends a label set as a JSON object (keys in the set's order, which is
/// sorted by name, as Go's map encoding sorts them).
pub fn write_labels(out: &mut Vec<u8>, labels: &[crate::proto::thanos::Label]) {
    out.push(b'{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, &l.name);
        out.push(b':');
        write_str(out, &l.value);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        let mut v = Vec::new();
        write_str(&mut v, s);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn escapes_as_go() {
        let cases = [
            ("plain", r#""plain""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("x<y>&z", r#""x\u003cy\u003e\u0026z""#),
            ("nl\nt\tcr\r", r#""nl\nt\tcr\r""#),
            ("\u{1}\u{1f}", r#""\u0001\u001f""#),
            ("\u{2028}\u{2029}", r#""\u2028\u2029""#),
            ("ünï €", "\"ünï €\""),
            ("", r#""""#),
        ];
        for (input, want) in cases {
            assert_eq!(enc(input), want, "{input:?}");
        }
    }
}
