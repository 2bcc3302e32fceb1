//! Encoder and fast decoder for Prometheus's XOR chunk format.
//!
//! # The format
//!
//! All facts below come from Prometheus v2.42 tsdb/chunkenc/xor.go (and
//! bstream.go for the bit order). A Thanos `Chunk` with encoding XOR carries
//! these bytes unchanged in its `data` field.
//!
//! A chunk starts with the number of samples as a 2-byte big-endian integer.
//! A bit stream follows, written most-significant bit first and padded with
//! zero bits to a whole byte. One quirk of Prometheus's bit writer shows in
//! the bytes: it emits varint bytes, and each full 8 bits of a longer field,
//! as whole-byte steps, and such a step always appends the byte after it.
//! So when the last field of a chunk ends on a byte boundary through a
//! whole-byte step, the chunk ends in one extra zero byte that holds no
//! bits. A one-sample chunk, for instance, is the header, the varint, the
//! 8 value bytes and a 0x00. Decoders ignore bytes after the last sample.
//! The samples are:
//!
//! * Sample 0: the timestamp as a signed (zigzag) varint, then the 64 raw
//!   bits of the value.
//! * Sample 1: the timestamp delta `t1 - t0` as an unsigned varint, then the
//!   value XOR-encoded against sample 0's value.
//! * Sample `n >= 2`: the delta-of-delta `dod = (t_n - t_{n-1}) -
//!   (t_{n-1} - t_{n-2})` in the first bucket that can hold it, then the
//!   value XOR-encoded against sample `n-1`'s value:
//!
//!   | control | payload   | range of `dod`            |
//!   |---------|-----------|---------------------------|
//!   | `0`     | none      | 0                         |
//!   | `10`    | 14 bits   | -(2^13 - 1) ..= 2^13      |
//!   | `110`   | 17 bits   | -(2^16 - 1) ..= 2^16      |
//!   | `1110`  | 20 bits   | -(2^19 - 1) ..= 2^19      |
//!   | `1111`  | 64 bits   | anything else             |
//!
//!   A payload holds the low `n` bits of the two's complement of `dod`. The
//!   reader takes it as unsigned and subtracts `2^n` when it exceeds
//!   `2^(n-1)`, which is why the ranges are asymmetric.
//!
//! Timestamp arithmetic wraps on overflow, as Go's does, so any sequence of
//! `i64` timestamps round-trips; Prometheus itself only writes increasing ones.
//!
//! # XOR value encoding (Gorilla)
//!
//! Let `x` be the XOR of the new and the previous value's IEEE 754 bits.
//!
//! * `x == 0` is written as the single bit `0`.
//! * Otherwise `1` follows, then one of two forms. The encoder keeps a
//!   *window* (leading zeros `l`, trailing zeros `r`) from the last value that
//!   set one. If a window exists and `x` has at least `l` leading and `r`
//!   trailing zeros, it writes `0` and the `64 - l - r` bits `x >> r`.
//! * Otherwise it writes `1`, sets the window to `x`'s own counts (leading
//!   zeros clamped to 31 so they fit in 5 bits), writes `l` in 5 bits, the
//!   number of significant bits `64 - l - r` in 6 bits (64 is written as 0,
//!   since 0 significant bits never occur), and then those bits.
//!
//! The encoder has no window until its first new-window value, so the first
//! XOR-encoded value always sets one. The decoder starts from the window
//! `(0, 0)`, as Prometheus's iterator does: a chunk that Prometheus extended
//! after reopening it can use the reuse form right away, meaning 64 bits.
//!
//! # The decoder
//!
//! [`XorIter`] decodes lazily through [`BitReader`], which stages 64 bits in a
//! register and decodes the control codes with one look at it. Any input is
//! safe: a short stream yields [`ChunkError::Truncated`], a varint longer than
//! 64 bits [`ChunkError::VarintOverflow`], and a window header with more than
//! 64 bits [`ChunkError::InvalidXorWindow`]. (Prometheus's iterator decodes
//! the last case into meaningless values instead; no encoder writes it.)

use super::bstream::{BitReader, BitWriter};
use super::error::DecodeFault;
use super::ChunkError;

/// The delta-of-delta buckets below the 64-bit fallback: (control bits,
/// control length, payload bits).
const DOD_BUCKETS: [(u64, u32, u32); 3] = [(0b10, 2, 14), (0b110, 3, 17), (0b1110, 4, 20)];

/// Longest varint that can hold 64 bits.
const MAX_VARINT_LEN: u32 = 10;

/// Whether `dod` fits an `n`-bit payload under the reader's sign rule.
fn fits_bucket(dod: i64, n: u32) -> bool {
    let half = 1i64 << (n - 1);
    -(half - 1) <= dod && dod <= half
}

