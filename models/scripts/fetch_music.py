#!/usr/bin/env python3
"""Fetch the free training music from Debian packages into a directory outside the repo.

    python3 -m venv ~/.cache/debut/music-venv
    ~/.cache/debut/music-venv/bin/pip install -r models/scripts/requirements-music.txt
    ~/.cache/debut/music-venv/bin/python models/scripts/fetch_music.py --out ~/.cache/debut/music

No game is installed: each package is fetched with `apt-get download` and its data archive read
with `dpkg-deb --fsys-tarfile`. Every audio file inside (by content, not name; zip archives
inside the package are searched too) that lasts at least `--min-seconds` is kept, so sound
effects stay out and no per-package paths need knowing. Fret's on Fire songs come as stems
(song, guitar, rhythm, ...): they are mixed into one FLAC per song. Opus files are skipped
(debut's decoder has none). The music lands in OUT/PKG/..., with OUT/manifest.jsonl
(package, version, file, seconds, sample_rate, channels, format, sha256) and OUT/FILES.sha256
(the sha256 of the sorted file list with hashes, the data's provenance). Nothing here is
committed; the script is idempotent (downloads and finished packages are kept).
"""

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf

# The packages of issue 13: about 14 hours of Ogg Vorbis and MP3 music.
PACKAGES = [
    "naev-data", "supertux-data", "widelands-data", "hedgewars-data", "blobwars-data",
    "colobot-common-sounds", "supertuxkart-data", "marsshooter-data", "freedroidrpg-data",
    "flare-game", "megaglest-data", "pushover-data", "starfighter-data", "warmux-data",
    "openclonk-data", "fretsonfire-songs-muldjord", "fretsonfire-songs-sectoid", "fillets-ng-data",
    "enigma-data", "asc-music", "freecol", "frozen-bubble-data", "xmoto-data", "ardentryst",
    "noiz2sa-data", "neverball-common", "extremetuxracer-data", "powermanga-data",
]
# More, on request (--extra): 0ad-data's orchestral music sits inside a 3.3 GB zip.
EXTRA = ["0ad-data"]
STEMS = "fretsonfire-songs-"
AUDIO_EXT = {".ogg", ".oga", ".mp3", ".flac", ".wav", ".opus"}


def sniff(head: bytes) -> str | None:
    """The container by its first bytes: names lie (blobwars' music has no extension)."""
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def is_opus(path: Path) -> bool:
    with open(path, "rb") as f:
        return b"OpusHead" in f.read(64)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(pkg: str, debs: Path) -> Path:
    found = sorted(debs.glob(f"{pkg}_*.deb"))
    if not found:
        subprocess.run(["apt-get", "download", pkg], cwd=debs, check=True,
                       stdout=subprocess.DEVNULL)
        found = sorted(debs.glob(f"{pkg}_*.deb"))
    if not found:
        sys.exit(f"apt-get download {pkg} wrote no .deb")
    return found[-1]


def candidates(deb: Path, scratch: Path):
    """Yields (member path, temp file, format) for every audio file in the package's data."""
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for m in tar:
            if not m.isfile() or m.size < 64 * 1024:
                continue
            f = tar.extractfile(m)
            head = f.read(16)
            ext = os.path.splitext(m.name)[1].lower()
            kind = sniff(head)
            if kind is None and ext != ".zip":
                continue
            tmp = scratch / f"member{ext if ext == '.zip' else ''}"
            with open(tmp, "wb") as out:
                out.write(head)
                shutil.copyfileobj(f, out, 1 << 20)
            if ext == ".zip":
                yield from zip_candidates(m.name, tmp, scratch)
            elif ext in AUDIO_EXT or ext == "" or kind is not None:
                yield m.name.lstrip("./"), tmp, kind
    if proc.wait() != 0:
        sys.exit(f"dpkg-deb --fsys-tarfile {deb} failed")


def zip_candidates(name: str, path: Path, scratch: Path):
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if info.is_dir() or info.file_size < 64 * 1024:
                continue
            with z.open(info) as f:
                head = f.read(16)
                kind = sniff(head)
                if kind is None:
                    continue
                tmp = scratch / "inner"
                with open(tmp, "wb") as out:
                    out.write(head)
                    shutil.copyfileobj(f, out, 1 << 20)
            yield f"{name.lstrip('./')}/{info.filename}", tmp, kind


def short(member: str) -> str:
    for prefix in ("usr/share/games/", "usr/share/"):
        if member.startswith(prefix):
            return member[len(prefix):]
    return member


