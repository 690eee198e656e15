//! What the analysis decoders' tests share: today's full-rate path as the reference, the
//! log-mel comparison their parity tests state bounds in, and the bench audio and medians
//! for the `#[ignore]`d timing tests.

use std::io::Cursor;
use std::path::PathBuf;
use std::time::Instant;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use crate::audio::{DecodedAudio, SourceHint, decode_mono, resample_mono};
use crate::spectral::cpu::CpuStft;
use crate::spectral::{MelParams, MelPlan, MelSpectrogram, hz_to_mel_slaney, mel_to_hz_slaney};

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

/// The bench audio with extension `ext` (`host/benches/make_bench_audio.py`): the 30 s
/// clips, then the full tracks; none when they were not made.
pub fn bench_files(ext: &str) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for dir in ["/tmp/debut-bench/clips", "/tmp/debut-bench/full"] {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .collect();
        paths.sort();
        all.extend(paths);
    }
    all
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Today's path before this decoder: symphonia's decoder on every packet of the track,
/// the mean of the channels, at the stream's rate (for AAC in MP4, from the edit list's
/// start, as `decode_symphonia` applies it to either decoder).
pub fn symphonia_mono(bytes: &[u8]) -> (Vec<f32>, u32) {
    let edits = super::mp4::edits(bytes);
    let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes.to_vec())), Default::default());
    let mut format = symphonia::default::get_probe()
        .probe(&Hint::new(), mss, FormatOptions::default(), MetadataOptions::default())
        .unwrap();
    let track = format.default_track(TrackType::Audio).unwrap();
    let id = track.id;
    let params = track.codec_params.as_ref().unwrap().audio().unwrap().clone();
    let mut decoder =
        symphonia::default::get_codecs().make_audio_decoder(&params, &AudioDecoderOptions::default()).unwrap();
    let (mut planes, mut mono): (Vec<Vec<f32>>, Vec<f32>) = (Vec::new(), Vec::new());
    while let Ok(Some(packet)) = format.next_packet() {
        if packet.track_id != id {
            continue;
        }
        let buf = decoder.decode(&packet).unwrap();
        let (frames, channels) = (buf.frames(), buf.num_planes());
        buf.copy_to_vecs_planar::<f32>(&mut planes);
        let scale = 1.0 / channels as f32;
        mono.extend((0..frames).map(|i| planes[..channels].iter().map(|p| p[i]).sum::<f32>() * scale));
    }
    let rate = params.sample_rate.unwrap();
    if params.codec == symphonia::core::codecs::audio::well_known::CODEC_ID_AAC
        && let Some(edit) = super::mp4::edit_of(&edits, id, rate)
    {
        mono.drain(..edit.priming as usize);
    }
    (mono, rate)
}

pub fn log_mel(samples: &[f32]) -> MelSpectrogram {
    let plan = MelPlan::new(MelParams::default());
    CpuStft::new(plan.params.n_fft).log_mel(&plan, samples)
}

/// SNR in dB of `ours` against `reference` (both at `rate`) below `f_max`, after moving
/// `ours` `shift` samples later (a phase ramp; both are treated as periodic).
pub fn snr_below(reference: &[f32], ours: &[f32], rate: f64, f_max: f64, shift: f64) -> f64 {
    let n = reference.len().min(ours.len());
    let mut planner = realfft::RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(n);
    let spectrum = |x: &[f32]| {
        let mut input: Vec<f64> = x[..n].iter().map(|&v| f64::from(v)).collect();
        let mut out = fft.make_output_vec();
        fft.process(&mut input, &mut out).unwrap();
        out
    };
    let (r, o) = (spectrum(reference), spectrum(ours));
    let (mut signal, mut noise) = (0.0, 0.0);
    for (k, (r, o)) in r.iter().zip(&o).enumerate() {
        if k as f64 * rate / n as f64 >= f_max {
            break;
        }
        let w = -2.0 * std::f64::consts::PI * k as f64 / n as f64 * shift;
        let o = o * realfft::num_complex::Complex::new(w.cos(), w.sin());
        signal += r.norm_sqr();
        noise += (o - r).norm_sqr();
    }
    10.0 * (signal / noise).log10()
}

pub fn fixture(name: &str) -> Vec<u8> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/audio");
    std::fs::read(root.join(name)).unwrap()
}

/// `decode_mono` as `load` calls it, the file named by its extension.
pub fn decode_ours(bytes: &[u8], extension: &str, span: Option<f64>) -> DecodedAudio {
    let hint = SourceHint { extension: Some(extension.into()), media_type: None };
    decode_mono(bytes.to_vec(), &hint, span, &Default::default()).unwrap()
}

/// [`bounded_log_mel_diff`] over the frames both have, the first and last two left out.
pub fn bounded_diff(a: &MelSpectrogram, b: &MelSpectrogram) -> (f64, f64) {
    let frames = 2..a.n_frames.min(b.n_frames).saturating_sub(2);
    bounded_log_mel_diff(a, b, frames)
}

/// The full-rate path ([`symphonia_mono`], then resampled) and a half-rate analysis
/// decoder's (`decode_mono`, then resampled), both at 22 050 Hz as `load` takes them, and
/// the analysis decoder's output.
pub fn symphonia_mono_at_analysis_rate(bytes: &[u8], extension: &str) -> (Vec<f32>, Vec<f32>, DecodedAudio) {
    let (full, rate) = symphonia_mono(bytes);
    let ours = decode_ours(bytes, extension, None);
    assert_eq!(ours.source_rate, rate);
    assert_eq!(ours.sample_rate * 2, rate);
    assert_eq!(ours.samples.len(), full.len() / 2, "half as many samples as symphonia's decoder gives");
    let reference = resample_mono(full, rate, 22_050).unwrap();
    let fast = resample_mono(ours.samples.clone(), ours.sample_rate, 22_050).unwrap();
    (reference, fast, ours)
}

/// Decode time of symphonia + downmix + resampling and of the analysis decoder on the bench
/// audio with extension `ext` (30 s clips, then full tracks, when present): whole files both
/// ways, then the analysis decoder on the centre 30 s as `load` asks. Medians of 7, one
/// thread; printed, with the log-mel agreement, for the `#[ignore]`d timing tests.
pub fn print_decode_times(ext: &str) {
    for path in bench_files(ext) {
        let bytes = std::fs::read(&path).unwrap();
        let (mut ts, mut tf, mut tc) = (Vec::new(), Vec::new(), Vec::new());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            let t = Instant::now();
            let (full, rate) = symphonia_mono(&bytes);
            a = resample_mono(full, rate, 22_050).unwrap();
            ts.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let ours = decode_ours(&bytes, ext, None);
            b = resample_mono(ours.samples, ours.sample_rate, 22_050).unwrap();
            tf.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            std::hint::black_box(decode_ours(&bytes, ext, Some(30.0)));
            tc.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let (max, mean) = bounded_diff(&log_mel(&a), &log_mel(&b));
        eprintln!(
            "{}: symphonia + downmix + resampling {:.2} ms, analysis decoder {:.2} ms (centre 30 s: {:.2} ms), \
             log-mel max {max:.3} dB, mean {mean:.4} dB",
            path.display(),
            median(ts),
            median(tf),
            median(tc)
        );
    }
}

/// The next value of a xorshift64 generator: the corrupt-packet tests' mutations.
pub fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
