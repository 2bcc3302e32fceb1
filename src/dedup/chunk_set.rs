//! The chunk list of one merged series: identical chunks dropped, the rest
//! sorted. Thanos v0.31.0 does this in the proxy (`pkg/store/proxy_heap.go`,
//! `chainSeriesAndRemIdenticalChunks`), for every query, deduplicated or not.
//!
//! # Identity
//!
//! A chunk's identity key is taken from its fields in the order raw, count,
//! max, min, sum, counter (the order Thanos tries them): the field's `hash`,
//! or xxhash64 (seed 0) of its bytes when `hash` is 0. Walking the chunks in
//! order, a chunk is kept under the first of its keys not seen yet; a chunk
//! all of whose keys were seen is dropped, and so is a chunk with no field.
//! For raw chunks that simply drops byte-identical copies. (Thanos keys on
//! one field only, so two identical chunks with several aggregates are both
//! kept, the second under its second key; this is reproduced.) If no chunk
//! has any field, the list is returned as it came; Thanos then returns the
//! first response's chunks unchanged.
//!
//! Why xxhash and not a byte comparison: the key must equal the `hash` a
//! store may have set (Thanos stores set xxhash64 of the bytes), so a chunk
//! with its hash set and the same chunk without one are recognised as one,
//! and keys of different fields share one set, exactly as in Thanos.
//!
//! # Order
//!
//! `AggrChunk.Compare` (`pkg/store/storepb/custom.go`): `min_time`
//! ascending, then `max_time` ascending, then for each of raw, count, sum,
//! min, max, counter: a present field before an absent one, then the lower
//! encoding, then the *greater* bytes first (Thanos negates `bytes.Compare`).
//! Among overlapping chunks the first one is read, so this order decides
//! results (the `TestQuerier_Select` expectations depend on it).

use std::cmp::Ordering;
use std::collections::HashSet;

use xxhash_rust::xxh64::xxh64;

use crate::proto::thanos::{AggrChunk, Chunk};

/// The fields of a chunk in the order Thanos tries them for identity.
fn identity_fields(c: &AggrChunk) -> [Option<&Chunk>; 6] {
    [
        c.raw.as_ref(),
        c.count.as_ref(),
        c.max.as_ref(),
        c.min.as_ref(),
        c.sum.as_ref(),
        c.counter.as_ref(),
    ]
}

fn key(c: &Chunk) -> u64 {
    if c.hash != 0 {
        c.hash
    } else {
        xxh64(&c.data, 0)
    }
}

/// Drops identical chunks and sorts the rest; see the module docs.
pub fn remove_identical_and_sort(chunks: Vec<AggrChunk>) -> Vec<AggrChunk> {
    let mut seen = HashSet::with_capacity(chunks.len());
    let keep: Vec<bool> = chunks
        .iter()
        .map(|c| {
            identity_fields(c)
                .into_iter()
                .flatten()
                .any(|f| seen.insert(key(f)))
        })
        .collect();
    if seen.is_empty() {
        return chunks;
    }
    let mut out: Vec<AggrChunk> = chunks
        .into_iter()
        .zip(keep)
        .filter_map(|(c, k)| k.then_some(c))
        .collect();
    out.sort_by(compare);
    out
}

/// Thanos's `AggrChunk.Compare` as an ordering (smaller sorts first).
fn compare(a: &AggrChunk, b: &AggrChunk) -> Ordering {
    a.min_time
        .cmp(&b.min_time)
        .then(a.max_time.cmp(&b.max_time))
        .then_with(|| compare_field(a.raw.as_ref(), b.raw.as_ref()))
        .then_with(|| compare_field(a.count.as_ref(), b.count.as_ref()))
        .then_with(|| compare_field(a.sum.as_ref(), b.sum.as_ref()))
        .then_with(|| compare_field(a.min.as_ref(), b.min.as_ref()))
        .then_with(|| compare_field(a.max.as_ref(), b.max.as_ref()))
        .then_with(|| compare_field(a.counter.as_ref(), b.counter.as_ref()))
}

