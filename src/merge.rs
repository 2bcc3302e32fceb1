//! K-way merge of store streams into one stream sorted by labels
//! (Prometheus's `labels.Compare`), combining series with equal label sets.
//!
//! Algorithm: a loser tree over the stream heads (Knuth vol. 3, 5.4.1; the
//! shape DataFusion's `sorts/merge.rs` uses). Leaf `i` is stream `i`'s
//! current series; each inner node remembers the loser of the match played
//! there and node 0 the overall winner. Taking the winner and replaying its
//! leaf's path to the root costs `log2(k)` comparisons and no allocation.
//! An exhausted stream compares greater than everything; ties go to the
//! lower stream index, so the output is deterministic.
//!
//! Series with equal labels (the same series from several stores, or the
//! replicas of one series once replica labels are gone) become one series:
//! chunks are concatenated, identical chunks dropped, and the rest sorted by
//! (min time, max time, bytes) as Thanos's `dedupResponseHeap` does (v0.31
//! `pkg/store/proxy_heap.go`).
//!
//! Memory: one series per stream (the heads) plus the series being
//! combined; never the whole answer.

use std::cmp::Ordering;

use crate::endpoint::StoreError;
use crate::fanout::Source;
use crate::labels;
use crate::proto::thanos::{AggrChunk, Series};

/// A merged stream.
pub struct Merge {
    sources: Vec<Source>,
    heads: Vec<Option<Series>>,
    /// `tree[0]` is the winner; `tree[1..]` the losers of inner nodes.
    tree: Vec<usize>,
    primed: bool,
    skip_chunks: bool,
}

impl Merge {
    /// A merge of `sources`; with `skip_chunks` only labels matter.
    pub fn new(sources: Vec<Source>, skip_chunks: bool) -> Merge {
        let k = sources.len();
        Merge {
            heads: (0..k).map(|_| None).collect(),
            tree: vec![usize::MAX; k.max(1)],
            sources,
            primed: false,
            skip_chunks,
        }
    }

    /// Whether stream `a`'s head sorts after stream `b`'s.
    fn greater(&self, a: usize, b: usize) -> bool {
        match (&self.heads[a], &self.heads[b]) {
            (None, None) => a > b,
            (None, Some(_)) => true,
            (Some(_), None) => false,
            (Some(x), Some(y)) => match labels::compare(&x.labels, &y.labels) {
                Ordering::Equal => a > b,
                o => o == Ordering::Greater,
            },
        }
    }

    fn init(&mut self) {
        let k = self.heads.len();
        for i in 0..k {
            let mut winner = i;
            let mut node = (i + k) / 2;
            while node != 0 && self.tree[node] != usize::MAX {
                let challenger = self.tree[node];
                if self.greater(winner, challenger) {
                    self.tree[node] = winner;
                    winner = challenger;
                }
                node /= 2;
            }
            self.tree[node] = winner;
        }
    }

    /// Replays leaf `leaf` up to the root after its head changed.
    fn replay(&mut self, leaf: usize) {
        let k = self.heads.len();
        let mut winner = leaf;
        let mut node = (leaf + k) / 2;
        while node != 0 {
            let challenger = self.tree[node];
            if self.greater(winner, challenger) {
                self.tree[node] = winner;
                winner = challenger;
            }
            node /= 2;
        }
        self.tree[0] = winner;
    }

    async fn refill(&mut self, i: usize) -> Result<(), StoreError> {
        self.heads[i] = self.sources[i].next().await?;
        Ok(())
    }

    /// Takes the winner's head and refills its stream.
    async fn pop(&mut self) -> Result<Option<Series>, StoreError> {
        let Some(&w) = self.tree.first() else {
            return Ok(None);
        };
        if w == usize::MAX || w >= self.heads.len() {
            return Ok(None);
        }
        let Some(s) = self.heads[w].take() else {
            return Ok(None);
        };
        self.refill(w).await?;
        self.replay(w);
        Ok(Some(s))
    }

    fn peek(&self) -> Option<&Series> {
        let w = *self.tree.first()?;
        self.heads.get(w)?.as_ref()
    }

    /// The next merged series, or `None` when every store is done.
    pub async fn next(&mut self) -> Result<Option<Series>, StoreError> {
        if !self.primed {
            self.primed = true;
            for i in 0..self.sources.len() {
                self.refill(i).await?;
            }
            if !self.heads.is_empty() {
                self.init();
            }
        }
        let Some(mut out) = self.pop().await? else {
            return Ok(None);
        };
        let mut combined = false;
        while self
            .peek()
            .is_some_and(|s| labels::compare(&s.labels, &out.labels) == Ordering::Equal)
        {
            let Some(same) = self.pop().await? else { break };
            if !self.skip_chunks {
                out.chunks.extend(same.chunks);
                combined = true;
            }
        }
        if combined {
            dedup_chunks(&mut out.chunks);
        }
        Ok(Some(out))
    }
}

/// Sorts chunks by (min time, max time, bytes) and drops exact duplicates.
pub fn dedup_chunks(chunks: &mut Vec<AggrChunk>) {
    chunks.sort_by(|a, b| {
        a.min_time
            .cmp(&b.min_time)
            .then(a.max_time.cmp(&b.max_time))
            .then_with(|| chunk_bytes(a).cmp(chunk_bytes(b)))
    });
    chunks.dedup_by(|a, b| a == b);
}

fn chunk_bytes(c: &AggrChunk) -> &[u8] {
    c.raw.as_ref().map_or(&[][..], |r| &r.data[..])
}
