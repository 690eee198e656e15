"""onnxruntime running debut's audio tower, built as an ONNX graph from the same
safetensors weights (Conv/Relu/MaxPool x5, ReduceMean, Gemm: the PyTorch/ONNX layouts debut
uses). Called by `debut bench tower`:

    python3 onnx_tower.py MODEL_DIR INPUT.npy DEBUT_OUT.npy REPEAT BATCHES THREADS

INPUT.npy is debut's [128, B, 128] windows (channels, batch, time); DEBUT_OUT.npy its
[200, B] output for them. Prints one JSON line per (threads, batch) with ms per window, and
the largest difference between onnxruntime's and debut's outputs.
"""
import json
import struct
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(raw[base + a : base + b], dtype="<f4").reshape(info["shape"])
    return out


def build(model_dir):
    manifest = json.load(open(f"{model_dir}/manifest.json"))
    spec = manifest["audio_tower"]
    w = read_safetensors(f"{model_dir}/{manifest['weights']['file']}")
    n_mels = spec["n_mels"]
    inits = [
        numpy_helper.from_array(w[spec["input_mean"]].reshape(1, n_mels, 1), "mean"),
        numpy_helper.from_array(w[spec["input_std"]].reshape(1, n_mels, 1), "std"),
    ]
    nodes = [helper.make_node("Sub", ["x", "mean"], ["xm"]), helper.make_node("Div", ["xm", "std"], ["h0"])]
    h = "h0"
    k = spec["kernel"]
    for i in range(1, len(spec["channels"]) + 1):
        inits += [numpy_helper.from_array(w[f"audio.conv{i}.weight"], f"w{i}"),
                  numpy_helper.from_array(w[f"audio.conv{i}.bias"], f"b{i}")]
        nodes += [
            helper.make_node("Conv", [h, f"w{i}", f"b{i}"], [f"c{i}"], kernel_shape=[k], pads=[k // 2, k // 2]),
            helper.make_node("Relu", [f"c{i}"], [f"r{i}"]),
            helper.make_node("MaxPool", [f"r{i}"], [f"p{i}"], kernel_shape=[spec["pool"]], strides=[spec["pool"]]),
        ]
        h = f"p{i}"
    inits += [numpy_helper.from_array(w["audio.fc.weight"], "fcw"), numpy_helper.from_array(w["audio.fc.bias"], "fcb")]
    nodes += [helper.make_node("ReduceMean", [h], ["m"], axes=[2], keepdims=0),
              helper.make_node("Gemm", ["m", "fcw", "fcb"], ["y"], transB=1)]
    graph = helper.make_graph(
        nodes, "debut_audio_tower",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", n_mels, spec["window_frames"]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", spec["embedding_dim"]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def main():
    model_dir, inp, debut_out, repeat, batches, threads = sys.argv[1:7]
    onnx_bytes = build(model_dir)
    x_cbt = np.load(inp)                      # [C, B, T]
    x = np.ascontiguousarray(x_cbt.transpose(1, 0, 2))  # [B, C, T]
    ref = np.load(debut_out).T                # [B, 200]
    for th in [int(t) for t in threads.split(",")]:
        so = ort.SessionOptions()
        so.intra_op_num_threads = th
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(onnx_bytes, so, providers=["CPUExecutionProvider"])
        y = sess.run(None, {"x": x})[0]
        diff = float(np.max(np.abs(y - ref)) / max(1e-6, float(np.max(np.abs(ref)))))
        for b in [int(v) for v in batches.split(",")]:
            xb = x[:b]
            sess.run(None, {"x": xb})
            times = []
            for _ in range(int(repeat)):
                t0 = time.perf_counter()
                sess.run(None, {"x": xb})
                times.append(time.perf_counter() - t0)
            ms = float(np.median(times)) * 1e3
            print(json.dumps({"threads": th, "batch": b, "ms_per_window": ms / b, "rel_diff_vs_debut": diff,
                              "version": ort.__version__}), flush=True)


if __name__ == "__main__":
    main()
