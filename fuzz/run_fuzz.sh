#!/usr/bin/env bash
# One fuzz target's check: every past crash input (fuzz/crashes/TARGET), then SECONDS of fuzzing
# that starts from the saved corpus (fuzz/corpus/TARGET) and keeps what it finds in NEW_CORPUS.
# usage: run_fuzz.sh TARGET_BINARY CORPUS CRASHES NEW_CORPUS SECONDS
set -euo pipefail
target=$1; corpus=$2; crashes=$3; new_corpus=$4; seconds=$5
mkdir -p "$new_corpus"
# ASan's allocator limit turns a decompression bomb into a finding instead of a swap storm.
limits=(-rss_limit_mb=2560 -malloc_limit_mb=2048 -timeout=20)
if compgen -G "$crashes/*" > /dev/null; then
  "$target" "${limits[@]}" "$crashes"/*
fi
"$target" "${limits[@]}" -max_total_time="$seconds" -print_final_stats=1 "$new_corpus" "$corpus"
