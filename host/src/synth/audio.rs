//! A small arranger and synthesiser: an [`Arrangement`] (tempo, key, drums, bass, chords,
//! lead, mix) becomes mono samples at 22 050 Hz. Harmonic sounds play from one-period
//! wavetables (cost independent of their partials), plucks are Karplus-Strong strings,
//! drums are swept sines and filtered noise; the mix gets section dynamics, a low-pass,
//! a two-comb reverb and a noise floor.

use rand::{Rng, RngExt};

use super::genres::{BassLine, Drums, Timbre};
use super::random::normal;

pub const RATE: f32 = 22_050.0;
const TABLE: usize = 2048;

#[derive(Debug, Clone, PartialEq)]
pub struct DrumPart {
    pub pattern: Drums,
    pub level: f32,
    pub hats: u32,
    pub kick_hz: f32,
    pub snare_tone: f32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Part<K> {
    pub kind: K,
    pub timbre: Timbre,
    pub level: f32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Arrangement {
    pub seconds: f32,
    pub bpm: f32,
    pub tonic: i32,
    pub scale: &'static [i32],
    pub drums: Option<DrumPart>,
    /// Bass line kind.
    pub bass: Option<Part<BassLine>>,
    /// Chord hits per bar (0: sustained).
    pub chords: Option<Part<u32>>,
    /// Lead notes per bar.
    pub lead: Option<Part<f32>>,
    pub noise: f32,
    pub dynamics_db: f32,
    pub distortion: f32,
    pub reverb: f32,
    pub brightness: f32,
    /// Peak level of the finished mix.
    pub gain: f32,
}

fn midi_hz(note: f32) -> f32 {
    440.0 * 2f32.powf((note - 69.0) / 12.0)
}

/// The note `degree` steps up the scale from the tonic (octaves wrap).
fn scale_note(tonic: i32, scale: &[i32], degree: i32) -> i32 {
    let n = scale.len() as i32;
    tonic + 12 * degree.div_euclid(n) + scale[degree.rem_euclid(n) as usize]
}

fn wavetable(timbre: Timbre) -> Vec<f32> {
    let partials: Vec<f32> = match timbre {
        Timbre::Sine | Timbre::Breathy => vec![1.0, 0.15],
        Timbre::Saw | Timbre::DistGuitar => (1..=16).map(|n| 1.0 / n as f32).collect(),
        Timbre::Square => (1..=16).map(|n| if n % 2 == 1 { 1.0 / n as f32 } else { 0.0 }).collect(),
        Timbre::Organ => vec![1.0, 1.0, 0.5, 0.8, 0.0, 0.3, 0.0, 0.4],
        Timbre::Piano => (1..=12).map(|n| (n as f32).powf(-1.5)).collect(),
        Timbre::Strings => (1..=14).map(|n| 1.0 / n as f32 * if n % 2 == 0 { 0.7 } else { 1.0 }).collect(),
        Timbre::Pad => (1..=10).map(|n| (n as f32).powi(-2)).collect(),
        Timbre::Pluck => vec![1.0],
        Timbre::Brass => (1..=15).map(|n| (n as f32).powf(-0.8)).collect(),
        Timbre::Reed => (1..=15).map(|n| if n % 2 == 1 { 1.0 / n as f32 } else { 0.4 / n as f32 }).collect(),
    };
    let mut t: Vec<f32> = (0..TABLE)
        .map(|i| {
            let ph = i as f32 / TABLE as f32 * std::f32::consts::TAU;
            partials.iter().enumerate().map(|(k, a)| a * ((k + 1) as f32 * ph).sin()).sum()
        })
        .collect();
    let peak = t.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    t.iter_mut().for_each(|v| *v /= peak);
    t
}

/// (attack, decay time constant, sustain level, release) in seconds / fraction.
fn envelope(timbre: Timbre) -> (f32, f32, f32, f32) {
    match timbre {
        Timbre::Piano => (0.005, 0.6, 0.0, 0.1),
        Timbre::Pluck => (0.002, 0.4, 0.0, 0.05),
        Timbre::Strings => (0.25, 1.0, 0.9, 0.3),
        Timbre::Pad => (0.6, 2.0, 0.85, 0.8),
        Timbre::Brass => (0.03, 0.3, 0.7, 0.08),
        Timbre::Organ | Timbre::Square | Timbre::Saw | Timbre::DistGuitar => (0.01, 0.5, 0.8, 0.05),
        Timbre::Reed | Timbre::Breathy => (0.05, 0.5, 0.8, 0.1),
        Timbre::Sine => (0.02, 1.0, 0.9, 0.1),
    }
}

/// The synthesiser state of one track.
pub struct Synth<'a, R: Rng> {
    pub out: Vec<f32>,
    rng: &'a mut R,
    tables: std::collections::HashMap<u8, Vec<f32>>,
}

impl<'a, R: Rng> Synth<'a, R> {
    pub fn new(seconds: f32, rng: &'a mut R) -> Self {
        Self { out: vec![0.0; (seconds * RATE) as usize], rng, tables: Default::default() }
    }

