#!/usr/bin/env bash
# One short GPU measurement (issue: GPU readiness): System 1 / System 2 ms per call of the small and the paper
# preset on a CUDA device, fp32 vs bf16 autocast vs bf16 + torch.compile, in one run. Random weights (nothing
# downloads); the paper preset holds ~14.5 B parameters (fp32 weights ~58 GB: an 80 GB H100 or larger).
#   bash scripts/gpu_bench.sh
# It runs from the source tree (PYTHONPATH=src) on the machine's own Python, which needs torch with CUDA, diffusers
# and transformers (the device machines have them); .venv's CPU torch is not used. Paper-size compile takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
"$PY" - <<'PYEOF'
import torch, sys
if not torch.cuda.is_available():
    sys.exit(f"scripts/gpu_bench.sh: torch {torch.__version__} sees no CUDA device")
print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
PYEOF
V2A=("$PY" -m video2act.cli bench model --device cuda --warmup 3)
"${V2A[@]}" --preset small --iters 50
"${V2A[@]}" --preset small --iters 50 --dtype bfloat16
"${V2A[@]}" --preset paper --iters 10 --dtype bfloat16
"${V2A[@]}" --preset paper --iters 10 --dtype bfloat16 --compile
