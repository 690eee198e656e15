//! Optimisers, apart from their kernels: the state they keep per parameter and the rate
//! schedule; each step is one kernel call per parameter (`sgd_nesterov`, `adam`).

use serde::{Deserialize, Serialize};

use super::params::Params;
use crate::backend::{Backend, ComputeError};
use crate::nn::{AdamStep, SgdStep};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// SGD with Nesterov momentum and Keras' time decay `lr / (1 + decay * step)` (DCUE).
    Sgd { lr: f32, momentum: f32, decay: f32 },
    /// Adam with decoupled weight decay (Oramas et al.: Adam, Keras defaults).
    Adam { lr: f32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32 },
}

impl OptimizerConfig {
    pub fn adam(lr: f32) -> Self {
        Self::Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-7, weight_decay: 0.0 }
    }

    pub fn sgd(lr: f32) -> Self {
        Self::Sgd { lr, momentum: 0.9, decay: 1e-6 }
    }

    fn slots(&self) -> usize {
        match self {
            Self::Sgd { .. } => 1,
            Self::Adam { .. } => 2,
        }
    }
}

pub struct Optimizer {
    pub config: OptimizerConfig,
    /// Steps taken so far.
    pub step: u64,
    /// Per slot (velocity; or first and second moments), a set shaped like the parameters.
    pub state: Vec<Params>,
}

impl Optimizer {
    pub fn new(config: OptimizerConfig, params: &Params, b: &Backend) -> Result<Self, ComputeError> {
        let state = (0..config.slots()).map(|s| params.zeros_like(b, &format!(".opt{s}"))).collect::<Result<_, _>>()?;
        Ok(Self { config, step: 0, state })
    }

    /// One update of every parameter from its gradient.
    pub fn step(&mut self, b: &Backend, params: &mut Params, grads: &Params) -> Result<(), ComputeError> {
        self.step += 1;
        match self.config {
            OptimizerConfig::Sgd { lr, momentum, decay } => {
                let h = SgdStep { lr: lr / (1.0 + decay * (self.step - 1) as f32), momentum };
                let v = &mut self.state[0];
                for ((p, g), v) in params.tensors_mut().iter_mut().zip(grads.tensors()).zip(v.tensors_mut()) {
                    b.sgd_nesterov(p, g, v, h)?;
                }
            }
            OptimizerConfig::Adam { lr, beta1, beta2, eps, weight_decay } => {
                let h = AdamStep { lr, beta1, beta2, eps, weight_decay, t: self.step };
                let (m, v) = self.state.split_at_mut(1);
                for (((p, g), m), v) in
                    params.tensors_mut().iter_mut().zip(grads.tensors()).zip(m[0].tensors_mut()).zip(v[0].tensors_mut())
                {
                    b.adam(p, g, m, v, h)?;
                }
            }
        }
        Ok(())
    }
}