    /// One note of `timbre` at `start` seconds for `dur` seconds.
    pub fn note(&mut self, start: f32, dur: f32, midi: f32, timbre: Timbre, level: f32) {
        let hz = midi_hz(midi);
        let (attack, decay, sustain, release) = envelope(timbre);
        let s0 = (start * RATE) as usize;
        let len = ((dur + release) * RATE) as usize;
        if s0 >= self.out.len() {
            return;
        }
        let end = (s0 + len).min(self.out.len());
        if timbre == Timbre::Pluck {
            self.pluck(s0, end, hz, level, decay);
            return;
        }
        let table = self.tables.entry(timbre as u8).or_insert_with(|| wavetable(timbre)).clone();
        let vibrato = if matches!(timbre, Timbre::Strings | Timbre::Reed | Timbre::Breathy) { 0.004 } else { 0.0 };
        let drive = if timbre == Timbre::DistGuitar { 6.0 } else { 0.0 };
        let breath = if matches!(timbre, Timbre::Breathy | Timbre::Reed) { 0.12 } else { 0.0 };
        let mut phase = self.rng.random::<f32>();
        let mut lp = 0.0f32;
        for (i, o) in self.out[s0..end].iter_mut().enumerate() {
            let t = i as f32 / RATE;
            let env = if t < attack {
                t / attack
            } else if t < dur {
                sustain + (1.0 - sustain) * (-(t - attack) / decay).exp()
            } else {
                (sustain + (1.0 - sustain) * (-(dur - attack).max(0.0) / decay).exp())
                    * (-(t - dur) / (release * 0.3)).exp()
            };
            let f = hz * (1.0 + vibrato * (t * 5.5 * std::f32::consts::TAU).sin());
            phase = (phase + f / RATE).fract();
            let x = phase * TABLE as f32;
            let (i0, frac) = (x as usize % TABLE, x.fract());
            let mut v = table[i0] * (1.0 - frac) + table[(i0 + 1) % TABLE] * frac;
            if drive > 0.0 {
                v = (drive * v).tanh();
            }
            if breath > 0.0 {
                lp += 0.3 * (self.rng.random::<f32>() * 2.0 - 1.0 - lp);
                v += breath * lp;
            }
            *o += level * env * v;
        }
    }

    /// A Karplus-Strong string: a noise burst in a delay line, averaged each period.
    fn pluck(&mut self, s0: usize, end: usize, hz: f32, level: f32, decay: f32) {
        let period = ((RATE / hz) as usize).max(2);
        let mut line: Vec<f32> = (0..period).map(|_| self.rng.random::<f32>() * 2.0 - 1.0).collect();
        let damp = (-1.0 / (decay * hz)).exp().clamp(0.9, 0.9995);
        let mut k = 0;
        for o in &mut self.out[s0..end] {
            let next = line[(k + 1) % period];
            let v = line[k];
            line[k] = damp * 0.5 * (v + next);
            k = (k + 1) % period;
            *o += level * v;
        }
    }

