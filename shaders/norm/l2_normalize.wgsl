// Each column to unit L2 norm: y[:, c] = x[:, c] / max(||x[:, c]||, 1e-12) (a zero column stays zero).

struct Params {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= p.cols) {
        return;
    }
    var ss = 0.0;
    for (var r = 0u; r < p.rows; r++) {
        let v = x[r * p.cols + c];
        ss = fma(v, v, ss);
    }
    let inv = 1.0 / max(sqrt(ss), 1e-12);
    for (var r = 0u; r < p.rows; r++) {
        y[r * p.cols + c] = x[r * p.cols + c] * inv;
    }
}
