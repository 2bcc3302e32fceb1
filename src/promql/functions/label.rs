//! label_replace and label_join (Prometheus v2.42 `promql/functions.go`).
//!
//! Both keep the metric name and cache the output labels of each input
//! label set across steps. label_replace anchors its regex as
//! `^(?:regex)$` and expands `$1`, `${name}` and `$$` in the replacement as
//! Go's `Regexp.ExpandString` does (the Rust regex crate uses the same
//! template rules, including "the longest name wins": `$1x` is group `1x`).

use regex::Regex;

use super::NodeCache;
use crate::promql::error::{PromqlError, Result};
use crate::promql::labelset::{is_valid_label_name, Builder};
use crate::promql::plan::Node;
use crate::promql::value::{Metric, Sample, Vector};

/// A string argument of the call.
fn string_arg(args: &[Node], i: usize) -> Result<&str> {
    match args.get(i) {
        Some(Node::Str(s)) => Ok(s),
        _ => Err(PromqlError::internal(format!(
            "argument {i} is not a string literal"
        ))),
    }
}

/// `label_replace(v, dst, replacement, src, regex)`.
pub(crate) fn label_replace(
    vec: &[Sample],
    args: &[Node],
    cache: &mut NodeCache,
) -> Result<Vector> {
    let dst = string_arg(args, 1)?;
    let repl = string_arg(args, 2)?;
    let src = string_arg(args, 3)?;
    let regex_str = string_arg(args, 4)?;
    if cache.regex.is_none() {
        let re = Regex::new(&format!("^(?:{regex_str})$")).map_err(|_| {
            PromqlError::execution(format!(
                "invalid regular expression in label_replace(): {regex_str}"
            ))
        })?;
        if !is_valid_label_name(dst) {
            return Err(PromqlError::execution(format!(
                "invalid destination label name in label_replace(): {dst}"
            )));
        }
        cache.regex = Some(re);
    }
    let Some(re) = cache.regex.as_ref() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(vec.len());
    for s in vec {
        let metric = match cache.relabel.get(&s.metric) {
            Some(m) => m.clone(),
            None => {
                let src_val = crate::labels::get(&s.metric, src);
                let m = match re.captures(src_val) {
                    None => s.metric.clone(),
                    Some(caps) => {
                        let mut res = String::new();
                        caps.expand(repl, &mut res);
                        let mut b = Builder::new(&s.metric);
                        b.del_one(dst);
                        if !res.is_empty() {
                            b.set(dst, &res);
                        }
                        Metric::new(b.labels())
                    }
                };
                cache.relabel.insert(s.metric.clone(), m.clone());
                m
            }
        };
        out.push(Sample {
            metric,
            t: s.t,
            v: s.v,
        });
    }
    Ok(out)
}

/// `label_join(v, dst, separator, src...)`.
pub(crate) fn label_join(vec: &[Sample], args: &[Node], cache: &mut NodeCache) -> Result<Vector> {
    let dst = string_arg(args, 1)?;
    let sep = string_arg(args, 2)?;
    let mut srcs = Vec::with_capacity(args.len().saturating_sub(3));
    for i in 3..args.len() {
        let src = string_arg(args, i)?;
        if !is_valid_label_name(src) {
            return Err(PromqlError::execution(format!(
                "invalid source label name in label_join(): {src}"
            )));
        }
        srcs.push(src);
    }
    if !is_valid_label_name(dst) {
        return Err(PromqlError::execution(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let mut out = Vec::with_capacity(vec.len());
    for s in vec {
        let metric = match cache.relabel.get(&s.metric) {
            Some(m) => m.clone(),
            None => {
                let joined = srcs
                    .iter()
                    .map(|src| crate::labels::get(&s.metric, src))
                    .collect::<Vec<_>>()
                    .join(sep);
                let mut b = Builder::new(&s.metric);
                if joined.is_empty() {
                    b.del_one(dst);
                } else {
                    b.set(dst, &joined);
                }
                let m = Metric::new(b.labels());
                cache.relabel.insert(s.metric.clone(), m.clone());
                m
            }
        };
        out.push(Sample {
            metric,
            t: s.t,
            v: s.v,
        });
    }
    Ok(out)
}
