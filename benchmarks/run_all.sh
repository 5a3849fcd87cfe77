#!/usr/bin/env bash
# Runs every benchmark in turn and prints its figures (about 35-45 minutes on
# 2 CPU cores). Copy the output into benchmarks/RESULTS.md with the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python}
run() { echo; echo "\$ $*"; "$python" "$@"; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
run benchmarks/bench_training_loop.py
run benchmarks/bench_windowing_memory.py
run benchmarks/bench_predict_last.py
run benchmarks/bench_quantization.py --sizes fast default
run benchmarks/bench_ensemble_overhead.py
run benchmarks/bench_pipeline.py --rows 5000 10000 20000 40000 --plot benchmarks/fit_scaling.png
run benchmarks/bench_pipeline.py --rows 5000 --n-jobs 2 --calls 0
run benchmarks/bench_pipeline.py --preset default --rows 2000 --max-epochs 1 --calls 100
run benchmarks/bench_training_defaults.py
run benchmarks/bench_walk_forward_sp500.py
run benchmarks/bench_calibration.py
run benchmarks/bench_walk_forward_sp500.py --no-refit-full
run benchmarks/bench_panel.py
run benchmarks/bench_explain.py
run benchmarks/bench_serving.py
