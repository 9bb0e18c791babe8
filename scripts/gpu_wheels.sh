#!/usr/bin/env bash
# The wheels `python -m bench gpu` needs on a GPU machine that has PyTorch (CUDA build) and transformers but neither
# DeepSpeed nor pydantic, and no internet: DeepSpeed (built here as a pure-Python wheel, no ops compiled) and its
# small dependencies, at the versions of this checkout's .venv, binary ones for CPython 3.10-3.13 on x86-64 Linux.
# Written to .gpu-wheels/ (git-ignored); fails if the directory exceeds 64 MiB (what the device runner carries).
#
#   bash scripts/gpu_wheels.sh [DIR]      # here, with internet
#   bash scripts/gpu_bench.sh [ARGS]      # there: installs DIR's wheels beside the system packages, runs bench gpu
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-.gpu-wheels}
PY=${PYTHON:-.venv/bin/python}
LIMIT_MIB=64
PURE="deepspeed pydantic annotated-types typing-inspection typing-extensions hjson py-cpuinfo einops"
BINARY="pydantic-core msgpack ninja psutil"

pin() { "$PY" -c "import sys; from importlib.metadata import version; print(f'{sys.argv[1]}=={version(sys.argv[1])}')" "$1"; }

rm -rf "$DIR"
mkdir -p "$DIR"
DS_BUILD_OPS=0 "$PY" -m pip wheel --quiet --no-deps --wheel-dir "$DIR" "$(pin deepspeed)"
for name in ${PURE#deepspeed }; do
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: --dest "$DIR" "$(pin "$name")"
done
for version in 3.10 3.11 3.12 3.13; do
  for name in $BINARY; do
    "$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$version" \
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
      --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 --dest "$DIR" "$(pin "$name")"
  done
done
bytes=$(du -sb "$DIR" | cut -f1)
echo "$DIR: $(ls "$DIR" | wc -l) wheels, $((bytes / 1024)) KiB (limit ${LIMIT_MIB} MiB)"
if (( bytes > LIMIT_MIB * 1024 * 1024 )); then
  echo "error: $DIR is over ${LIMIT_MIB} MiB" >&2
  exit 1
fi
