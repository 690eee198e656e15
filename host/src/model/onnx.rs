//! ONNX export (`debut model export --onnx`): the audio tower, text tower and fusion as three
//! ONNX models (opset 17, IR 8) computing exactly what debut computes, so other tools can run
//! or inspect a debut model. Weights keep their PyTorch layouts, which are ONNX's (`Conv` W is
//! `[M, C, kW]`, `Gemm` with `transB=1` reads `[out, in]`). Inputs and outputs are batch-first
//! (debut's own activations are `[channels, batch, time]` and `[dim, batch]`), `N` dynamic:
//!
//! - `audio_tower.onnx`: `windows [N, n_mels, window_frames]` (log-mel dB) ->
//!   `window_embeddings [N, audio_dim]`, `audio_embedding [1, audio_dim]`. The latter is the
//!   track's: the L2-normalised mean over all N windows, so a batch holds one track's windows.
//! - `text_tower.onnx`: `features [N, feature_dim]` (the plugin's values, dense) ->
//!   `artist_embedding [N, text_dim]`.
//! - `fusion.onnx`: `audio_embedding [N, audio_dim]`, `artist_embedding [N, text_dim]` (zeros
//!   without a bio) -> `embedding [N, fusion_dim]`.
//!
//! The protobuf is written with prost from the subset of onnx.proto declared in [`proto`]: no
//! protoc, no build script.

use std::path::{Path, PathBuf};

use prost::Message;

use super::{Model, ModelError};
use crate::nn::Dense;

pub const OPSET: i64 = 17;
pub const IR_VERSION: i64 = 8;
/// The files [`export`] writes.
pub const FILES: [&str; 3] = ["audio_tower.onnx", "text_tower.onnx", "fusion.onnx"];
/// debut's floor on an L2 norm (`nn::cpu::norm`): a zero row stays zero.
const MIN_NORM: f32 = 1e-12;

