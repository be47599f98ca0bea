"""Train a Video2Act policy on one or more datasets (video2act.data format).

    dataset stats -> policy.set_normalization; what is frozen is computed once per dataset: System 2 VAE
    latents (data/latents.py), and for a frozen System 2 its tokens (or, Q-formers trained, its filtered
    maps) per frame window, text tokens per
    instruction; each step: a batch of windows (data/windows.py) -> policy.forward -> AdamW (warm-up,
    cosine decay to 10 %), gradients clipped at 1, EMA of the weights (what checkpoints hold).

The loop runs under `accelerate`, so the same command trains on the CPU, one GPU or several
(`accelerate launch --num_processes N -m video2act.cli train ...`: data-parallel, each process draws its
own batches, gradients are averaged). Every `eval_every` steps (main process): the validation loss on
held-out episodes (fixed noise and timesteps, EMA weights) and, with eval_episodes > 0, the closed-loop
success rate on the twin for each task of the data (seeds from EVAL_DURING_TRAINING_SEED, disjoint from
the expert seeds of `dataset generate` and from `video2act eval`'s default 1000+).

Run folder (LeRobot layout)::

    RUN_DIR/checkpoints/<step, 6 digits>/   save_pretrained folder (EMA weights) + train_state.json + dataset.json
                                            + training_state.pt (optimizer, schedule, EMA, RNG: --resume)
    RUN_DIR/checkpoints/last                link to the newest of them
    RUN_DIR/log.csv, RUN_DIR/training.png   per-step loss; validation loss and success beside it
"""
from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
from pathlib import Path

import numpy as np

from video2act.model.checkpoint import DATASET_INFO_NAME  # read back as model.checkpoint.TrainedWith

TRAIN_STATE_NAME = "train_state.json"
TRAINING_STATE_NAME = "training_state.pt"
WARMUP_STEPS = 100
PEAK_LR = 1e-3  # AdamW peak learning rate: train()'s default and every command's (the shipped policy trained at it)
EVAL_DURING_TRAINING_SEED = 500


def _lr_factor(step: int, total: int) -> float:
    if step < WARMUP_STEPS:
        return (step + 1) / WARMUP_STEPS
    progress = (step - WARMUP_STEPS) / max(1, total - WARMUP_STEPS)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


class TrainingData:
    """Episodes of one or more datasets (same fps, cameras, image size), split into train / validation."""

    def __init__(self, dataset_dirs, val_fraction: float = 0.05):
        from video2act.data.format import Dataset, DatasetError, compute_stats

        dirs = [dataset_dirs] if isinstance(dataset_dirs, (str, Path)) else list(dataset_dirs)
        if not dirs:
            raise ValueError("need at least one dataset")
        self.datasets = [Dataset(d) for d in dirs]
        first = self.datasets[0]
        for ds in self.datasets[1:]:
            if (ds.fps, ds.cameras, ds.image_size) != (first.fps, first.cameras, first.image_size):
                raise DatasetError(f"datasets differ: {first.root} is {first.fps} Hz {first.cameras} {first.image_size}, "
                                   f"{ds.root} is {ds.fps} Hz {ds.cameras} {ds.image_size}")
        self.fps, self.cameras, self.image_size = first.fps, first.cameras, first.image_size
        self.episodes = [ep for ds in self.datasets for ep in ds.load_all()]
        stats = compute_stats([(e.state, e.action) for e in self.episodes])
        self.normalization = {"state_mean": stats["state"]["mean"], "state_std": stats["state"]["std"],
                              "action_mean": stats["action"]["mean"], "action_std": stats["action"]["std"]}
        self.tasks = sorted({e.task for e in self.episodes} - {""})
        # validation: the last val_fraction of each dataset's episodes (at least one where a dataset has >= 2)
        self.val_mask = []
        for ds in self.datasets:
            n_val = min(len(ds) - 1, max(1, int(round(val_fraction * len(ds))))) if val_fraction > 0 else 0
            self.val_mask += [i >= len(ds) - n_val for i in range(len(ds))]

    def info(self) -> dict:
        """What a checkpoint records about its data (dataset.json, read back as model.checkpoint.TrainedWith: eval,
        the nodes and the demo check it)."""
        from video2act.data.windows import frame_stride

        return {"datasets": [str(ds.root) for ds in self.datasets], "fps": self.fps, "control_hz": self.fps,
                "system2_frame_hz": self.fps / frame_stride(self.fps), "cameras": self.cameras,
                "image_size": list(self.image_size), "tasks": self.tasks, "episodes": len(self.episodes),
                "instructions": sorted({e.instruction for e in self.episodes}), "validation_episodes": int(sum(self.val_mask))}

    def samplers(self, policy, progress: bool = True, max_feature_lag: int = 0):
        """(train sampler, validation sampler or None) with System 2 inputs cached for `policy`."""
        from video2act.data.latents import cache_latents, cache_system2_features, load_latents, load_system2_features
        from video2act.data.windows import WindowSampler, frame_stride

        stride = frame_stride(self.fps)
        latents, tokens = [], []
        for ds in self.datasets:
            if policy.config.system2_cache is not None:
                cache_system2_features(ds, policy, stride, progress=progress)
                tokens += load_system2_features(ds, policy, stride)
            else:
                cache_latents(ds, policy, progress=progress)
                latents += load_latents(ds, policy)
        s2 = policy.config.system2

        def make(mask_value: bool):
            idx = [i for i, v in enumerate(self.val_mask) if v == mask_value]
            if not idx:
                return None
            return WindowSampler([self.episodes[i] for i in idx], [latents[i] for i in idx] if latents else None,
                                 policy.config.chunk_size, s2.short_window, s2.long_window, stride=stride,
                                 tokens=[tokens[i] for i in idx] if tokens else None, max_feature_lag=max_feature_lag,
                                 features=policy.config.system2_cache or "tokens",
                                 keypoint_targets=policy.config.keypoint_targets)

        return make(False), make(True)


