//! Host side of `shaders/optim/`: optimiser steps in place, parameters and state staying on
//! the device.

use super::{GpuBackend, shaders, u32_of};
use crate::backend::{ComputeError, Tensor};
use crate::nn::{AdamStep, SgdStep};

pub(crate) fn sgd_nesterov(
    gpu: &GpuBackend,
    p: &mut Tensor,
    g: &Tensor,
    v: &mut Tensor,
    h: SgdStep,
) -> Result<(), ComputeError> {
    let pipe = gpu.ctx.pipeline("sgd_nesterov", shaders::SGD_NESTEROV, &[])?;
    let len = p.len();
    let (pb, gb, vb) = (gpu.buffer_mut(p)?, gpu.buffer(g), gpu.buffer_mut(v)?);
    let params = [u32_of(len, "length")?, 0, h.lr.to_bits(), h.momentum.to_bits()];
    gpu.run("sgd_nesterov", &pipe, &[&pb, &gb, &vb], &params, gpu.flat_groups(len, 256)?)
}

pub(crate) fn adam(
    gpu: &GpuBackend,
    p: &mut Tensor,
    g: &Tensor,
    m: &mut Tensor,
    v: &mut Tensor,
    h: AdamStep,
) -> Result<(), ComputeError> {
    let pipe = gpu.ctx.pipeline("adam", shaders::ADAM, &[])?;
    let len = p.len();
    let (pb, gb, mb, vb) = (gpu.buffer_mut(p)?, gpu.buffer(g), gpu.buffer_mut(m)?, gpu.buffer_mut(v)?);
    let (c1, c2) = h.corrections();
    let params = [
        u32_of(len, "length")?,
        0,
        0,
        0,
        h.lr.to_bits(),
        h.beta1.to_bits(),
        h.beta2.to_bits(),
        h.eps.to_bits(),
        h.weight_decay.to_bits(),
        c1.to_bits(),
        c2.to_bits(),
        0,
    ];
    gpu.run("adam", &pipe, &[&pb, &gb, &mb, &vb], &params, gpu.flat_groups(len, 256)?)
}
