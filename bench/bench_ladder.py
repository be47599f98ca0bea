"""Sanity ladder (same code as `video2act bench ladder`): System 1 trained on the simulator's true object poses vs
on the head camera, same data, seed and steps, evaluated on the same held-out seeds.

    python bench/bench_ladder.py --dataset outputs/ds_pick_dual_bottles outputs/ds_place_empty_cup --steps 3000
"""
import sys

from video2act.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "ladder", *sys.argv[1:]]))
