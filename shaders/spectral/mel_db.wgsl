// Mel projection and dB: out[band, frame] = 10 log10(max(sum_k w[band, k] power[frame, k], AMIN)).
//
// The filterbank is sparse (each band is a short run of bins); one invocation computes
// FRAMES_PER_INVOCATION consecutive frames of one band, reusing the band's weights.

override N_BINS: u32 = 513u;
override AMIN: f32 = 1e-10;
override FRAMES_PER_INVOCATION: u32 = 4u;

struct Params {
    n_frames: u32,
    n_mels: u32,
    _pad0: u32,
    _pad1: u32,
}

// bands[m] = (first bin, bin count, offset into weights, 0)
@group(0) @binding(0) var<storage, read> power: array<f32>;
@group(0) @binding(1) var<storage, read> bands: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

// 10 / log2(10)
const DB_PER_LOG2: f32 = 3.0102999566398120;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let band = gid.y;
    let frame0 = gid.x * FRAMES_PER_INVOCATION;
    if (band >= params.n_mels || frame0 >= params.n_frames) {
        return;
    }
    let b = bands[band];
    let frames = min(FRAMES_PER_INVOCATION, params.n_frames - frame0);
    for (var f = 0u; f < frames; f++) {
        let row = (frame0 + f) * N_BINS + b.x;
        var acc = 0.0;
        for (var k = 0u; k < b.y; k++) {
            acc += weights[b.z + k] * power[row + k];
        }
        out[band * params.n_frames + frame0 + f] = DB_PER_LOG2 * log2(max(acc, AMIN));
    }
}
