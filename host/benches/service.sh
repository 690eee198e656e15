#!/usr/bin/env bash
# End-to-end throughput of `debut run` through a real broker (Tansu, in memory), and the
# service's peak memory. Needs tansu, python3 with kafka-python, and a built debut.
#
#   host/benches/service.sh [AUDIO_DIR] [COPIES] [DEBUT_BINARY]
#
# Publishes the bundled bios, then every file of AUDIO_DIR (default: fixtures/audio) COPIES
# times as track releases, starts debut, and times until every track's embedding is on the
# output topic. Prints tracks/s and the peak RSS.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
audio_dir="${1:-$root/fixtures/audio}"
copies="${2:-20}"
debut="${3:-$root/target/dist/debut}"
[ -x "$debut" ] || { echo "build it first: cargo build --profile dist" >&2; exit 1; }
work="$(mktemp -d)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# (never `kill 0`: that is the whole process group, this shell included)
cleanup() { for p in ${broker:-} ${svc:-}; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
(cd "$work" && exec tansu broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" > tansu.log 2>&1) &
broker=$!
sleep 1
for t in releases:8 bios:2 embeddings:4 dlq:1; do
  tansu topic create "bench.${t%%:*}" --partitions "${t##*:}" --broker "tcp://127.0.0.1:$port" >/dev/null
done
python3 - "$root" "$audio_dir" "$copies" > "$work/releases.jsonl" <<'PY'
import base64, json, os, sys
root, audio_dir, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
types = {".wav": "audio/wav", ".flac": "audio/flac", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".m4a": "audio/mp4", ".aac": "audio/aac", ".opus": "audio/ogg"}
bios = sorted(os.listdir(os.path.join(root, "fixtures/bios")))
files = sorted(f for f in os.listdir(audio_dir) if os.path.splitext(f)[1] in types)
for c in range(copies):
    for i, f in enumerate(files):
        tid = f"b{c}-{f}"
        artist = bios[i % len(bios)][:-5]
        data = open(os.path.join(audio_dir, f), "rb").read()
        print(json.dumps({"key": tid, "headers": {"ce_specversion": "1.0", "ce_id": tid, "ce_source": "bench",
              "ce_type": "debut.release.track.v1", "ce_subject": tid, "ce_artistid": artist,
              "content-type": types[os.path.splitext(f)[1]]}, "value_base64": base64.b64encode(data).decode()}))
PY
n=$(wc -l < "$work/releases.jsonl")
for f in "$root"/fixtures/bios/*.json; do
  python3 -c 'import json,sys,base64; b=json.load(open(sys.argv[1])); print(json.dumps({"key": b["artist_id"], "value_base64": base64.b64encode(json.dumps(b).encode()).decode()}))' "$f"
done | python3 "$root/tests/kafka_client.py" produce "127.0.0.1:$port" bench.bios >/dev/null
python3 "$root/tests/kafka_client.py" produce "127.0.0.1:$port" bench.releases < "$work/releases.jsonl" >/dev/null
echo "published $n track releases ($(du -sh "$work/releases.jsonl" | cut -f1) as base64 JSON) from $audio_dir"

export DEBUT_BROKERS="127.0.0.1:$port" DEBUT_GROUP_ID=bench DEBUT_TOPICS__RELEASES=bench.releases \
  DEBUT_TOPICS__BIOS=bench.bios DEBUT_TOPICS__EMBEDDINGS=bench.embeddings DEBUT_TOPICS__DLQ=bench.dlq \
  DEBUT_SERVICE__METRICS_ADDR="127.0.0.1:$mport" DEBUT_LOG=warn,symphonia_core=error,symphonia_bundle_mp3=error
/usr/bin/time -v -o "$work/time.txt" "$debut" run > "$work/debut.log" 2>&1 &
svc=$!
until curl -sf "http://127.0.0.1:$mport/healthz" >/dev/null 2>&1; do sleep 0.05; done
broker_cpu0=$(python3 -c 'import os,sys; t=open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")",1)[1].split(); print((int(t[11])+int(t[12]))/os.sysconf("SC_CLK_TCK"))' "$broker")
start=$(date +%s.%N)
python3 "$root/tests/kafka_client.py" consume "127.0.0.1:$port" bench.embeddings reader "$n" 600 --distinct-keys > "$work/out.jsonl"
end=$(date +%s.%N)
broker_cpu1=$(python3 -c 'import os,sys; t=open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")",1)[1].split(); print((int(t[11])+int(t[12]))/os.sysconf("SC_CLK_TCK"))' "$broker")
got=$(python3 -c 'import json,sys; print(len({json.loads(l)["key"] for l in open(sys.argv[1])}))' "$work/out.jsonl")
pkill -TERM -P "$svc" || true  # debut itself: GNU time would die without a report
wait "$svc" || true
svc=
rss=$(grep "Maximum resident set size" "$work/time.txt" | awk '{print $NF}')
cpu=$(grep -E "User time|System time" "$work/time.txt" | awk '{s+=$NF} END {print s}')
python3 - "$start" "$end" "$got" "$n" "$rss" "$cpu" "$broker_cpu0" "$broker_cpu1" "$work/out.jsonl" <<'PY'
import json, sys
start, end, got, n, rss, cpu = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
broker_cpu = float(sys.argv[8]) - float(sys.argv[7])
t = end - start
print(f"{got}/{n} tracks embedded in {t:.2f} s: {got / t:.1f} tracks/s end to end through the broker (from ready, group join included)")
ts = sorted(json.loads(l)["timestamp_ms"] for l in open(sys.argv[9]))
if len(ts) > 1 and ts[-1] > ts[0]:
    print(f"first embedding {ts[0] / 1000 - start:.2f} s after ready; then {(len(ts) - 1) / ((ts[-1] - ts[0]) / 1000):.1f} tracks/s steady")
print(f"peak RSS of debut run: {rss / 1024:.0f} MiB; CPU time {cpu:.1f} s ({cpu / max(got, 1) * 1000:.1f} ms per track); the broker (same host) used {broker_cpu:.1f} s CPU meanwhile")
PY
