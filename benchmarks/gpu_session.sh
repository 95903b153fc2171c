#!/usr/bin/env bash
# Every GPU figure of docs/benchmarks.md in one command, sized for a short GPU session (310 s on an H200, 2026-11-26,
# before runs_per_gpu.py was added last; it trains 16 more fast-preset models).
#
# Prepare once, in the checkout (.gpu/ is git-ignored):
#   mkdir -p .gpu && cp /path/to/cifar10-jpeg.tar.gz .gpu/   # CIFAR-10 as ImageFolder train/ and test/ folders
#   pip download --no-deps airbench==0.1.8 -d /tmp/airbench && pip wheel --no-deps /tmp/airbench/airbench-0.1.8.tar.gz -w .gpu
# Then, on the GPU machine, from the repository root with .gpu/ copied along (airbench is skipped without its wheel):
#   bash benchmarks/gpu_session.sh
# Outputs land in $OUT when set, else results/benchmarks: two CSVs, their logs and the GPU tests' log.
set -euo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-results/benchmarks}
mkdir -p "$OUT"
if ls .gpu/*.whl >/dev/null 2>&1; then  # airbench, where carried; the GPU image has everything else
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/device.txt"
fi
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)" \
    | tee -a "$OUT/device.txt"
# SMOKE=1: the same plumbing at CPU scale (synthetic data), to check this script without a GPU.
if [[ "${SMOKE:-0}" == 1 ]]; then
    train_args=(--smoke) eval_args=(--smoke) share_args=(--smoke)
else
    # fast recipe (8 models, compiled once) vs airbench94 (8 models); ResNet-18 ours vs naive (2 models x 5 epochs)
    train_args=(--data .gpu/cifar10-jpeg.tar.gz --compile --models 8 --standard-models 2 --epochs 5 --workers 8)
    eval_args=(--data /tmp/bench/data)
    # 8 fast-preset models with 1, then 4, trained at once on the GPU (resources.runs_per_gpu), compiled
    share_args=(--data /tmp/bench/data --models 8 --runs-per-gpu 1 4 --compile)
fi
log_lines='^20[0-9][0-9]-'  # per-epoch and per-model log lines: in the .log files, not on the screen

# GPU-only tests first (bf16 learning, bit-identical reruns with deterministic: true); a failure stops nothing else
python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tee "$OUT/test_gpu.log" | tail -5 || true

python3 benchmarks/train_throughput.py "${train_args[@]}" --work /tmp/bench --out "$OUT/train_throughput.csv" 2>&1 \
    | tee "$OUT/train_throughput.log" | grep -v "$log_lines"
# every family on 4 of the fast models just trained (corrupted sets generated first, timed apart)
python3 benchmarks/eval_throughput.py "${eval_args[@]}" --models /tmp/bench/ours-fast --max-models 4 \
    --work /tmp/bench --out "$OUT/eval_throughput.csv" 2>&1 | tee "$OUT/eval_throughput.log" | grep -v "$log_lines"
# last, so that the tables above come back even if the session runs out: several runs at once on one GPU
python3 benchmarks/runs_per_gpu.py "${share_args[@]}" --work /tmp/bench-share --out "$OUT/runs_per_gpu.csv" 2>&1 \
    | tee "$OUT/runs_per_gpu.log" | grep -v "$log_lines"
