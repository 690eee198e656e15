// y[o, r] = bias[o] + sum_k w[o, indices[k]] * values[k] over row r's non-zeros (CSR), + ReLU.
// Bio features are a few hundred non-zeros out of thousands: a gather of W's columns beats a
// dense product. One workgroup per (row, 64 outputs); the row's non-zeros are read from
// global memory by every invocation (they stay in cache).

override RELU: bool = true;

struct Params {
    d_out: u32,
    d_in: u32,
    rows: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> offsets: array<u32>;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<storage, read> values: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;      // [d_out, d_in] (PyTorch)
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>; // [d_out, rows]
@group(0) @binding(6) var<uniform> p: Params;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = wid.x;
    let o = wid.y * 64u + lid.x;
    if (r >= p.rows || o >= p.d_out) {
        return;
    }
    var s = bias[o];
    for (var k = offsets[r]; k < offsets[r + 1u]; k++) {
        s = fma(w[o * p.d_in + indices[k]], values[k], s);
    }
    if (RELU) {
        s = max(s, 0.0);
    }
    y[o * p.rows + r] = s;
}
