// Sigmoid binary cross-entropy of logits [tags, cols] against 0/1 labels: each column's loss
// is the mean over its tags of softplus(z) - y z; the gradient is of the mean over all
// entries: (sigmoid(z) - y) / (tags * cols). One invocation per column.

struct Params {
    tags: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<f32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= p.cols) {
        return;
    }
    let scale = 1.0 / f32(p.tags * p.cols);
    var l = 0.0;
    for (var t = 0u; t < p.tags; t++) {
        let at = t * p.cols + c;
        let z = logits[at];
        let y = labels[at];
        l += max(z, 0.0) - z * y + log(1.0 + exp(-abs(z)));
        grad[at] = (1.0 / (1.0 + exp(-z)) - y) * scale;
    }
    loss[c] = l / f32(p.tags);
}
