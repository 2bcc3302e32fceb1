//! Label-set operations the evaluator needs: the builder (set, delete,
//! keep), dropping the metric name, and the byte signatures used to match
//! and group series.
//!
//! Prometheus v2.42 (`model/labels/labels.go`) identifies groups and match
//! sides by a 64-bit xxhash of these bytes and ignores collisions; we key
//! maps by the bytes themselves, so two different label sets can never be
//! merged by accident. The bytes use `0xfe`/`0xff` separators, which cannot
//! occur inside UTF-8 label names or values, so the encoding is injective.

use crate::labels::METRIC_NAME;
use crate::proto::thanos::Label;

use super::value::Labels;

const LABEL_SEP: u8 = 0xfe;
const SEP: u8 = 0xff;

/// Builds a label set from a base by deleting, setting and keeping labels,
/// as Prometheus's `labels.Builder` does; the result is sorted by name.
#[derive(Debug, Clone)]
pub(crate) struct Builder {
    labels: Labels,
}

impl Builder {
    /// Starts from a copy of `base`.
    pub(crate) fn new(base: &[Label]) -> Builder {
        Builder {
            labels: base.to_vec(),
        }
    }

    /// Removes the named labels.
    pub(crate) fn del(&mut self, names: &[impl AsRef<str>]) -> &mut Builder {
        self.labels
            .retain(|l| !names.iter().any(|n| n.as_ref() == l.name));
        self
    }

    /// Removes one label.
    pub(crate) fn del_one(&mut self, name: &str) -> &mut Builder {
        self.labels.retain(|l| l.name != name);
        self
    }

    /// Sets a label; an empty value deletes it (Prometheus's convention).
    pub(crate) fn set(&mut self, name: &str, value: &str) -> &mut Builder {
        if value.is_empty() {
            return self.del_one(name);
        }
        match self.labels.iter_mut().find(|l| l.name == name) {
            Some(l) => l.value = value.to_string(),
            None => self.labels.push(Label {
                name: name.to_string(),
                value: value.to_string(),
            }),
        }
        self
    }

    /// Keeps only the named labels.
    pub(crate) fn keep(&mut self, names: &[impl AsRef<str>]) -> &mut Builder {
        self.labels
            .retain(|l| names.iter().any(|n| n.as_ref() == l.name));
        self
    }

    /// The label set, sorted by name.
    pub(crate) fn labels(mut self) -> Labels {
        crate::labels::sort(&mut self.labels);
        self.labels
    }
}

/// The label set without `__name__`.
pub(crate) fn drop_metric_name(ls: &[Label]) -> Labels {
    ls.iter()
        .filter(|l| l.name != METRIC_NAME)
        .cloned()
        .collect()
}

/// Whether the set has a `__name__` label.
pub(crate) fn has_metric_name(ls: &[Label]) -> bool {
    ls.iter().any(|l| l.name == METRIC_NAME)
}

fn push_label(b: &mut Vec<u8>, l: &Label) {
    if b.len() > 1 {
        b.push(SEP);
    }
    b.extend_from_slice(l.name.as_bytes());
    b.push(SEP);
    b.extend_from_slice(l.value.as_bytes());
}

/// The bytes of the labels whose names are in `names` (Prometheus's
/// `BytesWithLabels`); `names` must be sorted.
pub(crate) fn bytes_with(ls: &[Label], names: &[String], out: &mut Vec<u8>) {
    out.clear();
    out.push(LABEL_SEP);
    for l in ls {
        if names.binary_search_by(|n| n.as_str().cmp(&l.name)).is_ok() {
            push_label(out, l);
        }
    }
}

/// The bytes of the labels whose names are not in `names` (Prometheus's
/// `BytesWithoutLabels`); `names` must be sorted.
pub(crate) fn bytes_without(ls: &[Label], names: &[String], out: &mut Vec<u8>) {
    out.clear();
    out.push(LABEL_SEP);
    for l in ls {
        if names.binary_search_by(|n| n.as_str().cmp(&l.name)).is_err() {
            push_label(out, l);
        }
    }
}

/// The bytes of the labels not in `names` and not `__name__` (the key of
/// Prometheus's `HashWithoutLabels`); `names` must be sorted.
pub(crate) fn bytes_without_and_name(ls: &[Label], names: &[String], out: &mut Vec<u8>) {
    out.clear();
    out.push(LABEL_SEP);
    for l in ls {
        if l.name != METRIC_NAME && names.binary_search_by(|n| n.as_str().cmp(&l.name)).is_err() {
            push_label(out, l);
        }
    }
}

/// The labels a match group is made of, for error messages (Prometheus's
/// `Labels.MatchLabels`).
pub(crate) fn match_labels(ls: &[Label], on: bool, names: &[String]) -> Labels {
    ls.iter()
        .filter(|l| {
            let listed = names.contains(&l.name);
            on == listed && (on || l.name != METRIC_NAME)
        })
        .cloned()
        .collect()
}

/// A label set as Prometheus prints it: `{a="1", b="2"}`.
pub(crate) fn to_string(ls: &[Label]) -> String {
    let mut s = String::from("{");
    for (i, l) in ls.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&l.name);
        s.push('=');
        s.push_str(&super::format::go_quote(&l.value));
    }
    s.push('}');
    s
}

/// Whether `name` is a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`,
/// Prometheus's `model.LabelName.IsValid`).
pub(crate) fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::label;

    #[test]
    fn builder_sorts_and_deletes_on_empty() {
        let base = vec![label("a", "1"), label("c", "3")];
        let mut b = Builder::new(&base);
        b.set("b", "2").set("a", "");
        assert_eq!(b.labels(), vec![label("b", "2"), label("c", "3")]);
    }

    #[test]
    fn signatures_are_injective() {
        let a = vec![label("a", "aa"), label("b", "bb")];
        let b = vec![label("a", "a"), label("b", "abb")];
        let names = vec!["a".to_string(), "b".to_string()];
        let (mut x, mut y) = (Vec::new(), Vec::new());
        bytes_with(&a, &names, &mut x);
        bytes_with(&b, &names, &mut y);
        assert_ne!(x, y);
    }

    #[test]
    fn label_names() {
        assert!(is_valid_label_name("_a1"));
        assert!(!is_valid_label_name("1a"));
        assert!(!is_valid_label_name("invalid-label-name"));
        assert!(!is_valid_label_name(""));
    }
}
