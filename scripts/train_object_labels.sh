#!/usr/bin/env bash
# The label-using comparison (not shipped): the recipe of the policy shipped before the label-free one, two twin
# tasks, preset small_object_labels (head camera, the twin's true object poses supervise the keypoints, a label
# no real dataset has), and its held-out evaluation. Measured: README ("Label-free").
#   bash scripts/train_object_labels.sh [OUT_DIR]   (default outputs/object_labels; resumable: run it again)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
export MUJOCO_GL=${MUJOCO_GL:-egl} OMP_NUM_THREADS=1
OUT=${1:-outputs/object_labels}
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
# 3. held-out evaluation of the EMA weights
$V2A eval --checkpoint "$OUT/run/checkpoints/last" --episodes 50 --out "$OUT/eval"
