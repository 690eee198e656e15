#!/usr/bin/env bash
# How training time and memory grow with the catalog: for each size, a synthetic catalog
# (10 s tracks, 10 tracks per artist, 2 users per 3 tracks), then one epoch of every stage
# on the CPU under /usr/bin/time. Prints a table: synth and train wall time, each stage's
# seconds (from report.json), and the trainer's peak RSS.
#
#   host/benches/train_scaling.sh [WORK_DIR] [TRACKS...]      (default: 1000 10000 50000)
#
# The 50 000-track catalog is 22 GB of WAV plus a 5.5 GB mel cache; delete WORK_DIR after.
set -euo pipefail
cd "$(dirname "$0")/../.."
work="${1:-/tmp/debut-scaling}"
shift || true
if [ $# -gt 0 ]; then sizes=("$@"); else sizes=(1000 10000 50000); fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/debut/target}"
# DEBUT_BIN: a debut binary to use instead of building the dist profile.
if [ -z "${DEBUT_BIN:-}" ]; then
  cargo build --profile dist --bin debut
fi
debut="${DEBUT_BIN:-$CARGO_TARGET_DIR/dist/debut}"
mkdir -p "$work"
printf '%8s %8s %8s %9s %9s %8s %8s %8s %8s %8s %10s\n' tracks users plays synth_s train_s wmf_s text_s regr_s dcue_s fusion_s peak_MiB
for n in "${sizes[@]}"; do
  dir="$work/$n"
  artists=$((n / 10)); users=$((n * 2 / 3))
  t0=$(date +%s)
  [ -f "$dir/catalog/plays.tsv" ] || "$debut" synth --out "$dir/catalog" --seed 1 --artists "$artists" --tracks "$n" \
    --users "$users" --seconds 10 --quiet
  t1=$(date +%s)
  /usr/bin/time -v "$debut" train --data "$dir/catalog" --out "$dir/model" --max-epochs 1 --backend cpu --quiet \
    2> "$dir/time.txt"
  t2=$(date +%s)
  peak_kb=$(grep "Maximum resident set size" "$dir/time.txt" | awk '{print $NF}')
  python3 - "$dir/model/report.json" "$n" "$users" "$(wc -l < "$dir/catalog/plays.tsv")" "$((t1 - t0))" "$((t2 - t1))" "$peak_kb" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
secs = {s["task"]: sum(e["seconds"] for e in s["epochs"]) for s in r["stages"]}
print("%8s %8s %8s %9s %9s %8.0f %8.1f %8.0f %8.0f %8.1f %10.0f" % (
    sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], r["wmf"]["seconds"],
    secs.get("text", 0), secs.get("regression", 0), secs.get("dcue", 0),
    secs.get("fusion", 0) + secs.get("text_only", 0), int(sys.argv[7]) / 1024))
PY
done
