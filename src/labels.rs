//! Label sets and matchers, in the StoreAPI's own types.
//!
//! Order is Prometheus's `labels.Compare` (v2.42 model/labels/labels.go):
//! label by label, name then value, bytewise; a set that is a prefix of
//! another sorts first. Every store stream, every merge and every JSON
//! output relies on this one order.

use std::cmp::Ordering;

use regex::Regex;

use crate::proto::thanos::{label_matcher, Label, LabelMatcher};

/// The metric name label.
pub const METRIC_NAME: &str = "__name__";

/// Builds a label.
pub fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.to_string(),
        value: value.to_string(),
    }
}

/// Prometheus's `labels.Compare`.
pub fn compare(a: &[Label], b: &[Label]) -> Ordering {
    for (x, y) in a.iter().zip(b.iter()) {
        match x.name.as_bytes().cmp(y.name.as_bytes()) {
            Ordering::Equal => {}
            o => return o,
        }
        match x.value.as_bytes().cmp(y.value.as_bytes()) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    a.len().cmp(&b.len())
}

/// Sorts a label set by name (stable, so duplicates keep their order).
pub fn sort(ls: &mut [Label]) {
    ls.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
}

/// The value of label `name`, or "" when absent (Prometheus's convention).
pub fn get<'a>(ls: &'a [Label], name: &str) -> &'a str {
    ls.iter()
        .find(|l| l.name == name)
        .map_or("", |l| l.value.as_str())
}

/// A compiled label matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub kind: MatchKind,
    pub name: String,
    pub value: String,
    re: Option<Regex>,
}

/// The four Prometheus matcher kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    Eq,
    Neq,
    Re,
    Nre,
}

impl Matcher {
    /// Builds a matcher; regexes are anchored as Prometheus anchors them.
    pub fn new(kind: MatchKind, name: &str, value: &str) -> Result<Matcher, String> {
        let re = match kind {
            MatchKind::Re | MatchKind::Nre => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("invalid regular expression {value:?}: {e}"))?,
            ),
            _ => None,
        };
        Ok(Matcher {
            kind,
            name: name.to_string(),
            value: value.to_string(),
            re,
        })
    }

    /// Whether `v` (the label's value, "" when absent) matches.
    pub fn matches(&self, v: &str) -> bool {
        match (self.kind, &self.re) {
            (MatchKind::Eq, _) => v == self.value,
            (MatchKind::Neq, _) => v != self.value,
            (MatchKind::Re, Some(re)) => re.is_match(v),
            (MatchKind::Nre, Some(re)) => !re.is_match(v),
            _ => false,
        }
    }

    /// Converts from the wire form; an invalid regex is an error.
    pub fn from_proto(m: &LabelMatcher) -> Result<Matcher, String> {
        let kind = match label_matcher::Type::try_from(m.r#type) {
            Ok(label_matcher::Type::Eq) => MatchKind::Eq,
            Ok(label_matcher::Type::Neq) => MatchKind::Neq,
            Ok(label_matcher::Type::Re) => MatchKind::Re,
            Ok(label_matcher::Type::Nre) => MatchKind::Nre,
            Err(_) => return Err(format!("unknown matcher type {}", m.r#type)),
        };
        Matcher::new(kind, &m.name, &m.value)
    }

    /// The wire form.
    pub fn to_proto(&self) -> LabelMatcher {
        let t = match self.kind {
            MatchKind::Eq => label_matcher::Type::Eq,
            MatchKind::Neq => label_matcher::Type::Neq,
            MatchKind::Re => label_matcher::Type::Re,
            MatchKind::Nre => label_matcher::Type::Nre,
        };
        LabelMatcher {
            r#type: t as i32,
            name: self.name.clone(),
            value: self.value.clone(),
        }
    }

    /// Whether this matcher also matches the empty value (so it selects
    /// series that lack the label).
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

/// Whether every matcher matches the label set.
pub fn matches_all(ms: &[Matcher], ls: &[Label]) -> bool {
    ms.iter().all(|m| m.matches(get(ls, &m.name)))
}

/// Parses a series selector (`match[]`, `storeMatch[]`) into matchers, as
/// Prometheus's `parser.ParseMetricSelector` does: a bare vector selector
/// with at least one matcher that does not match the empty string.
pub fn parse_selector(s: &str) -> Result<Vec<Matcher>, String> {
    use promql_parser::label::MatchOp;
    use promql_parser::parser::{self, Expr};
    let expr = parser::parse(s)?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(format!(
            "invalid series selector {s:?}: expected a vector selector"
        ));
    };
    if vs.offset.is_some() || vs.at.is_some() {
        return Err(format!(
            "invalid series selector {s:?}: offset and @ are not allowed"
        ));
    }
    if !vs.matchers.or_matchers.is_empty() {
        return Err(format!(
            "invalid series selector {s:?}: 'or' in matchers is not supported"
        ));
    }
    let mut out = Vec::new();
    if let Some(name) = &vs.name {
        if !vs.matchers.matchers.iter().any(|m| m.name == METRIC_NAME) {
            out.push(Matcher::new(MatchKind::Eq, METRIC_NAME, name)?);
        }
    }
    for m in &vs.matchers.matchers {
        let kind = match m.op {
            MatchOp::Equal => MatchKind::Eq,
            MatchOp::NotEqual => MatchKind::Neq,
            MatchOp::Re(_) => MatchKind::Re,
            MatchOp::NotRe(_) => MatchKind::Nre,
        };
        out.push(Matcher::new(kind, &m.name, &m.value)?);
    }
    if out.iter().all(Matcher::matches_empty) {
        return Err("match[] must contain at least one non-empty matcher".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> Vec<Label> {
        pairs.iter().map(|(n, v)| label(n, v)).collect()
    }

    #[test]
    fn compare_follows_prometheus() {
        let cases = [
            (ls(&[("a", "1")]), ls(&[("a", "1")]), Ordering::Equal),
            (ls(&[("a", "1")]), ls(&[("a", "2")]), Ordering::Less),
            (
                ls(&[("a", "1")]),
                ls(&[("a", "1"), ("b", "1")]),
                Ordering::Less,
            ),
            (
                ls(&[("b", "1")]),
                ls(&[("a", "1"), ("b", "1")]),
                Ordering::Greater,
            ),
            (ls(&[("a", "10")]), ls(&[("a", "9")]), Ordering::Less),
            (ls(&[]), ls(&[("a", "")]), Ordering::Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare(&a, &b), want, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn selectors() {
        let m = parse_selector(r#"up{job=~"api|db", instance!="x"}"#).unwrap();
        assert_eq!(m.len(), 3);
        assert!(matches_all(&m, &ls(&[("__name__", "up"), ("job", "db")])));
        assert!(!matches_all(&m, &ls(&[("__name__", "up"), ("job", "dbx")])));
        assert!(!matches_all(
            &m,
            &ls(&[("__name__", "up"), ("instance", "x"), ("job", "db")])
        ));
        assert!(parse_selector(r#"{job=~".*"}"#).is_err());
        assert!(parse_selector("rate(up[5m])").is_err());
        assert!(parse_selector("up{").is_err());
        assert!(parse_selector(r#"{__name__=~"up|down"}"#).is_ok());
    }
}
