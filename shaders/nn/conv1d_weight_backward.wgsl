// The weight gradient of the 'same' Conv1d in conv1d.wgsl, accumulated, one tap per z:
//
//   dw[kk, o, i] += sum_n dz[o, n] * x[i, n + kk - PAD]     (n = b * T + t, x = 0 across windows)
//   dz = dy where mask > 0 (MASK: the forward's ReLU output), else dy
//
// A GEMM over the long axis n: each workgroup computes a 64 (o) x 64 (i) tile of one tap,
// each invocation 4 x 4 of it, n in steps of 16 through workgroup memory. Tap-major output.

override KS: u32 = 3u;
override MASK: bool = true;
override PAD: u32 = KS / 2u;

const TILE: u32 = 64u;
const KT: u32 = 16u;

struct Params {
    c_in: u32,
    c_out: u32,
    batch: u32,
    time: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;          // [c_in, batch * time]
@group(0) @binding(1) var<storage, read> dy: array<f32>;         // [c_out, batch * time]
@group(0) @binding(2) var<storage, read> mask: array<f32>;       // like dy (MASK)
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;   // [KS, c_out, c_in]
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> as_: array<f32, TILE * KT>;   // [o][n]
var<workgroup> bs: array<f32, KT * TILE>;    // [n][i]

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let kk = wid.z;
    let o0 = wid.y * TILE;
    let i0 = wid.x * TILE;
    let n_cols = p.batch * p.time;
    var acc: array<array<f32, 4>, 4>;
    for (var n0 = 0u; n0 < n_cols; n0 += KT) {
        for (var e = li; e < TILE * KT; e += 256u) {
            let oo = e / KT;
            let nn = e % KT;
            var v = 0.0;
            if (o0 + oo < p.c_out && n0 + nn < n_cols) {
                let at = (o0 + oo) * n_cols + n0 + nn;
                v = dy[at];
                if (MASK && mask[at] <= 0.0) {
                    v = 0.0;
                }
            }
            as_[e] = v;
        }
        for (var e = li; e < KT * TILE; e += 256u) {
            let nn = e / TILE;
            let ii = e % TILE;
            var v = 0.0;
            let n = n0 + nn;
            if (i0 + ii < p.c_in && n < n_cols) {
                let s = i32(n % p.time) + i32(kk) - i32(PAD);
                if (s >= 0 && s < i32(p.time)) {
                    v = x[(i0 + ii) * n_cols + n - n % p.time + u32(s)];
                }
            }
            bs[e] = v;
        }
        workgroupBarrier();
        for (var q = 0u; q < KT; q++) {
            var av: array<f32, 4>;
            var bv: array<f32, 4>;
            for (var r = 0u; r < 4u; r++) {
                av[r] = as_[(lid.y * 4u + r) * KT + q];
                bv[r] = bs[q * TILE + lid.x * 4u + r];
            }
            for (var r = 0u; r < 4u; r++) {
                for (var c = 0u; c < 4u; c++) {
                    acc[r][c] = fma(av[r], bv[c], acc[r][c]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var r = 0u; r < 4u; r++) {
        let o = o0 + lid.y * 4u + r;
        if (o >= p.c_out) {
            continue;
        }
        for (var c = 0u; c < 4u; c++) {
            let i = i0 + lid.x * 4u + c;
            if (i < p.c_in) {
                let at = (kk * p.c_out + o) * p.c_in + i;
                dw[at] = dw[at] + acc[r][c];
            }
        }
    }
}
