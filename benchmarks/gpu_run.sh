#!/usr/bin/env bash
# Issue 13 on a GPU machine, in one go: the environment, the `gpu` tests, then the benchmark.
#
#   bash benchmarks/gpu_run.sh        # results into $OUT (or benchmarks/results/gpu_run/)
#
# Python: with package access, a venv from requirements.txt with the CUDA torch wheel
# (GPU_TORCH_INDEX, default PyTorch's CUDA 12.8 index: pick the one the driver supports). Without it (the device tool's machine reaches
# nothing), the machine's own python3 (it holds torch with CUDA, numpy, pandas, scikit-learn,
# pyarrow, psutil, pynvml, pytest) plus the wheels benchmarks/gpu_wheels.sh put under
# .gpuwheels/ (XGBoost in parts, LightGBM), installed into /tmp/gpu_site. What is still
# missing (TensorFlow, MLflow, Streamlit) is reported per framework as not installed, and the
# benchmark then drives the adapters directly (its adapter mode).
#
# Sized to a 15-minute device lease (10 minutes a command): the tests take ~1-2 minutes, the
# benchmark stops starting stages after BUDGET_S. Knobs (environment): ROWS (1000000),
# NET_EPOCHS (5: the nets' baseline is up to 100 epochs of batches of 128, ~5,000 steps an
# epoch at 1M rows), TUNE_GROUPS (16 of the grid's 144 staged groups, 64 combinations),
# BUDGET_S (420), GPU_TUNE_WORKERS (the engine's default: one per core), BENCH_ARGS (more);
# GPU_OFFLINE=1 skips the package-access probe, GPU_RUN_DRY=1 stops after the versions.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results/gpu_run}
mkdir -p "$OUT"
LOG="$OUT/gpu_run.log"
exec > >(tee -a "$LOG") 2>&1
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
echo "== $(date -u +%FT%TZ) gpu_run.sh on $(hostname), $(nproc) cores"
nvidia-smi || echo "nvidia-smi: not available"

PY=python3
if [ -z "${GPU_OFFLINE:-}" ] && timeout 30 python3 -m pip download --no-deps -q -d /tmp/gpu_probe six >/dev/null 2>&1; then
  echo "== package access: a venv from requirements.txt, torch from ${GPU_TORCH_INDEX:=https://download.pytorch.org/whl/cu128}"
  python3 -m venv /tmp/gpu_venv && PY=/tmp/gpu_venv/bin/python
  torch_pin=$(grep -E '^torch==' requirements.txt)
  "$PY" -m pip install -q "$torch_pin" --index-url "$GPU_TORCH_INDEX" \
    && "$PY" -m pip install -q -r requirements.txt "tensorflow[and-cuda]==$(grep -E '^tensorflow==' requirements.txt | cut -d= -f3)" \
    || { echo "== venv install failed: using the machine's python3"; PY=python3; }
else
  echo "== no package access: the machine's python3 plus carried wheels"
  if ls .gpuwheels/*/xgboost-*.part-* >/dev/null 2>&1; then
    repo=$PWD
    mkdir -p /tmp/gpu_wheels
    first=$(ls .gpuwheels/*/xgboost-*.part-* | head -1)
    cat .gpuwheels/*/xgboost-*.part-* > "/tmp/gpu_wheels/$(basename "${first%.part-*}")"
    cp .gpuwheels/*/*.whl /tmp/gpu_wheels/ 2>/dev/null
    if (cd /tmp/gpu_wheels && sha256sum -c "$repo/.gpuwheels/c/SHA256SUMS"); then
      python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/gpu_site /tmp/gpu_wheels/*.whl && export PYTHONPATH=/tmp/gpu_site
    else
      echo "== XGBoost wheel parts incomplete or corrupt: XGBoost will be reported as missing"
    fi
  elif ls .gpuwheels/*/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/gpu_site .gpuwheels/*/*.whl && export PYTHONPATH=/tmp/gpu_site
  else
    echo "== no .gpuwheels/: run benchmarks/gpu_wheels.sh here first (see its header)"
  fi
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
"$PY" - <<'PYEOF' | tee "$OUT/versions.txt"
import importlib, sys
print("python", sys.version.split()[0], sys.executable)
for name in ("torch", "xgboost", "lightgbm", "tensorflow", "mlflow", "sklearn", "pandas",
             "numpy", "pyarrow", "psutil", "pynvml", "pytest"):
    try:
        module = importlib.import_module(name)
        print(name, getattr(module, "__version__", "?"))
    except Exception as exc:
        print(name, "MISSING", type(exc).__name__, str(exc)[:120])
PYEOF
[ -n "${GPU_RUN_DRY:-}" ] && { echo "== GPU_RUN_DRY: stopping before the tests"; exit 0; }

echo "== $(date -u +%T) gpu tests"
# the `gpu` tests, and test_gpu.py's detection tests (unmarked: they run everywhere)
timeout 240 "$PY" -m pytest -q -p no:cacheprovider -rs tests/test_gpu_paths.py \
  tests/test_gpu.py 2>&1 | tee "$OUT/pytest_gpu.txt"
echo "pytest exit ${PIPESTATUS[0]}" | tee -a "$OUT/pytest_gpu.txt"

echo "== $(date -u +%T) benchmark"
args=(--rows "${ROWS:-1000000}" --net-epochs "${NET_EPOCHS:-5}" --tune-groups "${TUNE_GROUPS:-16}"
      --budget-s "${BUDGET_S:-420}" --out-dir "$OUT")
[ -n "${GPU_TUNE_WORKERS:-}" ] && args+=(--gpu-tune-workers "$GPU_TUNE_WORKERS")
"$PY" -c "import mlflow" 2>/dev/null || args+=(--adapters)
# shellcheck disable=SC2086
"$PY" benchmarks/gpu.py "${args[@]}" ${BENCH_ARGS:-}
echo "benchmark exit $?"
echo "== $(date -u +%T) done; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
