//! Native CPU kernels, one file per op family, forward and backward side by side. GEMMs go
//! through faer (AVX2/AVX-512 kernels); element-wise passes are fused where they touch the
//! same data. Working buffers live in a pool of workspaces that only grow, so steady-state
//! calls allocate only their outputs.

mod conv;
mod loss;
mod matrix;
mod norm;
mod optim;
mod pool;
mod tower;

pub use conv::{ConvShape, conv1d, conv1d_weight_backward, conv1d_x_backward};
pub use loss::{cosine_proximity, hinge_loss, sigmoid_bce, softmax_cross_entropy};
pub use matrix::{
    bias_backward, dense, gather_columns, gather_columns_backward, matmul, relu_backward, sparse_dense,
    sparse_dense_weight_backward,
};
pub use norm::{l2_normalize, l2_normalize_backward, normalize_channels};
pub use optim::{adam, sgd_nesterov};
pub use pool::{max_pool, max_pool_backward, segment_mean, segment_mean_backward};
pub use tower::audio_tower;

use std::sync::Mutex;

use faer::Par;
use rayon::prelude::*;

/// faer's parallelism for the current rayon pool: sequential in a one-thread pool.
fn par() -> Par {
    match rayon::current_num_threads() {
        1 => Par::Seq,
        n => Par::rayon(n),
    }
}

/// Runs `f` over `chunk`-sized pieces of `data`, on rayon's pool when `parallel`.
fn for_each_chunk(data: &mut [f32], chunk: usize, parallel: bool, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if parallel {
        data.par_chunks_mut(chunk.max(1)).enumerate().for_each(|(i, c)| f(i, c));
    } else {
        data.chunks_mut(chunk.max(1)).enumerate().for_each(|(i, c)| f(i, c));
    }
}

#[derive(Default)]
struct Workspace {
    padded: Vec<f32>,
    gemm_out: Vec<f32>,
    next: Vec<f32>,
}

/// Idle workspaces. A call takes one (or makes one) and gives it back, so concurrent and
/// re-entrant calls (a rayon worker may pick up another inference while it waits) never
/// share buffers; the pool holds at most as many as ran at once.
static WORKSPACES: Mutex<Vec<Workspace>> = Mutex::new(Vec::new());

fn with_workspace<R>(f: impl FnOnce(&mut Workspace) -> R) -> R {
    let mut ws = WORKSPACES.lock().unwrap_or_else(|p| p.into_inner()).pop().unwrap_or_default();
    let r = f(&mut ws);
    WORKSPACES.lock().unwrap_or_else(|p| p.into_inner()).push(ws);
    r
}

fn grow(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if v.len() < len {
        v.resize(len, 0.0);
    }
    &mut v[..len]
}
