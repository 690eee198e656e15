// DCUE's max-margin hinge over relevance scores s [rows, n]: row b has its positive at column
// positives[b] and k negatives; loss_b = sum_j max(0, margin - s[b, pos] + s[b, neg_j]).
// The gradient is of the mean over rows (scale = 1 / rows), into a zeroed buffer; one
// invocation per row, so repeated negatives accumulate in order.

struct Params {
    rows: u32,
    n: u32,
    k: u32,
    _pad: u32,
    margin: f32,
    scale: f32,
}

@group(0) @binding(0) var<storage, read> s: array<f32>;
@group(0) @binding(1) var<storage, read> positives: array<u32>;
@group(0) @binding(2) var<storage, read> negatives: array<u32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.x;
    if (b >= p.rows) {
        return;
    }
    let pos = b * p.n + positives[b];
    var l = 0.0;
    for (var j = 0u; j < p.k; j++) {
        let neg = b * p.n + negatives[b * p.k + j];
        let v = p.margin - s[pos] + s[neg];
        if (v > 0.0) {
            l += v;
            grad[neg] += p.scale;
            grad[pos] -= p.scale;
        }
    }
    loss[b] = l;
}
