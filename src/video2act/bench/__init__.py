"""Every benchmark of `video2act bench`, one module each (its parser and handler; the measuring code sits with
what it measures where it is shared, e.g. training/ablation.py). Benchmarks print tables with
the comparison in the same run."""