    /// A drum hit: `kind` 0 kick, 1 snare, 2 hat, 3 conga.
    pub fn hit(&mut self, start: f32, kind: u8, level: f32, tone: f32) {
        let s0 = (start * RATE) as usize;
        let (len, decay) = match kind {
            0 => (0.35, 0.12),
            1 => (0.25, 0.07),
            2 => (0.08, 0.015 + 0.02 * self.rng.random::<f32>()),
            _ => (0.3, 0.09),
        };
        let end = (s0 + (len * RATE) as usize).min(self.out.len());
        if s0 >= end {
            return;
        }
        let (mut phase, mut hp_prev, mut hp) = (0.0f32, 0.0f32, 0.0f32);
        for (i, o) in self.out[s0..end].iter_mut().enumerate() {
            let t = i as f32 / RATE;
            let env = (-t / decay).exp();
            let noise = self.rng.random::<f32>() * 2.0 - 1.0;
            let v = match kind {
                0 => {
                    phase += tone * (1.0 + 3.0 * (-t / 0.03).exp()) / RATE;
                    (phase * std::f32::consts::TAU).sin()
                }
                1 => {
                    phase += tone / RATE;
                    0.4 * (phase * std::f32::consts::TAU).sin() + 0.8 * noise
                }
                2 => {
                    hp = 0.95 * (hp + noise - hp_prev);
                    hp_prev = noise;
                    hp
                }
                _ => {
                    phase += tone * (1.0 + 0.3 * (-t / 0.02).exp()) / RATE;
                    (phase * std::f32::consts::TAU).sin()
                }
            };
            *o += level * env * v;
        }
    }
}

/// Which drums play on each of a bar's 16 steps: (kick, snare, conga).
fn drum_steps(pattern: Drums, step: usize, bar: usize) -> (bool, bool, bool) {
    match pattern {
        Drums::None => (false, false, false),
        Drums::FourFloor => (step.is_multiple_of(4), step == 4 || step == 12, false),
        Drums::Backbeat => (step == 0 || step == 10 || (bar % 2 == 1 && step == 7), step == 4 || step == 12, false),
        Drums::Breakbeat => (step == 0 || step == 10, step == 4 || step == 12 || step == 15, false),
        Drums::OneDrop => (step == 8, step == 8, false),
        Drums::Blast => (step.is_multiple_of(2), step % 4 == 2, false),
        Drums::Swing => (step == 0 && bar.is_multiple_of(2), false, false),
        Drums::Clave => (false, false, [0, 3, 6, 10, 12].contains(&step)),
    }
}

/// Renders an arrangement to samples in [-gain, gain].
pub fn render<R: Rng>(a: &Arrangement, rng: &mut R) -> Vec<f32> {
    let beat = 60.0 / a.bpm;
    let (step, bar) = (beat / 4.0, beat * 4.0);
    let bars = (a.seconds / bar).ceil() as usize + 1;
    // A four-chord progression on scale degrees, one chord a bar.
    let progression: Vec<i32> = (0..4).map(|i| if i == 0 { 0 } else { rng.random_range(1..6) }).collect();
    let mut s = Synth::new(a.seconds, rng);
    for b in 0..bars {
        let t0 = b as f32 * bar;
        let degree = progression[b % 4];
        if let Some(d) = &a.drums {
            for k in 0..16 {
                let at = t0 + k as f32 * step + if d.pattern == Drums::Swing && k % 4 == 2 { step * 0.33 } else { 0.0 };
                let (kick, snare, conga) = drum_steps(d.pattern, k, b);
                if kick {
                    s.hit(at, 0, d.level, d.kick_hz);
                }
                if snare {
                    s.hit(at, 1, 0.7 * d.level, d.snare_tone);
                }
                if conga {
                    let tone = if k % 3 == 0 { 220.0 } else { 330.0 };
                    s.hit(at, 3, 0.6 * d.level, tone);
                }
                if d.hats > 0 && k % (16 / d.hats as usize) == 0 {
                    s.hit(at, 2, 0.25 * d.level, 0.0);
                }
            }
        }
        if let Some(bp) = &a.bass {
            let root = scale_note(a.tonic - 12, a.scale, degree) as f32;
            let notes: Vec<(f32, f32, f32)> = match bp.kind {
                BassLine::None => vec![],
                BassLine::Root => vec![(0.0, 2.0 * beat, root), (2.0 * beat, 2.0 * beat, root)],
                BassLine::Octave => (0..8)
                    .map(|i| (i as f32 * beat / 2.0, beat / 2.0, root + if i % 2 == 1 { 12.0 } else { 0.0 }))
                    .collect(),
                BassLine::Walking => (0..4)
                    .map(|i| (i as f32 * beat, beat, scale_note(a.tonic - 12, a.scale, degree + i) as f32))
                    .collect(),
                BassLine::Offbeat => (0..4).map(|i| (i as f32 * beat + beat / 2.0, beat / 2.0, root)).collect(),
                BassLine::Sub => vec![(0.0, 3.5 * beat, root - 12.0)],
            };
            for (at, dur, note) in notes {
                s.note(t0 + at, dur * 0.9, note, bp.timbre, bp.level);
            }
        }
        if let Some(cp) = &a.chords {
            let triad = [degree, degree + 2, degree + 4].map(|d| scale_note(a.tonic, a.scale, d) as f32);
            let hits: Vec<(f32, f32)> = if cp.kind == 0 {
                vec![(0.0, bar)]
            } else {
                let every = bar / cp.kind as f32;
                (0..cp.kind)
                    .map(|i| (i as f32 * every + if cp.kind == 4 { every / 2.0 } else { 0.0 }, every * 0.6))
                    .collect()
            };
            for (at, dur) in hits {
                for n in triad {
                    s.note(t0 + at, dur, n, cp.timbre, cp.level / 3.0);
                }
            }
        }
        if let Some(lp) = &a.lead {
            let count = ((lp.kind + normal(s.rng) * lp.kind.sqrt() * 0.5).round().max(0.0)) as usize;
            let mut deg = degree + 7;
            for i in 0..count {
                deg += s.rng.random_range(-2..=2);
                let at = t0 + bar * i as f32 / count as f32;
                let note = scale_note(a.tonic, a.scale, deg.clamp(4, 16)) as f32;
                s.note(at, bar / count as f32 * 0.85, note, lp.timbre, lp.level);
            }
        }
    }
    let mut out = std::mem::take(&mut s.out);
    mix(&mut out, a, rng);
    out
}

/// Section dynamics, low-pass, reverb, soft clipping, noise floor, peak normalisation.
fn mix<R: Rng>(out: &mut [f32], a: &Arrangement, rng: &mut R) {
    let section = (8.0 * RATE) as usize;
    let gains: Vec<f32> =
        (0..out.len() / section + 2).map(|_| 10f32.powf((rng.random::<f32>() - 0.5) * a.dynamics_db / 20.0)).collect();
    let alpha = 1.0 - (-std::f32::consts::TAU * a.brightness / RATE).exp();
    let mut lp = 0.0f32;
    for (i, v) in out.iter_mut().enumerate() {
        let (k, frac) = (i / section, (i % section) as f32 / section as f32);
        let g = gains[k] * (1.0 - frac) + gains[k + 1] * frac;
        lp += alpha * (*v * g - lp);
        *v = lp;
    }
    for (delay_s, fb) in [(0.0297f32, 0.7f32), (0.0371, 0.65)] {
        let d = (delay_s * RATE) as usize;
        let mut wet = vec![0.0f32; out.len()];
        for i in d..out.len() {
            wet[i] = out[i - d] + fb * wet[i - d];
        }
        for (o, w) in out.iter_mut().zip(&wet) {
            *o += a.reverb * 0.25 * w;
        }
    }
    let peak = out.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    let mut pink = 0.0f32;
    for v in out.iter_mut() {
        let x = *v / peak;
        let x = if a.distortion > 0.0 { (x * (1.0 + 3.0 * a.distortion)).tanh() } else { x };
        pink = 0.98 * pink + 0.02 * (rng.random::<f32>() * 2.0 - 1.0);
        *v = x + a.noise * 4.0 * pink;
    }
    let peak = out.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    out.iter_mut().for_each(|v| *v *= a.gain / peak);
}

/// 16-bit PCM mono WAV bytes.
pub fn wav(samples: &[f32]) -> Vec<u8> {
    let data: Vec<u8> =
        samples.iter().flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes()).collect();
    let rate = RATE as u32;
    let mut out = Vec::with_capacity(44 + data.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    out
}
