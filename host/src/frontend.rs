//! The audio front end as one stage: payload bytes -> [`Clip`] -> [`MelSpectrogram`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::audio::{self, AudioConfig, Clip, DecodeError, SourceHint};
use crate::backend::{Backend, ComputeError};
use crate::spectral::{MelParams, MelPlan, MelSpectrogram};

/// Why a payload produced no spectrogram.
#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Compute(#[from] ComputeError),
}

/// A clip and its spectrogram, with where the time went.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub clip: Clip,
    pub mel: MelSpectrogram,
    pub decode_time: Duration,
    pub mel_time: Duration,
}

/// Decode settings, the mel plan and a backend, built once and shared across payloads.
#[derive(Clone)]
pub struct Frontend {
    pub audio: AudioConfig,
    pub plan: Arc<MelPlan>,
    pub backend: Backend,
}

impl Frontend {
    pub fn new(audio: AudioConfig, params: MelParams, backend: Backend) -> Self {
        Self { audio, plan: Arc::new(MelPlan::new(params)), backend }
    }

    pub fn analyse(&self, bytes: Vec<u8>, hint: &SourceHint) -> Result<Analysis, FrontendError> {
        let t0 = Instant::now();
        let clip = audio::load(bytes, hint, &self.audio)?;
        let t1 = Instant::now();
        let mel = self.backend.log_mel(&self.plan, &clip.samples)?;
        Ok(Analysis { clip, mel, decode_time: t1 - t0, mel_time: t1.elapsed() })
    }
}
