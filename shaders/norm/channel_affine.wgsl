// Per-channel input normalisation: y[c, i] = (x[c, i] - mean[c]) / std[c], 4 values per
// invocation, flattened over a 2-D grid (65535 workgroups per axis).

struct Params {
    channels: u32,
    per_channel: u32,   // batch * time
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> mean: array<f32>;
@group(0) @binding(2) var<storage, read> std_: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let chunks = (p.per_channel + 3u) / 4u;
    let idx = gid.y * nwg.x * 64u + gid.x;
    let c = idx / chunks;
    let i0 = (idx % chunks) * 4u;
    if (c >= p.channels) {
        return;
    }
    for (var i = i0; i < min(i0 + 4u, p.per_channel); i++) {
        y[c * p.per_channel + i] = (x[c * p.per_channel + i] - mean[c]) / std_[c];
    }
}
