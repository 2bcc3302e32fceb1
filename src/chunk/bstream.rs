//! Bit streams for the XOR chunk format.
//!
//! Prometheus packs chunk samples into a stream of bits that is written and
//! read most-significant bit first: the first bit of the stream is bit 7 of
//! byte 0, the ninth bit is bit 7 of byte 1, and so on. A value of `n` bits is
//! written with its most significant bit first. The last byte is padded with
//! zero bits (source of the format facts: Prometheus v2.42
//! tsdb/chunkenc/bstream.go).
//!
//! [`BitWriter`] appends bits to a `Vec<u8>`. It can start after existing
//! whole bytes, which the chunk encoder uses for its 2-byte header. It copies
//! one quirk of Prometheus's writer that shows in the chunk bytes: a
//! whole-byte write that ends on a byte boundary leaves one trailing, still
//! empty zero byte behind (see [`BitWriter`]).
//!
//! [`BitReader`] reads from a `&[u8]`. Instead of fetching one bit at a time it
//! keeps up to 64 bits in a register and refills it with one unaligned
//! big-endian 8-byte load whenever at least 8 bytes are left; only the last
//! few bytes of a stream are loaded byte by byte. Every read checks that the
//! stream holds enough bits and returns [`EndOfStream`] otherwise, so no input
//! can make it panic.

use std::fmt;

/// A read asked for more bits than the stream has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndOfStream;

impl fmt::Display for EndOfStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bit stream ended before the requested bits could be read")
    }
}

impl std::error::Error for EndOfStream {}

/// Appends bits, most significant first, to a growing byte vector, with the
/// byte layout of Prometheus's `bstream`.
///
/// That layout has one quirk that byte-for-byte compatibility must copy:
/// writing a whole byte always appends the byte that follows it, even when
/// nothing has been written into it yet. So when a write of a multiple of 8
/// bits ends on a byte boundary, the stream carries one trailing zero byte
/// that holds no bits (`free == 8`). Single-bit writes do not do this.
#[derive(Debug, Clone, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    /// How many low-order bits of the last byte are still free (0..=8).
    /// Zero means the next bit starts a new byte; 8 means the last byte is
    /// the empty byte described above.
    free: u32,
}

impl BitWriter {
    /// Creates an empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a writer whose stream continues after the given whole bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        BitWriter { bytes, free: 0 }
    }

    /// Makes sure the last byte has at least one free bit.
    fn open_byte(&mut self) {
        if self.free == 0 {
            self.bytes.push(0);
            self.free = 8;
        }
    }

    /// Appends one bit.
    pub fn write_bit(&mut self, bit: bool) {
        self.open_byte();
        if let Some(last) = self.bytes.last_mut() {
            *last |= u8::from(bit) << (self.free - 1);
        }
        self.free -= 1;
    }

    /// Appends eight bits: the high bits of `byte` fill the free part of the
    /// last byte and the rest start the next byte, which is appended even if
    /// it receives no bits (Prometheus's layout, see the type docs).
    pub fn write_byte(&mut self, byte: u8) {
        self.open_byte();
        let byte = u16::from(byte);
        if let Some(last) = self.bytes.last_mut() {
            *last |= (byte >> (8 - self.free)) as u8;
        }
        self.bytes.push((byte << self.free) as u8);
    }

    /// Appends the `n` lowest bits of `value`, most significant first: whole
    /// bytes first, then the remaining bits one by one, as Prometheus does.
    ///
    /// # Panics
    ///
    /// Panics if `n` is greater than 64, which is a bug in the caller.
    pub fn write_bits(&mut self, value: u64, n: u32) {
        assert!(n <= 64, "cannot write {n} bits from a u64");
        let rest = n % 8;
        for i in (0..n / 8).rev() {
            self.write_byte((value >> (rest + 8 * i)) as u8);
        }
        for i in (0..rest).rev() {
            self.write_bit((value >> i) & 1 == 1);
        }
    }

    /// Number of bits written, including any bytes the writer started with.
    pub fn bit_len(&self) -> usize {
        self.bytes.len() * 8 - self.free as usize
    }

    /// The stream so far; the last byte is padded with zero bits.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Mutable access to the bytes written so far, for patching headers.
    /// The length cannot change through this slice.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    /// Consumes the writer and returns its bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Reads bits, most significant first, from a byte slice.
