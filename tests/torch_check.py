"""Checks models/torch_load.py against debut (run by tests/export.rs):

    python torch_check.py MODEL_DIR CASE_DIR OUT_DIR [TOLERANCE]

Loads MODEL_DIR into the PyTorch modules and runs them on CASE_DIR's runs (the format of
onnx_check.py), each output within TOLERANCE (max abs diff, default 1e-4) of debut's; checks
that a missing, an extra and a misshapen tensor are refused; saves the model to OUT_DIR/same
(manifest fields kept) and OUT_DIR/renamed (new name, version and provenance), reloads both
and compares every tensor bit for bit with MODEL_DIR's. Prints JSON lines, then {"ok": ...};
exits 1 when anything fails. `debut model check` of the saved directories is the caller's.
"""
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
import torch_load  # noqa: E402


def run_graph(model, graph, x):
    if graph == "audio_tower":
        return {"window_embeddings": model.audio(x["windows"]), "audio_embedding": model.audio.track(x["windows"])}
    if graph == "text_tower":
        return {"artist_embedding": model.text(x["features"])}
    if graph == "fusion":
        return {"embedding": model.fusion(x["audio_embedding"], x["artist_embedding"])}
    raise ValueError(f"unknown graph {graph}")


def refused(model_dir, change):
    """Whether load_tensors refuses the model's tensors after `change(tensors)`."""
    manifest = json.load(open(os.path.join(model_dir, "manifest.json")))
    tensors = load_file(os.path.join(model_dir, manifest["weights"]["file"]))
    change(tensors)
    try:
        torch_load.load_tensors(torch_load.DebutModel(manifest), tensors)
    except ValueError as e:
        return str(e)
    return None


def bits(t):
    return t.contiguous().view(torch.int32)


def main():
    model_dir, case_dir, out_dir = sys.argv[1:4]
    tol = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-4
    torch.set_grad_enabled(False)
    model = torch_load.load_model(model_dir)
    cases = json.load(open(os.path.join(case_dir, "cases.json")))
    ok = True
    for graph in sorted({c["graph"] for c in cases}):
        diff, scale = 0.0, 0.0
        for run in (c for c in cases if c["graph"] == graph):
            x = {k: torch.from_numpy(np.load(os.path.join(case_dir, v))) for k, v in run["inputs"].items()}
            got = run_graph(model, graph, x)
            for name, file in run["outputs"].items():
                want = np.load(os.path.join(case_dir, file))
                assert got[name].shape == want.shape, (graph, name, got[name].shape, want.shape)
                diff = max(diff, float(np.max(np.abs(got[name].numpy().astype(np.float64) - want))))
                scale = max(scale, float(np.max(np.abs(want))))
        ok &= diff <= tol
        print(json.dumps({"graph": graph, "max_abs_diff": diff, "max_abs_debut": scale, "ok": diff <= tol}), flush=True)

    first, fc = "audio.conv1.weight", "audio.fc.weight"
    refusals = {
        "missing": refused(model_dir, lambda t: t.pop(first)),
        "extra": refused(model_dir, lambda t: t.update({"audio.extra": torch.zeros(1)})),
        "shape": refused(model_dir, lambda t: t.update({fc: t[fc].t().contiguous()})),
    }
    refusals_ok = all(refusals.values()) and all(
        name in refusals[why] for why, name in [("missing", first), ("extra", "audio.extra"), ("shape", fc)])
    ok &= refusals_ok
    print(json.dumps({"refusals": refusals, "ok": refusals_ok}), flush=True)

    source = load_file(os.path.join(model_dir, model.manifest["weights"]["file"]))
    saved = {}
    for sub, fields in [("same", {}), ("renamed", {"name": "torch-roundtrip", "version": "2.0.0",
                                                   "provenance": {"method": "saved by torch_check.py"}})]:
        sha = torch_load.save_model(model, os.path.join(out_dir, sub), **fields)
        back = torch_load.load_model(os.path.join(out_dir, sub))
        state = {name: back.state_dict()[key] for key, name in back.file_names().items()}
        same = state.keys() == source.keys() and all(torch.equal(bits(state[k]), bits(source[k])) for k in source)
        saved[sub] = {"sha256": sha, "tensors": len(state), "bit_identical": same}
        ok &= same
    print(json.dumps({"saved": saved, "source_sha256": model.manifest["weights"]["sha256"]}), flush=True)
    print(json.dumps({"ok": ok, "torch": torch.__version__}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
