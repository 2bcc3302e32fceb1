//! A deliberately straightforward XOR chunk decoder.
//!
//! It follows the format description in [`super::xor`] (from Prometheus v2.42
//! tsdb/chunkenc/xor.go) step by step, reading the stream one bit at a time
//! and collecting all samples into a `Vec`. It exists as a reference for the
//! tests and the fuzz target, which check that the fast decoder returns
//! exactly the same samples and errors, and as the baseline of the decoding
//! benchmark. It shares no decoding code with the fast decoder on purpose.

use super::error::DecodeFault;
use super::ChunkError;

/// Reads one bit at a time; the position counts bits from the start.
struct BitCursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl BitCursor<'_> {
    fn bit(&mut self) -> Result<bool, DecodeFault> {
        let byte = self
            .data
            .get(self.pos / 8)
            .ok_or(DecodeFault::EndOfStream)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1 == 1;
        self.pos += 1;
        Ok(bit)
    }

    fn bits(&mut self, n: u32) -> Result<u64, DecodeFault> {
        let mut value = 0u64;
        for _ in 0..n {
            value = (value << 1) | u64::from(self.bit()?);
        }
        Ok(value)
    }

    /// Reads an unsigned varint byte by byte, with Go's 10-byte limit.
    fn uvarint(&mut self) -> Result<u64, DecodeFault> {
        let mut value = 0u64;
        for i in 0..10 {
            let byte = self.bits(8)?;
            if byte < 0x80 {
                if i == 9 && byte > 1 {
                    return Err(DecodeFault::VarintOverflow);
                }
                return Ok(value | (byte << (7 * i)));
            }
            value |= (byte & 0x7f) << (7 * i);
        }
        Err(DecodeFault::VarintOverflow)
    }
}

/// Everything the decoder remembers between samples.
struct State {
    t: i64,
    v: u64,
    delta: u64,
    leading: u32,
    trailing: u32,
}

/// Decodes every sample of an XOR chunk, one bit at a time.
pub fn decode_all(data: &[u8]) -> Result<Vec<(i64, f64)>, ChunkError> {
    if data.len() < 2 {
        return Err(ChunkError::TooShort { len: data.len() });
    }
    let total = u16::from_be_bytes([data[0], data[1]]);
    let mut cursor = BitCursor {
        data: &data[2..],
        pos: 0,
    };
    let mut state = State {
        t: 0,
        v: 0,
        delta: 0,
        leading: 0,
        trailing: 0,
    };
    let mut samples = Vec::new();
    for i in 0..total {
        decode_sample(&mut cursor, &mut state, i).map_err(|fault| fault.at(i, total))?;
        samples.push((state.t, f64::from_bits(state.v)));
    }
    Ok(samples)
}

fn decode_sample(c: &mut BitCursor<'_>, s: &mut State, index: u16) -> Result<(), DecodeFault> {
    if index == 0 {
        let u = c.uvarint()?;
        // Undo the zigzag encoding of a signed varint.
        s.t = ((u >> 1) as i64) ^ -((u & 1) as i64);
        s.v = c.bits(64)?;
        return Ok(());
    }
    if index == 1 {
        s.delta = c.uvarint()?;
    } else {
        let dod = read_dod(c)?;
        s.delta = s.delta.wrapping_add(dod as u64);
    }
    s.t = s.t.wrapping_add(s.delta as i64);
    read_value(c, s)
}

fn read_dod(c: &mut BitCursor<'_>) -> Result<i64, DecodeFault> {
    // The control code is up to four bits: 0, 10, 110, 1110 or 1111.
    let mut ones = 0;
    while ones < 4 && c.bit()? {
        ones += 1;
    }
    let size = match ones {
        0 => return Ok(0),
        1 => 14,
        2 => 17,
        3 => 20,
        _ => return Ok(c.bits(64)? as i64),
    };
    let bits = c.bits(size)?;
    // Negative numbers come back as large unsigned ones.
    if bits > 1 << (size - 1) {
        Ok(bits as i64 - (1i64 << size))
    } else {
        Ok(bits as i64)
    }
}

fn read_value(c: &mut BitCursor<'_>, s: &mut State) -> Result<(), DecodeFault> {
    if !c.bit()? {
        return Ok(());
    }
    if c.bit()? {
        let leading = c.bits(5)? as u32;
        let mut sigbits = c.bits(6)? as u32;
        if sigbits == 0 {
            sigbits = 64;
        }
        if leading + sigbits > 64 {
            return Err(DecodeFault::InvalidXorWindow {
                leading: leading as u8,
                sigbits: sigbits as u8,
            });
        }
        s.leading = leading;
        s.trailing = 64 - leading - sigbits;
    }
    let x = c.bits(64 - s.leading - s.trailing)?;
    s.v ^= x << s.trailing;
    Ok(())
}