/// Reads back an `n`-bit delta-of-delta payload: values above `2^(n-1)` are
/// negative numbers that come back as large unsigned ones.
fn sign_extend(bits: u64, n: u32) -> i64 {
    if bits > 1 << (n - 1) {
        bits as i64 - (1i64 << n)
    } else {
        bits as i64
    }
}

/// Zigzag-encodes a signed varint value as Go's `binary.PutVarint` does.
fn zigzag(t: i64) -> u64 {
    ((t << 1) ^ (t >> 63)) as u64
}

/// Inverts [`zigzag`].
fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// The leading/trailing zero counts that bound the significant bits of an
/// XOR-ed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    leading: u32,
    trailing: u32,
}

impl Window {
    fn sigbits(self) -> u32 {
        64 - self.leading - self.trailing
    }
}

/// Builds an XOR chunk sample by sample, producing the same bytes as
/// Prometheus's `XORChunk` appender.
#[derive(Debug, Clone)]
pub struct XorEncoder {
    out: BitWriter,
    num_samples: u16,
    last_t: i64,
    last_v: u64,
    last_delta: u64,
    /// `None` until a value sets a window; Prometheus marks this with 0xff.
    window: Option<Window>,
}

impl Default for XorEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl XorEncoder {
    /// Creates an empty chunk (just the header with a count of zero).
    pub fn new() -> Self {
        XorEncoder {
            out: BitWriter::from_bytes(vec![0, 0]),
            num_samples: 0,
            last_t: 0,
            last_v: 0,
            last_delta: 0,
            window: None,
        }
    }

    /// Appends a sample. Fails with [`ChunkError::ChunkFull`] once the chunk
    /// holds `u16::MAX` samples, leaving the chunk unchanged.
    pub fn append(&mut self, t: i64, v: f64) -> Result<(), ChunkError> {
        if self.num_samples == u16::MAX {
            return Err(ChunkError::ChunkFull);
        }
        let bits = v.to_bits();
        match self.num_samples {
            0 => {
                self.write_uvarint(zigzag(t));
                self.out.write_bits(bits, 64);
            }
            1 => {
                let delta = t.wrapping_sub(self.last_t) as u64;
                self.write_uvarint(delta);
                self.write_value(bits);
                self.last_delta = delta;
            }
            _ => {
                let delta = t.wrapping_sub(self.last_t) as u64;
                self.write_dod(delta.wrapping_sub(self.last_delta) as i64);
                self.write_value(bits);
                self.last_delta = delta;
            }
        }
        self.last_t = t;
        self.last_v = bits;
        self.num_samples += 1;
        if let Some(header) = self.out.as_bytes_mut().first_chunk_mut::<2>() {
            *header = self.num_samples.to_be_bytes();
        }
        Ok(())
    }

    /// Number of samples appended so far.
    pub fn num_samples(&self) -> u16 {
        self.num_samples
    }

    /// The chunk bytes: header and bit stream, the last byte zero-padded.
    pub fn bytes(&self) -> &[u8] {
        self.out.as_bytes()
    }

    /// Consumes the encoder and returns the chunk bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out.into_bytes()
    }

    /// Writes `value` as an unsigned LEB128 varint, as Go's
    /// `binary.PutUvarint` does.
    fn write_uvarint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.out.write_byte((value & 0x7f) as u8 | 0x80);
            value >>= 7;
        }
        self.out.write_byte(value as u8);
    }

    /// Writes a delta-of-delta in the smallest bucket that holds it.
    fn write_dod(&mut self, dod: i64) {
        if dod == 0 {
            self.out.write_bit(false);
            return;
        }
        match DOD_BUCKETS.iter().find(|&&(_, _, n)| fits_bucket(dod, n)) {
            Some(&(control, control_len, n)) => {
                self.out.write_bits(control, control_len);
                self.out.write_bits(dod as u64, n);
            }
            None => {
                self.out.write_bits(0b1111, 4);
                self.out.write_bits(dod as u64, 64);
            }
        }
    }

    /// Writes a value XOR-ed against the previous one (see the module docs).
    fn write_value(&mut self, bits: u64) {
        let x = bits ^ self.last_v;
        if x == 0 {
            self.out.write_bit(false);
            return;
        }
        // Clamping keeps the count within the 5 bits of the window header.
        let own = Window {
            leading: x.leading_zeros().min(31),
            trailing: x.trailing_zeros(),
        };
        match self.window {
            Some(w) if own.leading >= w.leading && own.trailing >= w.trailing => {
                self.out.write_bits(0b10, 2);
                self.out.write_bits(x >> w.trailing, w.sigbits());
            }
            _ => {
                self.window = Some(own);
                self.out.write_bits(0b11, 2);
                self.out.write_bits(u64::from(own.leading), 5);
                // 64 significant bits do not fit in 6 bits and are written as 0.
                self.out.write_bits(u64::from(own.sigbits() & 63), 6);
                self.out.write_bits(x >> own.trailing, own.sigbits());
            }
        }
    }
}

