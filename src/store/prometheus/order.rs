//! Putting Prometheus's remote-read stream in StoreAPI order with bounded
//! memory.
//!
//! # The problem
//!
//! Prometheus streams series sorted by their *stored* labels `L`, then
//! merges its external labels `E` into each (a series' own label wins a name
//! clash; Prometheus v2.42 `storage/remote/codec.go` `MergeLabels`), and the
//! sidecar removes the `without_replica_labels` `R`. The StoreAPI wants the
//! stream sorted by the labels it sends, `f(L) = (L ⊕ E) \ R`, which is not
//! always the order of `L` (Prometheus issue #12605; Thanos sidecars since
//! v0.32.3 buffer the whole answer and sort it, #6706, at a memory cost,
//! #7395). Two things break it: adding a label to a series that is a prefix
//! of another (`{a="1"}` sorts before `{a="1",b="2"}`, but
//! `{a="1",replica="x"}` sorts after `{a="1",b="2",replica="x"}`), and
//! removing labels a series carries itself.
//!
//! # The watermark
//!
//! Let `m` be the smallest name in `E` ∪ `R`. Labels named below `m` are
//! never changed, so every series' labels start with the same prefix `P` in
//! `L` and in `f(L)`. Buffered series are kept sorted (a B-tree keyed by
//! output labels) and a series is sent once no series still to come can
//! sort before it: when its key is below a *watermark* computed from the
//! series just received.
//!
//! * **Some external label survives** (a name of `E` is not in `R`: every
//!   request without dedup, or external labels beyond the replica label).
//!   Every output then has a label at or above `m`. If `s` is the series
//!   just received, every later series `t` has `L(t) > L(s)`, and comparing
//!   position by position shows `f(t) > P(s)`: where the prefixes differ the
//!   comparison is the same in both orders, and where `P(t)` stops short,
//!   `t` continues with a label at or above `m` in both. So the watermark is
//!   `P(s)`, and what stays buffered is the group of series that share `P(s)`
//!   (they differ only in labels at or above `m`) plus at most one series
//!   per prefix of `P(s)` that ended there: a few series.
//! * **Every external label is removed** (dedup over the usual single
//!   `replica` external label). A series that carries its own labels at or
//!   above `m`, all of them in `R`, comes out as just its prefix and must
//!   jump ahead of everything that extends that prefix. The bound above
//!   then only holds for the first label: the watermark is the first label
//!   of `P(s)`, i.e. series are held per metric name, and released when the
//!   name changes. This is exact unless a series has no label below `m` at
//!   all.
//!
//! Series with equal output labels (one series split over several frames,
//! or two series that become equal once `R` is removed) are merged into
//! one. As a safety net the order of what is sent is checked; a violation
//! (only possible in the case just named) is logged and counted, and the
//! querier's re-sort repairs it.

use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};

use crate::labels;
use crate::proto::thanos::{AggrChunk, Label, Series};

/// Output labels, ordered as Prometheus's `labels.Compare`.
#[derive(Debug, Clone)]
struct Key(Vec<Label>);

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        labels::compare(&self.0, &other.0)
    }
}

/// The re-sorting buffer of one Series call.
#[derive(Debug)]
pub struct Resorter {
    /// `m`: the smallest label name `f` may change; `None` when `f` is the
    /// identity (no external labels, nothing removed).
    boundary: Option<String>,
    /// Whether every external label is removed (watermark: first label).
    per_family: bool,
    held: BTreeMap<Key, Vec<AggrChunk>>,
    last: Option<Vec<Label>>,
    violations: u64,
    peak: usize,
}

impl Resorter {
    /// A buffer for a stream with external labels `external` from which the
    /// labels named in `strip` are removed.
    pub fn new(external: &[Label], strip: &[String]) -> Resorter {
        let boundary = external.iter().map(|l| &l.name).chain(strip).min().cloned();
        let per_family = external.iter().all(|l| strip.contains(&l.name));
        Resorter {
            boundary,
            per_family,
            held: BTreeMap::new(),
            last: None,
            violations: 0,
            peak: 0,
        }
    }

