//! The half-rate synthesis against minimp3's full-rate one.

use super::super::{mp3d_synth_granule, SYN_ROWS};
use super::synth::HalfSynth;

/// Deterministic pseudo-random subband samples in [-1000, 1000).
fn noise(seed: &mut u64) -> f32 {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    ((*seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2000.0
}

#[test]
fn half_rate_synthesis_is_every_second_sample_of_the_full_one() {
    for phase in 0..2 {
        let mut seed = 7 + phase as u64;
        let mut qmf_state = [0f32; 960];
        let mut lins = [[0f32; 4]; SYN_ROWS];
        let mut half = HalfSynth::new(phase);
        for granule in 0..6 {
            // Subband-major: x[18 * band + slot]; subbands 16-31 are zero.
            let mut full_in = [[0f32; 576]; 2];
            for v in &mut full_in[0][..16 * 18] {
                *v = noise(&mut seed);
            }
            let mut half_in = [0f32; 16 * 18];
            half_in.copy_from_slice(&full_in[0][..16 * 18]);
            let mut pcm = [0f32; 576];
            mp3d_synth_granule::<f32>(&mut qmf_state, &mut full_in, 18, 1, &mut pcm, &mut lins, false);
            let mut out = [0f32; 288];
            half.granule(&mut half_in, &mut out);
            for (n, &h) in out.iter().enumerate() {
                let f = pcm[2 * n + phase];
                assert!(h == f, "phase {phase}, granule {granule}, sample {n}: {h} != {f}");
            }
        }
    }
}
