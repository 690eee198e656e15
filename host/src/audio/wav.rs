//! The WAV fast path: integer or float PCM read straight from the data chunk, only the centre
//! span, downmixed as it is read (symphonia's packet loop costs about five times as much for
//! the same samples).
//!
//! It only takes files it can vouch for: RIFF/WAVE with one `fmt ` chunk of PCM (16, 24 or
//! 32 bits) or IEEE float (32 bits), plain or WAVE_FORMAT_EXTENSIBLE, and a data chunk that is
//! wholly there, every budget met. A sample rate or channel count outside the budget is
//! refused here, from the header, for any WAV; anything else is declined (`None`) and goes to
//! symphonia, which names the error (truncated, too long, ...) as before. Samples, lengths and downmix are symphonia's, bit for bit.

use super::{DecodeBudget, DecodeError, DecodedAudio};

#[derive(Clone, Copy, PartialEq)]
enum Sample {
    I16,
    I24,
    I32,
    F32,
}

impl Sample {
    fn bytes(self) -> usize {
        match self {
            Self::I16 => 2,
            Self::I24 => 3,
            Self::I32 | Self::F32 => 4,
        }
    }
}

// As symphonia converts each sample type to f32.
fn i16_sample(b: [u8; 2]) -> f32 {
    f32::from(i16::from_le_bytes(b)) / 32_768.0
}