/// Decodes the samples of an XOR chunk one at a time.
///
/// After the first error every further call of [`XorIter::next_sample`]
/// returns that error again, and the [`Iterator`] implementation ends.
#[derive(Debug, Clone)]
pub struct XorIter<'a> {
    reader: BitReader<'a>,
    total: u16,
    read: u16,
    /// The last sample decoded completely; `t` and `v` below are scratch
    /// state that a failed sample may have changed halfway.
    current: (i64, f64),
    t: i64,
    v: u64,
    delta: u64,
    window: Window,
    failed: Option<ChunkError>,
}

impl<'a> XorIter<'a> {
    /// Starts decoding `data`, which must hold at least the 2-byte header.
    pub fn new(data: &'a [u8]) -> Result<Self, ChunkError> {
        let (header, stream) = data
            .split_first_chunk::<2>()
            .ok_or(ChunkError::TooShort { len: data.len() })?;
        Ok(XorIter {
            reader: BitReader::new(stream),
            total: u16::from_be_bytes(*header),
            read: 0,
            current: (0, 0.0),
            t: 0,
            v: 0,
            delta: 0,
            window: Window {
                leading: 0,
                trailing: 0,
            },
            failed: None,
        })
    }

    /// Number of samples the chunk header announces.
    pub fn num_samples(&self) -> u16 {
        self.total
    }

    /// The current sample: the one most recently decoded successfully, or
    /// `(0, 0.0)` before the first.
    pub fn at(&self) -> (i64, f64) {
        self.current
    }

    /// Decodes the next sample; `Ok(None)` once all announced samples have
    /// been read.
    pub fn next_sample(&mut self) -> Result<Option<(i64, f64)>, ChunkError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        if self.read == self.total {
            return Ok(None);
        }
        match self.decode_sample() {
            Ok(()) => {
                self.read += 1;
                self.current = (self.t, f64::from_bits(self.v));
                Ok(Some(self.current))
            }
            Err(fault) => {
                let err = fault.at(self.read, self.total);
                self.failed = Some(err);
                Err(err)
            }
        }
    }

    /// Advances to the first sample with a timestamp `>= t` and returns it.
    /// If the current sample already qualifies it is returned again without
    /// advancing. `Ok(None)` means no later sample qualifies.
    pub fn seek(&mut self, t: i64) -> Result<Option<(i64, f64)>, ChunkError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        if self.read > 0 && self.current.0 >= t {
            return Ok(Some(self.current));
        }
        while let Some(sample) = self.next_sample()? {
            if sample.0 >= t {
                return Ok(Some(sample));
            }
        }
        Ok(None)
    }

    /// Decodes sample number `self.read` into `t` and `v`.
    fn decode_sample(&mut self) -> Result<(), DecodeFault> {
        match self.read {
            0 => {
                self.t = unzigzag(self.read_uvarint()?);
                self.v = self.reader.read_bits(64)?;
            }
            1 => {
                self.delta = self.read_uvarint()?;
                self.t = self.t.wrapping_add(self.delta as i64);
                self.read_value()?;
            }
            _ => {
                let dod = self.read_dod()?;
                self.delta = self.delta.wrapping_add(dod as u64);
                self.t = self.t.wrapping_add(self.delta as i64);
                self.read_value()?;
            }
        }
        Ok(())
    }

    /// Reads an unsigned LEB128 varint with the limits of Go's
    /// `binary.ReadUvarint`: at most 10 bytes, the 10th at most 1.
    fn read_uvarint(&mut self) -> Result<u64, DecodeFault> {
        let mut value = 0u64;
        for i in 0..MAX_VARINT_LEN {
            let byte = self.reader.read_bits(8)?;
            if byte < 0x80 {
                if i == MAX_VARINT_LEN - 1 && byte > 1 {
                    return Err(DecodeFault::VarintOverflow);
                }
                return Ok(value | (byte << (7 * i)));
            }
            value |= (byte & 0x7f) << (7 * i);
        }
        Err(DecodeFault::VarintOverflow)
    }

    /// Reads a delta-of-delta: control code, then its payload.
    fn read_dod(&mut self) -> Result<i64, DecodeFault> {
        let ones = self.reader.read_ones(4)?;
        let dod = match ones {
            0 => 0,
            4 => self.reader.read_bits(64)? as i64,
            _ => {
                let n = DOD_BUCKETS[ones as usize - 1].2;
                sign_extend(self.reader.read_bits(n)?, n)
            }
        };
        Ok(dod)
    }

    /// Reads an XOR-encoded value and applies it to `v`.
    fn read_value(&mut self) -> Result<(), DecodeFault> {
        match self.reader.read_ones(2)? {
            0 => return Ok(()),
            1 => {}
            _ => self.window = self.read_window()?,
        }
        let x = self.reader.read_bits(self.window.sigbits())?;
        self.v ^= x << self.window.trailing;
        Ok(())
    }

    /// Reads a new window header: 5 bits of leading zeros, 6 bits of
    /// significant bits (0 meaning 64).
    fn read_window(&mut self) -> Result<Window, DecodeFault> {
        let header = self.reader.read_bits(11)? as u32;
        let leading = header >> 6;
        let sigbits = match header & 63 {
            0 => 64,
            n => n,
        };
        if leading + sigbits > 64 {
            return Err(DecodeFault::InvalidXorWindow {
                leading: leading as u8,
                sigbits: sigbits as u8,
            });
        }
        Ok(Window {
            leading,
            trailing: 64 - leading - sigbits,
        })
    }
}

