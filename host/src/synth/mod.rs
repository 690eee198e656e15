//! `debut synth`: a deterministic synthetic catalog whose hidden structure is the ground
//! truth the trainer must recover.
//!
//! Latent genres (`genres`) shape everything: each artist is a mixture over them and comes
//! from a scene; each track draws its drums, bass, chords, lead and mix from genres of its
//! artist's mixture (so tracks of one artist differ, and no single element gives the genre
//! away), with the artist's own key, tempo and brightness offsets. Bios are written from the
//! artist's mixture and scene. Users like some genres and some scenes; plays follow taste x
//! scene x popularity. Audio carries what each track is; bios carry the scene and the
//! artist's overall mixture: each modality knows something the other does not.
//!
//! Output: the catalog format of [`crate::catalog`] (WAV audio, 22 050 Hz mono) plus
//! `truth.json` (the hidden structure, for analysis; the trainer never reads it).

mod audio;
mod bios;
mod genres;
mod random;

pub use genres::{GENRES, SCENES};

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use audio::{Arrangement, DrumPart, Part};
use genres::{BassLine, Drums, Style};
use random::{categorical, dirichlet, normal, poisson};

/// The sizes and seed of a synthetic catalog.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SynthConfig {
    pub seed: u64,
    pub artists: usize,
    pub tracks: usize,
    pub users: usize,
    /// Length of each track.
    pub seconds: f32,
    /// Mean distinct tracks a user plays.
    pub plays_per_user: f32,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self { seed: 1, artists: 300, tracks: 3000, users: 2000, seconds: 30.0, plays_per_user: 40.0 }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub artists: usize,
    pub tracks: usize,
    pub users: usize,
    pub plays: usize,
    pub audio_seconds: f64,
}

/// The hidden structure (`truth.json`).
#[derive(Debug, Serialize)]
struct Truth {
    config: SynthConfig,
    genres: Vec<&'static str>,
    scenes: Vec<&'static str>,
    artists: Vec<ArtistTruth>,
    /// Each track's genre profile (share of its parts drawn from each genre).
    tracks: Vec<Vec<f32>>,
    users: Vec<UserTruth>,
}

#[derive(Debug, Serialize)]
struct ArtistTruth {
    mixture: Vec<f32>,
    scene: usize,
    popularity: f32,
}

#[derive(Debug, Serialize)]
struct UserTruth {
    taste: Vec<f32>,
    scenes: Vec<f32>,
}

/// The scene each genre's artists most often come from.
const HOME_SCENE: [usize; 12] = [2, 0, 2, 2, 0, 3, 2, 1, 1, 3, 0, 1];

struct ArtistPlan {
    name: String,
    mixture: Vec<f32>,
    scene: usize,
    label: String,
    popularity: f32,
    tonic: i32,
    tempo: f32,
    brightness: f32,
}

struct TrackPlan {
    artist: usize,
    arrangement: Arrangement,
    profile: Vec<f32>,
    tags: Vec<String>,
    popularity: f32,
}

fn artist_plan(rng: &mut ChaCha8Rng) -> ArtistPlan {
    let g = GENRES.len();
    let primary = rng.random_range(0..g);
    let spread = dirichlet(rng, &vec![0.3; g]);
    let mixture: Vec<f32> = (0..g).map(|i| 0.6 * f32::from(u8::from(i == primary)) + 0.4 * spread[i]).collect();
    let scene_w: Vec<f32> =
        (0..SCENES.len()).map(|s| 1.0 + 3.0 * f32::from(u8::from(HOME_SCENE[primary] == s))).collect();
    let scene = categorical(rng, &scene_w);
    let labels: Vec<&str> = SCENES[scene].labels.iter().chain(GENRES[primary].labels).copied().collect();
    ArtistPlan {
        name: bios::name(rng),
        label: labels[rng.random_range(0..labels.len())].to_string(),
        mixture,
        scene,
        popularity: (0.8 * normal(rng)).exp(),
        tonic: rng.random_range(-5..7),
        tempo: 1.0 + 0.04 * normal(rng),
        brightness: (0.25 * normal(rng)).exp(),
    }
}

