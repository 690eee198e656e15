// C[M, N] = op(A) x op(B) (+ bias[M]) (+ ReLU), or C += op(A) x op(B) (ACCUM), where op
// transposes when TRANS_A / TRANS_B: A is stored [M, K] (or [K, M]), B [K, N] (or [N, K]),
// row-major with leading dimensions and offsets, so sub-matrices and strided views need no
// copies. Dense layers are C = W x X with X laid out features x batch; their gradients are
// W^T dZ and dZ X^T. Each workgroup computes a 64 x 64 tile, each invocation 4 x 4 of it,
// K in steps of 16 through workgroup memory.

override BIAS: bool = true;
override RELU: bool = false;
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override ACCUM: bool = false;

const TILE: u32 = 64u;
const KT: u32 = 16u;

struct Params {
    m: u32,
    n: u32,
    k: u32,
    lda: u32,
    ldb: u32,
    ldc: u32,
    a_offset: u32,
    b_offset: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> as_: array<f32, TILE * KT>;   // [m][k]
var<workgroup> bs: array<f32, KT * TILE>;    // [k][n]

fn a_at(m: u32, k: u32) -> f32 {
    if (TRANS_A) {
        return a[p.a_offset + k * p.lda + m];
    }
    return a[p.a_offset + m * p.lda + k];
}

fn b_at(k: u32, n: u32) -> f32 {
    if (TRANS_B) {
        return b[p.b_offset + n * p.ldb + k];
    }
    return b[p.b_offset + k * p.ldb + n];
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let m0 = wid.y * TILE;
    let n0 = wid.x * TILE;
    var acc: array<array<f32, 4>, 4>;
    for (var k0 = 0u; k0 < p.k; k0 += KT) {
        for (var i = li; i < TILE * KT; i += 256u) {
            let mm = i / KT;
            let kk = i % KT;
            var v = 0.0;
            if (m0 + mm < p.m && k0 + kk < p.k) {
                v = a_at(m0 + mm, k0 + kk);
            }
            as_[i] = v;
        }
        for (var i = li; i < KT * TILE; i += 256u) {
            let kk = i / TILE;
            let nn = i % TILE;
            var v = 0.0;
            if (k0 + kk < p.k && n0 + nn < p.n) {
                v = b_at(k0 + kk, n0 + nn);
            }
            bs[i] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < KT; kk++) {
            var av: array<f32, 4>;
            var bv: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                av[i] = as_[(lid.y * 4u + i) * KT + kk];
                bv[i] = bs[kk * TILE + lid.x * 4u + i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i][j] = fma(av[i], bv[j], acc[i][j]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let m = m0 + lid.y * 4u + i;
        if (m >= p.m) {
            continue;
        }
        for (var j = 0u; j < 4u; j++) {
            let n = n0 + lid.x * 4u + j;
            if (n < p.n) {
                var v = acc[i][j];
                if (BIAS) {
                    v += bias[m];
                }
                if (RELU) {
                    v = max(v, 0.0);
                }
                if (ACCUM) {
                    v += c[m * p.ldc + n];
                }
                c[m * p.ldc + n] = v;
            }
        }
    }
}
