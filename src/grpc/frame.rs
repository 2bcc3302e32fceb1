//! gRPC message framing: a 1-byte compressed flag, a 4-byte big-endian
//! length, then the message.
//!
//! Received HTTP/2 DATA frames arrive as `Bytes`. They are kept as a queue
//! of segments and a message is cut out of them by reference counting: a
//! message that lies inside one segment is a slice of the frame, and one that
//! spans several becomes a [`Rope`] of slices. Decoding a [`Rope`] with prost
//! hands `bytes` fields (chunk data) out as slices of the received frames;
//! only a field that straddles two DATA frames is copied.

use std::collections::VecDeque;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message;

use super::status::Status;

/// The size of the frame header.
pub const HEADER_LEN: usize = 5;

/// The largest message Sluice accepts: 2 GiB − 1, as Thanos's `MaxInt32`.
pub const MAX_MESSAGE: usize = i32::MAX as usize;

/// Encodes `msg` as one gRPC frame.
pub fn encode<M: Message>(msg: &M) -> Bytes {
    let len = msg.encoded_len();
    let mut buf = BytesMut::with_capacity(HEADER_LEN + len);
    buf.put_u8(0);
    buf.put_u32(len as u32);
    // Encoding into a buffer with enough capacity cannot fail.
    let _ = msg.encode(&mut buf);
    buf.freeze()
}

/// Splits a byte stream into gRPC messages without copying.
#[derive(Default)]
pub struct Decoder {
    segs: VecDeque<Bytes>,
    buffered: usize,
    max: usize,
}

impl Decoder {
    /// A decoder that rejects messages larger than `max` bytes.
    pub fn new(max: usize) -> Decoder {
        Decoder {
            segs: VecDeque::new(),
            buffered: 0,
            max,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, b: Bytes) {
        if !b.is_empty() {
            self.buffered += b.len();
            self.segs.push_back(b);
        }
    }

    /// Bytes held that do not yet form a whole message.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Takes the next whole message out, if one has arrived.
    pub fn next_message(&mut self) -> Result<Option<Rope>, Status> {
        if self.buffered < HEADER_LEN {
            return Ok(None);
        }
        let mut head = [0u8; HEADER_LEN];
        self.peek(&mut head);
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        match head[0] {
            0 => {}
            1 => {
                return Err(Status::internal(
                    "received a compressed message, but no grpc-encoding was negotiated",
                ))
            }
            f => return Err(Status::internal(format!("invalid gRPC frame flag {f}"))),
        }
        if len > self.max {
            return Err(Status::new(
                super::Code::ResourceExhausted,
                format!("received message larger than max ({len} vs. {})", self.max),
            ));
        }
        if self.buffered < HEADER_LEN + len {
            return Ok(None);
        }
        self.take(HEADER_LEN);
        Ok(Some(self.take(len)))
    }

    fn peek(&self, out: &mut [u8]) {
        let mut n = 0;
        for seg in &self.segs {
            let k = (out.len() - n).min(seg.len());
            out[n..n + k].copy_from_slice(&seg[..k]);
            n += k;
            if n == out.len() {
                break;
            }
        }
    }

    /// Removes exactly `len` bytes (the caller checked they are there).
    fn take(&mut self, mut len: usize) -> Rope {
        let mut rope = Rope::default();
        self.buffered -= len;
        while len > 0 {
            let Some(mut seg) = self.segs.pop_front() else {
                break;
            };
            if seg.len() > len {
                let head = seg.split_to(len);
                self.segs.push_front(seg);
                rope.push(head);
                break;
            }
            len -= seg.len();
            rope.push(seg);
        }
        rope
    }
}

/// A message as a list of slices of received frames; implements
/// [`bytes::Buf`] so prost decodes it in place.
#[derive(Default, Debug, Clone)]
pub struct Rope {
    segs: VecDeque<Bytes>,
    remaining: usize,
}

impl Rope {
    fn push(&mut self, b: Bytes) {
        if !b.is_empty() {
            self.remaining += b.len();
            self.segs.push_back(b);
        }
    }

