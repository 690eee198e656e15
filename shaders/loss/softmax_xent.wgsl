// Softmax cross-entropy of each row of z = scale * logits [rows, n] against targets[row]:
// loss = logsumexp(z) - z[target]; the gradient of the mean over rows is
// scale * (softmax(z) - onehot) / rows. One invocation per row.

struct Params {
    rows: u32,
    n: u32,
    _pad: u32,
    scale: f32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<u32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let b = gid.x;
    if (b >= p.rows) {
        return;
    }
    let base = b * p.n;
    var m = -3.0e38;
    for (var j = 0u; j < p.n; j++) {
        m = max(m, p.scale * logits[base + j]);
    }
    var sum = 0.0;
    for (var j = 0u; j < p.n; j++) {
        sum += exp(p.scale * logits[base + j] - m);
    }
    let lse = m + log(sum);
    let t = targets[b];
    loss[b] = lse - p.scale * logits[base + t];
    let g = p.scale / f32(p.rows);
    for (var j = 0u; j < p.n; j++) {
        let prob = exp(p.scale * logits[base + j] - lse);
        grad[base + j] = g * (prob - select(0.0, 1.0, j == t));
    }
}
