//! The chunk codec: one series' points, `(ts, value)` in ascending time, as
//! one block of bytes.
//!
//! Two encodings, and a block is written in whichever is smaller for its
//! points (measured in docs/benchmarks.md: neither wins everywhere):
//!
//! - **Gorilla** (Pelkonen et al., VLDB 2015): timestamps as the difference
//!   of consecutive differences (delta-of-delta), values as the XOR with the
//!   previous value. A poll that lands on its slot costs one bit of time, a
//!   value that did not move one bit of value; it has almost no fixed cost,
//!   so it wins on short chunks.
//! - **pco** (the `pco` crate): the timestamps and the values as two numeric
//!   columns. It finds the structure of decimal values (money in cents,
//!   counters in steps) that XOR cannot see, so it wins on long chunks.
//!
//! Timestamps round-trip for any `i64` and values bit for bit (`-0.0`,
//! subnormals, the largest finite magnitudes). Non-finite values are
//! refused: the store never holds them.
//!
//! Layout: a format byte (`1` Gorilla, `2` pco), the number of points
//! (LEB128), the encoding's bytes, and a CRC-32 of everything before it. A
//! block that is truncated, too long, of an unknown format or whose checksum
//! fails is an error, never a panic and never a wrong number.

/// The format byte of a Gorilla block.
pub const GORILLA: u8 = 1;

/// The format byte of a pco block.
pub const PCO: u8 = 2;

/// Most points one block holds (a chunk of a day at one point a second is
/// 86,400; this leaves room and bounds what a damaged header can ask for).
pub const MAX_POINTS: usize = 1 << 20;

/// Why a block could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Points out of order or repeated in time.
    #[error("points must be in strictly ascending time (at {0})")]
    Unordered(i64),
    /// A NaN or infinite value.
    #[error("a non-finite value at {0}")]
    NonFinite(i64),
    /// More points than a block holds.
    #[error("{0} points is more than a block holds")]
    TooMany(usize),
    /// The block is damaged: the reason.
    #[error("damaged block: {0}")]
    Damaged(&'static str),
}

/// Encodes `points` (ascending time, finite values) into a block.
pub fn encode(points: &[(i64, f64)]) -> Result<Vec<u8>, CodecError> {
    if points.len() > MAX_POINTS {
        return Err(CodecError::TooMany(points.len()));
    }
    for pair in points.windows(2) {
        if pair[1].0 <= pair[0].0 {
            return Err(CodecError::Unordered(pair[1].0));
        }
    }
    if let Some((ts, _)) = points.iter().find(|(_, v)| !v.is_finite()) {
        return Err(CodecError::NonFinite(*ts));
    }
    let gorilla = encode_gorilla(points);
    // pco's fixed cost (its headers) only pays off past a few dozen points.
    let best = match encode_pco(points) {
        Some(pco) if points.len() >= 16 && pco.len() < gorilla.len() => pco,
        _ => gorilla,
    };
    Ok(seal(best))
}

