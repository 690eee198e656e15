//! What each stage leaves in the model directory for the next stage, for `--stage`, and for
//! `debut eval`: `training/` holds the run's configuration, the WMF factors, both audio
//! models, the text tower, the text-only baseline and the DCUE user tower.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::params::HostTensor;
use super::report::Report;
use super::{AudioModel, FactorSet, TrainConfig};
use crate::model::weights;
use crate::nn::{AudioTower, AudioTowerSpec, Conv1d, Dense, TextTower, TextTowerSpec};

pub struct Artifacts {
    pub out: PathBuf,
    pub dir: PathBuf,
}

type Tensors = HashMap<String, (Vec<usize>, Vec<f32>)>;

fn take(t: &mut Tensors, name: &str) -> anyhow::Result<(Vec<usize>, Vec<f32>)> {
    t.remove(name).with_context(|| format!("tensor {name:?} is missing"))
}

fn dense_tensors(name: &str, d: &Dense) -> [HostTensor; 2] {
    [
        (format!("{name}.weight"), vec![d.d_out, d.d_in], d.weight.clone()),
        (format!("{name}.bias"), vec![d.d_out], d.bias.clone()),
    ]
}

fn take_dense(t: &mut Tensors, name: &str) -> anyhow::Result<Dense> {
    let (shape, weight) = take(t, &format!("{name}.weight"))?;
    let (_, bias) = take(t, &format!("{name}.bias"))?;
    Ok(Dense { d_out: shape[0], d_in: shape[1], weight, bias })
}

impl Artifacts {
    pub fn new(out: &Path) -> Self {
        Self { out: out.to_path_buf(), dir: out.join("training") }
    }

