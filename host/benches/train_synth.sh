#!/usr/bin/env bash
# The committed evaluation: a synthetic catalog, the full trainer, the papers' evaluation.
#
#   host/benches/train_synth.sh [WORK_DIR] [SEED]
#
# Builds the dist binary, writes WORK_DIR/catalog (default sizes: 300 artists, 3000 tracks of
# 30 s, 2000 users), trains WORK_DIR/model on the CPU, evaluates it, and prints the table the
# README quotes (also WORK_DIR/eval.json, WORK_DIR/plots/roc.png, WORK_DIR/model/report.json
# and loss_curves.png). Takes about an hour on 2 cores; nothing here runs in CI.
#
# INIT_AUDIO=DIR starts the audio towers from DIR's (a `debut pretrain` model) and writes
# WORK_DIR/model-pretrained and eval-pretrained.json instead, beside a from-scratch run.
set -euo pipefail
cd "$(dirname "$0")/../.."
work="${1:-/tmp/debut-synth}"
seed="${2:-1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/debut/target}"
# DEBUT_BIN: a debut binary to use instead of building the dist profile.
if [ -z "${DEBUT_BIN:-}" ]; then
  cargo build --profile dist --bin debut
fi
debut="${DEBUT_BIN:-$CARGO_TARGET_DIR/dist/debut}"
mkdir -p "$work"
[ -f "$work/catalog/plays.tsv" ] || "$debut" synth --out "$work/catalog" --seed "$seed"
suffix="${INIT_AUDIO:+-pretrained}"
/usr/bin/time -v "$debut" train --data "$work/catalog" --out "$work/model$suffix" --seed "$seed" \
  ${INIT_AUDIO:+--init-audio "$INIT_AUDIO"} --backend cpu 2> >(tee "$work/train$suffix.log" >&2)
"$debut" eval --data "$work/catalog" --model "$work/model$suffix" --json "$work/eval$suffix.json" \
  --plots "$work/plots$suffix" --backend cpu