/// Appends the checksum.
fn seal(mut out: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The Gorilla block of checked points, without its checksum.
fn encode_gorilla(points: &[(i64, f64)]) -> Vec<u8> {
    let mut out = vec![GORILLA];
    write_varint(&mut out, points.len() as u64);
    let mut bits = BitWriter { out, acc: 0, used: 0 };
    let mut iter = points.iter();
    if let Some(&(ts, value)) = iter.next() {
        bits.write(ts as u64, 64);
        bits.write(value.to_bits(), 64);
        let (mut prev_ts, mut prev_delta, mut prev_bits) = (ts, 0i64, value.to_bits());
        let mut window: Option<(u32, u32)> = None;
        for &(ts, value) in iter {
            let delta = ts.wrapping_sub(prev_ts);
            write_dod(&mut bits, delta.wrapping_sub(prev_delta));
            (prev_ts, prev_delta) = (ts, delta);
            let v = value.to_bits();
            write_xor(&mut bits, v ^ prev_bits, &mut window);
            prev_bits = v;
        }
    }
    bits.finish()
}

/// The pco block of checked points, without its checksum: the number of
/// points, the length of the timestamps' column, then both columns.
fn encode_pco(points: &[(i64, f64)]) -> Option<Vec<u8>> {
    let config = pco::ChunkConfig::default();
    let ts: Vec<i64> = points.iter().map(|p| p.0).collect();
    let values: Vec<f64> = points.iter().map(|p| p.1).collect();
    let ts = pco::standalone::simple_compress(&ts, &config).ok()?;
    let values = pco::standalone::simple_compress(&values, &config).ok()?;
    let mut out = vec![PCO];
    write_varint(&mut out, points.len() as u64);
    write_varint(&mut out, ts.len() as u64);
    out.extend_from_slice(&ts);
    out.extend_from_slice(&values);
    Some(out)
}

/// Decodes a block made by [`encode`].
pub fn decode(block: &[u8]) -> Result<Vec<(i64, f64)>, CodecError> {
    let Some((body, crc)) = block.split_last_chunk::<4>() else {
        return Err(CodecError::Damaged("shorter than its checksum"));
    };
    if crc32fast::hash(body) != u32::from_le_bytes(*crc) {
        return Err(CodecError::Damaged("checksum mismatch"));
    }
    let (&format, rest) = body.split_first().ok_or(CodecError::Damaged("empty"))?;
    let (count, rest) = read_varint(rest)?;
    let count = usize::try_from(count).map_err(|_| CodecError::Damaged("count too large"))?;
    if count > MAX_POINTS {
        return Err(CodecError::Damaged("more points than a block holds"));
    }
    let points = match format {
        GORILLA => decode_gorilla(count, rest)?,
        PCO => decode_pco(count, rest)?,
        _ => return Err(CodecError::Damaged("unknown format")),
    };
    if points.len() != count {
        return Err(CodecError::Damaged("the count does not match the points"));
    }
    if points.windows(2).any(|w| w[1].0 <= w[0].0) {
        return Err(CodecError::Damaged("time does not ascend"));
    }
    if points.iter().any(|(_, v)| !v.is_finite()) {
        return Err(CodecError::Damaged("a non-finite value"));
    }
    Ok(points)
}

/// The points of a pco block's columns.
fn decode_pco(count: usize, rest: &[u8]) -> Result<Vec<(i64, f64)>, CodecError> {
    let (ts_len, rest) = read_varint(rest)?;
    let ts_len =
        usize::try_from(ts_len).ok().filter(|n| *n <= rest.len()).ok_or(CodecError::Damaged("bad column length"))?;
    let (ts, values) = rest.split_at(ts_len);
    let ts: Vec<i64> = pco::standalone::simple_decompress(ts).map_err(|_| CodecError::Damaged("bad time column"))?;
    let values: Vec<f64> =
        pco::standalone::simple_decompress(values).map_err(|_| CodecError::Damaged("bad value column"))?;
    if ts.len() != count || values.len() != count {
        return Err(CodecError::Damaged("columns of unequal length"));
    }
    Ok(ts.into_iter().zip(values).collect())
}

/// The points of a Gorilla block's bit stream.
fn decode_gorilla(count: usize, rest: &[u8]) -> Result<Vec<(i64, f64)>, CodecError> {
    // The first point takes 128 bits and each further one at least 2.
    let enough = count == 0 || rest.len().saturating_mul(8) >= 128 + (count - 1).saturating_mul(2);
    if !enough {
        return Err(CodecError::Damaged("count does not fit the block"));
    }
    let mut bits = BitReader { data: rest, pos: 0 };
    let mut out = Vec::with_capacity(count);
    if count > 0 {
        let ts = bits.read(64)? as i64;
        let value = f64::from_bits(bits.read(64)?);
        out.push((ts, value));
        let (mut prev_ts, mut prev_delta, mut prev_bits) = (ts, 0i64, value.to_bits());
        let mut window: Option<(u32, u32)> = None;
        for _ in 1..count {
            let delta = prev_delta.wrapping_add(read_dod(&mut bits)?);
            let ts = prev_ts.wrapping_add(delta);
            if ts <= prev_ts {
                return Err(CodecError::Damaged("time does not ascend"));
            }
            (prev_ts, prev_delta) = (ts, delta);
            prev_bits ^= read_xor(&mut bits, &mut window)?;
            out.push((ts, f64::from_bits(prev_bits)));
        }
    }
    // Only the padding of the last byte may remain.
    if bits.data.len().saturating_mul(8).saturating_sub(bits.pos) >= 8 {
        return Err(CodecError::Damaged("bytes after the last point"));
    }
    Ok(out)
}

/// Delta-of-delta buckets: the prefix, its length, the payload bits and
/// the bias that makes a signed value in range non-negative.
const BUCKETS: [(u64, u32, u32, i64); 3] = [(0b10, 2, 7, 63), (0b110, 3, 9, 255), (0b1110, 4, 12, 2047)];

fn write_dod(bits: &mut BitWriter, dod: i64) {
    if dod == 0 {
        bits.write(0, 1);
        return;
    }
    for (prefix, len, width, bias) in BUCKETS {
        let biased = dod.wrapping_add(bias);
        if (0..(1i64 << width)).contains(&biased) && dod >= -bias {
            bits.write(prefix, len);
            bits.write(biased as u64, width);
            return;
        }
    }
    bits.write(0b1111, 4);
    bits.write(dod as u64, 64);
}

fn read_dod(bits: &mut BitReader) -> Result<i64, CodecError> {
    let mut prefix_len = 0;
    while prefix_len < 4 && bits.read(1)? == 1 {
        prefix_len += 1;
    }
    Ok(match prefix_len {
        0 => 0,
        4 => bits.read(64)? as i64,
        n => {
            let (_, _, width, bias) = BUCKETS[n - 1];
            bits.read(width)? as i64 - bias
        }
    })
}

fn write_xor(bits: &mut BitWriter, xor: u64, window: &mut Option<(u32, u32)>) {
    if xor == 0 {
        bits.write(0, 1);
        return;
    }
    let leading = xor.leading_zeros().min(31);
    let trailing = xor.trailing_zeros();
    match *window {
        Some((l, t)) if leading >= l && trailing >= t => {
            bits.write(0b10, 2);
            bits.write(xor >> t, 64 - l - t);
        }
        _ => {
            let meaningful = 64 - leading - trailing;
            bits.write(0b11, 2);
            bits.write(u64::from(leading), 5);
            bits.write(u64::from(meaningful - 1), 6);
            bits.write(xor >> trailing, meaningful);
            *window = Some((leading, trailing));
        }
    }
}

fn read_xor(bits: &mut BitReader, window: &mut Option<(u32, u32)>) -> Result<u64, CodecError> {
    if bits.read(1)? == 0 {
        return Ok(0);
    }
    if bits.read(1)? == 0 {
        let (l, t) = window.ok_or(CodecError::Damaged("a value refers to no earlier window"))?;
        return Ok(bits.read(64 - l - t)? << t);
    }
    let leading = bits.read(5)? as u32;
    let meaningful = bits.read(6)? as u32 + 1;
    let trailing = 64u32.checked_sub(leading + meaningful).ok_or(CodecError::Damaged("a value wider than 64 bits"))?;
    *window = Some((leading, trailing));
    Ok(bits.read(meaningful)? << trailing)
}

fn write_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn read_varint(data: &[u8]) -> Result<(u64, &[u8]), CodecError> {
    let mut n = 0u64;
    for (i, &b) in data.iter().enumerate().take(10) {
        n |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((n, &data[i + 1..]));
        }
    }
    Err(CodecError::Damaged("bad point count"))
}

