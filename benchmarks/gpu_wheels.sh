#!/usr/bin/env bash
# Run HERE (a machine with package access), before a GPU session: fetch the wheels the GPU
# machine lacks and cannot download (it reaches nothing), sized for the device tool's carry
# limit (64 MiB per call, working tree included).
#
#   bash benchmarks/gpu_wheels.sh          # -> .gpuwheels/a, .gpuwheels/b, .gpuwheels/c
#
# XGBoost's manylinux_2_28 wheel (the one with CUDA, ~132 MB) is cut into parts of 60 MiB, one
# folder per device call; .gpuwheels/c also holds LightGBM's wheel (its OpenCL GPU build is in
# the PyPI wheel) and SHA256SUMS of the whole wheels. The GPU machine's python3 is 3.12 and
# already has torch (CUDA), numpy, scipy, pandas, scikit-learn, pyarrow, psutil, pynvml and
# pytest; TensorFlow (~600 MB with its CUDA libraries) cannot travel and is reported as not
# installed. Then, in three back-to-back device calls (the machine stays warm ~30 s):
#   run(carry=[".gpuwheels/a"], command="ls .gpuwheels")
#   run(carry=[".gpuwheels/b"], command="ls .gpuwheels")
#   run(carry=[".gpuwheels/c"], command="bash benchmarks/gpu_run.sh", timeout_s=600)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
rm -rf .gpuwheels && mkdir -p .gpuwheels/dl .gpuwheels/a .gpuwheels/b .gpuwheels/c
XGB=$(grep -E '^xgboost==' requirements.txt)
LGB=$(grep -E '^lightgbm==' requirements.txt)
"$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .gpuwheels/dl "$XGB" "$LGB"
(cd .gpuwheels/dl && sha256sum ./*.whl > ../c/SHA256SUMS)
xgb=$(ls .gpuwheels/dl/xgboost-*.whl)
split -b 60M -a 2 "$xgb" ".gpuwheels/dl/$(basename "$xgb").part-"
parts=(.gpuwheels/dl/*.part-*)
[ ${#parts[@]} -le 3 ] || { echo "expected at most 3 parts, got ${#parts[@]}" >&2; exit 1; }
dirs=(a b c)
for i in "${!parts[@]}"; do mv "${parts[$i]}" ".gpuwheels/${dirs[$i]}/"; done
mv .gpuwheels/dl/lightgbm-*.whl .gpuwheels/c/
rm -rf .gpuwheels/dl
du -sh .gpuwheels/*
