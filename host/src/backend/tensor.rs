//! [`Tensor`]: f32 values with a shape, held by the backend that made them: in host memory
//! for the CPU, in a device buffer for a GPU. Kernels take their inputs by reference and
//! return their outputs, or accumulate into `&mut` ones (gradients, optimiser state), so the
//! borrow checker proves that no kernel reads what another is writing.

use super::ComputeError;

pub struct Tensor {
    shape: Vec<usize>,
    pub(crate) store: Store,
}

/// Where the values live. Only `gpu` looks inside a device buffer.
pub(crate) enum Store {
    Host(Vec<f32>),
    Device(crate::gpu::DeviceBuffer),
}

impl Tensor {
    /// Host values with a shape; the shape must account for every value.
    pub fn from_host(shape: impl Into<Vec<usize>>, data: Vec<f32>) -> Result<Self, ComputeError> {
        let shape = shape.into();
        let len: usize = shape.iter().product();
        if len != data.len() {
            return Err(ComputeError::Shape(format!("shape {shape:?} holds {len} values, got {}", data.len())));
        }
        Ok(Self { shape, store: Store::Host(data) })
    }

    pub(crate) fn from_store(shape: Vec<usize>, store: Store) -> Self {
        Self { shape, store }
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values, when they are in host memory.
    pub fn as_host(&self) -> Option<&[f32]> {
        match &self.store {
            Store::Host(v) => Some(v),
            Store::Device(_) => None,
        }
    }

    pub(crate) fn as_host_mut(&mut self) -> Option<&mut [f32]> {
        match &mut self.store {
            Store::Host(v) => Some(v),
            Store::Device(_) => None,
        }
    }

    /// The host values, taken out (`None` for a device tensor: ask its backend).
    pub fn into_host(self) -> Option<Vec<f32>> {
        match self.store {
            Store::Host(v) => Some(v),
            Store::Device(_) => None,
        }
    }

    /// The same values under another shape of the same size (no copy).
    pub fn reshaped(self, shape: impl Into<Vec<usize>>) -> Result<Self, ComputeError> {
        let shape = shape.into();
        if shape.iter().product::<usize>() != self.len() {
            return Err(ComputeError::Shape(format!("cannot view {:?} as {shape:?}", self.shape)));
        }
        Ok(Self { shape, store: self.store })
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let place = match self.store {
            Store::Host(_) => "host",
            Store::Device(_) => "device",
        };
        write!(f, "Tensor({:?} on {place})", self.shape)
    }
}