def keep(member: str, tmp: Path, kind: str, dest_root: Path, min_seconds: float):
    """Moves a long enough, decodable, non-Opus file into place; returns its info or None."""
    if kind == "ogg" and is_opus(tmp):
        return None
    try:
        info = sf.info(str(tmp))
    except Exception:
        return None
    if info.duration < min_seconds:
        return None
    rel = Path(short(member))
    if rel.suffix.lower() not in AUDIO_EXT:
        rel = rel.with_name(rel.name + "." + kind)
    dest = dest_root / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(tmp, dest)
    return dest, info


def mix_stems(songs: dict, dest_root: Path) -> list:
    """One FLAC per Fret's on Fire song: its stems summed, peak-limited to 0.99."""
    out = []
    for song_dir, stems in sorted(songs.items()):
        tracks = [sf.read(str(p), always_2d=True, dtype="float32") for p in sorted(stems)]
        rates = {r for _, r in tracks}
        if len(rates) != 1:
            print(f"  skip {song_dir}: stems at different rates {rates}", file=sys.stderr)
            continue
        n = max(len(x) for x, _ in tracks)
        ch = max(x.shape[1] for x, _ in tracks)
        mix = np.zeros((n, ch), np.float32)
        for x, _ in tracks:
            mix[: len(x)] += x if x.shape[1] == ch else np.repeat(x, ch, axis=1)
        peak = float(np.abs(mix).max()) or 1.0
        if peak > 0.99:
            mix *= 0.99 / peak
        dest = dest_root / (song_dir + ".flac")
        dest.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(dest), mix, rates.pop(), format="FLAC")
        for p in stems:
            p.unlink()
        out.append(dest)
    return out


def fetch(pkg: str, out: Path, debs: Path, min_seconds: float) -> list:
    deb = download(pkg, debs)
    version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True,
                             text=True, check=True).stdout.strip()
    root = out / pkg
    if root.exists():
        shutil.rmtree(root)
    stems: dict = {}
    kept = []
    with tempfile.TemporaryDirectory(dir=out) as scratch:
        for member, tmp, kind in candidates(deb, Path(scratch)):
            if pkg.startswith(STEMS) and "/songs/" in member:
                # Stems are kept whatever their length; the mix is what must last.
                got = keep(member, tmp, kind, Path(scratch) / "stems", 0.0)
                if got:
                    song = short(str(Path(member).parent))
                    stems.setdefault(song, []).append(got[0])
                continue
            got = keep(member, tmp, kind, root, min_seconds)
            if got:
                kept.append(got[0])
        if stems:
            mixed = mix_stems(stems, root)
            kept += [p for p in mixed if sf.info(str(p)).duration >= min_seconds]
            for p in set(mixed) - set(kept):
                p.unlink()
    rows = []
    for p in sorted(kept):
        info = sf.info(str(p))
        rows.append({
            "package": pkg, "version": version, "file": str(p.relative_to(out)),
            "seconds": round(info.duration, 3), "sample_rate": info.samplerate,
            "channels": info.channels, "format": info.format, "sha256": sha256_of(p),
        })
    root.mkdir(parents=True, exist_ok=True)
    (root / ".done.json").write_text(json.dumps(rows))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="a directory outside the repo")
    ap.add_argument("--packages", nargs="*", default=PACKAGES)
    ap.add_argument("--extra", nargs="*", default=[], choices=EXTRA, help="more music, larger downloads")
    ap.add_argument("--min-seconds", type=float, default=60.0, help="shorter files are sound effects")
    args = ap.parse_args()
    out = args.out.expanduser().resolve()
    if Path(__file__).resolve().parents[2] in [out, *out.parents]:
        sys.exit("--out must be outside the repository: the music is never committed")
    debs = out / ".debs"
    debs.mkdir(parents=True, exist_ok=True)
    rows = []
    for pkg in args.packages + args.extra:
        done = out / pkg / ".done.json"
        got = json.loads(done.read_text()) if done.exists() else fetch(pkg, out, debs, args.min_seconds)
        minutes = sum(r["seconds"] for r in got) / 60
        print(f"{pkg:28} {len(got):4} files {minutes:7.1f} min", flush=True)
        rows += got
    with open(out / "manifest.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    listing = "".join(f"{r['sha256']}  {r['file']}\n" for r in sorted(rows, key=lambda r: r["file"]))
    digest = hashlib.sha256(listing.encode()).hexdigest()
    (out / "FILES.sha256").write_text(listing)
    hours = sum(r["seconds"] for r in rows) / 3600
    print(f"{len(rows)} files, {hours:.1f} h of music in {out}; file list sha256 {digest}")


if __name__ == "__main__":
    main()
