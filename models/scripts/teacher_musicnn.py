#!/usr/bin/env python3
"""Embed the fetched music with musicnn (the distillation teacher of `debut pretrain --teacher`).

    python3 -m venv ~/.cache/debut/teacher-venv
    ~/.cache/debut/teacher-venv/bin/pip install -r models/scripts/requirements-teacher.txt
    ~/.cache/debut/teacher-venv/bin/pip install --no-deps musicnn==0.1.0
    ~/.cache/debut/teacher-venv/bin/python models/scripts/teacher_musicnn.py \
        --music ~/.cache/debut/music --out ~/.cache/debut/music/teacher-musicnn.safetensors

musicnn (Pons and Serra 2019, ISC licence; its MSD-trained weights ship inside the PyPI package)
runs once here, in Python, never in debut. Every track of MUSIC/manifest.jsonl is cut into 3 s
patches every `--hop` seconds (3: no overlap), from the start of the file, and each patch's 200-d `penultimate`
activation of MSD_musicnn is stored: one tensor `[patches, 200]` per track, named by the
manifest's file path, in one safetensors file whose metadata records the model, patch and hop.
Held-out packages are embedded too, so that `debut eval-audio --teacher` can score musicnn
beside debut's towers; `debut pretrain` never reads them.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def embed(job):
    """Embeds `rows` in one process (its own TensorFlow session); returns {file: [patches, 200]}."""
    music, rows, model, hop, batch, worker = job
    import librosa
    import musicnn
    import tensorflow as tf
    from musicnn import configuration as config
    from musicnn import models

    tf.compat.v1.disable_eager_execution()
    labels = config.MSD_LABELS if "MSD" in model else config.MTT_LABELS
    n_frames = librosa.time_to_frames(3, sr=config.SR, n_fft=config.FFT_SIZE, hop_length=config.FFT_HOP) + 1
    step = max(1, int(round(hop * config.SR / config.FFT_HOP)))
    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, n_frames, config.N_MELS])
        is_training = tf.compat.v1.placeholder(tf.bool)
        penultimate = models.define_model(x, is_training, model, len(labels))[-1]
    sess = tf.compat.v1.Session(
        config=tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    )
    sess.run(tf.compat.v1.global_variables_initializer())
    tf.compat.v1.train.Saver().restore(sess, str(Path(musicnn.__file__).parent / model) + "/")

    out = {}
    t0, audio_seconds = time.time(), 0.0
    for i, row in enumerate(rows):
        audio, sr = librosa.load(music / row["file"], sr=config.SR)
        audio_seconds += len(audio) / sr
        # musicnn's own front end (extractor.batch_data), patches every `step` frames.
        mel = librosa.feature.melspectrogram(
            y=audio, sr=sr, hop_length=config.FFT_HOP, n_fft=config.FFT_SIZE, n_mels=config.N_MELS
        ).T
        mel = np.log10(10000 * mel.astype(np.float16) + 1)
        if mel.shape[0] < n_frames:
            mel = np.pad(mel, ((0, n_frames - mel.shape[0]), (0, 0)))
        starts = range(0, mel.shape[0] - n_frames + 1, step)
        patches = np.stack([mel[s : s + n_frames] for s in starts]).astype(np.float32)
        parts = [
            sess.run(penultimate, feed_dict={x: patches[b : b + batch], is_training: False})
            for b in range(0, len(patches), batch)
        ]
        out[row["file"]] = np.concatenate(parts).astype(np.float32)
        rate = audio_seconds / max(time.time() - t0, 1e-9)
        print(f"worker {worker}: {i + 1}/{len(rows)} tracks, {audio_seconds / 3600:.2f} h, {rate:.0f}x real time",
              file=sys.stderr, flush=True)
    meta = {
        "patch_seconds": str(n_frames * config.FFT_HOP / config.SR),
        "hop_seconds": str(step * config.FFT_HOP / config.SR),
    }
    return out, meta


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--music", type=Path, required=True, help="directory of fetch_music.py")
    ap.add_argument("--out", type=Path, required=True, help="safetensors file to write")
    ap.add_argument("--model", default="MSD_musicnn")
    ap.add_argument("--hop", type=float, default=3.0, help="seconds between patch starts")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (one core each)")
    args = ap.parse_args()

    import multiprocessing

    from safetensors.numpy import save_file

    rows = [json.loads(l) for l in (args.music / "manifest.jsonl").read_text().splitlines() if l.strip()]
    n = max(1, min(args.workers, len(rows)))
    jobs = [(args.music, rows[w::n], args.model, args.hop, args.batch, w) for w in range(n)]
    t0 = time.time()
    with multiprocessing.get_context("spawn").Pool(n) as pool:
        results = pool.map(embed, jobs)
    tensors = {k: v for out, _ in results for k, v in out.items()}
    meta = {
        "model": f"musicnn 0.1.0 {args.model} (ISC licence)",
        "layer": "penultimate",
        **results[0][1],
        "manifest_files": str(len(rows)),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(args.out), metadata=meta)
    print(f"wrote {args.out}: {len(tensors)} tracks, {time.time() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