///
/// Bits are staged in a 64-bit register (`buf`), left-aligned so that the
/// next bit to read is its most significant bit.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Index of the first byte of `data` that has not been counted into `buf`.
    next_byte: usize,
    /// The staged bits. Below the `avail` valid bits, `buf` holds either
    /// zeros or copies of the stream bits that follow, which a later refill
    /// ORs in again unchanged; this lets a refill skip masking.
    buf: u64,
    /// Number of valid bits at the top of `buf` (0..=63 after a refill).
    avail: u32,
}

impl<'a> BitReader<'a> {
    /// Creates a reader positioned at the first bit of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            next_byte: 0,
            buf: 0,
            avail: 0,
        }
    }

    /// Number of bits that can still be read.
    pub fn bits_left(&self) -> usize {
        self.avail as usize + (self.data.len() - self.next_byte) * 8
    }

    /// Stages more bits so that `avail` reaches at least 56 unless the
    /// stream ends first. Only called while `avail` is below 56.
    fn refill(&mut self) {
        let rest = self.data.get(self.next_byte..).unwrap_or(&[]);
        if let Some(word) = rest.first_chunk::<8>() {
            // One unaligned load; we count only the whole bytes that fit in
            // the free part of the register, the rest is loaded again later.
            self.buf |= u64::from_be_bytes(*word) >> self.avail;
            let whole = (63 - self.avail) / 8;
            self.next_byte += whole as usize;
            self.avail += whole * 8;
        } else {
            // Close to the end: take the remaining bytes one at a time.
            for &byte in rest {
                if self.avail > 56 {
                    break;
                }
                self.buf |= u64::from(byte) << (56 - self.avail);
                self.next_byte += 1;
                self.avail += 8;
            }
        }
    }

    /// Makes sure at least `n` (<= 56) bits are staged.
    #[inline]
    fn ensure(&mut self, n: u32) -> Result<(), EndOfStream> {
        if self.avail < n {
            self.refill();
            if self.avail < n {
                return Err(EndOfStream);
            }
        }
        Ok(())
    }

    /// Drops `n` (< 64, <= `avail`) staged bits.
    #[inline]
    fn consume(&mut self, n: u32) {
        self.buf <<= n;
        self.avail -= n;
    }

    /// Reads one bit.
    #[inline]
    pub fn read_bit(&mut self) -> Result<bool, EndOfStream> {
        self.ensure(1)?;
        let bit = self.buf >> 63 == 1;
        self.consume(1);
        Ok(bit)
    }

    /// Reads `n` bits (0..=64) as the low bits of a `u64`.
    ///
    /// # Panics
    ///
    /// Panics if `n` is greater than 64, which is a bug in the caller.
    #[inline]
    pub fn read_bits(&mut self, n: u32) -> Result<u64, EndOfStream> {
        if n <= 56 {
            self.read_short(n)
        } else {
            self.read_long(n)
        }
    }

    /// Reads up to 56 bits, the most one refill is sure to stage. Kept small
    /// and free of recursion so that it inlines into the decoder.
    #[inline]
    fn read_short(&mut self, n: u32) -> Result<u64, EndOfStream> {
        self.ensure(n)?;
        // A shift by 64 (n == 0) would overflow; it must yield 0.
        let value = self.buf.checked_shr(64 - n).unwrap_or(0);
        self.consume(n);
        Ok(value)
    }

    /// Reads 57..=64 bits as two shorter reads.
    fn read_long(&mut self, n: u32) -> Result<u64, EndOfStream> {
        assert!(n <= 64, "cannot read {n} bits into a u64");
        let high = self.read_short(n - 32)?;
        let low = self.read_short(32)?;
        Ok((high << 32) | low)
    }

    /// Reads a unary prefix: counts one bits until a zero bit or until `max`
    /// (1..=56) ones have been seen. The terminating zero, if any, is consumed.
    ///
    /// This decodes the Gorilla control codes ('0', '10', '110', ...) with one
    /// look at the register instead of one read per bit.
    #[inline]
    pub fn read_ones(&mut self, max: u32) -> Result<u32, EndOfStream> {
        debug_assert!((1..=56).contains(&max));
        // Only a short stream can fail this refill; then the bits below
        // `avail` are zero, so counting ones cannot run past the end.
        if self.avail < max {
            self.refill();
        }
        let ones = self.buf.leading_ones().min(max);
        let used = if ones == max { max } else { ones + 1 };
        if used > self.avail {
            return Err(EndOfStream);
        }
        self.consume(used);
        Ok(ones)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns `value` with all but its `n` lowest bits cleared (`n` <= 64).
    fn low_bits(value: u64, n: u32) -> u64 {
        if n >= 64 {
            value
        } else {
            value & ((1u64 << n) - 1)
        }
    }

    #[test]
    fn writer_packs_msb_first_and_pads_with_zeros() {
        let mut w = BitWriter::new();
        w.write_bit(true);
        w.write_bits(0b01, 2);
        w.write_bits(0xABCD, 16);
        assert_eq!(w.bit_len(), 19);
        // 1 01 1010_1011_1100_1101 -> 1011_0101 0111_1001 101(0_0000)
        assert_eq!(w.as_bytes(), &[0b1011_0101, 0b0111_1001, 0b1010_0000]);
    }

    #[test]
    fn writer_continues_after_existing_bytes() {
        let mut w = BitWriter::from_bytes(vec![0xFF, 0x00]);
        w.write_bits(u64::MAX, 64);
        w.write_bit(true);
        let mut expected = vec![0xFF, 0x00];
        expected.extend_from_slice(&[0xFF; 8]);
        expected.push(0x80);
        assert_eq!(w.into_bytes(), expected);
    }

    #[test]
    fn aligned_whole_byte_writes_leave_an_empty_byte() {
        // Prometheus's layout: an aligned whole-byte write already appends
        // the next byte, which stays empty until more bits arrive.
        let mut w = BitWriter::new();
        w.write_bits(0xABCD, 16);
        assert_eq!((w.as_bytes(), w.bit_len()), (&[0xAB, 0xCD, 0x00][..], 16));
        w.write_bits(0b101, 3);
        assert_eq!((w.as_bytes(), w.bit_len()), (&[0xAB, 0xCD, 0xA0][..], 19));
        // Unaligned whole bytes and single bits that end on a boundary do not.
        w.write_bits(0xFF, 8);
        assert_eq!(w.as_bytes(), &[0xAB, 0xCD, 0xBF, 0xE0]);
        w.write_bits(0, 5);
        assert_eq!(
            (w.as_bytes(), w.bit_len()),
            (&[0xAB, 0xCD, 0xBF, 0xE0][..], 32)
        );
    }

    #[test]
    fn reader_reads_back_mixed_widths() {
        let widths: Vec<u32> = (0..=64).chain((1..40).rev()).collect();
        let mut w = BitWriter::new();
        for (i, &n) in widths.iter().enumerate() {
            w.write_bits(0x9E37_79B9_7F4A_7C15u64.rotate_left(i as u32), n);
        }
        let mut r = BitReader::new(w.as_bytes());
        for (i, &n) in widths.iter().enumerate() {
            let expected = low_bits(0x9E37_79B9_7F4A_7C15u64.rotate_left(i as u32), n);
            assert_eq!(r.read_bits(n), Ok(expected), "width {n} at {i}");
        }
        assert!(r.bits_left() < 8);
    }

    #[test]
    fn reader_reports_end_of_stream() {
        let mut r = BitReader::new(&[0xA5]);
        assert_eq!(r.read_bits(9), Err(EndOfStream));
        let mut r = BitReader::new(&[0xA5]);
        assert_eq!(r.read_bits(8), Ok(0xA5));
        assert_eq!(r.read_bit(), Err(EndOfStream));
        assert_eq!(BitReader::new(&[]).read_bits(64), Err(EndOfStream));
    }

    #[test]
    fn read_ones_decodes_unary_prefixes() {
        // 0 | 10 | 110 | 1110 | 1111 | 1111 then the stream ends.
        let mut w = BitWriter::new();
        for (code, len) in [(0b0, 1), (0b10, 2), (0b110, 3), (0b1110, 4), (0b1111, 4)] {
            w.write_bits(code, len);
        }
        w.write_bits(0b1111, 4);
        let mut r = BitReader::new(w.as_bytes());
        let counts: Vec<u32> = (0..6).map(|_| r.read_ones(4).unwrap()).collect();
        assert_eq!(counts, vec![0, 1, 2, 3, 4, 4]);
        // Six padding zeros are left: each reads as a '0' code, then nothing.
        assert_eq!(r.bits_left(), 6);
        for _ in 0..6 {
            assert_eq!(r.read_ones(4), Ok(0));
        }
        assert_eq!(r.read_ones(4), Err(EndOfStream));
    }

    #[test]
    fn read_ones_needs_the_terminating_zero() {
        // Three ones and no zero after them: '111' is not a complete code.
        let mut w = BitWriter::new();
        w.write_bits(0, 5);
        w.write_bits(0b111, 3);
        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes);
        r.read_bits(5).unwrap();
        assert_eq!(r.read_ones(4), Err(EndOfStream));
        let mut r = BitReader::new(&[0xFF]);
        r.read_bits(5).unwrap();
        assert_eq!(r.read_ones(4), Err(EndOfStream));
    }
}