@contextlib.contextmanager
def ema_weights(policy, ema):
    """The policy in eval mode with its EMA weights inside the block (no-op swap when ema is None); the
    training weights and mode come back afterwards."""
    params = [p for p in policy.parameters() if p.requires_grad]
    was_training = policy.training
    policy.eval()
    if ema is not None:
        ema.store(params)
        ema.copy_to(params)
    try:
        yield policy
    finally:
        if ema is not None:
            ema.restore(params)
        policy.train(was_training)


def save_checkpoint(policy, run_dir: Path, step: int, loss: float, data_info: dict, training_state: dict | None = None,
                    ema=None) -> Path:
    """Write checkpoints/<step>/ (EMA weights when `ema` is given) and point checkpoints/last at it."""
    import torch

    ckpt_root = run_dir / "checkpoints"
    folder = ckpt_root / f"{step:06d}"
    with ema_weights(policy, ema):
        policy.save_pretrained(folder)
    (folder / TRAIN_STATE_NAME).write_text(json.dumps({"step": step, "loss": loss}))
    (folder / DATASET_INFO_NAME).write_text(json.dumps(data_info, indent=1))
    if training_state is not None:
        torch.save(training_state, folder / TRAINING_STATE_NAME)
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


def plot_training(losses: list[float], val: list[tuple[int, float]], success: list[tuple[int, dict]], path: Path) -> None:
    """Loss curve (train, validation) and, when measured, closed-loop success per task beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncols = 2 if success else 1
    fig, axes = plt.subplots(1, ncols, figsize=(6 * ncols, 3.5), squeeze=False)
    ax = axes[0, 0]
    x = np.arange(1, len(losses) + 1)
    ax.plot(x, losses, lw=0.5, alpha=0.4, label="train loss")
    k = max(1, len(losses) // 50)
    if len(losses) >= k:
        ax.plot(x[k - 1:], np.convolve(losses, np.ones(k) / k, mode="valid"), lw=1.5, label=f"train, mean of {k}")
    if val:
        ax.plot(*zip(*val), "o-", lw=1.5, label="validation (EMA)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (train: total, validation: diffusion)")
    ax.set_yscale("log")
    ax.legend()
    if success:
        ax = axes[0, 1]
        for task in success[0][1]:
            ax.plot([s for s, _ in success], [100 * r[task] for _, r in success], "o-", label=task)
        ax.set_xlabel("step")
        ax.set_ylabel("closed-loop success (%)")
        ax.set_ylim(-5, 105)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _checkpoint_cameras(checkpoint) -> tuple:
    return tuple(json.loads((Path(checkpoint) / "config.json").read_text())["cameras"])


def _widen_context_types(trained, trained_cameras: tuple, fresh, cameras: tuple):
    """The per-camera type embeddings of a checkpoint (rows: its cameras, then text / spatial / motion) mapped onto
    the preset's cameras: a camera the checkpoint read keeps its row, a new one keeps the preset's fresh row. So a
    policy trained on the head camera can be fine-tuned with the wrist cameras added (the image encoder is shared
    by all cameras)."""
    import torch

    if tuple(trained_cameras) == tuple(cameras):
        return trained
    rows = [trained[trained_cameras.index(c)] if c in trained_cameras else fresh[i] for i, c in enumerate(cameras)]
    return torch.stack(rows + list(trained[len(trained_cameras):])).clone()


def train(dataset_dir, preset: str, steps: int, batch_size: int, out, lr: float = PEAK_LR, weight_decay: float = 1e-4,
          threads: int | None = None, seed: int = 0, save_every: int | None = None, progress: bool = True,
          eval_every: int | None = None, eval_episodes: int = 0, val_fraction: float = 0.05, ema_decay: float = 0.999,
          resume: bool = False, max_feature_lag: int | None = None, init_from: str | None = None) -> dict:
    """Train (or resume) a policy; returns {"steps", "final_loss" (mean of the last 10 %), "first_loss",
    "steps_per_s", "checkpoint", "losses", "val", "success", "threads", "seconds", "keypoint_ce" (per step,
    where the preset supervises keypoints)}.

    dataset_dir: one dataset folder or a list of them (one multi-task policy). save_every / eval_every:
    periods in steps (default: at the end only). max_feature_lag: oldest System 2 features paired with an
    observation in training, in steps (default: one System 2 period at the 1:8 ratio, config/eval.yaml).
    init_from: a checkpoint whose weights start the run, except System 2's (`system2.*`: the preset's own, e.g.
    a pretrained one): fine-tunes a trained policy onto another System 2, or onto more cameras
    (`_widen_context_types`). Its normalisation (normalization.json) is kept, not recomputed from the new data:
    the weights were trained to those statistics (recomputed from other data, the shipped policy's means moved by
    up to 0.057 rad, shifting every output it had learnt by as much).
    """
    import torch
    from accelerate import Accelerator
    from diffusers.training_utils import EMAModel
    from tqdm import tqdm

    from video2act.model.modeling_video2act import Video2ActPolicy

    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1. Got {steps} and {batch_size}")
    if threads:
        torch.set_num_threads(int(threads))
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    main = accelerator.is_main_process
    run_dir = Path(out)
    data = TrainingData(dataset_dir, val_fraction)
    policy = Video2ActPolicy.from_preset(preset, seed=seed)
    missing = [c for c in policy.config.cameras if c not in data.cameras]
    if missing:
        raise ValueError(f"preset '{preset}' needs cameras {missing} the dataset does not have ({data.cameras})")
    if init_from is not None:
        from safetensors.torch import load_file

        from video2act.model.modeling_video2act import NORMALIZATION_NAME, WEIGHTS_NAME

        policy.set_normalization(**json.loads((Path(init_from) / NORMALIZATION_NAME).read_text()))
        weights = {k: v for k, v in load_file(str(Path(init_from) / WEIGHTS_NAME)).items() if not k.startswith("system2.")}
        weights["context_type"] = _widen_context_types(weights["context_type"], _checkpoint_cameras(init_from),
                                                       policy.context_type.detach(), policy.config.cameras)
        try:
            result = policy.load_state_dict(weights, strict=False)
        except RuntimeError as e:  # shapes differ: another preset
            raise ValueError(f"{init_from} does not match preset '{preset}' outside System 2: {str(e)[:300]}") from None
        state = policy.state_dict()
        loaded = {state[k].data_ptr() for k in weights if k in state}  # tied weights (T5's embeddings) come along
        missing_s1 = [k for k in result.missing_keys if not k.startswith("system2.") and state[k].data_ptr() not in loaded]
        if result.unexpected_keys or missing_s1:
            raise ValueError(f"{init_from} does not match preset '{preset}' outside System 2: unexpected "
                             f"{result.unexpected_keys[:3]}, missing {missing_s1[:3]}")
    else:
        policy.set_normalization(**data.normalization)
    if max_feature_lag is None:
        from video2act.training.evaluate import EvalSchedule

        max_feature_lag = EvalSchedule.from_config().system2_period_steps
    with accelerator.main_process_first():  # the main process writes the caches, the others read them
        train_sampler, val_sampler = data.samplers(policy, progress=progress and main, max_feature_lag=max_feature_lag)
    info = data.info() | {"preset": preset, "seed": seed, "max_feature_lag": max_feature_lag,
                          **({"init_from": str(init_from)} if init_from else {})}
    params = [p for p in policy.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, steps))
    ema = EMAModel(params, decay=ema_decay, use_ema_warmup=True, power=0.75)
    model, optimizer = accelerator.prepare(policy.to(accelerator.device), optimizer)
    ema.to(accelerator.device)
    rng = np.random.default_rng([seed, accelerator.process_index])
    torch.manual_seed(seed + 1000 * accelerator.process_index)
    losses: list[float] = []
    keypoint_ce: list[float] = []  # the keypoint supervision's cross-entropy per step (where the preset has one)
    val_log: list[tuple[int, float]] = []
    success_log: list[tuple[int, dict]] = []
    start_step = 0
    last = run_dir / "checkpoints" / "last"
    if resume and (last / TRAINING_STATE_NAME).is_file():
        state = torch.load(last / TRAINING_STATE_NAME, weights_only=False)
        accelerator.unwrap_model(model).load_state_dict(state["model"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        ema.load_state_dict(state["ema"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        losses, val_log, success_log = state["losses"], state["val"], state["success"]
        start_step = int(state["step"])
        if main:
            print(f"resumed from {last.resolve().name} at step {start_step}")
    elif resume and main:
        print(f"nothing to resume under {run_dir} (no {TRAINING_STATE_NAME}); starting from step 0")
    val_batch = None
    if val_sampler is not None:
        vrng = np.random.default_rng(12345)
        val_batch = val_sampler.sample(min(64, len(val_sampler)), vrng)
        g = torch.Generator().manual_seed(12345)
        val_batch["noise"] = torch.randn(val_batch["action"].shape, generator=g)
        val_batch["timesteps"] = torch.randint(0, policy.train_scheduler.config.num_train_timesteps,
                                               (val_batch["action"].shape[0],), generator=g)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = last.resolve() if start_step else None  # a finished run resumed: its last checkpoint
    model.train()
    t_start = time.perf_counter()
    bar = tqdm(range(start_step + 1, steps + 1), desc=f"train {preset}", unit="step", disable=not (progress and main),
               initial=start_step, total=steps)
    for step in bar:
        loss, info_step = model(train_sampler.sample(batch_size, rng))
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        ema.step(params)
        losses.append(info_step["loss"])
        if "keypoint_ce" in info_step:
            keypoint_ce.append(info_step["keypoint_ce"])
        if step % 10 == 0 or step == steps:
            bar.set_postfix(loss=f"{np.mean(losses[-10:]):.4f}", lr=f"{scheduler.get_last_lr()[0]:.1e}",
                            **({"kp_ce": f"{np.mean(keypoint_ce[-10:]):.3f}"} if keypoint_ce else {}))
        periodic = (eval_every and step % eval_every == 0) or step == steps
        if periodic and main:
            with ema_weights(policy, ema):
                if val_batch is not None:
                    with torch.no_grad():
                        val_log.append((step, float(policy(val_batch)[1]["diffusion"])))
                if eval_episodes > 0 and data.tasks:
                    from video2act.training.evaluate import evaluate_policy

                    rates = {task: evaluate_policy(policy, task, eval_episodes, EVAL_DURING_TRAINING_SEED,
                                                   image_size=data.image_size, fps=data.fps)["success_rate"]
                             for task in data.tasks}
                    success_log.append((step, rates))
            if val_log or success_log:
                msg = f"step {step}: val {val_log[-1][1]:.4f}" if val_log else f"step {step}:"
                if success_log and success_log[-1][0] == step:
                    msg += " success " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in success_log[-1][1].items())
                tqdm.write(msg)
        if main and ((save_every and step % save_every == 0) or step == steps):
            state = {"model": accelerator.unwrap_model(model).state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "ema": ema.state_dict(), "rng": rng.bit_generator.state,
                     "torch_rng": torch.get_rng_state(), "losses": losses, "val": val_log, "success": success_log,
                     "step": step}
            checkpoint = save_checkpoint(policy, run_dir, step, float(np.mean(losses[-10:])), info, state, ema)
            _write_logs(run_dir, losses, val_log, success_log)
    accelerator.wait_for_everyone()
    elapsed = time.perf_counter() - t_start
    policy.eval()
    done = max(1, steps - start_step)
    tail = max(1, len(losses) // 10)
    return {"steps": steps, "final_loss": float(np.mean(losses[-tail:])), "first_loss": float(np.mean(losses[:tail])),
            "steps_per_s": done / elapsed, "checkpoint": str(checkpoint), "losses": losses, "val": val_log,
            "success": success_log, "threads": torch.get_num_threads(), "seconds": elapsed,
            "processes": accelerator.num_processes, "main_process": main, "keypoint_ce": keypoint_ce}


def _write_logs(run_dir: Path, losses, val_log, success_log) -> None:
    (run_dir / "log.csv").write_text("step,loss\n" + "".join(f"{i + 1},{v:.6f}\n" for i, v in enumerate(losses)))
    (run_dir / "eval_log.json").write_text(json.dumps({"validation": val_log, "success": success_log}, indent=1))
    plot_training(losses, val_log, success_log, run_dir / "training.png")
