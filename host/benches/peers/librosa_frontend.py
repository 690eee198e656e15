"""librosa 0.11 timings for the same front end debut runs: load at 22 050 Hz (decode,
downmix, soxr_hq resample), then the DCUE log-mel. Called by `debut bench frontend`;
prints one JSON object per file. Single-threaded, like debut's 1-thread column."""
import json
import os
import sys
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[var] = "1"

import numpy as np  # noqa: E402
import librosa  # noqa: E402


def median_ms(fn, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times)), out


def main():
    repeat = int(sys.argv[1])
    files = sys.argv[2:]
    # Warm numba/soxr/audioread up outside the timings.
    librosa.power_to_db(librosa.feature.melspectrogram(y=np.zeros(22050, np.float32), sr=22050))
    for f in files:
        librosa.load(f, sr=22050)
        load_ms, (y, _) = median_ms(lambda: librosa.load(f, sr=22050), repeat)
        mel_ms, _ = median_ms(
            lambda: librosa.power_to_db(
                librosa.feature.melspectrogram(y=y, sr=22050, n_fft=1024, hop_length=512, n_mels=128),
                ref=1.0, amin=1e-10, top_db=None),
            repeat)
        print(json.dumps({"file": f, "load_ms": load_ms, "mel_ms": mel_ms,
                          "version": librosa.__version__}), flush=True)


if __name__ == "__main__":
    main()