/// Thanos's `Chunk.Compare`: present first, lower encoding first, greater
/// bytes first.
fn compare_field(a: Option<&Chunk>, b: Option<&Chunk>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (Some(a), Some(b)) => a.r#type.cmp(&b.r#type).then_with(|| b.data.cmp(&a.data)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may panic on unexpected errors.
mod tests {
    use bytes::Bytes;

    use super::*;

    fn raw(min: i64, max: i64, data: &[u8], hash: u64) -> AggrChunk {
        AggrChunk {
            min_time: min,
            max_time: max,
            raw: Some(Chunk {
                r#type: 0,
                data: Bytes::copy_from_slice(data),
                hash,
            }),
            ..Default::default()
        }
    }

    fn bounds(cs: &[AggrChunk]) -> Vec<(i64, i64, Vec<u8>)> {
        cs.iter()
            .map(|c| {
                let data = c.raw.as_ref().map(|r| r.data.to_vec()).unwrap_or_default();
                (c.min_time, c.max_time, data)
            })
            .collect()
    }

    #[test]
    fn identical_raw_chunks_are_dropped_and_the_rest_sorted() {
        let got = remove_identical_and_sort(vec![
            raw(5, 7, b"b", 0),
            raw(0, 3, b"a", 0),
            raw(5, 7, b"b", 0),
            raw(5, 6, b"c", 0),
            raw(0, 3, b"a", 0),
        ]);
        assert_eq!(
            bounds(&got),
            vec![
                (0, 3, b"a".to_vec()),
                (5, 6, b"c".to_vec()),
                (5, 7, b"b".to_vec())
            ]
        );
    }

    #[test]
    fn a_set_hash_equals_the_computed_one() {
        let h = xxh64(b"same", 0);
        let got = remove_identical_and_sort(vec![raw(0, 1, b"same", h), raw(0, 1, b"same", 0)]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].raw.as_ref().map(|r| r.hash), Some(h));
    }

    #[test]
    fn equal_bounds_sort_by_descending_bytes() {
        // Thanos negates bytes.Compare: the greater content comes first.
        let got =
            remove_identical_and_sort(vec![raw(5, 7, b"\x00\x02", 0), raw(5, 7, b"\x00\x03", 0)]);
        assert_eq!(bounds(&got)[0].2, b"\x00\x03".to_vec());
    }

    #[test]
    fn present_fields_sort_before_absent_ones() {
        let mut no_raw = raw(1, 2, b"x", 0);
        no_raw.count = no_raw.raw.take();
        let got = remove_identical_and_sort(vec![no_raw, raw(1, 2, b"y", 0)]);
        assert!(got[0].raw.is_some());
        assert!(got[1].raw.is_none());
    }

    #[test]
    fn identical_multi_aggregate_chunks_keep_a_second_copy() {
        let chunk = |data: &[u8]| Chunk {
            r#type: 0,
            data: Bytes::copy_from_slice(data),
            hash: 0,
        };
        let aggr = AggrChunk {
            min_time: 0,
            max_time: 10,
            count: Some(chunk(b"count")),
            sum: Some(chunk(b"sum")),
            ..Default::default()
        };
        // The first copy is kept under its count key, the second under its
        // sum key, a third has no unseen key left.
        let got = remove_identical_and_sort(vec![aggr.clone(), aggr.clone(), aggr]);
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn fieldless_chunks_pass_through_when_nothing_has_a_field() {
        let bare = |min, max| AggrChunk {
            min_time: min,
            max_time: max,
            ..Default::default()
        };
        let got = remove_identical_and_sort(vec![bare(5, 6), bare(0, 1)]);
        assert_eq!(got, vec![bare(5, 6), bare(0, 1)]);
        // Next to a real chunk they are dropped.
        let got = remove_identical_and_sort(vec![bare(5, 6), raw(0, 1, b"a", 0)]);
        assert_eq!(got.len(), 1);
    }
}
