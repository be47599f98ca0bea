#!/usr/bin/env bash
# One command for a newcomer and for CI: set up .venv and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
# The real `ros2 launch` (launch, launch_ros, ros2cli sources) for test/launch, where ../shared has it.
if [ -f ../shared/ros2-launch/install.sh ]; then
  bash ../shared/ros2-launch/install.sh .venv || echo "[test] WARNING: ros2-launch did not install; the real-launch tests will say why they skip" >&2
fi
export MUJOCO_GL=${MUJOCO_GL:-egl}
# DDS isolation: a random domain per run, discovery on this host only.
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 100 ))}
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
exec .venv/bin/python -m pytest test "$@"