/// A track: each part's style from a genre of the artist's mixture (half the time the track's
/// own main genre), jittered, with the artist's offsets.
fn track_plan(rng: &mut ChaCha8Rng, artist: usize, a: &ArtistPlan, seconds: f32) -> TrackPlan {
    let main = categorical(rng, &a.mixture);
    let source = |rng: &mut ChaCha8Rng| if rng.random::<f32>() < 0.5 { main } else { categorical(rng, &a.mixture) };
    let parts = [main, source(rng), source(rng), source(rng), source(rng)]; // mix+tempo, drums, bass, chords, lead
    let st = |i: usize| -> &Style { &GENRES[parts[i]].style };
    let jit = |rng: &mut ChaCha8Rng, sd: f32| (sd * normal(rng)).exp();
    let (bpm, sd) = st(0).bpm;
    let drums = (st(1).drums != Drums::None).then(|| DrumPart {
        pattern: st(1).drums,
        level: st(1).drum_level * jit(rng, 0.2),
        hats: st(1).hats,
        kick_hz: 55.0 * jit(rng, 0.15),
        snare_tone: 190.0 * jit(rng, 0.2),
    });
    let bass = (st(2).bass != BassLine::None).then(|| Part {
        kind: st(2).bass,
        timbre: st(2).bass_timbre,
        level: 0.6 * jit(rng, 0.2),
    });
    let chords = Some(Part { kind: st(3).chord_hits, timbre: st(3).chords, level: 0.5 * jit(rng, 0.25) });
    let lead = (rng.random::<f32>() < 0.85).then(|| Part {
        kind: st(4).lead_density * jit(rng, 0.3),
        timbre: st(4).lead,
        level: 0.35 * jit(rng, 0.25),
    });
    let arrangement = Arrangement {
        seconds,
        bpm: ((bpm + sd * normal(rng)) * a.tempo).clamp(50.0, 200.0),
        tonic: st(0).register + a.tonic + rng.random_range(-2..3),
        scale: st(0).scale,
        drums,
        bass,
        chords,
        lead,
        noise: st(0).noise * jit(rng, 0.4),
        dynamics_db: st(0).dynamics,
        distortion: st(0).distortion,
        reverb: st(0).reverb * jit(rng, 0.2),
        brightness: (st(0).brightness * a.brightness).clamp(1500.0, 10_000.0),
        gain: 10f32.powf(-(rng.random::<f32>() * 9.0 + 1.0) / 20.0),
    };
    let mut profile = vec![0.0; GENRES.len()];
    for (i, &g) in parts.iter().enumerate() {
        profile[g] += if i == 0 { 0.4 } else { 0.15 };
    }
    let mut tags = vec![GENRES[main].name.to_string()];
    for (g, &p) in profile.iter().enumerate() {
        if g != main && p >= 0.3 {
            tags.push(GENRES[g].name.to_string());
        }
    }
    if rng.random::<f32>() < 0.1 {
        tags.push(GENRES[rng.random_range(0..GENRES.len())].name.to_string());
    }
    tags.sort();
    tags.dedup();
    TrackPlan { artist, arrangement, profile, tags, popularity: a.popularity * jit(rng, 0.5) }
}

