//! Tests of the dedup module: Thanos's own test tables (inputs and expected
//! outputs are facts taken from Thanos v0.31.0 and, for chain mode, HEAD),
//! the real-data regression of issue 2401, and property tests.
//!
//! Helpers here build chunks from samples with the project's XOR encoder and
//! read iterators to the end. Samples are compared with their values as bit
//! patterns, so NaNs and stale markers compare exactly.

use bytes::Bytes;

use crate::chunk::xor::XorEncoder;
use crate::proto::thanos::{chunk::Encoding, AggrChunk, Chunk};

use super::{DedupError, SampleIter, ValueType};

mod props;
mod real_2401;
mod real_2401_data;
mod thanos;

/// Prometheus's stale marker (`value.StaleNaN`).
pub(super) const STALE: f64 = f64::from_bits(0x7ff0_0000_0000_0002);

/// An XOR chunk with `samples`.
pub(super) fn xor(samples: &[(i64, f64)]) -> Chunk {
    let mut enc = XorEncoder::new();
    for &(t, v) in samples {
        enc.append(t, v).unwrap();
    }
    Chunk {
        r#type: Encoding::Xor as i32,
        data: Bytes::from(enc.into_bytes()),
        hash: 0,
    }
}

/// One raw chunk holding `samples`, its bounds taken from them.
pub(super) fn raw_chunk(samples: &[(i64, f64)]) -> AggrChunk {
    AggrChunk {
        min_time: samples.first().map_or(0, |s| s.0),
        max_time: samples.last().map_or(0, |s| s.0),
        raw: Some(xor(samples)),
        ..Default::default()
    }
}

/// Samples cut into chunks of 120, as Prometheus and the fake store cut them.
pub(super) fn chunks_of(samples: &[(i64, f64)]) -> Vec<AggrChunk> {
    crate::store::fake::encode_chunks(samples).unwrap()
}

/// Reads `it` to the end with `next`.
pub(super) fn drain(it: &mut dyn SampleIter) -> Result<Vec<(i64, f64)>, DedupError> {
    let mut out = Vec::new();
    while let Some(ValueType::Float) = it.next()? {
        out.push(it.at());
    }
    Ok(out)
}

/// Samples with their values as bit patterns.
pub(super) fn bits(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
    samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

/// Reads `it` to the end and compares exactly.
#[track_caller]
pub(super) fn assert_samples(mut it: Box<dyn SampleIter>, want: &[(i64, f64)]) {
    let got = drain(&mut *it).unwrap();
    assert_eq!(bits(&got), bits(want));
}

/// Thanos's `mockedSeriesIterator` (`pkg/dedup/iter_test.go`): samples in a
/// slice; `seek` binary-searches from the start, as the Go mock does.
#[derive(Debug, Clone)]
pub(super) struct Mock {
    samples: Vec<(i64, f64)>,
    /// Index of the current sample; `None` before the first.
    cur: Option<usize>,
}

impl Mock {
    pub(super) fn new(samples: &[(i64, f64)]) -> Mock {
        Mock {
            samples: samples.to_vec(),
            cur: None,
        }
    }

    pub(super) fn boxed(samples: &[(i64, f64)]) -> Box<dyn SampleIter> {
        Box::new(Mock::new(samples))
    }

    fn valid(&self) -> Option<ValueType> {
        let i = self.cur?;
        (i < self.samples.len()).then_some(ValueType::Float)
    }
}

impl SampleIter for Mock {
    fn next(&mut self) -> Result<Option<ValueType>, DedupError> {
        self.cur = Some(self.cur.map_or(0, |i| i + 1));
        Ok(self.valid())
    }

    fn seek(&mut self, t: i64) -> Result<Option<ValueType>, DedupError> {
        self.cur = Some(self.samples.partition_point(|s| s.0 < t));
        Ok(self.valid())
    }

    fn at(&self) -> (i64, f64) {
        self.cur
            .and_then(|i| self.samples.get(i))
            .copied()
            .unwrap_or((0, 0.0))
    }
}
