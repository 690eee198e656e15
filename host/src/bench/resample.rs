//! `debut bench resample`: the resamplers on the same noise, one thread. The halfband FIR
//! that takes 44.1 kHz to 22 050 Hz against rubato's FFT resampler on that ratio (which it
//! replaced), and rubato on the ratios decoding still leaves to it (48 kHz sources other
//! than the analysis decoders', the 24 kHz of Opus and of the 48 kHz analysis decoders).

use crate::audio::{ANALYSIS_RATE, decimate_by_2, resample_rubato};

use super::median_ms;

#[derive(Debug, Clone, serde::Serialize)]
pub struct ResampleRow {
    pub resampler: &'static str,
    pub from_hz: u32,
    pub ms: f64,
}

/// `seconds` of white noise at each source rate through each resampler, medians of `repeat`.
pub fn resample(seconds: f64, repeat: usize) -> anyhow::Result<Vec<ResampleRow>> {
    let noise = |rate: u32| {
        let mut state = 0x2545_f491_u32;
        (0..(seconds * f64::from(rate)) as usize)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as f32 / u32::MAX as f32 - 0.5
            })
            .collect::<Vec<f32>>()
    };
    let mut rows = Vec::new();
    let x = noise(44_100);
    resample_rubato(x.clone(), 44_100, ANALYSIS_RATE)?; // plans its FFTs once, as the service does
    let (ms, _) = median_ms(repeat, || decimate_by_2(std::hint::black_box(x.clone())));
    rows.push(ResampleRow { resampler: "halfband FIR", from_hz: 44_100, ms });
    for from in [44_100, 48_000, 24_000] {
        let x = noise(from);
        resample_rubato(x.clone(), from, ANALYSIS_RATE)?;
        let (ms, out) = median_ms(repeat, || resample_rubato(std::hint::black_box(x.clone()), from, ANALYSIS_RATE));
        out?;
        rows.push(ResampleRow { resampler: "rubato FFT", from_hz: from, ms });
    }
    Ok(rows)
}

pub fn print_resample(rows: &[ResampleRow], seconds: f64) {
    println!("{seconds} s of noise to {ANALYSIS_RATE} Hz, one thread, medians");
    let halfband = rows.iter().find(|r| r.resampler.starts_with("halfband")).map(|r| r.ms);
    for r in rows {
        let vs = match halfband {
            Some(h) if r.from_hz == 44_100 && !r.resampler.starts_with("halfband") => {
                format!("{:.1}x the halfband", r.ms / h)
            }
            _ => String::new(),
        };
        println!("{:14} from {:>6} Hz {:>8.3} ms  {vs}", r.resampler, r.from_hz, r.ms);
    }
}
