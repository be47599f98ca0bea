#!/usr/bin/env bash
# Reproduces the shipped policy (policies/small), label-free (the `small` preset: only what a real robot's data
# holds): expert demonstrations of the four twin tasks, one multi-task policy trained on head-camera images,
# joints, actions and instructions (the keypoint maps learn from hindsight keyframes, data/keyframes.py), the EMA
# checkpoint copied into the repository, and its held-out evaluation in both scenes.
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
for spec in pick_dual_bottles:150 place_empty_cup:150 place_container_plate:150 handover_block:100; do
  task=${spec%:*}; n=${spec#*:}
  [ -f "$OUT/ds_$task/meta.json" ] || $V2A dataset generate --task "$task" --episodes "$n" --out "$OUT/ds_$task"
done
# 2. one policy for the four tasks (System 2 latents and tokens are cached in the datasets on the first run)
$V2A train --dataset "$OUT/ds_pick_dual_bottles" "$OUT/ds_place_empty_cup" "$OUT/ds_place_container_plate" \
  "$OUT/ds_handover_block" --preset small --steps 10000 \
  --batch-size 32 --lr 1e-3 --eval-every 2500 --eval-episodes 3 --save-every 500 --threads 2 \
  --out "$OUT/run" --resume
# 3. ship the EMA weights (no optimizer state) and evaluate them on held-out seeds, clean and randomised scenes
rm -rf policies/small && mkdir -p policies/small
cp -r "$OUT/run/checkpoints/last/." policies/small/ && rm -f policies/small/training_state.pt
cp "$OUT/run/training.png" policies/small/training.png
for scene in clean randomized; do
  $V2A eval --shipped --episodes 50 --scene "$scene" --out "$OUT/eval_$scene"
done