/// Writes bits most significant first.
struct BitWriter {
    out: Vec<u8>,
    acc: u8,
    used: u32,
}

impl BitWriter {
    /// Writes the low `n` bits of `value` (`n` ≤ 64).
    fn write(&mut self, value: u64, n: u32) {
        for i in (0..n).rev() {
            self.acc = (self.acc << 1) | ((value >> i) & 1) as u8;
            self.used += 1;
            if self.used == 8 {
                self.out.push(self.acc);
                (self.acc, self.used) = (0, 0);
            }
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.used > 0 {
            self.out.push(self.acc << (8 - self.used));
        }
        self.out
    }
}

/// Reads what [`BitWriter`] wrote; past the end is an error.
struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    /// Reads `n` bits (`n` ≤ 64) as the low bits of the result.
    fn read(&mut self, n: u32) -> Result<u64, CodecError> {
        let mut value = 0u64;
        for _ in 0..n {
            let byte = self.data.get(self.pos / 8).ok_or(CodecError::Damaged("truncated"))?;
            value = (value << 1) | u64::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(points: &[(i64, f64)]) {
        let block = encode(points).expect("encodes");
        let back = decode(&block).expect("decodes");
        assert_eq!(back.len(), points.len());
        for (a, b) in back.iter().zip(points) {
            assert_eq!(a.0, b.0);
            assert_eq!(a.1.to_bits(), b.1.to_bits(), "bit-exact at {}", a.0);
        }
    }

    #[test]
    fn edge_values_round_trip_bit_exact() {
        round_trip(&[]);
        round_trip(&[(0, 0.0)]);
        round_trip(&[
            (i64::MIN, -0.0),
            (-1, 0.0),
            (0, f64::MIN_POSITIVE),
            (1, 5e-324),
            (2, f64::MAX),
            (3, f64::MIN),
            (i64::MAX - 1, 1.0),
            (i64::MAX, -1e300),
        ]);
    }

    #[test]
    fn a_regular_series_costs_bits_not_bytes() {
        // A poll on its slot every 5 minutes of a value that rarely moves.
        let points: Vec<(i64, f64)> = (0..288).map(|i| (1_700_000_000 + i * 300, (i / 50) as f64 * 100.0)).collect();
        let block = encode(&points).unwrap();
        assert!(block.len() < 120, "{} bytes for 288 points", block.len());
        round_trip(&points);
    }

    /// Each encoding round-trips on its own, whichever `encode` picks.
    fn both_round_trip(points: &[(i64, f64)]) {
        for block in [encode_gorilla(points), encode_pco(points).expect("pco encodes")] {
            let back = decode(&seal(block)).expect("decodes");
            assert_eq!(back.len(), points.len());
            for (a, b) in back.iter().zip(points) {
                assert_eq!((a.0, a.1.to_bits()), (b.0, b.1.to_bits()));
            }
        }
    }

    #[test]
    fn the_smaller_encoding_is_kept() {
        // Money in cents over a day of polls: pco sees the decimals.
        let money: Vec<(i64, f64)> =
            (0..288).map(|i| (1_700_000_000 + i * 300 + i % 3, (123_456 + i * i * 7) as f64 / 100.0)).collect();
        assert_eq!(encode(&money).unwrap()[0], PCO);
        // Three points: pco's headers cost more than the points.
        assert_eq!(encode(&money[..3]).unwrap()[0], GORILLA);
        both_round_trip(&money);
        both_round_trip(&[(i64::MIN, -0.0), (0, f64::MAX), (i64::MAX, 5e-324)]);
    }

    #[test]
    fn bad_input_is_refused() {
        assert_eq!(encode(&[(5, 1.0), (5, 2.0)]), Err(CodecError::Unordered(5)));
        assert_eq!(encode(&[(5, 1.0), (4, 2.0)]), Err(CodecError::Unordered(4)));
        assert_eq!(encode(&[(5, f64::NAN)]), Err(CodecError::NonFinite(5)));
        assert_eq!(encode(&[(5, f64::INFINITY)]), Err(CodecError::NonFinite(5)));
    }

    #[test]
    fn damaged_blocks_are_errors() {
        let points: Vec<(i64, f64)> = (0..100).map(|i| (i * 60, i as f64 * 1.5)).collect();
        let block = encode(&points).unwrap();
        for cut in 0..block.len() {
            assert!(decode(&block[..cut]).is_err(), "truncated to {cut}");
        }
        let mut longer = block.clone();
        longer.insert(block.len() - 4, 0);
        assert!(decode(&longer).is_err());
        for i in 0..block.len() {
            let mut flipped = block.clone();
            flipped[i] ^= 0x10;
            assert!(decode(&flipped).is_err(), "a flipped bit in byte {i}");
        }
        let mut format = block;
        format[0] = 9;
        assert!(decode(&seal(format[..format.len() - 4].to_vec())).is_err(), "an unknown format");
    }

    proptest! {
        #[test]
        fn any_series_round_trips(
            start in any::<i64>(),
            steps in proptest::collection::vec((1i64..100_000, any::<u64>(), 0u8..4), 0..300),
        ) {
            let mut ts = start;
            let mut value = 0.0f64;
            let mut points = Vec::new();
            for (step, raw, kind) in steps {
                let Some(next) = ts.checked_add(step) else { break };
                if !points.is_empty() {
                    ts = next;
                }
                value = match kind {
                    0 => value,
                    1 => value + 1.0,
                    2 => f64::from_bits(raw),
                    _ => (raw % 1_000_000) as f64 / 100.0,
                };
                if value.is_finite() {
                    points.push((ts, value));
                }
            }
            round_trip(&points);
            both_round_trip(&points);
        }

        /// A valid block of either format with bytes changed and its
        /// checksum made to match: an error or ascending finite points,
        /// never a panic.
        #[test]
        fn changed_blocks_with_a_good_checksum_decode_without_panic(
            n in 1usize..300,
            changes in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            pco in any::<bool>(),
        ) {
            let points: Vec<(i64, f64)> = (0..n as i64).map(|i| (1_700_000_000 + i * 300, (i * 37 % 1000) as f64 / 100.0)).collect();
            let mut block = if pco { encode_pco(&points).unwrap() } else { encode_gorilla(&points) };
            for (at, byte) in changes {
                let i = at % block.len();
                block[i] = byte;
            }
            if let Ok(back) = decode(&seal(block)) {
                prop_assert!(back.windows(2).all(|w| w[0].0 < w[1].0));
                prop_assert!(back.iter().all(|(_, v)| v.is_finite()));
            }
        }

        #[test]
        fn any_bytes_decode_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn any_bytes_with_a_good_checksum_decode_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut block = bytes;
            if let Some(first) = block.first_mut() {
                *first = if *first % 2 == 0 { GORILLA } else { PCO };
            }
            let crc = crc32fast::hash(&block);
            block.extend_from_slice(&crc.to_le_bytes());
            if let Ok(points) = decode(&block) {
                prop_assert!(points.windows(2).all(|w| w[0].0 < w[1].0));
                prop_assert!(points.iter().all(|(_, v)| v.is_finite()));
            }
        }
    }
}