fn i24_sample(b: [u8; 3]) -> f32 {
    (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as f32 / 8_388_608.0
}

fn i32_sample(b: [u8; 4]) -> f32 {
    (f64::from(i32::from_le_bytes(b)) / 2_147_483_648.0) as f32
}

fn f32_sample(b: [u8; 4]) -> f32 {
    f32::from_le_bytes(b)
}

/// Interleaved frames of `channels` samples of `W` bytes to mono, as symphonia downmixes:
/// one loop per sample type and layout, so the compiler sees fixed widths.
fn downmix<const W: usize>(frames: &[u8], channels: usize, read: impl Fn([u8; W]) -> f32, out: &mut Vec<f32>) {
    let sample = |c: &[u8]| read(c.try_into().expect("chunks of W bytes"));
    match channels {
        1 => out.extend(frames.chunks_exact(W).map(sample)),
        2 => out.extend(frames.chunks_exact(2 * W).map(|f| 0.5 * (sample(&f[..W]) + sample(&f[W..])))),
        _ => {
            let scale = 1.0 / channels as f32;
            out.extend(frames.chunks_exact(channels * W).map(|f| {
                let mut it = f.chunks_exact(W).map(sample);
                let first = it.next().unwrap_or(0.0);
                it.fold(first, |acc, v| acc + v) * scale
            }));
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Decodes `bytes` when it is a WAV file the fast path can vouch for; `None` declines.
pub(super) fn decode(
    bytes: &[u8],
    span_seconds: Option<f64>,
    budget: &DecodeBudget,
) -> Option<Result<DecodedAudio, DecodeError>> {
    if bytes.get(0..4)? != b"RIFF" || bytes.get(8..12)? != b"WAVE" {
        return None;
    }
    let (mut at, mut format, mut data) = (12usize, None, None);
    while at + 8 <= bytes.len() {
        let (id, size) = (&bytes[at..at + 4], u32_at(bytes, at + 4)? as usize);
        let end = at.checked_add(8)?.checked_add(size)?;
        match id {
            b"fmt " if format.is_none() => format = Some(bytes.get(at + 8..end)?),
            b"fmt " => return None,
            b"data" => {
                // Cut short, it is declined below, once the format has had its say.
                data = bytes.get(at + 8..end);
                break;
            }
            _ => {}
        }
        at = end + (size & 1);
    }
    let fmt = format?;
    let tag = u16_at(fmt, 0)?;
    let channels = usize::from(u16_at(fmt, 2)?);
    let rate = u32_at(fmt, 4)?;
    let block_align = usize::from(u16_at(fmt, 12)?);
    let bits = u16_at(fmt, 14)?;
    // The layout's budgets, refused here with the header's values, whatever the format.
    // (Over the channel budget symphonia would not even get to refuse: its PCM reader
    // multiplies the count by the sample width in 16 bits, and overflow checks panic.)
    if channels == 0 || channels as u64 > u64::from(budget.max_channels) {
        return Some(Err(DecodeError::ChannelCount { channels: channels as u64, max: budget.max_channels }));
    }
    if rate < budget.min_sample_rate || rate > budget.max_sample_rate {
        let (min, max) = (budget.min_sample_rate, budget.max_sample_rate);
        return Some(Err(DecodeError::SampleRate { rate: rate.into(), min, max }));
    }
    let data = data?;
    // WAVE_FORMAT_EXTENSIBLE: the real format is the sub-format GUID's first two bytes.
    let tag = if tag == 0xfffe { u16_at(fmt, 24)? } else { tag };
    let sample = match (tag, bits) {
        (1, 16) => Sample::I16,
        (1, 24) => Sample::I24,
        (1, 32) => Sample::I32,
        (3, 32) => Sample::F32,
        _ => return None,
    };
    if block_align != channels * sample.bytes() {
        return None;
    }
    let n = (data.len() / block_align) as u64;
    if n == 0 || data.len() % block_align != 0 || n as f64 / f64::from(rate) > budget.max_duration_s {
        return None;
    }
    let (start, end) = super::decode::centre_span(n, span_seconds, rate);
    let frames = &data[start as usize * block_align..end as usize * block_align];
    let mut mono = Vec::with_capacity((end - start) as usize);
    match sample {
        Sample::I16 => downmix(frames, channels, i16_sample, &mut mono),
        Sample::I24 => downmix(frames, channels, i24_sample, &mut mono),
        Sample::I32 => downmix(frames, channels, i32_sample, &mut mono),
        Sample::F32 => downmix(frames, channels, f32_sample, &mut mono),
    }
    Some(Ok(DecodedAudio {
        samples: mono,
        sample_rate: rate,
        source_rate: rate,
        channels,
        declared_frames: Some(n),
        codec: "pcm".into(),
    }))
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::audio::SourceHint;
    use crate::audio::decode::decode_symphonia;

    fn fixtures() -> Vec<(String, Vec<u8>)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/audio");
        let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "wav"))
            .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn every_wav_fixture_decodes_as_symphonia_does_bit_for_bit() {
        let budget = DecodeBudget::default();
        let all = fixtures();
        assert!(all.len() >= 8, "the WAV fixtures");
        for (name, bytes) in all {
            for span in [None, Some(30.0), Some(1.0), Some(0.37)] {
                let fast = decode(&bytes, span, &budget).unwrap_or_else(|| panic!("{name}: declined")).unwrap();
                let sym =
                    decode_symphonia(bytes.clone(), &SourceHint::default(), span, &budget, Instant::now()).unwrap();
                assert_eq!(
                    (fast.sample_rate, fast.channels, fast.declared_frames, fast.samples.len()),
                    (sym.sample_rate, sym.channels, sym.declared_frames, sym.samples.len()),
                    "{name} {span:?}"
                );
                let same = fast.samples.iter().zip(&sym.samples).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{name} {span:?}: samples differ from symphonia's");
            }
        }
    }

    #[test]
    fn what_it_cannot_vouch_for_is_declined() {
        let budget = DecodeBudget::default();
        let (_, wav) = fixtures().into_iter().find(|(n, _)| n == "music_44k_stereo_s16.wav").unwrap();
        assert!(decode(&wav, None, &budget).is_some());
        // A data chunk cut short is declined (`decode_mono`'s framing check names it).
        assert!(decode(&wav[..wav.len() / 2], None, &budget).is_none());
        // Not RIFF/WAVE.
        assert!(decode(b"RIFX\0\0\0\0WAVE", None, &budget).is_none());
        // 8-bit PCM is left to symphonia.
        let mut eight = wav.clone();
        let fmt = eight.windows(4).position(|w| w == b"fmt ").unwrap() + 8;
        eight[fmt + 14] = 8;
        assert!(decode(&eight, None, &budget).is_none());
        // Over the channel budget: refused here (symphonia's PCM reader can overflow on it).
        let tight = DecodeBudget { max_channels: 1, ..DecodeBudget::default() };
        assert!(matches!(decode(&wav, None, &tight), Some(Err(DecodeError::ChannelCount { channels: 2, .. }))));
        // Over the duration budget.
        let short = DecodeBudget { max_duration_s: 0.5, ..DecodeBudget::default() };
        assert!(decode(&wav, None, &short).is_none());
    }
}
