#!/usr/bin/env bash
# On a GPU machine without internet: install the wheels scripts/gpu_wheels.sh wrote (DeepSpeed, pydantic, ...) into a
# private directory beside the system's PyTorch and transformers, then run `python -m bench gpu ARGS`.
#   bash scripts/gpu_bench.sh                 # the whole benchmark (about 8 minutes on one GPU)
#   WHEELS=DIR PYTHON=python3 bash scripts/gpu_bench.sh --smoke
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${WHEELS:-.gpu-wheels}
PY=${PYTHON:-python3}
SITE=${GPU_SITE:-/tmp/raytl-gpu-site}
if [ ! -d "$DIR" ]; then
  echo "error: $DIR: no wheel directory; allowed: the output of scripts/gpu_wheels.sh (WHEELS=DIR)" >&2
  exit 2
fi
"$PY" -m pip install --quiet --no-index --find-links "$DIR" --no-deps --target "$SITE" \
  deepspeed pydantic pydantic-core annotated-types typing-inspection typing-extensions hjson py-cpuinfo einops \
  msgpack ninja psutil
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$SITE/bin:$PATH"  # ninja
"$PY" -c "import torch, transformers, deepspeed, pydantic; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'transformers', transformers.__version__, 'deepspeed', deepspeed.__version__, 'pydantic', pydantic.__version__)"
exec "$PY" -m bench gpu "$@"
