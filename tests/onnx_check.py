"""Checks the ONNX files of `debut model export --onnx` against debut's own outputs (run by
tests/export.rs):

    python onnx_check.py ONNX_DIR CASE_DIR [TOLERANCE]

CASE_DIR/cases.json lists runs, {"graph": "audio_tower", "inputs": {name: "x.npy"},
"outputs": {name: "y.npy"}}, with batch-first float32 arrays as the graphs take and give
them. Every file must pass onnx's checker with strict shape inference (so the declared output
shapes hold), declare opset 17 and IR 8, and name exactly the inputs and outputs the runs use;
every output must match debut's within TOLERANCE (max abs diff, default 1e-4). Prints one
JSON line per graph, then {"ok": ...}; exits 1 when anything fails.
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    onnx_dir, case_dir = sys.argv[1], sys.argv[2]
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-4
    with open(os.path.join(case_dir, "cases.json")) as f:
        cases = json.load(f)
    ok = True
    for graph in sorted({c["graph"] for c in cases}):
        path = os.path.join(onnx_dir, f"{graph}.onnx")
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        problems = []
        if model.ir_version != 8 or [(o.domain, o.version) for o in model.opset_import] != [("", 17)]:
            problems.append(f"IR {model.ir_version}, opsets {model.opset_import}")
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        runs = [c for c in cases if c["graph"] == graph]
        names = ([i.name for i in sess.get_inputs()], [o.name for o in sess.get_outputs()])
        diff, scale = 0.0, 0.0
        for run in runs:
            if (sorted(names[0]), sorted(names[1])) != (sorted(run["inputs"]), sorted(run["outputs"])):
                problems.append(f"graph names {names}, the run uses {list(run['inputs'])} -> {list(run['outputs'])}")
                continue
            feed = {k: np.load(os.path.join(case_dir, v)) for k, v in run["inputs"].items()}
            got = dict(zip(names[1], sess.run(names[1], feed)))
            for name, file in run["outputs"].items():
                want = np.load(os.path.join(case_dir, file))
                if got[name].shape != want.shape:
                    problems.append(f"{name} has shape {got[name].shape}, debut's {want.shape}")
                    continue
                diff = max(diff, float(np.max(np.abs(got[name].astype(np.float64) - want))))
                scale = max(scale, float(np.max(np.abs(want))))
        passed = not problems and diff <= tol
        ok &= passed
        print(json.dumps({"graph": graph, "runs": len(runs), "max_abs_diff": diff, "max_abs_debut": scale,
                          "ok": passed, "problems": problems}), flush=True)
    print(json.dumps({"ok": ok, "onnxruntime": ort.__version__, "onnx": onnx.__version__}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
