//! Prometheus XOR chunks: encoder, fast decoder and a naive reference decoder.
//!
//! Thanos and Prometheus store float samples in "XOR" chunks, the Gorilla
//! compression scheme adapted to millisecond timestamps. This module tree
//! reads and writes those chunks byte-for-byte as Prometheus v2.42 does
//! (format facts from Prometheus v2.42 tsdb/chunkenc/xor.go and bstream.go):
//!
//! * [`bstream`]: bit writer and word-at-a-time bit reader.
//! * [`xor`]: the format description, [`xor::XorEncoder`], the fast
//!   [`xor::XorIter`] decoder and [`xor::decode_all`].
//! * [`naive`]: a bit-at-a-time reference decoder used by tests, fuzzing and
//!   as the benchmark baseline.
//! * [`ChunkError`]: what can go wrong.

pub mod bstream;
mod error;
pub mod naive;
pub mod xor;

pub use error::ChunkError;
