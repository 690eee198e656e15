// 'Same' 1-D convolution over time as a tiled implicit GEMM, bias and ReLU fused; also the
// conv's input gradient (X_BACKWARD), which is the same convolution of the output gradient
// with the taps transposed and reversed, ReLU's mask fused into its input (MASK).
//
//   forward:    y[m, b, t] = bias[m] + sum_{c, kk} w[kk, m, c] * x[c, b, t + kk - PAD]
//   X_BACKWARD: y[m, b, t] = sum_{c, kk} w[KS - 1 - kk, c, m] * x'[c, b, t + kk - PAD],
//               x' = x where mask > 0 (MASK), else x
//
// x = 0 outside [0, T). Weights are tap-major [KS, out, in]. Activations are [channels,
// batch, time]; a column n = b * T + t. Each workgroup computes a 64 (out channels) x 64
// (columns) tile, each invocation a 4 x 4 block of it, stepping through the input channels
// 8 at a time with the weights and a haloed input strip staged in workgroup memory. Taps
// that would read across a window boundary are masked to zero.

override KS: u32 = 3u;          // kernel size (odd, at most MAX_KS)
override RELU: bool = true;
override BIAS: bool = true;
override X_BACKWARD: bool = false;
override MASK: bool = false;

const TILE: u32 = 64u;
const CK: u32 = 8u;             // input channels per stage
const MAX_KS: u32 = 7u;
override PAD: u32 = KS / 2u;

struct Params {
    c_in: u32,                  // channels of x (the forward's c_out under X_BACKWARD)
    c_out: u32,                 // channels of y
    batch: u32,
    time: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;       // [c_in, batch * time]
@group(0) @binding(1) var<storage, read> w: array<f32>;       // tap-major [KS, out, in]
@group(0) @binding(2) var<storage, read> bias: array<f32>;    // [c_out]
@group(0) @binding(3) var<storage, read> mask: array<f32>;    // like x (MASK)
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // [c_out, batch * time]
@group(0) @binding(5) var<uniform> p: Params;

var<workgroup> ws: array<f32, CK * KS * TILE>;                // [c][kk][m]
var<workgroup> xs: array<f32, CK * (TILE + 2u * PAD)>;        // [c][n - n0 + PAD]

fn weight(m: u32, c: u32, kk: u32) -> f32 {
    if (X_BACKWARD) {
        // The forward's w[KS - 1 - kk, c, m]: its out channel c, its in channel m.
        return w[((KS - 1u - kk) * p.c_in + c) * p.c_out + m];
    }
    return w[(kk * p.c_out + m) * p.c_in + c];
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let n_cols = p.batch * p.time;
    let m0 = wid.y * TILE;
    let n0 = wid.x * TILE;
    let strip = TILE + 2u * PAD;

    // Which taps of each of this invocation's 4 columns stay inside their window.
    var tap_ok: array<array<f32, MAX_KS>, 4>;
    for (var j = 0u; j < 4u; j++) {
        let t = (n0 + lid.x * 4u + j) % p.time;
        for (var kk = 0u; kk < KS; kk++) {
            let s = i32(t) + i32(kk) - i32(PAD);
            tap_ok[j][kk] = select(0.0, 1.0, s >= 0 && s < i32(p.time));
        }
    }

    var acc: array<array<f32, 4>, 4>;
    for (var c0 = 0u; c0 < p.c_in; c0 += CK) {
        // Stage weights: CK * KS * TILE values over 256 invocations.
        for (var i = li; i < CK * KS * TILE; i += 256u) {
            let m = i % TILE;
            let kk = (i / TILE) % KS;
            let c = i / (TILE * KS);
            var v = 0.0;
            if (m0 + m < p.c_out && c0 + c < p.c_in) {
                v = weight(m0 + m, c0 + c, kk);
            }
            ws[i] = v;
        }
        // Stage the input strip with a halo of PAD columns each side.
        for (var i = li; i < CK * strip; i += 256u) {
            let c = i / strip;
            let col = i32(n0 + i % strip) - i32(PAD);
            var v = 0.0;
            if (c0 + c < p.c_in && col >= 0 && col < i32(n_cols)) {
                let at = (c0 + c) * n_cols + u32(col);
                v = x[at];
                if (MASK && mask[at] <= 0.0) {
                    v = 0.0;
                }
            }
            xs[i] = v;
        }
        workgroupBarrier();
        for (var c = 0u; c < CK; c++) {
            for (var kk = 0u; kk < KS; kk++) {
                var a: array<f32, 4>;
                var b: array<f32, 4>;
                for (var i = 0u; i < 4u; i++) {
                    a[i] = ws[(c * KS + kk) * TILE + lid.y * 4u + i];
                }
                for (var j = 0u; j < 4u; j++) {
                    // Column n reads x at n + kk - PAD; the strip starts at n0 - PAD.
                    b[j] = xs[c * strip + lid.x * 4u + j + kk] * tap_ok[j][kk];
                }
                for (var i = 0u; i < 4u; i++) {
                    for (var j = 0u; j < 4u; j++) {
                        acc[i][j] = fma(a[i], b[j], acc[i][j]);
                    }
                }
            }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < 4u; i++) {
        let m = m0 + lid.y * 4u + i;
        if (m >= p.c_out) {
            continue;
        }
        for (var j = 0u; j < 4u; j++) {
            let n = n0 + lid.x * 4u + j;
            if (n < n_cols) {
                var v = acc[i][j];
                if (BIAS) {
                    v += bias[m];
                }
                if (RELU) {
                    v = max(v, 0.0);
                }
                y[m * n_cols + n] = v;
            }
        }
    }
}
