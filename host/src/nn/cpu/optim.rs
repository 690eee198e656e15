//! Optimiser steps, in place over a parameter tensor, its gradient and its state.

use rayon::prelude::*;

use crate::nn::{AdamStep, SgdStep};

/// SGD with Nesterov momentum (Keras 2): `v = m v - lr g; p += m v - lr g`.
pub fn sgd_nesterov(p: &mut [f32], g: &[f32], v: &mut [f32], h: SgdStep) {
    p.par_iter_mut().zip(g).zip(v.par_iter_mut()).for_each(|((p, g), v)| {
        *v = h.momentum * *v - h.lr * g;
        *p += h.momentum * *v - h.lr * g;
    });
}

/// Adam with bias correction and decoupled weight decay (AdamW; 0 gives Adam).
pub fn adam(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], h: AdamStep) {
    let (c1, c2) = h.corrections();
    p.par_iter_mut().zip(g).zip(m.par_iter_mut().zip(v.par_iter_mut())).for_each(|((p, g), (m, v))| {
        *m = h.beta1 * *m + (1.0 - h.beta1) * g;
        *v = h.beta2 * *v + (1.0 - h.beta2) * g * g;
        let (mh, vh) = (*m / c1, *v / c2);
        *p -= h.lr * (mh / (vh.sqrt() + h.eps) + h.weight_decay * *p);
    });
}
