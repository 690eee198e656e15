"""Benchmark audio for `debut bench pipeline` from the free training music
(`models/scripts/fetch_music.py`; Debian game music, Ogg Vorbis): 30 s clips (the centre of
each track, 44.1 kHz stereo) in MP3 (LAME, 192 kbit/s), Ogg Vorbis (the original packets,
cut without re-encoding: FFmpeg's own Vorbis encoder writes broken streams), AAC-LC in MP4
(192 kbit/s), Ogg Opus (128 kbit/s, 48 kHz), FLAC and WAV, and full-length tracks (3-5 min) in MP3, Ogg Vorbis (the
originals) and AAC. Encodes with PyAV (its bundled FFmpeg; a benchmark tool, not part of
debut). Run with the bench venv's Python, which `debut bench pipeline` makes on first use:

    ~/.cache/debut/bench-venv/bin/pip install av   # once
    ~/.cache/debut/bench-venv/bin/python host/benches/make_bench_audio.py ~/.cache/debut/music /tmp/debut-bench 12
"""
import os
import shutil
import sys

import av
import numpy as np

RATE = 44100
CLIP_S = 30


def decode(path):
    """The whole file as float32 [2, n] at 44.1 kHz."""
    with av.open(path) as f:
        rs = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
        parts = []
        for frame in f.decode(audio=0):
            for out in rs.resample(frame):
                parts.append(out.to_ndarray())
        for out in rs.resample(None):
            parts.append(out.to_ndarray())
    return np.concatenate(parts, axis=1).astype(np.float32)


def cut_ogg(src, dst, start_s, seconds):
    """`seconds` of `src` from `start_s`, its Vorbis packets copied as they are."""
    with av.open(src) as f, av.open(dst, "w", format="ogg") as out:
        ins = f.streams.audio[0]
        st = out.add_stream_from_template(ins)
        f.seek(int(start_s / ins.time_base), stream=ins)
        first = None
        for p in f.demux(ins):
            if p.pts is None:
                continue
            first = p.pts if first is None else first
            if (p.pts - first) * ins.time_base > seconds:
                break
            p.pts -= first
            p.dts = p.pts
            p.stream = st
            out.mux(p)


def encode(x, path, codec, bit_rate=None, rate=RATE):
    """`x` (44.1 kHz stereo) encoded with `codec` at `rate` (Opus only runs at 48 kHz)."""
    with av.open(path, "w", format="ogg" if path.endswith(".opus") else None) as out:
        st = out.add_stream(codec, rate=rate, layout="stereo")
        if bit_rate:
            st.bit_rate = bit_rate
        fmt = st.codec_context.format.name
        size = st.codec_context.frame_size or 1024
        rs = av.AudioResampler(format=fmt, layout="stereo", rate=rate, frame_size=size)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x), format="fltp", layout="stereo")
        frame.sample_rate = RATE
        for f in rs.resample(frame) + rs.resample(None):
            for p in st.encode(f):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)


def main():
    src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 12
    clips, full = os.path.join(dst, "clips"), os.path.join(dst, "full")
    os.makedirs(clips, exist_ok=True)
    os.makedirs(full, exist_ok=True)
    files = sorted(os.path.join(r, f) for r, _, fs in os.walk(src) for f in fs if f.endswith(".ogg"))
    made = 0
    for path in files:
        with av.open(path) as f:
            seconds = float(f.duration or 0) / av.time_base
            a = f.streams.audio[0].codec_context
            stereo_44k = a.sample_rate == RATE and a.channels == 2
        if not (180 <= seconds <= 300 and stereo_44k):
            continue
        x = decode(path)
        start = max(0, (x.shape[1] - CLIP_S * RATE) // 2)
        clip = x[:, start:start + CLIP_S * RATE]
        name = f"t{made:02d}"
        encode(clip, f"{clips}/{name}.mp3", "libmp3lame", 192_000)
        cut_ogg(path, f"{clips}/{name}.ogg", start / RATE, CLIP_S)
        encode(clip, f"{clips}/{name}.m4a", "aac", 192_000)
        encode(clip, f"{clips}/{name}.flac", "flac")
        encode(clip, f"{clips}/{name}.wav", "pcm_s16le")
        encode(clip, f"{clips}/{name}.opus", "libopus", 128_000, rate=48_000)
        encode(x, f"{full}/{name}.mp3", "libmp3lame", 192_000)
        encode(x, f"{full}/{name}.m4a", "aac", 192_000)
        shutil.copy(path, f"{full}/{name}.ogg")
        print(f"{name}: {path} ({seconds:.0f} s)", flush=True)
        made += 1
        if made == n:
            break


if __name__ == "__main__":
    main()
