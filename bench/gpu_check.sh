#!/usr/bin/env bash
# GPU check (run on a CUDA machine with torch installed; not part of CI, which has no GPU):
# the CUDA tests, then train -> evaluate -> flatten -> evaluate through the command line on
# scikit-learn's digits with --device cuda, then the pullback-metric time at 10,000 points.
#   bash bench/gpu_check.sh [LOG_DIR]
set -uo pipefail
export PYTHONUNBUFFERED=1
log=${1:-/tmp/gpu_check}
mkdir -p "$log"
PY=${PY:-python3}
nvidia-smi -L
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name())"

$PY -m pytest -q -p no:cacheprovider tests/test_geometry.py tests/test_regularizers.py \
  tests/test_forward_ad_layers.py tests/test_training.py tests/test_flattening.py 2>&1 | tee "$log/pytest.log" | tail -15
$PY -m pytest -q -p no:cacheprovider -rA -k cuda tests/test_geometry.py tests/test_regularizers.py \
  tests/test_training.py 2>&1 | grep -E "PASSED|FAILED|SKIPPED|passed|failed"

runs=$(mktemp -d)
run=$($PY -m irvae_core train --dataset digits --model vae --reg ir --latent-dim 2 --epochs 30 --device cuda \
  --no-tensorboard --out "$runs" 2>"$log/train.err" | tail -1)
echo "run: $run"; tail -3 "$log/train.err"
$PY -m irvae_core evaluate "$run" --json | tee "$log/eval.json" | head -c 400; echo
flat=$($PY -m irvae_core flatten "$run" --epochs 5 2>"$log/flatten.err" | tail -1)
echo "flattened: $flat"; tail -2 "$log/flatten.err"
$PY -m irvae_core evaluate "$flat" --json | tee "$log/eval_fm.json" | head -c 400; echo

$PY - <<'EOF'
import time, torch
from models import build_autoencoder
from irvae_core.geometry import pullback_metric
ae = build_autoencoder("vae", "fc", (1, 28, 28), latent_dim=16)
z = torch.randn(10_000, 16)
for dev in ("cpu", "cuda"):
    m, zz = ae.to(dev), z.to(dev)
    pullback_metric(m.decode, zz[:100])
    if dev == "cuda":
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter(); G = pullback_metric(m.decode, zz)
    if dev == "cuda":
        torch.cuda.synchronize()
    extra = f", peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB" if dev == "cuda" else ""
    print(f"pullback_metric 10k x m=16 on {dev}: {time.perf_counter() - t:.3f} s{extra}")
EOF
