"""A debut model in PyTorch: the audio tower, text tower and fusion as nn.Modules that compute
what debut computes, loaded from a model directory (manifest.json + weights.safetensors) and
saved back as one that debut loads. Tensor names and layouts are the file's (models/README.md).

    import sys; sys.path.insert(0, "models")
    import torch
    from torch_load import load_model, save_model

    model = load_model("models/default")    # verifies the sha256; refuses missing/extra tensors
    windows = torch.randn(4, 128, 128) * 20 - 40     # one track's log-mel windows (dB)
    per_window = model.audio(windows)                # [4, 200]
    audio = model.audio.track(windows)               # [1, 200], L2-normalised mean
    features = torch.zeros(1, 4096); features[0, [7, 99]] = 1.0   # the plugin's values
    artist = model.text(features)                    # [1, 200], tf-idf inside
    embedding = model.fusion(audio, artist)          # [1, 200]: what debut publishes
    # ... fine-tune ...
    save_model(model, "my-model", name="my-model", version="1.0.0",
               provenance={"method": "fine-tuned in PyTorch", "command": "..."})
    # then: debut model check my-model

Needs torch and safetensors.
"""
import copy
import datetime
import hashlib
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

FORMAT = "debut-model/1"
MIN_NORM = 1e-12  # debut's floor on an L2 norm: a zero row stays zero


def l2_normalize(x):
    """Each row divided by max(|row|, 1e-12), as debut does."""
    return F.normalize(x, dim=1, eps=MIN_NORM)


class InputNorm(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n))
        self.register_buffer("std", torch.ones(n))


class AudioTower(nn.Module):
    """[Conv1d (same) -> ReLU -> MaxPool1d] per block, mean over time, Linear (no ReLU)."""

    def __init__(self, spec):
        super().__init__()
        self.input_norm = InputNorm(spec["n_mels"])
        c, k = spec["n_mels"], spec["kernel"]
        for i, out in enumerate(spec["channels"], 1):
            setattr(self, f"conv{i}", nn.Conv1d(c, out, k, padding=k // 2))
            c = out
        self.blocks, self.pool = len(spec["channels"]), spec["pool"]
        self.fc = nn.Linear(c, spec["embedding_dim"])

    def forward(self, x):
        """x: [windows, n_mels, frames] -> each window's embedding [windows, dim]."""
        x = (x - self.input_norm.mean[:, None]) / self.input_norm.std[:, None]
        for i in range(1, self.blocks + 1):
            x = F.max_pool1d(torch.relu(getattr(self, f"conv{i}")(x)), self.pool)
        return self.fc(x.mean(dim=2))

    def track(self, x):
        """One track's windows -> its audio embedding [1, dim]: L2 of the windows' mean."""
        return l2_normalize(self(x).mean(dim=0, keepdim=True))


class TextTower(nn.Module):
    """tf-idf (values x IDF, each row L2-normalised unless zero), Linear + ReLU between, L2."""

    def __init__(self, spec):
        super().__init__()
        self.register_buffer("idf", torch.ones(spec["feature_dim"]))
        widths = [spec["feature_dim"], *spec["hidden"], spec["embedding_dim"]]
        for i in range(1, len(widths)):
            setattr(self, f"fc{i}", nn.Linear(widths[i - 1], widths[i]))
        self.layers = len(widths) - 1

    def forward(self, features):
        """features: [artists, feature_dim], the plugin's sparse values as dense rows."""
        x = features * self.idf
        norm = x.norm(dim=1, keepdim=True)
        x = x / torch.where(norm > 0, norm, torch.ones_like(norm))
        for i in range(1, self.layers + 1):
            x = getattr(self, f"fc{i}")(x)
            if i < self.layers:
                x = torch.relu(x)
        return l2_normalize(x)


class Fusion(nn.Linear):
    """[audio, artist] -> Linear -> L2; a track without a bio has a zero artist half."""

    def forward(self, audio, artist):
        return l2_normalize(super().forward(torch.cat([audio, artist], dim=1)))


class DebutModel(nn.Module):
    def __init__(self, manifest):
        super().__init__()
        self.manifest = copy.deepcopy(manifest)
        a, t = manifest["audio_tower"], manifest["text_tower"]
        self.audio = AudioTower(a)
        self.text = TextTower(t)
        self.fusion = Fusion(a["embedding_dim"] + t["embedding_dim"], manifest["fusion"]["embedding_dim"])

    def file_names(self):
        """state_dict key -> tensor name in the weights file (the manifest names the input
        statistics and the IDF table; every other name is the same)."""
        a, t = self.manifest["audio_tower"], self.manifest["text_tower"]
        renamed = {"audio.input_norm.mean": a["input_mean"], "audio.input_norm.std": a["input_std"],
                   "text.idf": t["idf"]}
        return {k: renamed.get(k, k) for k in self.state_dict()}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_tensors(model, tensors):
    """Loads a weights file's tensors (by file name) into `model`; refuses missing, extra,
    misshapen and non-f32 tensors, naming them."""
    names = model.file_names()
    missing = sorted(set(names.values()) - set(tensors))
    extra = sorted(set(tensors) - set(names.values()))
    if missing or extra:
        raise ValueError(f"weights do not match the architecture: missing {missing}, extra {extra}")
    state = model.state_dict()
    for key, name in names.items():
        t = tensors[name]
        if t.dtype != torch.float32 or t.shape != state[key].shape:
            raise ValueError(f"tensor {name!r} is {t.dtype} {list(t.shape)}, "
                             f"the architecture needs float32 {list(state[key].shape)}")
    model.load_state_dict({key: tensors[name] for key, name in names.items()}, strict=True)
    return model


def load_model(model_dir):
    """A debut model directory -> DebutModel (in eval mode), after checking the format and
    the weights file's sha256 against the manifest."""
    with open(os.path.join(model_dir, "manifest.json")) as f:
        manifest = json.load(f)
    if manifest.get("format") != FORMAT:
        raise ValueError(f"manifest format {manifest.get('format')!r} is not {FORMAT!r}")
    path = os.path.join(model_dir, manifest["weights"]["file"])
    found = sha256(path)
    if found != manifest["weights"]["sha256"].lower():
        raise ValueError(f"{path} has sha256 {found}, the manifest says {manifest['weights']['sha256']}")
    return load_tensors(DebutModel(manifest), load_file(path)).eval()


def save_model(model, out_dir, **manifest_fields):
    """Writes `model` as a debut model directory: its tensors (same names, PyTorch layouts,
    f32) and the loaded model's manifest with the new file's sha256, `manifest_fields` (name,
    version, trained, provenance, training...) replacing its fields; a new `provenance` gets
    the keys debut requires that it lacks. Returns the sha256."""
    os.makedirs(out_dir, exist_ok=True)
    tensors = {name: model.state_dict()[key].detach().to(torch.float32).contiguous().cpu()
               for key, name in model.file_names().items()}
    path = os.path.join(out_dir, "weights.safetensors")
    save_file(tensors, path, metadata={"format": "pt"})
    manifest = copy.deepcopy(model.manifest)
    manifest.update(copy.deepcopy(manifest_fields))
    if "provenance" in manifest_fields:  # a new provenance: fill what debut requires
        p = manifest["provenance"]
        p.setdefault("method", "PyTorch (models/torch_load.py)")
        p.setdefault("command", "models/torch_load.py save_model")
        p.setdefault("created_at", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        p.setdefault("debut_version", model.manifest["provenance"]["debut_version"])
    manifest["weights"] = {"file": "weights.safetensors", "sha256": sha256(path)}
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return manifest["weights"]["sha256"]