    /// How many labels of `ls` (the output labels of the series just
    /// received) form the watermark.
    fn watermark_len(&self, ls: &[Label]) -> usize {
        let Some(m) = &self.boundary else {
            return ls.len();
        };
        let prefix = ls
            .iter()
            .take_while(|l| l.name.as_bytes() < m.as_bytes())
            .count();
        if self.per_family {
            prefix.min(1)
        } else {
            prefix
        }
    }

    /// Takes one series (labels already stripped) and moves every series
    /// that can no longer be overtaken to `out`.
    pub fn push(&mut self, s: Series, out: &mut VecDeque<Series>) {
        let n = self.watermark_len(&s.labels);
        self.release(Some(&s.labels[..n]), out);
        self.held.entry(Key(s.labels)).or_default().extend(s.chunks);
        self.peak = self.peak.max(self.held.len());
    }

    /// Moves everything still held to `out` (the stream has ended).
    pub fn finish(&mut self, out: &mut VecDeque<Series>) {
        self.release(None, out);
    }

    /// Series the order check found out of place so far.
    pub fn violations(&self) -> u64 {
        self.violations
    }

    /// The most series held at once.
    pub fn peak_held(&self) -> usize {
        self.peak
    }

    fn release(&mut self, below: Option<&[Label]>, out: &mut VecDeque<Series>) {
        while let Some((k, _)) = self.held.first_key_value() {
            if below.is_some_and(|w| labels::compare(&k.0, w) != Ordering::Less) {
                break;
            }
            let Some((Key(labels), chunks)) = self.held.pop_first() else {
                break;
            };
            if self
                .last
                .as_ref()
                .is_some_and(|last| labels::compare(&labels, last) == Ordering::Less)
            {
                self.violations += 1;
            }
            self.last = Some(labels.clone());
            out.push_back(Series { labels, chunks });
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ls(pairs: &[(&str, &str)]) -> Vec<Label> {
        let mut v: Vec<Label> = pairs.iter().map(|(n, v)| labels::label(n, v)).collect();
        labels::sort(&mut v);
        v
    }

    /// What Prometheus sends for stored series `stored` (sorted here by
    /// their stored labels), with external labels merged, then stripped.
    fn remote_read(stored: &[Vec<Label>], ext: &[Label], strip: &[String]) -> Vec<Series> {
        let mut stored = stored.to_vec();
        stored.sort_by(|a, b| labels::compare(a, b));
        stored.dedup();
        stored
            .into_iter()
            .map(|l| {
                let mut merged = l.clone();
                for e in ext {
                    if !merged.iter().any(|x| x.name == e.name) {
                        merged.push(e.clone());
                    }
                }
                labels::sort(&mut merged);
                merged.retain(|x| !strip.contains(&x.name));
                Series {
                    labels: merged,
                    chunks: vec![],
                }
            })
            .collect()
    }

    /// Runs the resorter; returns the output and the most series held.
    fn run(input: Vec<Series>, ext: &[Label], strip: &[String]) -> (Vec<Vec<Label>>, usize, u64) {
        let mut r = Resorter::new(ext, strip);
        let mut out = VecDeque::new();
        for s in input {
            r.push(s, &mut out);
        }
        r.finish(&mut out);
        (
            out.into_iter().map(|s| s.labels).collect(),
            r.peak_held(),
            r.violations(),
        )
    }

    fn sorted_unique(mut v: Vec<Vec<Label>>) -> Vec<Vec<Label>> {
        v.sort_by(|a, b| labels::compare(a, b));
        v.dedup();
        v
    }

    #[test]
    fn prefix_series_move_behind_their_extensions() {
        // Prometheus issue #12605: {a="1"} < {a="1",b="2"} stored, but with
        // replica="x" added the order flips.
        let stored = vec![
            ls(&[("a", "1")]),
            ls(&[("a", "1"), ("b", "2")]),
            ls(&[("a", "2")]),
        ];
        let ext = ls(&[("replica", "x")]);
        let input = remote_read(&stored, &ext, &[]);
        let (out, peak, violations) = run(input.clone(), &ext, &[]);
        let want = sorted_unique(input.iter().map(|s| s.labels.clone()).collect());
        assert_eq!(out, want);
        assert_eq!(out[0], ls(&[("a", "1"), ("b", "2"), ("replica", "x")]));
        assert!(peak <= 2, "{peak}");
        assert_eq!(violations, 0);
    }

    #[test]
    fn own_replica_labels_removed_by_dedup_jump_ahead() {
        let stored = vec![
            ls(&[("__name__", "m"), ("i", "1")]),
            ls(&[("__name__", "m"), ("i", "2")]),
            // Its own replica label: stored after {__name__="m",i=...}, but
            // once stripped it is just {__name__="m"}.
            ls(&[("__name__", "m"), ("replica", "own")]),
            ls(&[("__name__", "n"), ("i", "1")]),
        ];
        let ext = ls(&[("replica", "a")]);
        let strip = vec!["replica".to_string()];
        let input = remote_read(&stored, &ext, &strip);
        let (out, _, violations) = run(input, &ext, &strip);
        assert_eq!(out[0], ls(&[("__name__", "m")]));
        assert_eq!(out.len(), 4);
        assert_eq!(out, sorted_unique(out.clone()));
        assert_eq!(violations, 0);
    }

    #[test]
    fn split_series_and_collapsed_series_merge() {
        let chunk = |t: i64| AggrChunk {
            min_time: t,
            max_time: t,
            ..Default::default()
        };
        let s = |l: &[(&str, &str)], t| Series {
            labels: ls(l),
            chunks: vec![chunk(t)],
        };
        let input = vec![
            s(&[("a", "1")], 1),
            s(&[("a", "1")], 2),
            s(&[("a", "2")], 3),
        ];
        let mut r = Resorter::new(&ls(&[("replica", "x")]), &["replica".to_string()]);
        let mut out = VecDeque::new();
        for x in input {
            r.push(x, &mut out);
        }
        r.finish(&mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].chunks, [chunk(1), chunk(2)]);
    }

    #[test]
    fn streaming_holds_little_when_the_order_holds() {
        // Dedup off, one external label: 1000 series of 10 metrics stream
        // with at most a couple held.
        let stored: Vec<Vec<Label>> = (0..1000)
            .map(|i| {
                ls(&[
                    ("__name__", &format!("m{}", i % 10)),
                    ("i", &format!("{i:04}")),
                ])
            })
            .collect();
        let ext = ls(&[("replica", "a")]);
        let (out, peak, _) = run(remote_read(&stored, &ext, &[]), &ext, &[]);
        assert_eq!(out.len(), 1000);
        assert!(peak <= 2, "{peak}");
        // Dedup on (every external label removed): held per metric name.
        let strip = vec!["replica".to_string()];
        let (out, peak, _) = run(remote_read(&stored, &ext, &strip), &ext, &strip);
        assert_eq!(out.len(), 1000);
        assert!(peak <= 101, "{peak}");
    }

    /// A label set with a metric name and up to four other labels, some
    /// of them named like the external or stripped labels.
    fn arb_labels() -> impl Strategy<Value = Vec<Label>> {
        let names = prop::sample::select(vec!["a", "b", "le", "r", "replica", "z"]);
        let values = prop::sample::select(vec!["0", "1", "x"]);
        let metric = prop::sample::select(vec!["m", "n"]);
        (metric, prop::collection::vec((names, values), 0..5)).prop_map(|(metric, pairs)| {
            let mut v: Vec<Label> = vec![labels::label("__name__", metric)];
            for (n, val) in pairs {
                if !v.iter().any(|l| l.name == n) {
                    v.push(labels::label(n, val));
                }
            }
            labels::sort(&mut v);
            v
        })
    }

    proptest! {
        /// Whatever the series, external labels and stripped labels, the
        /// output is the input's label sets sorted and deduplicated (every
        /// series has a metric name, which sorts below the boundary).
        #[test]
        fn output_is_sorted(
            stored in prop::collection::vec(arb_labels(), 0..40),
            ext_names in prop::sample::subsequence(vec!["b", "r", "replica"], 1..3),
            strip_names in prop::sample::subsequence(vec!["b", "r", "replica"], 0..3),
        ) {
            let ext: Vec<Label> = ext_names.iter().map(|n| labels::label(n, "e")).collect();
            let strip: Vec<String> = strip_names.iter().map(|s| s.to_string()).collect();
            let input = remote_read(&stored, &ext, &strip);
            let want = sorted_unique(input.iter().map(|s| s.labels.clone()).collect());
            let (out, _, violations) = run(input, &ext, &strip);
            prop_assert_eq!(out, want);
            prop_assert_eq!(violations, 0);
        }
    }
}
