//! Splitting overlapping chunks into virtual replicas: Thanos v0.31.0
//! `NewOverlapSplit` (`pkg/dedup/iter.go`).
//!
//! The merged series holds the chunks of every replica, sorted by
//! `min_time`. The penalty algorithm needs sample streams, one per replica,
//! but replica labels are gone by now, so Thanos rebuilds "virtual"
//! replicas from the chunks alone, greedily: chunk 0 starts virtual replica
//! 0; every further chunk is appended to the first virtual replica whose
//! last chunk ends strictly before the chunk starts (`max_time < min_time`),
//! or else starts a new virtual replica. Chunks that merely touch
//! (`max_time == min_time`) therefore go to different virtual replicas.
//!
//! A virtual replica is a chain of non-overlapping chunks, not necessarily
//! one real replica: after a gap the chunks of two replicas can swap
//! chains (see the reference's section 10). An empty chunk list gives one
//! virtual replica with no chunks.

use crate::proto::thanos::AggrChunk;

/// Distributes `chunks` (sorted by `min_time`) over virtual replicas.
pub fn overlap_split(chunks: Vec<AggrChunk>) -> Vec<Vec<AggrChunk>> {
    let mut replicas: Vec<Vec<AggrChunk>> = vec![Vec::new()];
    for c in chunks {
        let fits = |r: &Vec<AggrChunk>| r.last().is_none_or(|last| last.max_time < c.min_time);
        match replicas.iter().position(fits) {
            Some(i) => replicas[i].push(c),
            None => replicas.push(vec![c]),
        }
    }
    replicas
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may panic on unexpected errors.
mod tests {
    use super::*;

    fn chunk(min: i64, max: i64) -> AggrChunk {
        AggrChunk {
            min_time: min,
            max_time: max,
            ..Default::default()
        }
    }

    fn split(bounds: &[(i64, i64)]) -> Vec<Vec<(i64, i64)>> {
        let chunks = bounds.iter().map(|&(a, b)| chunk(a, b)).collect();
        overlap_split(chunks)
            .iter()
            .map(|r| r.iter().map(|c| (c.min_time, c.max_time)).collect())
            .collect()
    }

    /// Chunk bounds `(min_time, max_time)`.
    type Bounds = &'static [(i64, i64)];

    /// The cases of Thanos v0.31.0 `TestOverlapSplitSet`: name, input,
    /// virtual replicas.
    #[test]
    fn thanos_overlap_split_set() {
        let cases: &[(&str, Bounds, &[Bounds])] = &[
            ("1_empty", &[], &[&[]]),
            (
                "2_nonoverlap",
                &[(0, 20), (21, 100), (110, 300)],
                &[&[(0, 20), (21, 100), (110, 300)]],
            ),
            (
                "3_tworeplicas",
                &[(0, 20), (0, 30), (21, 50), (31, 60), (100, 160)],
                &[&[(0, 20), (21, 50), (100, 160)], &[(0, 30), (31, 60)]],
            ),
            (
                "4_nonoverlap",
                &[(50, 55), (56, 100)],
                &[&[(50, 55), (56, 100)]],
            ),
            (
                "5_minimaloverlap",
                &[(50, 55), (55, 100)],
                &[&[(50, 55)], &[(55, 100)]],
            ),
            (
                "6_fourreplica",
                &[
                    (0, 20),
                    (0, 30),
                    (1, 15),
                    (2, 36),
                    (16, 200),
                    (21, 50),
                    (31, 60),
                    (100, 160),
                ],
                &[
                    &[(0, 20), (21, 50), (100, 160)],
                    &[(0, 30), (31, 60)],
                    &[(1, 15), (16, 200)],
                    &[(2, 36)],
                ],
            ),
        ];
        for (name, input, want) in cases {
            let want: Vec<Vec<(i64, i64)>> = want.iter().map(|r| r.to_vec()).collect();
            assert_eq!(split(input), want, "{name}");
        }
    }
}
