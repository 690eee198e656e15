//! Any bytes through decode -> downmix -> resample -> log-mel on the CPU backend: must return
//! a clip or a typed error, never panic, hang or allocate without bound.
#![no_main]

use std::sync::OnceLock;

use debut::audio::{AudioConfig, DecodeBudget, SourceHint};
use debut::backend::{Backend, CpuBackend};
use debut::spectral::{MelParams, MelPlan};
use libfuzzer_sys::fuzz_target;

fn setup() -> &'static (Backend, MelPlan, AudioConfig) {
    static S: OnceLock<(Backend, MelPlan, AudioConfig)> = OnceLock::new();
    S.get_or_init(|| {
        // Short spans and budgets keep each run fast; the limits are what is under test.
        let config = AudioConfig {
            max_seconds: 5.0,
            budget: DecodeBudget { max_decode_ms: 2_000, max_duration_s: 600.0, ..Default::default() },
            ..Default::default()
        };
        (Backend::new(CpuBackend::new()), MelPlan::new(MelParams::default()), config)
    })
}

fuzz_target!(|data: &[u8]| {
    let (backend, plan, config) = setup();
    if let Ok(clip) = debut::audio::load(data.to_vec(), &SourceHint::default(), config) {
        let mel = backend.log_mel(plan, &clip.samples).expect("CPU log-mel cannot fail on a clip");
        assert!(mel.data.iter().all(|v| v.is_finite()));
    }
});
