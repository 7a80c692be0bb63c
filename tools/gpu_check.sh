#!/usr/bin/env bash
# Run every chapter's CLI on a CUDA GPU (the auto preset: the cpu preset's settings) and check
# each results.json for its keys and headline effects. Usage: bash tools/gpu_check.sh [RUNS_DIR]
# Pass PRESET=gpu to try the experimental larger preset instead.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-/tmp/gpu-check}
mkdir -p "$RUNS"
export COURSE_DEVICE=${COURSE_DEVICE:-cuda}
for ch in ch01_what_is_reasoning ch02_r1_pipeline ch03_four_methods ch04_budget; do
  start=$(date +%s)
  python -m "$ch" --preset "${PRESET:-auto}" --runs "$RUNS" --quiet > "$RUNS/$ch.log"
  echo "$ch: $(( $(date +%s) - start )) s"
  tail -n 4 "$RUNS/$ch.log"
done
python tools/check_results.py "$RUNS"
