// Embedding lookup: y[r, j] = table[idx[j], r] (table [n, d], y [d, B]).

struct Params {
    d: u32,
    batch: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> table: array<f32>;
@group(0) @binding(1) var<storage, read> idx: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64, 4, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let r = gid.y;
    if (j < p.batch && r < p.d) {
        y[r * p.batch + j] = table[idx[j] * p.d + r];
    }
}
