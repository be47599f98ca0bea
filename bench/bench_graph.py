"""Graph benchmark on this machine (same code as `video2act bench graph`): camera-to-command latency,
command-rate jitter, System 1 chunk rate with System 2 normal vs slowed to 1 Hz, and a synchronous baseline.

    python bench/bench_graph.py --preset tiny --window 15
    python bench/bench_graph.py --preset small --width 640 --height 480
"""
import sys

from video2act.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "graph", *sys.argv[1:]]))
