#!/usr/bin/env bash
# The label-free recipe (the `small` preset, what a real robot's data allows): expert demonstrations of the four
# twin tasks, one multi-task policy trained on images of the three cameras, joints, actions and instructions
# only (the keypoint maps learn from hindsight keyframes, data/keyframes.py), evaluated on held-out seeds in
# both scenes. Not yet good enough to ship: see README ("Label-free: where it stands").
#   bash scripts/train_label_free.sh [OUT_DIR]   (default outputs/label_free; resumable: run it again after a stop)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
export MUJOCO_GL=${MUJOCO_GL:-egl} OMP_NUM_THREADS=1
OUT=${1:-outputs/label_free}
V2A=.venv/bin/video2act
mkdir -p "$OUT"
# 1. demonstrations (seeds 0.., ~2 episodes/s each); the training-time evaluation uses seeds 500+, `eval` 1000+
for spec in pick_dual_bottles:150 place_empty_cup:150 place_container_plate:150 handover_block:100; do
  task=${spec%:*}; n=${spec#*:}
  [ -f "$OUT/ds_$task/meta.json" ] || $V2A dataset generate --task "$task" --episodes "$n" --out "$OUT/ds_$task"
done
# 2. one policy for the four tasks (System 2 latents and filtered maps are cached in the datasets on the first run)
$V2A train --dataset "$OUT/ds_pick_dual_bottles" "$OUT/ds_place_empty_cup" "$OUT/ds_place_container_plate" \
  "$OUT/ds_handover_block" --preset small --steps 6000 \
  --batch-size 32 --lr 1e-3 --eval-every 1500 --eval-episodes 3 --save-every 500 --threads 2 \
  --out "$OUT/run" --resume
# 3. held-out evaluation of the EMA weights, clean and randomised scenes
for scene in clean randomized; do
  $V2A eval --checkpoint "$OUT/run/checkpoints/last" --episodes 50 --scene "$scene" --out "$OUT/eval_$scene"
done
