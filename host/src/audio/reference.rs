//! What debut's decoding is measured against: the full-rate path symphonia alone takes
//! (every channel decoded at the stream's rate, then their mean), and the log-mel comparison
//! the analysis decoders' bounds are stated in. The parity tests and `debut bench decoders`
//! use both.

use std::io::Cursor;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use super::DecodeError;
use super::decode::classify;
use crate::spectral::{MelParams, MelSpectrogram, hz_to_mel_slaney, mel_to_hz_slaney};

/// The path before the analysis decoders: symphonia's decoder on every packet of the track,
/// the mean of the channels, at the stream's rate (for AAC in MP4, from the edit list's
/// start, as `decode_mono` applies it; for Opus, which symphonia cannot decode, the Opus decoder at
/// 48 kHz with every channel). No span, no budgets: for files one trusts.
pub fn full_rate_mono(bytes: &[u8]) -> Result<(Vec<f32>, u32), DecodeError> {
    let edits = super::mp4::edits(bytes);
    let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes.to_vec())), Default::default());
    let mut format = symphonia::default::get_probe()
        .probe(&Hint::new(), mss, FormatOptions::default(), MetadataOptions::default())
        .map_err(|e| classify(e, "probing the container"))?;
    let track = format.default_track(TrackType::Audio).ok_or(DecodeError::NoAudioTrack)?;
    let id = track.id;
    let params = track.codec_params.as_ref().and_then(|p| p.audio()).ok_or(DecodeError::NoAudioTrack)?.clone();
    let rate = params.sample_rate.ok_or_else(|| DecodeError::Corrupt { detail: "no sample rate".into() })?;
    let mut mono = Vec::new();
    if params.codec == symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS {
        let mut opus = super::opus::FullRate::new(&params)?;
        while let Ok(Some(packet)) = format.next_packet() {
            if packet.track_id == id {
                opus.decode(&packet.data, &mut mono)?;
            }
        }
        return Ok((mono, 48_000));
    }
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| classify(e, "opening the decoder"))?;
    let mut planes: Vec<Vec<f32>> = Vec::new();
    while let Ok(Some(packet)) = format.next_packet() {
        if packet.track_id != id {
            continue;
        }
        let buf = decoder.decode(&packet).map_err(|e| classify(e, "decoding"))?;
        let (frames, channels) = (buf.frames(), buf.num_planes());
        buf.copy_to_vecs_planar::<f32>(&mut planes);
        let scale = 1.0 / channels as f32;
        mono.extend((0..frames).map(|i| planes[..channels].iter().map(|p| p[i]).sum::<f32>() * scale));
    }
    if params.codec == symphonia::core::codecs::audio::well_known::CODEC_ID_AAC
        && let Some(edit) = super::mp4::edit_of(&edits, id, rate)
    {
        mono.drain(..(edit.priming as usize).min(mono.len()));
    }
    Ok((mono, rate))
}

/// Max and mean |reference - ours| in dB over `frames`, in the bands below 90% of
/// 11 025 Hz (above them lie the resamplers' transition bands) and bins within 60 dB of
/// the reference frame's peak: the bound `tests/frontend.rs` states against librosa.
pub fn bounded_log_mel_diff(
    reference: &MelSpectrogram,
    ours: &MelSpectrogram,
    frames: impl Iterator<Item = usize>,
) -> (f64, f64) {
    assert_eq!(reference.n_mels, ours.n_mels);
    let p = MelParams::default();
    let (lo, hi) = (hz_to_mel_slaney(p.fmin), hz_to_mel_slaney(p.fmax));
    let n = reference.n_mels;
    let top = 0.9 * (f64::from(super::ANALYSIS_RATE) / 2.0).min(p.fmax);
    let bands =
        (0..n).take_while(|&m| mel_to_hz_slaney(lo + (hi - lo) * (m + 2) as f64 / (n + 1) as f64) <= top).count();
    let (mut max, mut sum, mut count) = (0.0f64, 0.0f64, 0usize);
    for t in frames {
        let peak = (0..n).map(|m| reference.get(m, t)).fold(f32::MIN, f32::max);
        for m in (0..bands).filter(|&m| reference.get(m, t) > peak - 60.0) {
            let d = f64::from((reference.get(m, t) - ours.get(m, t)).abs());
            max = max.max(d);
            sum += d;
            count += 1;
        }
    }
    (max, sum / count.max(1) as f64)
}