    /// Decodes the message as `M`.
    pub fn decode<M: Message + Default>(self) -> Result<M, Status> {
        M::decode(self).map_err(|e| {
            Status::internal(format!(
                "grpc: failed to unmarshal the received message: {e}"
            ))
        })
    }

    /// The message in one piece (copies only if it spans several frames).
    pub fn into_bytes(mut self) -> Bytes {
        let n = self.remaining;
        self.copy_to_bytes(n)
    }
}

impl Buf for Rope {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.segs.front().map_or(&[], |b| &b[..])
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of a Rope");
        self.remaining -= cnt;
        while cnt > 0 {
            let Some(front) = self.segs.front_mut() else {
                break;
            };
            if front.len() > cnt {
                front.advance(cnt);
                break;
            }
            cnt -= front.len();
            self.segs.pop_front();
        }
    }

    /// Zero-copy when the range lies in the first segment: this is the path
    /// every chunk's `data` field takes.
    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        if let Some(front) = self.segs.front_mut() {
            if front.len() >= len {
                let out = front.split_to(len);
                self.remaining -= len;
                if front.is_empty() {
                    self.segs.pop_front();
                }
                return out;
            }
        }
        assert!(
            len <= self.remaining,
            "copy_to_bytes past the end of a Rope"
        );
        let mut out = BytesMut::with_capacity(len);
        out.put((&mut *self).take(len));
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::thanos::{AggrChunk, Chunk, Label, Series};

    fn series(n: usize) -> Series {
        Series {
            labels: vec![Label {
                name: "__name__".into(),
                value: format!("m{n}"),
            }],
            chunks: vec![AggrChunk {
                min_time: 1,
                max_time: 2,
                raw: Some(Chunk {
                    r#type: 0,
                    data: Bytes::from(vec![n as u8; 300]),
                    hash: 0,
                }),
                ..Default::default()
            }],
        }
    }

    /// Messages split at every possible place across pushes decode intact.
    #[test]
    fn split_anywhere() {
        let a = encode(&series(1));
        let b = encode(&series(2));
        let all: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
        for cut in 0..all.len() {
            let mut d = Decoder::new(MAX_MESSAGE);
            d.push(Bytes::copy_from_slice(&all[..cut]));
            let mut got = Vec::new();
            while let Some(m) = d.next_message().unwrap() {
                got.push(m.decode::<Series>().unwrap());
            }
            d.push(Bytes::copy_from_slice(&all[cut..]));
            while let Some(m) = d.next_message().unwrap() {
                got.push(m.decode::<Series>().unwrap());
            }
            assert_eq!(got, vec![series(1), series(2)], "cut at {cut}");
            assert_eq!(d.buffered(), 0);
        }
    }

    /// Chunk bytes that arrive inside one frame are slices of that frame.
    #[test]
    fn chunk_data_is_not_copied() {
        let frame = encode(&series(7));
        let range = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
        let mut d = Decoder::new(MAX_MESSAGE);
        d.push(frame.clone());
        let s: Series = d.next_message().unwrap().unwrap().decode().unwrap();
        let data = &s.chunks[0].raw.as_ref().unwrap().data;
        assert!(range.contains(&(data.as_ptr() as usize)));
    }

    #[test]
    fn rejects_bad_frames() {
        let mut d = Decoder::new(10);
        d.push(Bytes::from_static(&[0, 0, 0, 0, 11]));
        assert_eq!(
            d.next_message().unwrap_err().code,
            super::super::Code::ResourceExhausted
        );
        let mut d = Decoder::new(10);
        d.push(Bytes::from_static(&[1, 0, 0, 0, 1, 0]));
        assert!(d.next_message().is_err());
        let mut d = Decoder::new(10);
        d.push(Bytes::from_static(&[7, 0, 0, 0, 1, 0]));
        assert!(d.next_message().is_err());
        // Garbage in a whole frame is a decode error, not a panic.
        let mut d = Decoder::new(100);
        d.push(Bytes::from_static(&[0, 0, 0, 0, 3, 0xff, 0xff, 0xff]));
        assert!(d
            .next_message()
            .unwrap()
            .unwrap()
            .decode::<Series>()
            .is_err());
    }
}
