// The backward pass of max_pool1d.wgsl: each output's gradient goes to the first maximum of
// its window; every other input step keeps the zero of the freshly made gradient buffer.
// One invocation per pooled output; rows = channels x batch over a 2-D grid.

override POOL: u32 = 2u;

struct Params {
    rows: u32,
    time: u32,
    time_out: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;          // the pool's input
@group(0) @binding(1) var<storage, read> dy: array<f32>;         // [rows, time_out]
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;   // [rows, time], zeroed
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.y * nwg.x * 64u + gid.x;
    let row = idx / max(p.time_out, 1u);
    let u = idx % max(p.time_out, 1u);
    if (row >= p.rows || p.time_out == 0u) {
        return;
    }
    let base = row * p.time + u * POOL;
    var best = 0u;
    for (var i = 1u; i < POOL; i++) {
        if (x[base + i] > x[base + best]) {
            best = i;
        }
    }
    dx[base + best] = dy[row * p.time_out + u];
}
