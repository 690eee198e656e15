// The weight gradient of sparse_dense.wgsl, accumulated: dw[o, f] += sum_r dz[o, r] x[r, f].
// The host hands the sparse rows over transposed (CSC: for each active feature, the rows
// that hold it), so each invocation owns one (output, feature) weight and sums without
// atomics, in a fixed order. x = active feature index, y = output.

struct Params {
    d_out: u32,
    d_in: u32,
    rows: u32,
    n_active: u32,
}

@group(0) @binding(0) var<storage, read> features: array<u32>;   // [active] feature ids
@group(0) @binding(1) var<storage, read> offsets: array<u32>;    // [active + 1] into rows/values
@group(0) @binding(2) var<storage, read> rows: array<u32>;
@group(0) @binding(3) var<storage, read> values: array<f32>;
@group(0) @binding(4) var<storage, read> dz: array<f32>;         // [d_out, rows]
@group(0) @binding(5) var<storage, read_write> dw: array<f32>;   // [d_out, d_in]
@group(0) @binding(6) var<uniform> p: Params;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let a = wid.x;
    let o = wid.y * 64u + lid.x;
    if (a >= p.n_active || o >= p.d_out) {
        return;
    }
    var s = 0.0;
    for (var e = offsets[a]; e < offsets[a + 1u]; e++) {
        s = fma(dz[o * p.rows + rows[e]], values[e], s);
    }
    let at = o * p.d_in + features[a];
    dw[at] = dw[at] + s;
}