/// Writes a catalog to `out` (created; existing catalog files are replaced).
pub fn generate(out: &Path, cfg: &SynthConfig, quiet: bool) -> anyhow::Result<Summary> {
    anyhow::ensure!(
        cfg.artists > 0 && cfg.tracks >= cfg.artists && cfg.users > 0,
        "need tracks >= artists > 0 and users > 0"
    );
    anyhow::ensure!(cfg.seconds >= 1.0, "tracks must last at least a second");
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let artists: Vec<ArtistPlan> = (0..cfg.artists).map(|_| artist_plan(&mut rng)).collect();
    // Every artist gets one track, the rest go to artists at random.
    let mut owner: Vec<usize> = (0..cfg.artists).collect();
    owner.extend((cfg.artists..cfg.tracks).map(|_| rng.random_range(0..cfg.artists)));
    owner.sort();
    let tracks: Vec<TrackPlan> = owner.iter().map(|&a| track_plan(&mut rng, a, &artists[a], cfg.seconds)).collect();

    std::fs::create_dir_all(out.join("audio")).with_context(|| format!("creating {}", out.display()))?;
    let bar = crate::progress::bar(tracks.len() as u64, "synthesising audio", quiet);
    tracks.par_iter().enumerate().try_for_each(|(i, t)| -> anyhow::Result<()> {
        let mut trng = ChaCha8Rng::seed_from_u64(cfg.seed ^ (0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i as u64 + 1)));
        let samples = audio::render(&t.arrangement, &mut trng);
        let path = out.join(format!("audio/tr-{:05}.wav", i + 1));
        std::fs::write(&path, audio::wav(&samples)).with_context(|| format!("writing {}", path.display()))?;
        bar.inc(1);
        Ok(())
    })?;
    bar.finish_and_clear();

    let mut f = std::io::BufWriter::new(std::fs::File::create(out.join("artists.jsonl"))?);
    for (i, a) in artists.iter().enumerate() {
        let bio = bios::bio(&mut rng, &a.name, &a.mixture, a.scene, &a.label);
        let rec =
            serde_json::json!({"artist_id": format!("ar-{:04}", i + 1), "name": a.name, "bio": bio, "label": a.label});
        writeln!(f, "{rec}")?;
    }
    f.flush()?;
    let mut f = std::io::BufWriter::new(std::fs::File::create(out.join("tracks.jsonl"))?);
    for (i, t) in tracks.iter().enumerate() {
        let rec = serde_json::json!({
            "song_id": format!("tr-{:05}", i + 1),
            "artist_id": format!("ar-{:04}", t.artist + 1),
            "audio": format!("audio/tr-{:05}.wav", i + 1),
            "tags": t.tags,
        });
        writeln!(f, "{rec}")?;
    }
    f.flush()?;

    // Users and their plays: taste x scene x popularity, distinct tracks by Gumbel top-k. Each
    // user draws from a generator of its own, so users are made in parallel, deterministically.
    let (g, s) = (GENRES.len(), SCENES.len());
    let track_scene: Vec<usize> = tracks.iter().map(|t| artists[t.artist].scene).collect();
    let sqrt_pop: Vec<f32> = tracks.iter().map(|t| t.popularity.sqrt()).collect();
    let bar = crate::progress::bar(cfg.users as u64, "sampling plays", quiet);
    let per_user: Vec<(UserTruth, Vec<(usize, u32)>)> = (0..cfg.users)
        .into_par_iter()
        .map(|u| {
            let mut rng =
                ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed_0000_0000 ^ (u as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
            let taste = dirichlet(&mut rng, &vec![0.25; g]);
            let scenes = dirichlet(&mut rng, &vec![0.7; s]);
            let n = ((cfg.plays_per_user.ln() + 0.6 * normal(&mut rng)).exp().round() as usize).clamp(3, tracks.len());
            let affinity = |i: usize| -> f32 { taste.iter().zip(&tracks[i].profile).map(|(a, b)| a * b).sum() };
            let mut keyed: Vec<(f32, usize)> = (0..tracks.len())
                .map(|i| {
                    let score = (affinity(i) + 0.02).powi(2) * (scenes[track_scene[i]] + 0.05) * sqrt_pop[i];
                    let gumbel = -(-(rng.random::<f32>().max(1e-12)).ln()).ln();
                    (score.ln() + gumbel, i)
                })
                .collect();
            keyed.select_nth_unstable_by(n - 1, |a, b| b.0.total_cmp(&a.0));
            let mut chosen: Vec<usize> = keyed[..n].iter().map(|k| k.1).collect();
            chosen.sort_unstable();
            let rows = chosen.into_iter().map(|i| (i, 1 + poisson(&mut rng, 4.0 * affinity(i)))).collect();
            bar.inc(1);
            (UserTruth { taste, scenes }, rows)
        })
        .collect();
    bar.finish_and_clear();
    let mut f = std::io::BufWriter::new(std::fs::File::create(out.join("plays.tsv"))?);
    let mut plays = 0;
    let mut users = Vec::with_capacity(cfg.users);
    for (u, (truth, rows)) in per_user.into_iter().enumerate() {
        for (i, count) in rows {
            writeln!(f, "u-{:05}\ttr-{:05}\t{count}", u + 1, i + 1)?;
            plays += 1;
        }
        users.push(truth);
    }
    f.flush()?;

    let truth = Truth {
        config: cfg.clone(),
        genres: GENRES.iter().map(|g| g.name).collect(),
        scenes: SCENES.iter().map(|s| s.name).collect(),
        artists: artists
            .iter()
            .map(|a| ArtistTruth { mixture: a.mixture.clone(), scene: a.scene, popularity: a.popularity })
            .collect(),
        tracks: tracks.iter().map(|t| t.profile.clone()).collect(),
        users,
    };
    std::fs::write(out.join("truth.json"), serde_json::to_string(&truth)?)?;
    Ok(Summary {
        artists: cfg.artists,
        tracks: cfg.tracks,
        users: cfg.users,
        plays,
        audio_seconds: f64::from(cfg.seconds) * cfg.tracks as f64,
    })
}