/// The onnx.proto messages this needs, with onnx.proto's field numbers. onnx.proto is proto2:
/// singular scalars are `optional` (written when set, even to zero) and repeated scalars are
/// unpacked unless it says `packed`.
pub mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ModelProto {
        #[prost(int64, optional, tag = "1")]
        pub ir_version: Option<i64>,
        #[prost(message, repeated, tag = "8")]
        pub opset_import: Vec<OperatorSetIdProto>,
        #[prost(string, optional, tag = "2")]
        pub producer_name: Option<String>,
        #[prost(string, optional, tag = "3")]
        pub producer_version: Option<String>,
        #[prost(string, optional, tag = "6")]
        pub doc_string: Option<String>,
        #[prost(message, optional, tag = "7")]
        pub graph: Option<GraphProto>,
        #[prost(message, repeated, tag = "14")]
        pub metadata_props: Vec<StringStringEntryProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OperatorSetIdProto {
        #[prost(string, optional, tag = "1")]
        pub domain: Option<String>,
        #[prost(int64, optional, tag = "2")]
        pub version: Option<i64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StringStringEntryProto {
        #[prost(string, optional, tag = "1")]
        pub key: Option<String>,
        #[prost(string, optional, tag = "2")]
        pub value: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GraphProto {
        #[prost(message, repeated, tag = "1")]
        pub node: Vec<NodeProto>,
        #[prost(string, optional, tag = "2")]
        pub name: Option<String>,
        #[prost(message, repeated, tag = "5")]
        pub initializer: Vec<TensorProto>,
        #[prost(string, optional, tag = "10")]
        pub doc_string: Option<String>,
        #[prost(message, repeated, tag = "11")]
        pub input: Vec<ValueInfoProto>,
        #[prost(message, repeated, tag = "12")]
        pub output: Vec<ValueInfoProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NodeProto {
        #[prost(string, repeated, tag = "1")]
        pub input: Vec<String>,
        #[prost(string, repeated, tag = "2")]
        pub output: Vec<String>,
        #[prost(string, optional, tag = "3")]
        pub name: Option<String>,
        #[prost(string, optional, tag = "4")]
        pub op_type: Option<String>,
        #[prost(message, repeated, tag = "5")]
        pub attribute: Vec<AttributeProto>,
    }

    /// `AttributeType`: INT = 2, INTS = 7.
    pub const ATTRIBUTE_INT: i32 = 2;
    pub const ATTRIBUTE_INTS: i32 = 7;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AttributeProto {
        #[prost(string, optional, tag = "1")]
        pub name: Option<String>,
        #[prost(int32, optional, tag = "20")]
        pub r#type: Option<i32>,
        #[prost(int64, optional, tag = "3")]
        pub i: Option<i64>,
        #[prost(int64, repeated, packed = "false", tag = "8")]
        pub ints: Vec<i64>,
    }

    /// `TensorProto.DataType.FLOAT`.
    pub const FLOAT: i32 = 1;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorProto {
        #[prost(int64, repeated, packed = "false", tag = "1")]
        pub dims: Vec<i64>,
        #[prost(int32, optional, tag = "2")]
        pub data_type: Option<i32>,
        #[prost(string, optional, tag = "8")]
        pub name: Option<String>,
        /// Little-endian values, row-major.
        #[prost(bytes = "vec", optional, tag = "9")]
        pub raw_data: Option<Vec<u8>>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueInfoProto {
        #[prost(string, optional, tag = "1")]
        pub name: Option<String>,
        #[prost(message, optional, tag = "2")]
        pub r#type: Option<TypeProto>,
        #[prost(string, optional, tag = "3")]
        pub doc_string: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TypeProto {
        /// The `value` oneof's `tensor_type` (field 1), the only member used here.
        #[prost(message, optional, tag = "1")]
        pub tensor_type: Option<TensorType>,
    }

    /// `TypeProto.Tensor`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorType {
        #[prost(int32, optional, tag = "1")]
        pub elem_type: Option<i32>,
        #[prost(message, optional, tag = "2")]
        pub shape: Option<TensorShapeProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorShapeProto {
        #[prost(message, repeated, tag = "1")]
        pub dim: Vec<Dimension>,
    }

    /// `TensorShapeProto.Dimension`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dimension {
        #[prost(oneof = "DimValue", tags = "1, 2")]
        pub value: Option<DimValue>,
    }

    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum DimValue {
        #[prost(int64, tag = "1")]
        DimValue(i64),
        #[prost(string, tag = "2")]
        DimParam(String),
    }
}

use proto::*;

/// A dimension of an input or output: fixed, or the dynamic batch.
#[derive(Clone, Copy)]
enum Dim {
    Batch,
    Fixed(usize),
}

/// Nodes and initializers of one graph, in order.
#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: Some(name.into()), r#type: Some(ATTRIBUTE_INT), i: Some(v), ..Default::default() }
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { name: Some(name.into()), r#type: Some(ATTRIBUTE_INTS), ints: v.to_vec(), ..Default::default() }
}

impl Graph {
    /// Adds a node whose single output is named `out`; returns `out`.
    fn op(&mut self, op: &str, inputs: &[&str], out: &str, attribute: Vec<AttributeProto>) -> String {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.into()],
            name: Some(out.into()),
            op_type: Some(op.into()),
            attribute,
        });
        out.into()
    }

    /// Adds an f32 constant; returns its name.
    fn constant(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), values.len());
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(FLOAT),
            name: Some(name.into()),
            raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        });
        name.into()
    }

    /// `x W^T + b` (PyTorch's `nn.Linear`), then ReLU if asked.
    fn dense(&mut self, x: &str, layer: &Dense, name: &str, relu: bool) -> String {
        let w = self.constant(&format!("{name}.weight"), &[layer.d_out, layer.d_in], &layer.weight);
        let b = self.constant(&format!("{name}.bias"), &[layer.d_out], &layer.bias);
        let y = self.op("Gemm", &[x, &w, &b], &format!("{name}.out"), vec![int("transB", 1)]);
        if relu { self.op("Relu", &[&y], &format!("{name}.relu"), vec![]) } else { y }
    }

    /// Each row of `x [N, D]` divided by `max(|row|, 1e-12)`, debut's L2 normalisation.
    fn l2_normalize(&mut self, x: &str, out: &str) -> String {
        let eps = self.constant(&format!("{out}.min_norm"), &[], &[MIN_NORM]);
        let n = self.op("ReduceL2", &[x], &format!("{out}.norm"), vec![ints("axes", &[1]), int("keepdims", 1)]);
        let d = self.op("Max", &[&n, &eps], &format!("{out}.divisor"), vec![]);
        self.op("Div", &[x, &d], out, vec![])
    }

    fn finish(
        self,
        model: &Model,
        name: &str,
        doc: &str,
        inputs: &[(&str, Vec<Dim>, &str)],
        outputs: &[(&str, Vec<Dim>, &str)],
    ) -> ModelProto {
        let values = |v: &[(&str, Vec<Dim>, &str)]| v.iter().map(|(n, dims, doc)| value_info(n, dims, doc)).collect();
        let m = &model.manifest;
        let meta = [
            ("debut.model.name", &m.name),
            ("debut.model.version", &m.version),
            ("debut.weights.sha256", &m.weights.sha256),
        ];
        ModelProto {
            ir_version: Some(IR_VERSION),
            opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(OPSET) }],
            producer_name: Some("debut".into()),
            producer_version: Some(env!("CARGO_PKG_VERSION").into()),
            doc_string: Some(doc.into()),
            graph: Some(GraphProto {
                node: self.nodes,
                name: Some(name.into()),
                initializer: self.initializers,
                doc_string: Some(doc.into()),
                input: values(inputs),
                output: values(outputs),
            }),
            metadata_props: meta
                .iter()
                .map(|(k, v)| StringStringEntryProto { key: Some(k.to_string()), value: Some(v.to_string()) })
                .collect(),
        }
    }
}

