"""The Python peer of `debut bench pipeline`: what a team would otherwise run to embed a
track. librosa 0.11 loads it at 22 050 Hz mono (decode, downmix, soxr_hq resample), then the
log-mel (n_fft 1024, hop 512, 128 bands, power_to_db), then up to ten 128-frame windows
through onnxruntime with debut's own weights (`debut model export --onnx`'s
audio_tower.onnx: input normalisation, the CNN, mean over windows, L2 norm).

Two ways to load, both timed:
  fair   the centre 30 s only (librosa.get_duration, then offset/duration), as debut does;
  whole  the whole file, cropped to the centre 30 s afterwards (librosa.load as usually called).

    python3 pipeline_peer.py AUDIO_TOWER.onnx

Reads commands from stdin, one JSON per line: {"mode": "fair"|"whole", "threads": N,
"files": [...]}; runs every file once with N worker processes (each single-threaded) and prints
{"seconds": wall, "embeddings": {file: [200 floats]}}. The first round per (mode, threads)
warms the workers up; the caller discards it.
"""
import json
import os
import sys
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[var] = "1"

import multiprocessing as mp  # noqa: E402

SR = 22050
SPAN_S = 30.0
WINDOW = 128
MAX_WINDOWS = 10

_session = None


def _init(onnx_path):
    global _session
    import numpy as np
    import librosa
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    _session = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    # Warm numba, soxr and the session up.
    y = np.zeros(SR, np.float32)
    librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=SR, n_fft=1024, hop_length=512, n_mels=128))


def embed(args):
    path, mode = args
    import numpy as np
    import librosa

    if mode == "fair":
        duration = librosa.get_duration(path=path)
        offset = max(0.0, (duration - SPAN_S) / 2)
        y, _ = librosa.load(path, sr=SR, mono=True, offset=offset, duration=SPAN_S)
    else:
        y, _ = librosa.load(path, sr=SR, mono=True)
        span = int(SPAN_S * SR)
        if len(y) > span:
            start = (len(y) - span) // 2
            y = y[start:start + span]
    mel = librosa.power_to_db(
        librosa.feature.melspectrogram(y=y, sr=SR, n_fft=1024, hop_length=512, n_mels=128),
        ref=1.0, amin=1e-10, top_db=None).astype(np.float32)
    n = min(MAX_WINDOWS, max(1, mel.shape[1] // WINDOW))
    if mel.shape[1] < WINDOW:
        mel = np.pad(mel, ((0, 0), (0, WINDOW - mel.shape[1])))
    x = np.stack([mel[:, i * WINDOW:(i + 1) * WINDOW] for i in range(n)])
    (e,) = _session.run(["audio_embedding"], {"windows": x})
    return path, e[0].tolist()


def main():
    onnx_path = sys.argv[1]
    pools = {}
    for line in sys.stdin:
        cmd = json.loads(line)
        threads = int(cmd["threads"])
        if threads not in pools:
            pools[threads] = mp.get_context("fork").Pool(threads, initializer=_init, initargs=(onnx_path,))
        pool = pools[threads]
        t0 = time.perf_counter()
        results = pool.map(embed, [(f, cmd["mode"]) for f in cmd["files"]], chunksize=1)
        seconds = time.perf_counter() - t0
        print(json.dumps({"seconds": seconds, "embeddings": dict(results)}), flush=True)
    for p in pools.values():
        p.close()


if __name__ == "__main__":
    main()