impl Iterator for XorIter<'_> {
    type Item = Result<(i64, f64), ChunkError>;

    fn next(&mut self) -> Option<Self::Item> {
        // An error has already been handed out once; end the iteration.
        if self.failed.is_some() {
            return None;
        }
        self.next_sample().transpose()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = if self.failed.is_some() {
            0
        } else {
            usize::from(self.total - self.read)
        };
        (0, Some(left))
    }
}

/// Decodes every sample of an XOR chunk.
pub fn decode_all(data: &[u8]) -> Result<Vec<(i64, f64)>, ChunkError> {
    let mut iter = XorIter::new(data)?;
    // Every sample takes at least 2 bits, so a corrupt header cannot make
    // us reserve much more than the data could hold.
    let cap = usize::from(iter.num_samples()).min(data.len() * 4);
    let mut samples = Vec::with_capacity(cap);
    while let Some(sample) = iter.next_sample()? {
        samples.push(sample);
    }
    Ok(samples)
}

/// Encodes samples into one chunk; convenient for tests and tools.
pub fn encode_all(samples: &[(i64, f64)]) -> Result<Vec<u8>, ChunkError> {
    let mut enc = XorEncoder::new();
    for &(t, v) in samples {
        enc.append(t, v)?;
    }
    Ok(enc.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::super::naive::decode_all as naive_decode_all;
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::Index;

    /// Prometheus's stale marker (value.StaleNaN).
    const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

    /// Samples with their values as raw bits, so NaNs compare exactly.
    fn exact(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
        samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
    }

    fn exact_result(r: Result<Vec<(i64, f64)>, ChunkError>) -> Result<Vec<(i64, u64)>, ChunkError> {
        r.map(|s| exact(&s))
    }

    /// Decodes through the `Iterator` impl, keeping the good samples and the
    /// error that ended the iteration, if any.
    fn collect_iter(data: &[u8]) -> (Vec<(i64, u64)>, Option<ChunkError>) {
        let mut good = Vec::new();
        let iter = match XorIter::new(data) {
            Ok(iter) => iter,
            Err(err) => return (good, Some(err)),
        };
        for item in iter {
            match item {
                Ok((t, v)) => good.push((t, v.to_bits())),
                Err(err) => return (good, Some(err)),
            }
        }
        (good, None)
    }

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    // Hand-derived bytes. Stream after the header 00 03:
    //   sample 0: varint zigzag(1) = 02, value 1.0 = 3F F0 00 00 00 00 00 00
    //   sample 1: uvarint 10 = 0A, value unchanged: '0'
    //   sample 2: dod 0: '0'; 2.0 ^ 1.0 = 0x7FF0_0000_0000_0000 has 1 leading
    //             and 52 trailing zeros: '11' 00001 001011 11111111111
    //   bits 0011_0000 1001_0111 1111_1111 11(00_0000) = 30 97 FF C0
    const GOLDEN_3: &str = "00 03 02 3F F0 00 00 00 00 00 00 0A 30 97 FF C0";

    // Sample 0: varint 0 = 00, value 1.0. Sample 1: uvarint 15000 = 98 75,
    // 2.0 ^ 1.0 opens window (1, 52): '11' 00001 001011 + 11 ones.
    // Sample 2: dod 0 '0'; 3.0 ^ 2.0 = 0x0008_0000_0000_0000 has 12 leading
    // and 51 trailing zeros, not inside (1, 52): '11' 01100 000001 '1'.
    // Sample 3: dod -1: '10' + 14 ones; 2.0 ^ 3.0 is the same XOR, inside
    // window (12, 51): '10' '1'. 58 bits in all, padded to 8 bytes.
    const GOLDEN_4: &str = "00 04 00 3F F0 00 00 00 00 00 00 98 75 C2 5F FF 6C 07 7F FF 40";

    #[test]
    fn golden_one_sample_ends_with_an_empty_byte() {
        // varint zigzag(1000) = 2000 = D0 0F, 1.5 = 3F F8 00.., then the
        // empty byte that Prometheus's writer appends after whole bytes.
        let samples = [(1000, 1.5)];
        let expected = hex("00 01 D0 0F 3F F8 00 00 00 00 00 00 00");
        assert_eq!(encode_all(&samples).unwrap(), expected);
        assert_eq!(exact(&decode_all(&expected).unwrap()), exact(&samples));
        assert_eq!(
            exact(&naive_decode_all(&expected).unwrap()),
            exact(&samples)
        );
        // Without the empty byte the chunk still decodes.
        let trimmed = &expected[..expected.len() - 1];
        assert_eq!(exact(&decode_all(trimmed).unwrap()), exact(&samples));
    }

    #[test]
    fn golden_three_samples() {
        // Ends on a bit write, so there is no empty trailing byte.
        let samples = [(1, 1.0), (11, 1.0), (21, 2.0)];
        let expected = hex(GOLDEN_3);
        assert_eq!(encode_all(&samples).unwrap(), expected);
        assert_eq!(exact(&decode_all(&expected).unwrap()), exact(&samples));
        assert_eq!(
            exact(&naive_decode_all(&expected).unwrap()),
            exact(&samples)
        );
    }

    #[test]
    fn golden_negative_dod_and_window_reuse() {
        let samples = [(0, 1.0), (15_000, 2.0), (30_000, 3.0), (44_999, 2.0)];
        let expected = hex(GOLDEN_4);
        assert_eq!(encode_all(&samples).unwrap(), expected);
        assert_eq!(exact(&decode_all(&expected).unwrap()), exact(&samples));
        assert_eq!(
            exact(&naive_decode_all(&expected).unwrap()),
            exact(&samples)
        );
    }

    #[test]
    fn decoder_starts_with_a_zero_window() {
        // A chunk Prometheus reopened after one sample may reuse the window
        // right away: '1' '0' then 64 bits of XOR (here 0x8000_0000_0000_0001).
        let data = hex("00 02 00 00 00 00 00 00 00 00 00 01 A0 00 00 00 00 00 00 00 40");
        let expected = vec![(0, 0), (1, 0x8000_0000_0000_0001)];
        assert_eq!(exact(&decode_all(&data).unwrap()), expected);
        assert_eq!(exact(&naive_decode_all(&data).unwrap()), expected);
    }

    #[test]
    fn empty_and_too_short_chunks() {
        let enc = XorEncoder::new();
        assert_eq!(enc.bytes(), &[0, 0]);
        assert_eq!(enc.num_samples(), 0);
        assert_eq!(decode_all(&[0, 0]), Ok(vec![]));
        assert_eq!(naive_decode_all(&[0, 0]), Ok(vec![]));
        for data in [&[][..], &[0][..]] {
            let err = ChunkError::TooShort { len: data.len() };
            assert_eq!(XorIter::new(data).err(), Some(err));
            assert_eq!(decode_all(data), Err(err));
            assert_eq!(naive_decode_all(data), Err(err));
        }
    }

    #[test]
    fn special_values_round_trip_bit_exactly() {
        let values = [
            STALE_NAN,
            f64::NAN.to_bits(),
            0xFFF8_0000_0000_0001, // negative NaN with a payload
            f64::INFINITY.to_bits(),
            f64::NEG_INFINITY.to_bits(),
            (-0.0f64).to_bits(),
            0.0f64.to_bits(),
            STALE_NAN,
            STALE_NAN,
            1, // smallest subnormal
            f64::MAX.to_bits(),
            f64::MIN.to_bits(),
            u64::MAX,
        ];
        let samples: Vec<(i64, f64)> = (0i64..)
            .zip(values)
            .map(|(i, v)| (i * 15_000, f64::from_bits(v)))
            .collect();
        let data = encode_all(&samples).unwrap();
        assert_eq!(exact(&decode_all(&data).unwrap()), exact(&samples));
        assert_eq!(exact(&naive_decode_all(&data).unwrap()), exact(&samples));
    }

    /// Reads the delta-of-delta control code of sample 2 in a chunk that
    /// starts at t = 0 with a delta of 1000 and a constant value.
    fn dod_control_ones(data: &[u8]) -> u32 {
        let mut r = BitReader::new(&data[2..]);
        // varint 0 (8) + value (64) + uvarint 1000 (16) + unchanged value (1)
        r.read_bits(64).unwrap();
        r.read_bits(25).unwrap();
        r.read_ones(4).unwrap()
    }

    #[test]
    fn dod_bucket_boundaries() {
        let cases: [(i64, u32); 19] = [
            (0, 0),
            (1, 1),
            (-1, 1),
            (8192, 1),
            (-8191, 1),
            (8193, 2),
            (-8192, 2),
            (65536, 2),
            (-65535, 2),
            (65537, 3),
            (-65536, 3),
            (524_288, 3),
            (-524_287, 3),
            (524_289, 4),
            (-524_288, 4),
            (i64::MAX, 4),
            (i64::MIN, 4),
            (1 << 40, 4),
            (-(1 << 40), 4),
        ];
        for (dod, ones) in cases {
            let t2 = 2000i64.wrapping_add(dod);
            let samples = [(0, 5.0), (1000, 5.0), (t2, 5.0), (t2.wrapping_add(1), 5.0)];
            let data = encode_all(&samples).unwrap();
            assert_eq!(dod_control_ones(&data), ones, "dod {dod}");
            assert_eq!(
                exact(&decode_all(&data).unwrap()),
                exact(&samples),
                "dod {dod}"
            );
            assert_eq!(exact(&naive_decode_all(&data).unwrap()), exact(&samples));
        }
    }

    #[test]
    fn extreme_timestamps_round_trip() {
        let samples = [
            (i64::MIN, 1.0),
            (i64::MAX, 2.0),
            (i64::MIN, 3.0),
            (0, 4.0),
            (-1, 5.0),
        ];
        let data = encode_all(&samples).unwrap();
        assert_eq!(exact(&decode_all(&data).unwrap()), exact(&samples));
        assert_eq!(exact(&naive_decode_all(&data).unwrap()), exact(&samples));
    }

    #[test]
    fn full_chunk_rejects_appends() {
        let mut enc = XorEncoder::new();
        for i in 0..i64::from(u16::MAX) {
            enc.append(i * 15_000, (i % 7) as f64).unwrap();
        }
        let before = enc.bytes().to_vec();
        assert_eq!(enc.append(0, 0.0), Err(ChunkError::ChunkFull));
        assert_eq!(enc.bytes(), &before[..]);
        assert_eq!(enc.num_samples(), u16::MAX);
        let samples = decode_all(enc.bytes()).unwrap();
        assert_eq!(samples.len(), usize::from(u16::MAX));
        assert_eq!(samples[65_534], (65_534 * 15_000, (65_534 % 7) as f64));
    }

    #[test]
    fn varint_overflow_is_an_error() {
        // Ten continuation bytes never terminate within 64 bits.
        let mut data = vec![0, 1];
        data.extend_from_slice(&[0xFF; 10]);
        data.extend_from_slice(&[0; 8]);
        let err = ChunkError::VarintOverflow { sample: 0 };
        assert_eq!(decode_all(&data), Err(err));
        assert_eq!(naive_decode_all(&data), Err(err));
        // A 10th byte above 1 would set bits past 64.
        data[11] = 0x02;
        assert_eq!(decode_all(&data), Err(err));
        assert_eq!(naive_decode_all(&data), Err(err));
        // i64::MIN zigzags to u64::MAX, the longest valid varint.
        let data = encode_all(&[(i64::MIN, 0.0)]).unwrap();
        assert_eq!(
            data[2..12],
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        );
        assert_eq!(exact(&decode_all(&data).unwrap()), vec![(i64::MIN, 0)]);
    }

    #[test]
    fn oversized_xor_window_is_an_error() {
        // Sample 1 opens a window of 31 leading zeros and 40 significant bits.
        let mut w = BitWriter::from_bytes(vec![0, 2]);
        // Sample 0 is timestamp 0 and value 0.0; sample 1 has delta 0.
        w.write_bits(0, 8);
        w.write_bits(0, 64);
        w.write_bits(0, 8);
        w.write_bits(0b11, 2);
        w.write_bits(31, 5);
        w.write_bits(40, 6);
        w.write_bits(0, 40);
        let data = w.into_bytes();
        let err = ChunkError::InvalidXorWindow {
            sample: 1,
            leading: 31,
            sigbits: 40,
        };
        assert_eq!(decode_all(&data), Err(err));
        assert_eq!(naive_decode_all(&data), Err(err));
    }

    #[test]
    fn errors_are_sticky_and_end_the_iterator() {
        let data = hex(GOLDEN_3);
        let cut = &data[..data.len() - 1];
        let err = ChunkError::Truncated {
            sample: 2,
            total: 3,
        };
        let mut iter = XorIter::new(cut).unwrap();
        assert_eq!(iter.next_sample(), Ok(Some((1, 1.0))));
        assert_eq!(iter.next_sample(), Ok(Some((11, 1.0))));
        assert_eq!(iter.next_sample(), Err(err));
        assert_eq!(iter.next_sample(), Err(err));
        assert_eq!(iter.seek(0), Err(err));
        assert_eq!(iter.at(), (11, 1.0));

        let items: Vec<_> = XorIter::new(cut).unwrap().collect();
        assert_eq!(items, vec![Ok((1, 1.0)), Ok((11, 1.0)), Err(err)]);
        let mut iter = XorIter::new(cut).unwrap();
        assert_eq!(iter.size_hint(), (0, Some(3)));
        assert_eq!(iter.nth(2), Some(Err(err)));
        assert_eq!(iter.next(), None);
        assert_eq!(iter.size_hint(), (0, Some(0)));
    }

    #[test]
    fn seek_and_at() {
        let data = hex(GOLDEN_4);
        let mut iter = XorIter::new(&data).unwrap();
        assert_eq!(iter.num_samples(), 4);
        assert_eq!(iter.at(), (0, 0.0));
        // Seeking before the first sample still reads it.
        assert_eq!(iter.seek(i64::MIN), Ok(Some((0, 1.0))));
        // The current sample qualifies, so it is returned without advancing.
        assert_eq!(iter.seek(-5), Ok(Some((0, 1.0))));
        assert_eq!(iter.seek(15_001), Ok(Some((30_000, 3.0))));
        assert_eq!(iter.at(), (30_000, 3.0));
        assert_eq!(iter.next_sample(), Ok(Some((44_999, 2.0))));
        assert_eq!(iter.seek(50_000), Ok(None));
        assert_eq!(iter.next_sample(), Ok(None));
        assert_eq!(iter.at(), (44_999, 2.0));
    }

    #[test]
    fn error_messages_say_what_is_wrong() {
        let msg = |e: ChunkError| e.to_string();
        assert_eq!(
            msg(ChunkError::TooShort { len: 1 }),
            "XOR chunk is 1 byte(s) long, too short for its 2-byte sample-count header"
        );
        assert_eq!(
            msg(ChunkError::Truncated {
                sample: 2,
                total: 3
            }),
            "XOR chunk data ends inside sample 2 (0-based) although its header announces 3 samples"
        );
        assert!(msg(ChunkError::ChunkFull).contains("65535"));
        assert!(msg(ChunkError::VarintOverflow { sample: 0 }).contains("overflows 64 bits"));
        let window = ChunkError::InvalidXorWindow {
            sample: 1,
            leading: 31,
            sigbits: 40,
        };
        assert!(msg(window).contains("31 leading zeros and 40 significant bits"));
    }

    /// How a generated value follows the previous one.
    #[derive(Debug, Clone)]
    enum Step {
        Same,
        Bits(u64),
        Add(f64),
    }

    fn time_step() -> impl Strategy<Value = i64> {
        prop_oneof![
            4 => Just(15_000i64),
            4 => 14_900i64..15_100,
            1 => Just(0i64),
            2 => -9_000i64..9_000,
            2 => -600_000i64..600_000,
            1 => -(1i64 << 40)..(1i64 << 40),
            1 => any::<i64>(),
        ]
    }

    fn value_step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => Just(Step::Same),
            1 => Just(Step::Bits(STALE_NAN)),
            1 => Just(Step::Bits(f64::NAN.to_bits())),
            // Any NaN: all-ones exponent, non-zero mantissa, either sign.
            1 => any::<u64>().prop_map(|p| Step::Bits(0x7FF0_0000_0000_0001 | (p & 0x800F_FFFF_FFFF_FFFF))),
            1 => prop_oneof![
                Just(f64::INFINITY),
                Just(f64::NEG_INFINITY),
                Just(-0.0),
                Just(0.0)
            ]
            .prop_map(|v| Step::Bits(v.to_bits())),
            3 => (-1000.0f64..1000.0).prop_map(Step::Add),
            2 => (0u32..50).prop_map(|k| Step::Add(f64::from(k))),
            2 => any::<u64>().prop_map(Step::Bits),
        ]
    }

    fn build(t0: i64, v0: u64, steps: &[(i64, Step)]) -> Vec<(i64, f64)> {
        let (mut t, mut v) = (t0, f64::from_bits(v0));
        let mut out = Vec::with_capacity(steps.len());
        for (i, (dt, step)) in steps.iter().enumerate() {
            if i > 0 {
                t = t.wrapping_add(*dt);
                v = match step {
                    Step::Same => v,
                    Step::Bits(bits) => f64::from_bits(*bits),
                    Step::Add(d) => v + d,
                };
            }
            out.push((t, v));
        }
        out
    }

    fn series(max_len: usize) -> impl Strategy<Value = Vec<(i64, f64)>> {
        let start = prop_oneof![any::<i64>(), 1_600_000_000_000i64..1_800_000_000_000];
        let first = prop_oneof![
            any::<u64>(),
            (0u32..1000).prop_map(|k| f64::from(k).to_bits())
        ];
        (start, first, vec((time_step(), value_step()), 0..=max_len))
            .prop_map(|(t0, v0, steps)| build(t0, v0, &steps))
    }

    /// Checks that fast and naive decoders agree on `data`, and that the
    /// iterator yields the same samples and error as `decode_all`.
    fn assert_decoders_agree(data: &[u8]) {
        let fast = exact_result(decode_all(data));
        assert_eq!(fast, exact_result(naive_decode_all(data)));
        let (good, err) = collect_iter(data);
        match fast {
            Ok(all) => assert_eq!((good, err), (all, None)),
            Err(e) => assert_eq!(err, Some(e)),
        }
    }

    /// Every byte of an encoded chunk carries data except possibly the
    /// trailing empty byte, so only cutting that one off may go unnoticed.
    fn only_empty_byte_lost(data: &[u8], cut: usize) -> bool {
        cut + 1 == data.len() && data[cut] == 0
    }

    /// A linear-scan model of `XorIter::seek`.
    struct SeekModel<'a> {
        samples: &'a [(i64, f64)],
        current: Option<usize>,
    }

    impl SeekModel<'_> {
        fn seek(&mut self, t: i64) -> Option<(i64, u64)> {
            if let Some(i) = self.current {
                if self.samples[i].0 >= t {
                    return Some((self.samples[i].0, self.samples[i].1.to_bits()));
                }
            }
            let start = self.current.map_or(0, |i| i + 1);
            for j in start..self.samples.len() {
                self.current = Some(j);
                if self.samples[j].0 >= t {
                    return Some((self.samples[j].0, self.samples[j].1.to_bits()));
                }
            }
            None
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn round_trip(samples in series(500)) {
            let data = encode_all(&samples).unwrap();
            prop_assert_eq!(&data[..2], &(samples.len() as u16).to_be_bytes()[..]);
            prop_assert_eq!(exact(&decode_all(&data).unwrap()), exact(&samples));
            prop_assert_eq!(exact(&naive_decode_all(&data).unwrap()), exact(&samples));
            let (good, err) = collect_iter(&data);
            prop_assert_eq!(good, exact(&samples));
            prop_assert_eq!(err, None);
        }

        #[test]
        fn truncation_at_every_byte(samples in series(40)) {
            let data = encode_all(&samples).unwrap();
            for cut in 0..data.len() {
                let part = &data[..cut];
                assert_decoders_agree(part);
                let (good, err) = collect_iter(part);
                prop_assert!(exact(&samples).starts_with(&good));
                if err.is_none() {
                    prop_assert!(only_empty_byte_lost(&data, cut), "cut at {} of {}", cut, data.len());
                }
            }
        }

        #[test]
        fn truncation_of_long_chunks(samples in series(500), cuts in vec(any::<Index>(), 1..8)) {
            let data = encode_all(&samples).unwrap();
            for cut in cuts {
                let part = &data[..cut.index(data.len())];
                assert_decoders_agree(part);
                let (good, err) = collect_iter(part);
                prop_assert!(exact(&samples).starts_with(&good));
                if err.is_none() {
                    prop_assert!(only_empty_byte_lost(&data, part.len()));
                }
            }
        }

        #[test]
        fn garbage_never_panics(data in vec(any::<u8>(), 0..1500)) {
            assert_decoders_agree(&data);
            if let Ok(mut iter) = XorIter::new(&data) {
                let _ = iter.seek(0);
            }
        }

        #[test]
        fn garbage_with_plausible_header(count in 0u16..300, body in vec(any::<u8>(), 0..1500)) {
            let mut data = count.to_be_bytes().to_vec();
            data.extend(body);
            assert_decoders_agree(&data);
        }

        #[test]
        fn bit_flips_never_panic(samples in series(100), flips in vec(any::<Index>(), 1..4)) {
            let mut data = encode_all(&samples).unwrap();
            let bits = data.len() * 8;
            for flip in flips {
                let bit = flip.index(bits);
                data[bit / 8] ^= 0x80 >> (bit % 8);
            }
            assert_decoders_agree(&data);
        }

        #[test]
        fn seek_matches_linear_scan(
            samples in series(200),
            targets in vec((any::<Index>(), -20_000i64..20_000, any::<i64>(), any::<bool>()), 0..20),
        ) {
            let data = encode_all(&samples).unwrap();
            let mut iter = XorIter::new(&data).unwrap();
            let mut model = SeekModel { samples: &samples, current: None };
            for (index, offset, random, use_random) in targets {
                // Aim near existing timestamps most of the time.
                let target = if use_random || samples.is_empty() {
                    random
                } else {
                    samples[index.index(samples.len())].0.wrapping_add(offset)
                };
                let got = iter.seek(target).unwrap().map(|(t, v)| (t, v.to_bits()));
                prop_assert_eq!(got, model.seek(target), "seek({})", target);
                if let Some(sample) = got {
                    prop_assert_eq!((iter.at().0, iter.at().1.to_bits()), sample);
                }
            }
        }
    }
}