fn value_info(name: &str, dims: &[Dim], doc: &str) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Batch => DimValue::DimParam("N".into()),
                Dim::Fixed(n) => DimValue::DimValue(*n as i64),
            }),
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorType { elem_type: Some(FLOAT), shape: Some(TensorShapeProto { dim }) }),
        }),
        doc_string: Some(doc.into()),
    }
}

/// The audio tower: per-band `(x - mean) / std`, blocks of Conv (same padding) -> ReLU ->
/// MaxPool (floor), the mean over time, the dense layer; and the track's embedding.
pub fn audio_tower(model: &Model) -> ModelProto {
    let (t, s) = (&model.audio, &model.audio.spec);
    let mut g = Graph::default();
    let mean = g.constant("audio.input_norm.mean", &[1, s.n_mels, 1], &t.input_mean);
    let std = g.constant("audio.input_norm.std", &[1, s.n_mels, 1], &t.input_std);
    let centred = g.op("Sub", &["windows", &mean], "input_norm.centred", vec![]);
    let mut h = g.op("Div", &[&centred, &std], "input_norm.out", vec![]);
    let (k, pool) = (s.kernel as i64, s.pool as i64);
    for (i, conv) in t.convs.iter().enumerate() {
        let name = format!("audio.conv{}", i + 1);
        let w = g.constant(&format!("{name}.weight"), &[conv.c_out, conv.c_in, conv.k], &conv.pytorch_weight());
        let b = g.constant(&format!("{name}.bias"), &[conv.c_out], &conv.bias);
        let attrs = vec![ints("kernel_shape", &[k]), ints("pads", &[k / 2, k / 2])];
        let c = g.op("Conv", &[&h, &w, &b], &format!("{name}.out"), attrs);
        let r = g.op("Relu", &[&c], &format!("{name}.relu"), vec![]);
        h = g.op(
            "MaxPool",
            &[&r],
            &format!("{name}.pool"),
            vec![ints("kernel_shape", &[pool]), ints("strides", &[pool])],
        );
    }
    let pooled = g.op("ReduceMean", &[&h], "time_mean", vec![ints("axes", &[2]), int("keepdims", 0)]);
    let y = g.dense(&pooled, &t.fc, "audio.fc", false);
    g.op("Identity", &[&y], "window_embeddings", vec![]);
    let track = g.op("ReduceMean", &["window_embeddings"], "track_mean", vec![ints("axes", &[0]), int("keepdims", 1)]);
    g.l2_normalize(&track, "audio_embedding");
    let (batch, d) = (Dim::Batch, Dim::Fixed(s.embedding_dim));
    let windows = vec![batch, Dim::Fixed(s.n_mels), Dim::Fixed(s.window_frames)];
    g.finish(
        model,
        "debut_audio_tower",
        "debut's audio tower over one track's log-mel windows: each window's embedding, and the \
         track's (the L2-normalised mean over every window of the batch).",
        &[("windows", windows, "log-mel windows in dB (debut's spectrogram), [window, band, frame]")],
        &[
            ("window_embeddings", vec![batch, d], "the tower's output per window (not normalised)"),
            ("audio_embedding", vec![Dim::Fixed(1), d], "the track's embedding: L2 of the windows' mean output"),
        ],
    )
}

