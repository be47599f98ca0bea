"""Real-time factor of the MuJoCo twin (physics only, three cameras at 240x320 and 480x640) on one core.

Same as `video2act bench sim`. Run: .venv/bin/python bench/bench_sim.py [--steps N]
"""
import argparse
import sys

from video2act.sim.cli import cmd_bench

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=150, help="control steps per measurement")
    parser.add_argument("--one-core", action="store_true", help="pin to one core")
    sys.exit(cmd_bench(parser.parse_args()))
