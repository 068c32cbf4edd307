#!/usr/bin/env bash
# The prepared GPU check (issue 14): run once, from the repository root, on a machine with a CUDA GPU and
# no network. Prints numbers; each step has its own time limit, 7.7 minutes in all at most. Exit code 0
# when every step passed, else the number of failed steps.
#
#   scripts/gpu_check.sh [OUT_DIR]            (default $OUT, else a temporary folder)
#   SKIP="bench" scripts/gpu_check.sh         (rerun without the named steps)
#   DEVICE=cpu SKIP=bench scripts/gpu_check.sh   (a dry run of the script itself on a machine without CUDA)
#
# Steps: the environment and pav's backend choices; `pytest -m cuda`; `python -m pav bench --quick
# --device cuda --json OUT/bench-cuda.json`; a 2-process torchrun training run (NCCL, one GPU per rank,
# when there are 2 GPUs; else both ranks on cuda:0 over gloo, as NCCL refuses two ranks on one GPU), whose
# checkpoint is then opened on the CPU.
#
# Packages: pav needs torch, numpy, scipy, pillow, tqdm and safetensors there. The nearest-triangle
# accelerators are optional (pure torch otherwise, much slower on the CPU rows of bench): put their wheels
# for that machine's Python in .whl/ first (scripts/gpu_wheels.sh, run where pip works; fcpw is 26 MB,
# warp-lang's 149 MB wheel is too big to carry). nvdiffrast and tiny-cuda-nn are not on PyPI: their
# parity tests skip with the reason unless they are installed there.
set -u
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
SKIP=${SKIP:-}
OUT_DIR=${1:-${OUT:-$(mktemp -d)}}
mkdir -p "$OUT_DIR"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 PAV_DIST_TIMEOUT_S=60
FAILED=0
SUMMARY=""
START=$SECONDS

step() {  # step NAME LIMIT_S COMMAND...: run with a time limit, log to OUT_DIR/NAME.log, record the result
  local name=$1 limit=$2 t0=$SECONDS rc
  shift 2
  case " $SKIP " in *" $name "*) SUMMARY+="$(printf '%-12s skipped' "$name")"$'\n'; return;; esac
  echo "=== $name (limit ${limit} s)"
  timeout --kill-after=5 "$limit" "$@" 2>&1 | tee "$OUT_DIR/$name.log"
  rc=${PIPESTATUS[0]}
  SUMMARY+="$(printf '%-12s rc=%-4s %4d s' "$name" "$rc" $((SECONDS - t0)))"$'\n'
  [ "$rc" -eq 0 ] || FAILED=$((FAILED + 1))
}

if compgen -G ".whl/*.whl" >/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/pav-site .whl/*.whl \
    && export PYTHONPATH="$PYTHONPATH:/tmp/pav-site"
fi

step environment 30 bash -c "command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
$PY - <<'EOF'
import json, torch
from pav import backends
print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'GPUs', torch.cuda.device_count())
print(json.dumps(backends.summary(), indent=1))
for device in ('cpu', 'cuda'):
    print(device, 'nearest:', backends.nearest_backend(device), 'raster:', backends.raster_backend(device))
EOF"

step pytest-cuda 120 $PY -m pytest -m cuda -q -rs -p no:cacheprovider tests/test_cuda.py

step bench 200 $PY -m pav bench --quick --device "$DEVICE" --threads 8 --json "$OUT_DIR/bench-cuda.json"

GPUS=$($PY -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
DATA="$OUT_DIR/ddp-data"
if [ "$DEVICE" = cpu ]; then DDP_ENV=(OMP_NUM_THREADS=1); DDP_DEVICE=cpu
elif [ "$GPUS" -ge 2 ]; then DDP_ENV=(); DDP_DEVICE=cuda
else DDP_ENV=(PAV_DIST_BACKEND=gloo); DDP_DEVICE=cuda:0; fi
step torchrun 90 env "${DDP_ENV[@]}" bash -c "
  $PY -c \"from pav.data.synth.config import SynthConfig; from pav.data.synth.generate import generate;
generate(SynthConfig(appearances=2, frames=4, size=64, supersample=1, texture_size=64, seed=0), '$DATA')\" &&
  $PY -m torch.distributed.run --standalone --nproc_per_node 2 -m pav train '$DATA' --out '$OUT_DIR/ddp.pav' \
    --device $DDP_DEVICE --steps 30 --eval-every-s 0 &&
  $PY -c \"from pav.checkpoint import load_avatar, load_train_state
a = load_avatar('$OUT_DIR/ddp.pav', device='cpu'); s = load_train_state('$OUT_DIR/ddp.pav')
print('2-rank checkpoint opens on the CPU: step', s['step'], 'info', {k: a.info.get(k) for k in ('steps', 'train_seconds', 'finished')})\""

echo "=== summary ($((SECONDS - START)) s in all; logs and bench-cuda.json in $OUT_DIR)"
printf '%s' "$SUMMARY"
exit $FAILED
