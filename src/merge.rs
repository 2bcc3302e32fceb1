//! K-way merge of store streams into one stream sorted by labels
//! (Prometheus's `labels.Compare`). Series with equal label sets from
//! several stores are combined into one, their chunks concatenated with
//! identical chunks dropped.
//!
//! The merge holds one series per store (the head of each stream) plus the
//! group being combined: memory follows the number of stores, not the size
//! of the answer.
//!
//! Algorithm: a binary min-heap of stream heads keyed by labels (ties by
//! store index, so output is deterministic). Pop the smallest; pop every
//! head with equal labels, refilling each popped stream from its store
//! before looking again; emit.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::endpoint::StoreError;
use crate::fanout::Source;
use crate::labels;
use crate::proto::thanos::Series;

struct Head {
    series: Series,
    src: usize,
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the smallest.
    fn cmp(&self, other: &Self) -> Ordering {
        labels::compare(&other.series.labels, &self.series.labels).then(other.src.cmp(&self.src))
    }
}

/// A merged stream.
pub struct Merge {
    sources: Vec<Source>,
    heap: BinaryHeap<Head>,
    primed: bool,
}

impl Merge {
    pub fn new(sources: Vec<Source>) -> Merge {
        Merge {
            heap: BinaryHeap::with_capacity(sources.len()),
            sources,
            primed: false,
        }
    }

    async fn refill(&mut self, src: usize) -> Result<(), StoreError> {
        if let Some(series) = self.sources[src].next().await? {
            self.heap.push(Head { series, src });
        }
        Ok(())
    }

    /// The next merged series, or `None` when every store is done.
    pub async fn next(&mut self) -> Result<Option<Series>, StoreError> {
        if !self.primed {
            self.primed = true;
            for i in 0..self.sources.len() {
                self.refill(i).await?;
            }
        }
        let Some(first) = self.heap.pop() else {
            return Ok(None);
        };
        let mut out = first.series;
        // Refill before looking for equal heads, so that a store which splits
        // one series over several messages is combined too.
        self.refill(first.src).await?;
        while let Some(top) = self.heap.peek() {
            if labels::compare(&top.series.labels, &out.labels) != Ordering::Equal {
                break;
            }
            let Some(h) = self.heap.pop() else { break };
            for c in h.series.chunks {
                if !out.chunks.contains(&c) {
                    out.chunks.push(c);
                }
            }
            self.refill(h.src).await?;
        }
        Ok(Some(out))
    }
}
