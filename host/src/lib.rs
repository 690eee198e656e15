//! debut: cold-start track embeddings from new-release audio and artist biographies.
//!
//! The stages are plain functions over owned data (see ARCHITECTURE.md at the repository
//! root): [`audio`] turns bytes into a mono clip, [`spectral`] defines the log-mel
//! spectrogram, [`backend`] runs the numeric ops on the CPU or (through [`gpu`], the only
//! module that knows wgpu) on a GPU.

pub mod audio;
pub mod backend;
pub mod bench;
pub mod bundled;
pub mod catalog;
pub mod config;
pub mod embedding;
pub mod eval;
pub mod frontend;
pub mod gpu;
pub mod model;
pub mod nn;
pub mod output;
pub mod plugin;
pub mod progress;
pub mod release;
pub mod service;
pub mod spectral;
pub mod synth;
pub mod train;
