// The backward pass of segment_mean.wgsl: dx[r, c] = dy[r, s] / len(s) for every column c
// of segment s.

struct Params {
    rows: u32,
    cols: u32,
    segments: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> dy: array<f32>;         // [rows, segments]
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;   // [rows, cols]
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
    let g = dy[r * p.segments + s] / f32(max(b - a, 1u));
    for (var i = a; i < b; i++) {
        dx[r * p.cols + i] = g;
    }
}
