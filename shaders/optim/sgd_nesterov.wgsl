// SGD with Nesterov momentum (Keras 2), in place: v = m v - lr g; p += m v - lr g.

struct Params {
    len: u32,
    _pad: u32,
    lr: f32,
    momentum: f32,
}

@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> velocity: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.y * nwg.x * 256u + gid.x;
    if (i >= p.len) {
        return;
    }
    let g = grad[i];
    let v = p.momentum * velocity[i] - p.lr * g;
    velocity[i] = v;
    param[i] += p.momentum * v - p.lr * g;
}
