"""A recorded stream for `debut replay` over real music: one bio per package (artist = the
Debian package) and one track release per audio file, from the free training music
(`models/scripts/fetch_music.py`). The per-stage profile in the README comes from it:

    python3 host/benches/make_replay.py ~/.cache/debut/music 300 > /tmp/replay.jsonl
    debut replay /tmp/replay.jsonl --out /tmp/replay-out.jsonl --backend cpu
"""
import base64
import json
import os
import sys

MEDIA = {".ogg": "audio/ogg", ".flac": "audio/flac", ".mp3": "audio/mpeg", ".wav": "audio/wav"}


def main():
    root, limit = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 300
    files = sorted(os.path.join(r, f) for r, _, fs in os.walk(root) for f in fs
                   if os.path.splitext(f)[1] in MEDIA)[:limit]
    packages = sorted({os.path.relpath(f, root).split(os.sep)[0] for f in files})
    for p in packages:
        bio = {"artist_id": p, "name": p, "label": "Debian",
               "bio": f"{p} is the soundtrack of a free game packaged by Debian: orchestral, "
                      "electronic and rock pieces for levels, menus and cut scenes."}
        print(json.dumps({"topic": "debut.artist-bios", "key": p, "headers": {}, "value": json.dumps(bio)}))
    for i, f in enumerate(files):
        artist = os.path.relpath(f, root).split(os.sep)[0]
        track = f"trk-{i:04d}"
        with open(f, "rb") as fh:
            audio = base64.b64encode(fh.read()).decode()
        headers = {"ce_specversion": "1.0", "ce_id": f"ev-{track}", "ce_source": "replay",
                   "ce_type": "debut.release.track.v1", "ce_subject": track, "ce_artistid": artist,
                   "content-type": MEDIA[os.path.splitext(f)[1]]}
        print(json.dumps({"topic": "debut.releases", "key": track, "headers": headers, "value_base64": audio}))


if __name__ == "__main__":
    main()
