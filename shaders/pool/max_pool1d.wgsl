// Max-pool over time: y[c, b, u] = max_{i < POOL} x[c, b, u * POOL + i], u < floor(T / POOL).
// One invocation per OUTS consecutive outputs of a row; rows = channels x batch, flattened
// over a 2-D grid (65535 workgroups per axis).

override POOL: u32 = 2u;
const OUTS: u32 = 4u;

struct Params {
    rows: u32,      // channels * batch
    time: u32,      // input time steps
    time_out: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let chunks = (p.time_out + OUTS - 1u) / OUTS;
    let idx = gid.y * nwg.x * 64u + gid.x;
    let row = idx / chunks;
    let u0 = (idx % chunks) * OUTS;
    if (row >= p.rows) {
        return;
    }
    for (var u = u0; u < min(u0 + OUTS, p.time_out); u++) {
        var m = x[row * p.time + u * POOL];
        for (var i = 1u; i < POOL; i++) {
            m = max(m, x[row * p.time + u * POOL + i]);
        }
        y[row * p.time_out + u] = m;
    }
}
