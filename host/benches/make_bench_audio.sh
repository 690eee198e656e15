#!/usr/bin/env bash
# Makes 30 s benchmark clips (44.1 kHz stereo) in every codec from a real music track:
# Debian's wesnoth-1.16-music by default (apt-get install wesnoth-1.16-music sox ffmpeg).
#   host/benches/make_bench_audio.sh [SOURCE.ogg] [OUTDIR]
set -euo pipefail
src=${1:-/usr/share/games/wesnoth/1.16/data/core/music/battle.ogg}
out=${2:-${TMPDIR:-/tmp}/debut-bench}
mkdir -p "$out"
ffmpeg -hide_banner -loglevel error -y -ss 20 -t 30 -i "$src" -ac 2 -ar 44100 "$out/track30.wav"
ffmpeg -hide_banner -loglevel error -y -i "$out/track30.wav" -c:a libmp3lame -b:a 192k "$out/track30.mp3"
ffmpeg -hide_banner -loglevel error -y -i "$out/track30.wav" -c:a libvorbis -q:a 5 "$out/track30.ogg"
ffmpeg -hide_banner -loglevel error -y -i "$out/track30.wav" -c:a flac "$out/track30.flac"
ffmpeg -hide_banner -loglevel error -y -i "$out/track30.wav" -c:a aac -b:a 192k "$out/track30.m4a"
ls "$out"/track30.*
