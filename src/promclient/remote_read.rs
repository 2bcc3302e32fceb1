//! Prometheus's remote-read protocol (Prometheus v2.42
//! `storage/remote/codec.go`, `storage/remote/chunked.go`,
//! `storage/remote/read_handler.go`), as Thanos v0.31's sidecar speaks it
//! (`pkg/store/prometheus.go`, `startPromRemoteRead`).
//!
//! Request: `POST /api/v1/read` with a snappy block-compressed
//! `prometheus_copy.ReadRequest` holding one query and the accepted
//! response types `[STREAMED_XOR_CHUNKS, SAMPLES]`.
//!
//! Response, streamed (`application/x-streamed-protobuf;
//! proto=prometheus.ChunkedReadResponse`): a sequence of frames, each
//! `uvarint length | big-endian CRC32-Castagnoli of the message | message`,
//! the message a `ChunkedReadResponse`. [`FrameDecoder`] cuts frames out of
//! the body as it arrives and checks them: a length above the limit
//! (Prometheus's client default, 50 MB), a bad checksum, a varint that
//! overflows or a body that ends inside a frame is an error with
//! Prometheus's wording. Prometheus writes its own errors into the body
//! when a query fails after the first frame; they fail these checks.
//!
//! Response, sampled (`application/x-protobuf`, older servers or when
//! streaming is refused): one snappy block-compressed `ReadResponse`,
//! decoded by [`decode_sampled`].

use bytes::{Buf, Bytes, BytesMut};
use prost::Message;

use crate::proto::prompb::{
    read_request::ResponseType, ChunkedReadResponse, Query, ReadRequest, ReadResponse,
};

/// The largest frame accepted (Prometheus's `DefaultChunkedReadLimit`).
pub const FRAME_LIMIT: u64 = 50_000_000;

/// The largest sampled response accepted, compressed and decompressed.
pub const SAMPLED_LIMIT: usize = 1 << 30;

/// The remote-read path under the base URL.
pub const PATH: &str = "/api/v1/read";

/// The content type of a streamed answer.
pub const STREAMED_CONTENT_TYPE: &str =
    "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse";

/// The content type of a sampled answer.
pub const SAMPLED_CONTENT_TYPE: &str = "application/x-protobuf";

/// The request headers Thanos sends (the User-Agent is added by the client).
pub const HEADERS: &[(&str, &str)] = &[
    ("content-encoding", "snappy"),
    ("content-type", "application/x-stream-protobuf"),
    ("x-prometheus-remote-read-version", "0.1.0"),
];

/// The request body: the query as a snappy block-compressed ReadRequest.
pub fn encode_request(query: Query) -> Result<Bytes, String> {
    let req = ReadRequest {
        queries: vec![query],
        accepted_response_types: vec![
            ResponseType::StreamedXorChunks as i32,
            ResponseType::Samples as i32,
        ],
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .map(Bytes::from)
        .map_err(|e| format!("snappy-compressing the read request: {e}"))
}

/// A frame that cannot be read. The texts are Prometheus's (`chunked.go`)
/// and Go's (`encoding/binary`, `io`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    TooLarge {
        limit: u64,
        got: u64,
    },
    Checksum,
    VarintOverflow,
    /// The body ended inside a frame, with this many bytes of it.
    Truncated(usize),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLarge { limit, got } => write!(
                f,
                "chunkedReader: message size exceeded the limit {limit} bytes; got: {got} bytes"
            ),
            FrameError::Checksum => {
                f.write_str("chunkedReader: corrupted frame; checksum mismatch")
            }
            FrameError::VarintOverflow => f.write_str("binary: varint overflows a 64-bit integer"),
            FrameError::Truncated(n) => {
                write!(f, "unexpected EOF ({n} bytes of an unfinished frame)")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Cuts checked frames out of a body that arrives in pieces.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: BytesMut,
    limit: u64,
}

impl FrameDecoder {
    pub fn new(limit: u64) -> FrameDecoder {
        FrameDecoder {
            buf: BytesMut::new(),
            limit,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole frame's message, `None` until one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        let Some((size, header)) = read_uvarint(&self.buf)? else {
            return Ok(None);
        };
        if size > self.limit {
            return Err(FrameError::TooLarge {
                limit: self.limit,
                got: size,
            });
        }
        // The limit keeps `size` far below usize::MAX.
        let size = size as usize;
        if self.buf.len() < header + 4 + size {
            return Ok(None);
        }
        self.buf.advance(header);
        let crc = self.buf.get_u32();
        let data = self.buf.split_to(size).freeze();
        if crc32c::crc32c(&data) != crc {
            return Err(FrameError::Checksum);
        }
        Ok(Some(data))
    }

    /// Called at the end of the body: bytes left over are a cut frame.
    pub fn finish(&self) -> Result<(), FrameError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(FrameError::Truncated(n)),
        }
    }
}

/// Go's `binary.ReadUvarint` on a prefix of `b`: the value and its length,
/// `None` if `b` ends inside it.
fn read_uvarint(b: &[u8]) -> Result<Option<(u64, usize)>, FrameError> {
    let mut x: u64 = 0;
    for (i, &byte) in b.iter().enumerate() {
        if i == 10 || (i == 9 && byte > 1) {
            return Err(FrameError::VarintOverflow);
        }
        if byte < 0x80 {
            return Ok(Some((x | (u64::from(byte) << (7 * i)), i + 1)));
        }
        x |= u64::from(byte & 0x7f) << (7 * i);
    }
    Ok(None)
}

