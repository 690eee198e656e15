// Means over column ranges: y[r, s] = mean(x[r, offsets[s] .. offsets[s + 1]]).
// Mean over time ([c, b, t] seen as [c, b * t], uniform segments) and the mean of a track's
// window embeddings ([d, windows], one segment per track) are both this.

struct Params {
    rows: u32,
    cols: u32,
    segments: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64, 4, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    let r = gid.y;
    if (s >= p.segments || r >= p.rows) {
        return;
    }
    let a = offsets[s];
    let b = offsets[s + 1u];
    var sum = 0.0;
    for (var i = a; i < b; i++) {
        sum += x[r * p.cols + i];
    }
    y[r * p.segments + s] = sum / f32(max(b - a, 1u));
}
