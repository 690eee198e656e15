// Cosine proximity (Keras): loss_c = -cos(pred[:, c], target[:, c]) for [d, cols], and the
// gradient of the mean over columns: -(t / |t| - cos p / |p|) / |p| / cols. One invocation
// per column.

struct Params {
    d: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> pred: array<f32>;
@group(0) @binding(1) var<storage, read> goal: array<f32>;   // the target factors
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= p.cols) {
        return;
    }
    var pp = 0.0;
    var tt = 0.0;
    var pt = 0.0;
    for (var r = 0u; r < p.d; r++) {
        let a = pred[r * p.cols + c];
        let b = goal[r * p.cols + c];
        pp = fma(a, a, pp);
        tt = fma(b, b, tt);
        pt = fma(a, b, pt);
    }
    let np = max(sqrt(pp), 1e-12);
    let nt = max(sqrt(tt), 1e-12);
    let cosine = pt / (np * nt);
    loss[c] = -cosine;
    let scale = 1.0 / f32(p.cols);
    for (var r = 0u; r < p.d; r++) {
        let at = r * p.cols + c;
        grad[at] = -scale * (goal[at] / nt - cosine * pred[at] / np) / np;
    }
}
