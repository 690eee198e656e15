// Centred, Hann-windowed power spectrogram: one workgroup per frame.
//
// Framing, windowing, a radix-2 FFT in workgroup memory and |X|^2 are fused, so a frame
// never leaves the workgroup. Each invocation owns N_FFT / WG taps and N_FFT / (2 WG)
// butterflies per stage. Window and twiddles come from the host (computed in f64), so the
// GPU and CPU paths multiply by identical f32 values.

override N_FFT: u32 = 1024u;
override LOG2_N: u32 = 10u;
override HOP: u32 = 512u;
override WG: u32 = 256u;

struct Params {
    n_samples: u32,
    n_frames: u32,
    // Frames per row of the 2-D dispatch grid (dispatches are capped at 65535 per axis).
    grid_width: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> samples: array<f32>;
@group(0) @binding(1) var<storage, read> window: array<f32>;
// twiddles[j] = exp(-2 pi i j / N_FFT), j < N_FFT / 2.
@group(0) @binding(2) var<storage, read> twiddles: array<vec2<f32>>;
// power[frame * (N_FFT / 2 + 1) + bin]
@group(0) @binding(3) var<storage, read_write> power: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

var<workgroup> buf: array<vec2<f32>, N_FFT>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let frame = wid.y * params.grid_width + wid.x;
    // Uniform per workgroup, so returning early keeps the barriers below uniform.
    if (frame >= params.n_frames) {
        return;
    }
    let half_n = i32(N_FFT / 2u);
    let first = i32(frame * HOP) - half_n;
    for (var i = lid.x; i < N_FFT; i += WG) {
        let s = first + i32(i);
        var x = 0.0;
        if (s >= 0 && s < i32(params.n_samples)) {
            x = samples[s] * window[i];
        }
        buf[reverseBits(i) >> (32u - LOG2_N)] = vec2<f32>(x, 0.0);
    }
    workgroupBarrier();

    for (var s = 0u; s < LOG2_N; s++) {
        let span = 1u << s;
        for (var b = lid.x; b < N_FFT / 2u; b += WG) {
            let j = b & (span - 1u);
            let i0 = ((b >> s) << (s + 1u)) + j;
            let i1 = i0 + span;
            let w = twiddles[j << (LOG2_N - 1u - s)];
            let a = buf[i0];
            let c = buf[i1];
            let t = vec2<f32>(c.x * w.x - c.y * w.y, c.x * w.y + c.y * w.x);
            buf[i0] = a + t;
            buf[i1] = a - t;
        }
        workgroupBarrier();
    }

    let n_bins = N_FFT / 2u + 1u;
    for (var k = lid.x; k < n_bins; k += WG) {
        let v = buf[k];
        power[frame * n_bins + k] = v.x * v.x + v.y * v.y;
    }
}
