"""System 1 / System 2 latency of a model preset on this machine (same code as `video2act bench model`).

    python bench/bench_model.py --preset small --iters 30 --threads 2
"""
import sys

from video2act.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "model", *sys.argv[1:]]))
