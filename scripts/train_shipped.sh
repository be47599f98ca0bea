#!/usr/bin/env bash
# Reproduces the shipped policy (policies/small): expert demonstrations on the twin, one multi-task policy
# (preset small_object_labels: head camera, the twin's object poses supervise the keypoints) trained on them,
# the EMA checkpoint copied into the repository, and its held-out evaluation.
# Measured on the 2-core development machine: see README ("The shipped policy").
#   bash scripts/train_shipped.sh [OUT_DIR]      (default outputs/shipped; resumable: run it again after a stop)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
export MUJOCO_GL=${MUJOCO_GL:-egl} OMP_NUM_THREADS=1
OUT=${1:-outputs/shipped}
V2A=.venv/bin/video2act
mkdir -p "$OUT"
# 1. demonstrations (seeds 0.., ~2 episodes/s each); the training-time evaluation uses seeds 500+, `eval` 1000+
for spec in pick_dual_bottles:200 place_empty_cup:200; do
  task=${spec%:*}; n=${spec#*:}
  [ -f "$OUT/ds_$task/meta.json" ] || $V2A dataset generate --task "$task" --episodes "$n" --out "$OUT/ds_$task"
done
# 2. one policy for both tasks (System 2 latents and tokens are cached in the datasets on the first run)
$V2A train --dataset "$OUT/ds_pick_dual_bottles" "$OUT/ds_place_empty_cup" --preset small_object_labels --steps 7000 \
  --batch-size 32 --lr 1e-3 --eval-every 1000 --eval-episodes 6 --save-every 1000 --threads 1 \
  --out "$OUT/run" --resume
# 3. ship the EMA weights (no optimizer state) and evaluate them on held-out seeds
rm -rf policies/small && mkdir -p policies/small
cp -r "$OUT/run/checkpoints/last/." policies/small/ && rm -f policies/small/training_state.pt
cp "$OUT/run/training.png" policies/small/training.png
$V2A eval --shipped --episodes 50 --out "$OUT/eval"
