//! Decodes arbitrary bytes as an XOR chunk with the fast and the naive
//! decoder. Neither may panic, both must return the same samples (compared
//! bit for bit, so NaN payloads count) or the same error, and whatever
//! decodes must survive a re-encode and decode unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice::chunk::xor::{decode_all, encode_all, XorIter};
use sluice::chunk::{naive, ChunkError};

/// Samples with their values as raw bits, so that NaNs compare equal.
fn exact(r: Result<Vec<(i64, f64)>, ChunkError>) -> Result<Vec<(i64, u64)>, ChunkError> {
    r.map(|s| s.into_iter().map(|(t, v)| (t, v.to_bits())).collect())
}

fuzz_target!(|data: &[u8]| {
    let fast = exact(decode_all(data));
    assert_eq!(fast, exact(naive::decode_all(data)));

    // The streaming iterator must agree with decode_all as well.
    if let Ok(iter) = XorIter::new(data) {
        let streamed: Result<Vec<(i64, f64)>, ChunkError> = iter.collect();
        assert_eq!(exact(streamed), fast);
    }

    // A garbage chunk may use encodings our encoder would not choose, so
    // compare samples rather than bytes.
    if let Ok(samples) = fast {
        let floats: Vec<(i64, f64)> = samples
            .iter()
            .map(|&(t, v)| (t, f64::from_bits(v)))
            .collect();
        let again = encode_all(&floats).expect("a decoded chunk holds at most u16::MAX samples");
        assert_eq!(exact(decode_all(&again)), Ok(samples));
    }
});
