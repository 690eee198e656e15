//! `weights.safetensors`: reading with every name, shape and dtype checked, and writing.

use std::collections::{BTreeMap, HashMap};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::ModelError;

/// Parses `bytes` and returns exactly the `expected` tensors as f32, or says which is wrong.
pub fn read(bytes: &[u8], expected: &[(String, Vec<usize>)]) -> Result<HashMap<String, Vec<f32>>, ModelError> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| ModelError::Safetensors(e.to_string()))?;
    let wanted: BTreeMap<&str, &Vec<usize>> = expected.iter().map(|(n, s)| (n.as_str(), s)).collect();
    for name in st.names() {
        if !wanted.contains_key(name) {
            return Err(ModelError::UnexpectedTensor { name: name.to_string() });
        }
    }
    let mut out = HashMap::new();
    for (name, shape) in expected {
        let view = st.tensor(name).map_err(|_| ModelError::MissingTensor { name: name.clone() })?;
        if view.dtype() != Dtype::F32 {
            return Err(ModelError::Dtype { name: name.clone(), found: format!("{:?}", view.dtype()) });
        }
        if view.shape() != shape.as_slice() {
            return Err(ModelError::Shape {
                name: name.clone(),
                expected: shape.clone(),
                found: view.shape().to_vec(),
            });
        }
        let values: Vec<f32> =
            view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::NonFinite { name: name.clone(), index: i });
        }
        out.insert(name.clone(), values);
    }
    Ok(out)
}

/// Serialises f32 tensors (name, shape, values) to safetensors bytes (deterministic order).
pub fn write(
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>, ModelError> {
    let bytes: Vec<Vec<u8>> =
        tensors.iter().map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| {
            TensorView::new(Dtype::F32, shape.clone(), b)
                .map(|v| (name.clone(), v))
                .map_err(|e| ModelError::Safetensors(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::tensor::serialize(views, Some(metadata)).map_err(|e| ModelError::Safetensors(e.to_string()))
}

/// Every f32 tensor of a safetensors file by name, and its metadata (checkpoints, whose
/// contents depend on the run).
#[allow(clippy::type_complexity)]
pub fn read_all(
    bytes: &[u8],
) -> Result<(HashMap<String, (Vec<usize>, Vec<f32>)>, HashMap<String, String>), ModelError> {
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| ModelError::Safetensors(e.to_string()))?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    let st = SafeTensors::deserialize(bytes).map_err(|e| ModelError::Safetensors(e.to_string()))?;
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(ModelError::Dtype { name, found: format!("{:?}", view.dtype()) });
        }
        let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        out.insert(name, (view.shape().to_vec(), values));
    }
    Ok((out, metadata))
}
