#!/usr/bin/env bash
# Rebuilds models/default from nothing: free music, its musicnn teacher embeddings, the
# pretrained audio tower, a synthetic catalog, the text tower and fusion, the evaluation.
#
#   models/scripts/build_default.sh [WORK_DIR]
#
# WORK_DIR (default ~/.cache/debut/default-build) keeps every intermediate; the music and
# the teacher's embeddings go to MUSIC (default ~/.cache/debut/music); nothing of either is
# committed. Each step is skipped when its output exists, so a rerun resumes. Times on 2
# cores: fetch 4 min, teacher 25 min, pretraining ~10 min, catalog 3 min, training 3 min,
# evaluation 2 min. Prints the real-music evaluation and writes it into the manifest.
set -euo pipefail
cd "$(dirname "$0")/../.."
work="${1:-$HOME/.cache/debut/default-build}"
music="${MUSIC:-$HOME/.cache/debut/music}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/debut/target}"
if [ -z "${DEBUT_BIN:-}" ]; then
  cargo build --release --bin debut
fi
debut="${DEBUT_BIN:-$CARGO_TARGET_DIR/release/debut}"
mkdir -p "$work"

# 1. Free music from Debian packages (models/scripts/fetch_music.py).
if [ ! -f "$music/manifest.jsonl" ]; then
  [ -x ~/.cache/debut/music-venv/bin/python ] || {
    python3 -m venv ~/.cache/debut/music-venv
    ~/.cache/debut/music-venv/bin/pip install -q -r models/scripts/requirements-music.txt
  }
  ~/.cache/debut/music-venv/bin/python models/scripts/fetch_music.py --out "$music"
fi
# 2. The teacher's embeddings (musicnn, MSD; Python, once).
teacher="$music/teacher-musicnn.safetensors"
if [ ! -f "$teacher" ]; then
  [ -x ~/.cache/debut/teacher-venv/bin/python ] || {
    python3 -m venv ~/.cache/debut/teacher-venv
    ~/.cache/debut/teacher-venv/bin/pip install -q -r models/scripts/requirements-teacher.txt
    ~/.cache/debut/teacher-venv/bin/pip install -q --no-deps musicnn==0.1.0
  }
  ~/.cache/debut/teacher-venv/bin/python models/scripts/teacher_musicnn.py --music "$music" --out "$teacher"
fi
# 3. The audio tower, pretrained on the music (held-out packages never read).
[ -f "$work/pretrained/manifest.json" ] || "$debut" pretrain --audio "$music" --teacher "$teacher" \
  --out "$work/pretrained" --pretrain-config models/scripts/pretrain-default.json --backend cpu
# 4. A synthetic catalog whose bios use real genre, instrument and place words.
synth=(synth --out "$work/catalog" --seed 11 --tracks 1500 --artists 150 --users 1000 --seconds 30)
[ -f "$work/catalog/plays.tsv" ] || "$debut" "${synth[@]}"
# 5. Text tower and fusion on the catalog, around the pretrained tower served untouched.
[ -f "$work/model/manifest.json" ] || "$debut" train --data "$work/catalog" --out "$work/model" --name default \
  --init-audio "$work/pretrained" --serve pretrained --stage wmf --stage text --stage fusion \
  --train-config models/scripts/train-default.json --backend cpu
# 6. The real-music evaluation on the held-out packages, into the manifest.
"$debut" eval-audio --audio "$music" --model "$work/model" --teacher "$teacher" --json "$work/eval-audio.json" \
  --backend cpu --quiet | tee "$work/eval-audio.txt"
mkdir -p models/default
cp "$work/model/weights.safetensors" models/default/
cp "$work/pretrained/loss_curves.png" models/default/pretraining.png
python3 - "$work" "$music" "debut ${synth[*]}" <<'PY'
import json, sys, pathlib
work, music, synth = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
m = json.loads((work / "model/manifest.json").read_text())
pre = json.loads((work / "pretrained/manifest.json").read_text())
report = json.loads((work / "pretrained/report.json").read_text())
import hashlib, os
listing = music / "FILES.sha256"
files = hashlib.sha256(listing.read_bytes()).hexdigest() if listing.exists() else None
packages = sorted({json.loads(l)["package"] for l in (music / "manifest.jsonl").read_text().splitlines() if l.strip()})
m["version"] = "1.0.0"
m["provenance"]["method"] = f"{pre['provenance']['method'].split('; text tower')[0]}; then {m['provenance']['method']}"
m["provenance"]["data"] = (
    f"audio tower: free music of {len(packages)} Debian packages ({', '.join(packages)}; "
    f"FILES.sha256 {files}), never the held-out {', '.join(report['held_out_packages'])}; "
    f"text tower and fusion: the synthetic catalog {m['provenance']['data']}"
)
teacher = "models/scripts/teacher_musicnn.py --music MUSIC --out MUSIC/teacher-musicnn.safetensors"
m["provenance"]["command"] = "models/scripts/build_default.sh: " + " && ".join(
    [teacher, pre["provenance"]["command"], synth, m["provenance"]["command"]])
m["provenance"]["metrics"] = {
    "seeds": {"pretrain": pre["provenance"]["seed"], "synth": 11, "train": m["provenance"]["seed"]},
    "eval_audio_held_out": json.loads((work / "eval-audio.json").read_text()),
    "pretraining": {"best_epoch_validation_map": 1 - report["history"]["best_val"], "epochs": len(report["history"]["epochs"])},
}
text = json.dumps(m, indent=2) + "\n"
(pathlib.Path("models/default/manifest.json")).write_text(text.replace(os.path.expanduser("~"), "~"))
PY
"$debut" model check models/default
