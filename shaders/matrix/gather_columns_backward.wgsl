// The lookup's gradient, accumulated: dtable[i, r] += sum_{j : idx[j] = i} dy[r, j]. The host
// groups the batch positions by row (an index may repeat), so each invocation owns one
// (row, feature) value and sums without atomics, in a fixed order.

struct Params {
    d: u32,
    batch: u32,
    groups: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> rows: array<u32>;       // [groups] table rows
@group(0) @binding(1) var<storage, read> offsets: array<u32>;    // [groups + 1] into members
@group(0) @binding(2) var<storage, read> members: array<u32>;    // batch positions
@group(0) @binding(3) var<storage, read> dy: array<f32>;         // [d, batch]
@group(0) @binding(4) var<storage, read_write> dtable: array<f32>; // [n, d]
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(64, 4, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let g = gid.x;
    let r = gid.y;
    if (g >= p.groups || r >= p.d) {
        return;
    }
    var s = 0.0;
    for (var e = offsets[g]; e < offsets[g + 1u]; e++) {
        s += dy[r * p.batch + members[e]];
    }
    let at = rows[g] * p.d + r;
    dtable[at] = dtable[at] + s;
}
