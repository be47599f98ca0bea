"""Train a Video2Act policy on a dataset (video2act.data format).

    dataset stats -> policy.set_normalization; System 2 VAE latents cached once (data/latents.py);
    each step: a batch of windows (data/windows.py) -> policy.forward (epsilon loss, Q-formers and
    System 1 trained, VDM frozen) -> AdamW (warm-up, then cosine decay to 10 %), gradients clipped at 1.

Run folder (LeRobot layout)::

    RUN_DIR/checkpoints/<step, 6 digits>/   save_pretrained folder + train_state.json + dataset.json
    RUN_DIR/checkpoints/last                link to the newest of them
    RUN_DIR/loss.csv, RUN_DIR/loss.png      per-step loss and its curve
"""
from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import numpy as np

TRAIN_STATE_NAME = "train_state.json"
DATASET_INFO_NAME = "dataset.json"  # fps, cameras, image size, tasks: what eval needs to observe alike
WARMUP_STEPS = 100


def _lr_factor(step: int, total: int) -> float:
    if step < WARMUP_STEPS:
        return (step + 1) / WARMUP_STEPS
    progress = (step - WARMUP_STEPS) / max(1, total - WARMUP_STEPS)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def save_checkpoint(policy, run_dir: Path, step: int, loss: float, dataset) -> Path:
    """Write checkpoints/<step>/ and point checkpoints/last at it; returns the step folder."""
    ckpt_root = run_dir / "checkpoints"
    folder = ckpt_root / f"{step:06d}"
    policy.save_pretrained(folder)
    (folder / TRAIN_STATE_NAME).write_text(json.dumps({"step": step, "loss": loss}))
    tasks = sorted({e.get("task", "") for e in dataset.meta["episodes"]} - {""})
    (folder / DATASET_INFO_NAME).write_text(json.dumps({
        "dataset": str(dataset.root), "fps": dataset.fps, "cameras": dataset.cameras,
        "image_size": list(dataset.image_size), "tasks": tasks, "episodes": len(dataset)}))
    last = ckpt_root / "last"
    if last.is_symlink() or last.is_file():
        last.unlink()
    elif last.is_dir():
        shutil.rmtree(last)
    try:
        last.symlink_to(folder.name, target_is_directory=True)
    except OSError:  # file systems without symlinks: a copy
        shutil.copytree(folder, last)
    return folder


def plot_loss(losses: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(1, len(losses) + 1)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(x, losses, lw=0.5, alpha=0.4, label="loss")
    k = max(1, len(losses) // 50)
    if len(losses) >= k:
        smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
        ax.plot(x[k - 1:], smooth, lw=1.5, label=f"mean of {k}")
    ax.set_xlabel("step")
    ax.set_ylabel("epsilon MSE")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train(dataset_dir, preset: str, steps: int, batch_size: int, out, lr: float = 3e-4, weight_decay: float = 1e-4,
          threads: int | None = None, seed: int = 0, save_every: int | None = None, progress: bool = True) -> dict:
    """Train from scratch; returns {"steps", "final_loss" (mean of the last 10 %), "steps_per_s", "checkpoint", "losses"}.

    save_every: checkpoint period in steps (default: only at the end). threads: torch CPU threads.
    """
    import torch
    from tqdm import tqdm

    from video2act.data.format import Dataset
    from video2act.data.latents import cache_latents, load_latents
    from video2act.data.windows import WindowSampler, frame_stride
    from video2act.model.modeling_video2act import Video2ActPolicy

    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1. Got {steps} and {batch_size}")
    if threads:
        torch.set_num_threads(int(threads))
    run_dir = Path(out)
    dataset = Dataset(dataset_dir)
    episodes = dataset.load_all()
    policy = Video2ActPolicy.from_preset(preset, seed=seed)
    missing = [c for c in policy.config.cameras if c not in dataset.cameras]
    if missing:
        raise ValueError(f"preset '{preset}' needs cameras {missing} the dataset does not have ({dataset.cameras})")
    policy.set_normalization(**dataset.normalization())
    cache_latents(dataset, policy, progress=progress)
    s2 = policy.config.system2
    sampler = WindowSampler(episodes, load_latents(dataset, policy), policy.config.chunk_size,
                            s2.short_window, s2.long_window, stride=frame_stride(dataset.fps))
    params = [p for p in policy.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, steps))
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    losses: list[float] = []
    checkpoint = None
    policy.train()
    start = time.perf_counter()
    bar = tqdm(range(1, steps + 1), desc=f"train {preset}", unit="step", disable=not progress)
    for step in bar:
        loss, info = policy(sampler.sample(batch_size, rng))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(info["loss"])
        if step % 10 == 0 or step == steps:
            bar.set_postfix(loss=f"{np.mean(losses[-10:]):.4f}", lr=f"{scheduler.get_last_lr()[0]:.1e}")
        if (save_every and step % save_every == 0) or step == steps:
            policy.eval()
            checkpoint = save_checkpoint(policy, run_dir, step, float(np.mean(losses[-10:])), dataset)
            policy.train()
    elapsed = time.perf_counter() - start
    policy.eval()
    (run_dir / "loss.csv").write_text("step,loss\n" + "".join(f"{i + 1},{v:.6f}\n" for i, v in enumerate(losses)))
    plot_loss(losses, run_dir / "loss.png")
    tail = max(1, steps // 10)
    return {"steps": steps, "final_loss": float(np.mean(losses[-tail:])), "first_loss": float(np.mean(losses[:tail])),
            "steps_per_s": steps / elapsed, "checkpoint": str(checkpoint), "losses": losses,
            "threads": torch.get_num_threads()}
