//! Optimiser hyperparameters for one step, shared by the CPU and WGSL kernels. The
//! optimisers themselves (state, schedules) live with the trainer.

/// SGD with Nesterov momentum; `lr` is this step's rate (after any decay).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdStep {
    pub lr: f32,
    pub momentum: f32,
}

/// Adam with decoupled weight decay; `t` counts steps from 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub t: u64,
}

impl AdamStep {
    /// The bias corrections `1 - beta1^t` and `1 - beta2^t`.
    pub fn corrections(&self) -> (f32, f32) {
        let t = self.t.min(i32::MAX as u64) as i32;
        ((1.0 - f64::from(self.beta1).powi(t)) as f32, (1.0 - f64::from(self.beta2).powi(t)) as f32)
    }
}