    fn write(&self, file: &str, tensors: &[HostTensor], meta: HashMap<String, String>) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(file);
        std::fs::write(&path, weights::write(tensors, meta)?).with_context(|| format!("writing {}", path.display()))
    }

    fn read(&self, file: &str) -> anyhow::Result<(Tensors, HashMap<String, String>)> {
        let path = self.dir.join(file);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok(weights::read_all(&bytes)?)
    }

    /// The sha256 of some stage outputs and the configuration: what a later stage learns from.
    pub fn fingerprint(&self, files: &[&str], config: &str) -> anyhow::Result<String> {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for f in files {
            let path = self.dir.join(f);
            h.update(std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?);
        }
        h.update(config.as_bytes());
        Ok(hex::encode(h.finalize()))
    }

    pub fn save_config(&self, cfg: &TrainConfig) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        std::fs::write(self.dir.join("config.json"), serde_json::to_string_pretty(cfg)? + "\n")?;
        Ok(())
    }

    pub fn load_config(&self) -> anyhow::Result<TrainConfig> {
        let path = self.dir.join("config.json");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok(serde_json::from_str(&text)?)
    }

    pub fn save_report(&self, r: &Report) -> anyhow::Result<()> {
        std::fs::write(self.out.join("report.json"), serde_json::to_string_pretty(r)? + "\n")?;
        Ok(())
    }

    pub fn load_report(&self) -> Option<Report> {
        serde_json::from_str(&std::fs::read_to_string(self.out.join("report.json")).ok()?).ok()
    }

    /// Factors as `[items, k]` with a `known` mask (absent items are zero rows).
    pub fn save_wmf(&self, f: &FactorSet) -> anyhow::Result<()> {
        let table = |rows: &[Option<Vec<f32>>]| -> (Vec<f32>, Vec<f32>) {
            let mut data = vec![0.0; rows.len() * f.k];
            let mut known = vec![0.0; rows.len()];
            for (i, r) in rows.iter().enumerate() {
                if let Some(r) = r {
                    data[i * f.k..(i + 1) * f.k].copy_from_slice(r);
                    known[i] = 1.0;
                }
            }
            (data, known)
        };
        let (songs, song_known) = table(&f.songs);
        let (artists, artist_known) = table(&f.artists);
        let n_users = f.song_users.len() / f.k;
        let tensors = vec![
            ("song.users".to_string(), vec![n_users, f.k], f.song_users.clone()),
            ("song.items".to_string(), vec![f.songs.len(), f.k], songs),
            ("song.known".to_string(), vec![f.songs.len()], song_known),
            ("artist.items".to_string(), vec![f.artists.len(), f.k], artists),
            ("artist.known".to_string(), vec![f.artists.len()], artist_known),
        ];
        self.write("wmf.safetensors", &tensors, HashMap::new())
    }

    pub fn load_wmf(&self) -> anyhow::Result<FactorSet> {
        let (mut t, _) = self.read("wmf.safetensors")?;
        let (shape, song_users) = take(&mut t, "song.users")?;
        let k = shape[1];
        let rows = |t: &mut Tensors, name: &str| -> anyhow::Result<Vec<Option<Vec<f32>>>> {
            let (_, data) = take(t, &format!("{name}.items"))?;
            let (_, known) = take(t, &format!("{name}.known"))?;
            Ok(known.iter().enumerate().map(|(i, &m)| (m > 0.0).then(|| data[i * k..(i + 1) * k].to_vec())).collect())
        };
        Ok(FactorSet { k, song_users, songs: rows(&mut t, "song")?, artists: rows(&mut t, "artist")? })
    }

    pub fn save_params(&self, name: &str, tensors: &[HostTensor]) -> anyhow::Result<()> {
        self.write(&format!("{name}.params.safetensors"), tensors, HashMap::new())
    }

    pub fn load_params(&self, name: &str) -> anyhow::Result<Tensors> {
        Ok(self.read(&format!("{name}.params.safetensors"))?.0)
    }

    pub fn save_tower(&self, name: &str, tower: &AudioTower) -> anyhow::Result<()> {
        let mut tensors = vec![
            ("input_mean".to_string(), vec![tower.input_mean.len()], tower.input_mean.clone()),
            ("input_std".to_string(), vec![tower.input_std.len()], tower.input_std.clone()),
        ];
        for (i, c) in tower.convs.iter().enumerate() {
            tensors.push((format!("conv{i}.weight"), vec![c.c_out, c.c_in, c.k], c.pytorch_weight()));
            tensors.push((format!("conv{i}.bias"), vec![c.c_out], c.bias.clone()));
        }
        tensors.extend(dense_tensors("fc", &tower.fc));
        let meta = HashMap::from([("spec".to_string(), serde_json::to_string(&tower.spec)?)]);
        self.write(&format!("{name}.tower.safetensors"), &tensors, meta)
    }

    pub fn load_tower(&self, which: AudioModel) -> anyhow::Result<AudioTower> {
        let name = which.file_stem();
        let (mut t, meta) = self.read(&format!("{name}.tower.safetensors"))?;
        let spec: AudioTowerSpec = serde_json::from_str(meta.get("spec").context("tower without a spec")?)?;
        let convs = (0..spec.channels.len())
            .map(|i| {
                let (shape, w) = take(&mut t, &format!("conv{i}.weight"))?;
                let (_, bias) = take(&mut t, &format!("conv{i}.bias"))?;
                Ok(Conv1d::from_pytorch(shape[0], shape[1], shape[2], &w, bias))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(AudioTower {
            input_mean: take(&mut t, "input_mean")?.1,
            input_std: take(&mut t, "input_std")?.1,
            fc: take_dense(&mut t, "fc")?,
            convs,
            spec,
        })
    }

    pub fn save_text(&self, text: &TextTower) -> anyhow::Result<()> {
        let mut tensors = vec![("idf".to_string(), vec![text.idf.len()], text.idf.clone())];
        for (i, l) in text.layers.iter().enumerate() {
            tensors.extend(dense_tensors(&format!("fc{i}"), l));
        }
        let meta = HashMap::from([("spec".to_string(), serde_json::to_string(&text.spec)?)]);
        self.write("text.safetensors", &tensors, meta)
    }

    pub fn load_text(&self) -> anyhow::Result<TextTower> {
        let (mut t, meta) = self.read("text.safetensors")?;
        let spec: TextTowerSpec = serde_json::from_str(meta.get("spec").context("text tower without a spec")?)?;
        let layers =
            (0..spec.hidden.len() + 1).map(|i| take_dense(&mut t, &format!("fc{i}"))).collect::<anyhow::Result<_>>()?;
        Ok(TextTower { idf: take(&mut t, "idf")?.1, layers, spec })
    }

    pub fn save_dense(&self, name: &str, d: &Dense) -> anyhow::Result<()> {
        self.write(&format!("{name}.safetensors"), &dense_tensors("layer", d), HashMap::new())
    }

    pub fn load_dense(&self, name: &str) -> anyhow::Result<Dense> {
        take_dense(&mut self.read(&format!("{name}.safetensors"))?.0, "layer")
    }
}
