#!/usr/bin/env bash
# `video2act bench graph` of an earlier commit and of this working tree, one after the other in one run on the
# same machine, so the two tables compare (the demo graph's settings: the shipped policy, cameras at its trained
# 128x96, the bottles' instruction).
#   bash scripts/bench_graph_compare.sh [BASE_REV] [extra bench graph args]     (default BASE_REV: HEAD~1)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
BASE=${1:-HEAD~1}; shift || true
WT=$(mktemp -d /tmp/v2a_base.XXXXXX)
trap 'git worktree remove --force "$WT" >/dev/null 2>&1 || rm -rf "$WT"' EXIT
git worktree add --detach -q "$WT" "$BASE"
ARGS=(bench graph --checkpoint "$PWD/policies/small" --width 128 --height 96 --window 15
      --instruction "Pick up both bottles with both arms at the same time." "$@")
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
for side in base current; do
  src=$PWD/src; [ "$side" = base ] && src=$WT/src
  rev=$(git rev-parse --short "$([ "$side" = base ] && echo "$BASE" || echo HEAD)")$([ "$side" = current ] && ! git diff --quiet && echo "+changes" || true)
  echo "=== $side: $rev"
  (cd "$([ "$side" = base ] && echo "$WT" || echo "$PWD")" && ROS_DOMAIN_ID=$((RANDOM % 100 + 100)) PYTHONPATH=$src \
     "$OLDPWD/.venv/bin/python" -m video2act.cli "${ARGS[@]}" 2>&1 | grep -v "it/s\]\|%|")
done
