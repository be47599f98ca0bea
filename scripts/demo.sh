#!/usr/bin/env bash
# One command for a newcomer: set up .venv and run the main demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
export MUJOCO_GL=${MUJOCO_GL:-egl}
exec .venv/bin/video2act demo "$@"