/// Writes one frame as Prometheus's `ChunkedWriter` does (for tests and
/// fake servers).
pub fn encode_frame(msg: &ChunkedReadResponse) -> Vec<u8> {
    let data = msg.encode_to_vec();
    let mut out = Vec::with_capacity(data.len() + 14);
    let mut n = data.len() as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(&crc32c::crc32c(&data).to_be_bytes());
    out.extend_from_slice(&data);
    out
}

/// Decodes one frame's message.
pub fn decode_frame(data: Bytes) -> Result<ChunkedReadResponse, String> {
    ChunkedReadResponse::decode(data).map_err(|e| format!("decoding a remote-read frame: {e}"))
}

/// Decodes a sampled answer: snappy, then `ReadResponse`, which must hold
/// exactly one result (Thanos's `fetchSampledResponse`).
pub fn decode_sampled(body: &[u8]) -> Result<ReadResponse, String> {
    let len = snap::raw::decompress_len(body).map_err(|e| format!("decompress response: {e}"))?;
    if len > SAMPLED_LIMIT {
        return Err(format!(
            "decompress response: {len} bytes is more than the limit of {SAMPLED_LIMIT}"
        ));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("decompress response: {e}"))?;
    let resp =
        ReadResponse::decode(raw.as_slice()).map_err(|e| format!("unmarshal response: {e}"))?;
    if resp.results.len() != 1 {
        return Err(format!("unexpected result size {}", resp.results.len()));
    }
    Ok(resp)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::proto::prompb::{ChunkedSeries, QueryResult};
    use crate::proto::thanos::Label;

    fn frame(name: &str) -> ChunkedReadResponse {
        ChunkedReadResponse {
            chunked_series: vec![ChunkedSeries {
                labels: vec![Label {
                    name: "__name__".into(),
                    value: name.into(),
                }],
                chunks: vec![],
            }],
            query_index: 0,
        }
    }

    #[test]
    fn frames_arrive_in_any_pieces() {
        let mut body = Vec::new();
        for name in ["a", "b", "c"] {
            body.extend(encode_frame(&frame(name)));
        }
        for piece in [1, 2, 3, 7, body.len()] {
            let mut d = FrameDecoder::new(FRAME_LIMIT);
            let mut got = Vec::new();
            for part in body.chunks(piece) {
                d.push(part);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(decode_frame(f).unwrap());
                }
            }
            d.finish().unwrap();
            assert_eq!(got, [frame("a"), frame("b"), frame("c")], "{piece}");
        }
    }

    #[test]
    fn bad_frames_are_errors() {
        let good = encode_frame(&frame("a"));
        let mut bad_crc = good.clone();
        let last = bad_crc.len() - 1;
        bad_crc[last] ^= 1;
        let mut d = FrameDecoder::new(FRAME_LIMIT);
        d.push(&bad_crc);
        assert_eq!(d.next_frame(), Err(FrameError::Checksum));

        let mut d = FrameDecoder::new(4);
        d.push(&good);
        assert!(matches!(
            d.next_frame(),
            Err(FrameError::TooLarge { limit: 4, .. })
        ));

        let mut d = FrameDecoder::new(FRAME_LIMIT);
        d.push(&[0xff; 11]);
        assert_eq!(d.next_frame(), Err(FrameError::VarintOverflow));

        let mut d = FrameDecoder::new(FRAME_LIMIT);
        d.push(&good[..good.len() - 1]);
        assert_eq!(d.next_frame(), Ok(None));
        assert_eq!(d.finish(), Err(FrameError::Truncated(good.len() - 1)));

        // What Prometheus's http.Error writes into a started stream.
        let mut d = FrameDecoder::new(FRAME_LIMIT);
        d.push(b"query timed out in expression evaluation\n");
        assert!(d.next_frame().is_err() || d.finish().is_err());

        // A well-framed message that is not a ChunkedReadResponse.
        let junk = [0xffu8, 0xff, 0xff, 0xff, 0x0f, 0x0a, 0x03];
        let mut raw = vec![junk.len() as u8];
        raw.extend_from_slice(&crc32c::crc32c(&junk).to_be_bytes());
        raw.extend_from_slice(&junk);
        let mut d = FrameDecoder::new(FRAME_LIMIT);
        d.push(&raw);
        assert!(decode_frame(d.next_frame().unwrap().unwrap()).is_err());
    }

    #[test]
    fn requests_and_sampled_answers_round_trip() {
        let q = Query {
            start_timestamp_ms: 1,
            end_timestamp_ms: 2,
            ..Default::default()
        };
        let body = encode_request(q.clone()).unwrap();
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let req = ReadRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(req.queries, [q]);
        assert_eq!(req.accepted_response_types, [1, 0]);

        let resp = ReadResponse {
            results: vec![QueryResult::default()],
        };
        let packed = snap::raw::Encoder::new()
            .compress_vec(&resp.encode_to_vec())
            .unwrap();
        assert_eq!(decode_sampled(&packed).unwrap(), resp);
        assert!(decode_sampled(b"not snappy at all").is_err());
        let two = ReadResponse {
            results: vec![QueryResult::default(), QueryResult::default()],
        };
        let packed = snap::raw::Encoder::new()
            .compress_vec(&two.encode_to_vec())
            .unwrap();
        assert_eq!(
            decode_sampled(&packed).unwrap_err(),
            "unexpected result size 2"
        );
    }
}
