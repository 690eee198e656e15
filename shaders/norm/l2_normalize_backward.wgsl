// The backward pass of l2_normalize.wgsl: with y = x / |x| per column,
// dx = (dy - y (y . dy)) / |x|, |x| clamped below at 1e-12 as in the forward.

struct Params {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= p.cols) {
        return;
    }
    var ss = 0.0;
    var xd = 0.0;
    for (var r = 0u; r < p.rows; r++) {
        let v = x[r * p.cols + c];
        ss = fma(v, v, ss);
        xd = fma(v, dy[r * p.cols + c], xd);
    }
    let norm = max(sqrt(ss), 1e-12);
    let dot = xd / norm;                 // y . dy
    for (var r = 0u; r < p.rows; r++) {
        let at = r * p.cols + c;
        dx[at] = (dy[at] - x[at] / norm * dot) / norm;
    }
}
