//! Fuzzes the gRPC message framing and the StoreAPI response decoding:
//! arbitrary bytes, split at an arbitrary point into two DATA frames, must
//! give messages or errors, never a panic; every decoded series' chunks
//! must decode or fail cleanly too.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sluice::grpc::frame::Decoder;
use sluice::proto::thanos::{series_response, SeriesResponse};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let cut = (cut as usize).min(rest.len());
    let mut d = Decoder::new(1 << 20);
    d.push(Bytes::copy_from_slice(&rest[..cut]));
    d.push(Bytes::copy_from_slice(&rest[cut..]));
    while let Ok(Some(msg)) = d.next_message() {
        let Ok(resp) = msg.decode::<SeriesResponse>() else {
            break;
        };
        if let Some(series_response::Result::Series(s)) = resp.result {
            for c in s.chunks {
                if let Some(raw) = c.raw {
                    let _ = sluice::chunk::xor::decode_all(&raw.data);
                }
            }
        }
    }
});
