#!/usr/bin/env bash
# `make demo` as a new user meets it: a fresh clone of this checkout's HEAD, then `make setup`
# and `make demo` timed apart, then the demo's per-stage table from its run store. Prints the
# CPU flags and the load average before and after, so a figure from a busy machine says so.
#
#   bash benchmarks/make_demo_fresh.sh [/tmp/fresh-demo]
#
# The clone gets its own .venv (pip's cache makes that minutes, not the first download); the
# packaged models' converted weights in ~/.cache/tunewise are shared with this checkout, so run
# `make demo` once anywhere first for the "model caches warm" figure, or clear that folder for
# the cold one.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-/tmp/fresh-demo}"
rm -rf "$dest"
git clone -q "$src" "$dest"
cd "$dest"
echo "commit: $(git rev-parse --short HEAD)"
echo "cpu flags: $(lscpu | grep -oE '\b(avx2|fma|avx512f|avx512_bf16|avx512_vnni|avx_vnni|amx_bf16)\b' | sort -u | tr '\n' ' ')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
t0=$(date +%s.%N)
make setup > setup.log 2>&1
t1=$(date +%s.%N)
make demo > demo.log 2>&1
t2=$(date +%s.%N)
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
  printf "set-up %.0f s, demo %.0f s, total %.0f s (%.1f min)\n", b - a, c - b, c - a, (c - a) / 60 }'
tail -n 12 demo.log
.venv/bin/python benchmarks/demo_stages.py --show --run-dir runs/demo
