"""Training (train.py: dataset -> checkpoints) and closed-loop evaluation on the twin (evaluate.py)."""
