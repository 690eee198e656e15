// A bias's gradient, accumulated: db[r] += sum_c dz[r, c], with dz = dy where mask > 0
// (MASK: the forward's ReLU output), else dy. One workgroup per row, a tree reduction in
// workgroup memory.

override MASK: bool = false;

struct Params {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> dy: array<f32>;         // [rows, cols]
@group(0) @binding(1) var<storage, read> mask: array<f32>;       // like dy (MASK)
@group(0) @binding(2) var<storage, read_write> db: array<f32>;   // [rows]
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let r = wid.y * nwg.x + wid.x;
    var s = 0.0;
    if (r < p.rows) {
        for (var c = li; c < p.cols; c += 256u) {
            let at = r * p.cols + c;
            if (!MASK || mask[at] > 0.0) {
                s += dy[at];
            }
        }
    }
    partial[li] = s;
    workgroupBarrier();
    for (var half = 128u; half > 0u; half >>= 1u) {
        if (li < half) {
            partial[li] += partial[li + half];
        }
        workgroupBarrier();
    }
    if (li == 0u && r < p.rows) {
        db[r] = db[r] + partial[0];
    }
}