/// The text tower: tf-idf (features times the IDF table, each row L2-normalised unless
/// zero), the dense layers with ReLU between them, L2.
pub fn text_tower(model: &Model) -> ModelProto {
    let t = &model.text;
    let mut g = Graph::default();
    let idf = g.constant(&t.spec.idf, &[1, t.idf.len()], &t.idf);
    let weighted = g.op("Mul", &["features", &idf], "tfidf.weighted", vec![]);
    let norm = g.op("ReduceL2", &[&weighted], "tfidf.norm", vec![ints("axes", &[1]), int("keepdims", 1)]);
    let (zero, one) = (g.constant("tfidf.zero", &[], &[0.0]), g.constant("tfidf.one", &[], &[1.0]));
    let nonzero = g.op("Greater", &[&norm, &zero], "tfidf.nonzero", vec![]);
    let divisor = g.op("Where", &[&nonzero, &norm, &one], "tfidf.divisor", vec![]);
    let mut h = g.op("Div", &[&weighted, &divisor], "tfidf", vec![]);
    for (i, layer) in t.layers.iter().enumerate() {
        h = g.dense(&h, layer, &format!("text.fc{}", i + 1), i + 1 < t.layers.len());
    }
    g.l2_normalize(&h, "artist_embedding");
    let s = &t.spec;
    g.finish(
        model,
        "debut_text_tower",
        "debut's text (artist) tower: the feature plugin's sparse output as dense rows -> tf-idf -> \
         feed-forward layers -> L2.",
        &[(
            "features",
            vec![Dim::Batch, Dim::Fixed(s.feature_dim)],
            "the plugin's values in dense rows, 0 where absent",
        )],
        &[("artist_embedding", vec![Dim::Batch, Dim::Fixed(s.embedding_dim)], "L2-normalised artist embeddings")],
    )
}

/// Late fusion: `[audio, artist]` concatenated, the dense layer, L2.
pub fn fusion(model: &Model) -> ModelProto {
    let mut g = Graph::default();
    let x = g.op("Concat", &["audio_embedding", "artist_embedding"], "fusion.in", vec![int("axis", 1)]);
    let y = g.dense(&x, &model.fusion, "fusion", false);
    g.l2_normalize(&y, "embedding");
    let (da, dt) = (model.audio.spec.embedding_dim, model.text.spec.embedding_dim);
    g.finish(
        model,
        "debut_fusion",
        "debut's late fusion: [audio; artist] -> dense -> L2, the track embedding debut publishes.",
        &[
            (
                "audio_embedding",
                vec![Dim::Batch, Dim::Fixed(da)],
                "tracks' audio embeddings (audio_tower.onnx's audio_embedding)",
            ),
            (
                "artist_embedding",
                vec![Dim::Batch, Dim::Fixed(dt)],
                "their artists' embeddings (text_tower.onnx's output), zeros for a track without a bio",
            ),
        ],
        &[("embedding", vec![Dim::Batch, Dim::Fixed(model.fusion.d_out)], "the fused, L2-normalised track embedding")],
    )
}

/// Writes [`FILES`] into `dir` (created if needed); returns their paths.
pub fn export(model: &Model, dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
    std::fs::create_dir_all(dir).map_err(|source| ModelError::Io { path: dir.to_path_buf(), source })?;
    let graphs = [audio_tower(model), text_tower(model), fusion(model)];
    FILES
        .iter()
        .zip(graphs)
        .map(|(file, graph)| {
            let path = dir.join(file);
            std::fs::write(&path, graph.encode_to_vec())
                .map_err(|source| ModelError::Io { path: path.clone(), source })?;
            Ok(path)
        })
        .collect()
}
