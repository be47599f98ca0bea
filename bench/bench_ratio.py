"""Slow/fast ratio sweep (same code as `video2act bench ratio`): success of one policy at System 2 : System 1
ratios 1:1 .. 1:16 on the asynchronous schedule, same seeds for every row, with a plot.

    python bench/bench_ratio.py --shipped --episodes 20
"""
import sys

from video2act.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "ratio", *sys.argv[1:]]))
