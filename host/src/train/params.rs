//! The parameters of a model being trained: one ordered set of named tensors on the
//! backend (llm.c's arena, by name), with gradients and optimiser state in sets of the same
//! shape. Everything a step reads or writes lives on the backend; only checkpoints and the
//! finished model come back to the host.

use std::collections::HashMap;

use crate::backend::{Backend, ComputeError, Tensor};

/// Index of a parameter in its [`Params`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamId(usize);

/// Named tensors in a fixed order.
#[derive(Debug, Default)]
pub struct Params {
    names: Vec<String>,
    tensors: Vec<Tensor>,
}

/// A host copy: (name, shape, values).
pub type HostTensor = (String, Vec<usize>, Vec<f32>);

impl Params {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, name: impl Into<String>, t: Tensor) -> ParamId {
        self.names.push(name.into());
        self.tensors.push(t);
        ParamId(self.tensors.len() - 1)
    }

    pub fn get(&self, id: ParamId) -> &Tensor {
        &self.tensors[id.0]
    }

    pub fn get_mut(&mut self, id: ParamId) -> &mut Tensor {
        &mut self.tensors[id.0]
    }

    /// Two different tensors, mutably (a weight's and a bias's gradient).
    pub fn pair_mut(&mut self, a: ParamId, b: ParamId) -> (&mut Tensor, &mut Tensor) {
        assert_ne!(a.0, b.0, "two different parameters");
        if a.0 < b.0 {
            let (lo, hi) = self.tensors.split_at_mut(b.0);
            (&mut lo[a.0], &mut hi[0])
        } else {
            let (lo, hi) = self.tensors.split_at_mut(a.0);
            (&mut hi[0], &mut lo[b.0])
        }
    }

    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Number of scalar parameters.
    pub fn count(&self) -> usize {
        self.tensors.iter().map(Tensor::len).sum()
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn tensors(&self) -> &[Tensor] {
        &self.tensors
    }

    pub fn tensors_mut(&mut self) -> &mut [Tensor] {
        &mut self.tensors
    }

    /// A set of zeros with the same names and shapes (gradients, optimiser state).
    pub fn zeros_like(&self, b: &Backend, suffix: &str) -> Result<Params, ComputeError> {
        let mut out = Params::new();
        for (n, t) in self.names.iter().zip(&self.tensors) {
            out.add(format!("{n}{suffix}"), b.zeros(t.shape())?);
        }
        Ok(out)
    }

    /// Zeroes every tensor (gradients before a step).
    pub fn zero(&mut self, b: &Backend) -> Result<(), ComputeError> {
        self.tensors.iter_mut().try_for_each(|t| b.zero(t))
    }

    pub fn to_host(&self, b: &Backend) -> Result<Vec<HostTensor>, ComputeError> {
        self.names.iter().zip(&self.tensors).map(|(n, t)| Ok((n.clone(), t.shape().to_vec(), b.download(t)?))).collect()
    }

    /// Replaces every tensor's values from `host` (by name; shapes must match).
    pub fn load(&mut self, b: &Backend, host: &HashMap<String, (Vec<usize>, Vec<f32>)>) -> Result<(), ComputeError> {
        for (n, t) in self.names.iter().zip(self.tensors.iter_mut()) {
            let (shape, data) =
                host.get(n).ok_or_else(|| ComputeError::Shape(format!("checkpoint has no tensor {n:?}")))?;
            if shape.as_slice() != t.shape() {
                return Err(ComputeError::Shape(format!(
                    "checkpoint tensor {n:?} is {shape:?}, expected {:?}",
                    t.shape()
                )));
            }
            *t = b.upload(shape, data)?;
        }
        Ok(())
    }
}
