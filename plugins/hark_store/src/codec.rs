//! How audio rows are stored: losslessly compressed, bit for bit what was captured.
//!
//! - [`Codec::F32`] (0): raw little-endian f32, as schema 1 and 2 wrote every row.
//! - [`Codec::I16Delta`] (1): audio whose every sample is a 16-bit value (a 16-bit file at
//!   16 kHz, the corpus, the demo): the differences of the 16-bit values, deflated. About 0.36
//!   of the raw size on speech.
//! - [`Codec::F32Planes`] (2): any other audio (a microphone resampled to 16 kHz): the four bytes
//!   of each f32 split into four planes (signs and exponents change slowly, so the first planes
//!   compress well), deflated. About 0.56 of the raw size on speech.
//!
//! Measured on the long-form recording (`docs/PERFORMANCE.md`); both decode to exactly the
//! samples that were encoded.

use std::io::{Read, Write};

/// A row's encoding (the `codec` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    F32 = 0,
    I16Delta = 1,
    F32Planes = 2,
}

impl Codec {
    pub fn from_i64(v: i64) -> Option<Self> {
        match v {
            0 => Some(Self::F32),
            1 => Some(Self::I16Delta),
            2 => Some(Self::F32Planes),
            _ => None,
        }
    }
}

/// What a row's blob could not be decoded for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown audio encoding {0}")]
    UnknownCodec(i64),
    #[error("damaged audio data ({0})")]
    Damaged(&'static str),
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::with_capacity(bytes.len() / 2), flate2::Compression::new(6));
    // Writing into a Vec cannot fail.
    let _ = e.write_all(bytes);
    e.finish().unwrap_or_default()
}

fn inflate(blob: &[u8], expect: Option<usize>) -> Result<Vec<u8>, DecodeError> {
    // Deflate cannot shrink data more than about 1032:1: a row claiming more is damaged, and is
    // refused before anything is allocated for it.
    let expect =
        expect.filter(|&e| e <= blob.len().saturating_mul(1100) + 64).ok_or(DecodeError::Damaged("wrong length"))?;
    let mut out = Vec::with_capacity(expect);
    // Never more than the row says it holds, whatever the blob claims.
    flate2::read::DeflateDecoder::new(blob)
        .take(expect as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| DecodeError::Damaged("not deflate data"))?;
    if out.len() != expect {
        return Err(DecodeError::Damaged("wrong length"));
    }
    Ok(out)
}

/// Encodes `samples` the most compact lossless way.
pub fn encode(samples: &[f32]) -> (Codec, Vec<u8>) {
    let as_i16 = |s: f32| {
        let q = s * 32768.0;
        (q == q.round() && (-32768.0..=32767.0).contains(&q)).then_some(q as i16)
    };
    if samples.iter().all(|&s| as_i16(s).is_some() && (s != 0.0 || s.is_sign_positive())) {
        let mut prev = 0i16;
        let mut d = Vec::with_capacity(samples.len() * 2);
        for &s in samples {
            let q = as_i16(s).unwrap_or(0);
            d.extend_from_slice(&q.wrapping_sub(prev).to_le_bytes());
            prev = q;
        }
        return (Codec::I16Delta, deflate(&d));
    }
    let n = samples.len();
    let mut planes = vec![0u8; n * 4];
    for (i, s) in samples.iter().enumerate() {
        for (p, b) in s.to_le_bytes().into_iter().enumerate() {
            planes[p * n + i] = b;
        }
    }
    (Codec::F32Planes, deflate(&planes))
}

/// Decodes a row of `frames` samples (for [`Codec::F32`], the blob's length says).
pub fn decode(codec: i64, blob: &[u8], frames: Option<usize>) -> Result<Vec<f32>, DecodeError> {
    match Codec::from_i64(codec).ok_or(DecodeError::UnknownCodec(codec))? {
        Codec::F32 => {
            if !blob.len().is_multiple_of(4) {
                return Err(DecodeError::Damaged("not whole samples"));
            }
            Ok(blob.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
        }
        Codec::I16Delta => {
            let n = frames.ok_or(DecodeError::Damaged("no length"))?;
            let d = inflate(blob, n.checked_mul(2))?;
            let mut prev = 0i16;
            Ok(d.chunks_exact(2)
                .map(|c| {
                    prev = prev.wrapping_add(i16::from_le_bytes([c[0], c[1]]));
                    prev as f32 / 32768.0
                })
                .collect())
        }
        Codec::F32Planes => {
            let n = frames.ok_or(DecodeError::Damaged("no length"))?;
            let p = inflate(blob, n.checked_mul(4))?;
            Ok((0..n).map(|i| f32::from_le_bytes([p[i], p[n + i], p[2 * n + i], p[3 * n + i]])).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(x: &[f32]) -> Vec<u32> {
        x.iter().map(|s| s.to_bits()).collect()
    }

    #[test]
    fn every_encoding_gives_back_exactly_what_was_stored() {
        // As a 16-bit file decodes.
        let pcm: Vec<f32> = (0..8_000).map(|i| ((i as f32 * 0.05).sin() * 12_000.0) as i16 as f32 / 32768.0).collect();
        let mut float: Vec<f32> = (0..8_000).map(|i| (i as f32 * 0.05).sin() * 0.37 + 1e-7).collect();
        // Values a 16-bit test would get wrong: -0.0, the extremes, NaN, infinities, subnormals.
        float.extend([-0.0, 1.0, -1.0, f32::NAN, f32::INFINITY, f32::MIN_POSITIVE / 3.0, 32767.0 / 32768.0]);
        let edge16 = vec![-1.0, 32767.0 / 32768.0, 0.0, -1.0, 32767.0 / 32768.0];
        for (x, want) in [(&pcm, Codec::I16Delta), (&float, Codec::F32Planes), (&edge16, Codec::I16Delta)] {
            let (codec, blob) = encode(x);
            assert_eq!(codec, want);
            let back = decode(codec as i64, &blob, Some(x.len())).unwrap();
            assert_eq!(bits(&back), bits(x));
        }
        let (_, blob) = encode(&pcm);
        assert!(blob.len() * 10 < pcm.len() * 4 * 5, "16-bit audio takes under half: {}", blob.len());
        // -0.0 alone is not 16-bit audio (it would come back as +0.0).
        assert_eq!(encode(&[0.5, -0.0]).0, Codec::F32Planes);
        // Schema 2 rows.
        let raw: Vec<u8> = float.iter().flat_map(|s| s.to_le_bytes()).collect();
        assert_eq!(bits(&decode(0, &raw, None).unwrap()), bits(&float));
    }

    #[test]
    fn damaged_rows_are_errors_not_panics_or_huge_allocations() {
        let (codec, blob) = encode(&[0.25; 100]);
        assert_eq!(decode(codec as i64, &blob, Some(101)), Err(DecodeError::Damaged("wrong length")));
        assert_eq!(decode(codec as i64, b"garbage", Some(100)), Err(DecodeError::Damaged("not deflate data")));
        assert_eq!(decode(7, &blob, Some(100)), Err(DecodeError::UnknownCodec(7)));
        assert_eq!(decode(0, &[1, 2, 3], None), Err(DecodeError::Damaged("not whole samples")));
        assert!(decode(codec as i64, &blob, Some(usize::MAX / 8)).is_err());
    }
}
