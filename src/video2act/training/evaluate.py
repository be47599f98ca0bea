"""Closed-loop evaluation on the twin, in-process (no ROS), deterministic, on the nodes' schedule.

Simulated time advances one control step (1 / control_hz) at a time; inference costs no robot time but
its latency is modelled. Per control step k (t = k / control_hz):

    asynchronous (default, what the nodes do):
      every system2_period steps   System 2 computes features from the head frames pushed so far; they
                                   become usable at t + system2_latency
      every system1_period steps   System 1 plans a chunk from the observation at t with the newest usable
                                   features; the chunk (stamped t) reaches the streamer at t + system1_latency
    synchronous (--sync, the authors' release): System 2 and System 1 both run at every re-plan on the same
      observation, with no latency
    then: StreamerCore (the trajectory streamer's own core: chunk executor with config/streamer.yaml
    blending + safety filter) gets both arms' feedback and ticks: command -> env.step; the new head frame
    enters System 2's windows at System 2's frame rate (robot.yaml rates.system2_frame_hz).

At reset the System 2 stream is primed with the first head frame repeated (as the training windows are
padded). The env renders at the training dataset's image size (checkpoint dataset.json); `evaluate` refuses a
checkpoint that the twin would observe otherwise than it was trained (model/checkpoint.py: control rate, System 2
frame rate and windows, image size, cameras, task).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class EvalSchedule:
    """When System 1 / System 2 run and when their outputs become usable, in control steps.

    Args:
        control_hz: simulation / streamer rate.
        system1_hz: System 1 re-planning rate.
        ratio: System 2 runs once every `ratio` System 1 calls (1:ratio).
        system1_latency, system2_latency: s from observation to usable output.
        synchronous: System 2 recomputed at every re-plan, no latency (for comparison).
    """

    control_hz: float
    system1_hz: float
    ratio: int = 8
    system1_latency: float = 0.1
    system2_latency: float = 0.1
    synchronous: bool = False

    def __post_init__(self):
        if not (self.control_hz > 0 and self.system1_hz > 0) or self.ratio < 1:
            raise ValueError(f"need positive rates and ratio >= 1. Got control {self.control_hz} Hz, "
                             f"System 1 {self.system1_hz} Hz, ratio {self.ratio}")
        if self.system1_latency < 0 or self.system2_latency < 0:
            raise ValueError("latencies must be >= 0 s")

    @classmethod
    def from_config(cls, ratio: int | None = None, system1_hz: float | None = None, synchronous: bool = False,
                    control_hz: float | None = None) -> "EvalSchedule":
        """robot.yaml rates + config/eval.yaml, with overrides."""
        from video2act.config import load_config

        rates = load_config("robot.yaml")["rates"]
        ev = load_config("eval.yaml")
        return cls(control_hz=float(control_hz or rates["control_hz"]), system1_hz=float(system1_hz or rates["system1_hz"]),
                   ratio=int(ratio or ev["ratio"]), system1_latency=float(ev["system1_latency"]),
                   system2_latency=float(ev["system2_latency"]), synchronous=synchronous)

    @property
    def system1_period_steps(self) -> int:
        return max(1, int(round(self.control_hz / self.system1_hz)))

    @property
    def system2_period_steps(self) -> int:
        return self.ratio * self.system1_period_steps

    def latency_steps(self, seconds: float) -> int:
        return 0 if self.synchronous else int(math.ceil(seconds * self.control_hz - 1e-9))

    def describe(self) -> str:
        if self.synchronous:
            return f"synchronous: System 2 + System 1 every {self.system1_period_steps} steps, no latency"
        hz = self.control_hz
        return (f"asynchronous 1:{self.ratio}: System 1 {hz / self.system1_period_steps:.2f} Hz "
                f"(latency {self.system1_latency * 1e3:.0f} ms), System 2 {hz / self.system2_period_steps:.2f} Hz "
                f"(latency {self.system2_latency * 1e3:.0f} ms)")


def _streamer(hz: float):
    """The trajectory streamer's core with config/streamer.yaml's blending (as the node builds it)."""
    from video2act.config import load_config
    from video2act.runtime.robot import RobotDescription
    from video2act.runtime.streamer import StreamerCore

    params = load_config("streamer.yaml")["trajectory_streamer"]["ros__parameters"]
    robot = RobotDescription.from_config()
    return StreamerCore(robot, hz, 1.0 / hz, blend=params["blend"], ensemble_k=params["ensemble_k"],
                        blend_window=params["blend_window"]), robot


def evaluate_episode(policy, env, task: str, seed: int, schedule: EvalSchedule, max_steps: int | None = None,
                     frames: list | None = None) -> dict:
    """One closed-loop episode; {"success", "steps", "system1_calls", "system2_calls", "mean_feature_age"}.
    frames collects (head | left | right) images."""
    from video2act.data.windows import frame_stride

    hz = env.control_hz
    core, robot = _streamer(hz)
    stride = frame_stride(hz)  # System 2 sees frames at its own rate, as system2_node does
    obs = env.reset(task, seed)
    stream = policy.make_system2_stream()
    head = policy.config.head_camera
    s2 = policy.config.system2
    for _ in range(max(s2.short_window, s2.long_window)):  # pad like training: the first frame repeated
        stream.push(obs["images"][head], 0.0)
    wants_objects = policy.config.image_encoder.type == "objects"
    limit = env.task.max_steps if max_steps is None else min(max_steps, env.task.max_steps)
    p1, p2 = schedule.system1_period_steps, schedule.system2_period_steps
    lat1, lat2 = schedule.latency_steps(schedule.system1_latency), schedule.latency_steps(schedule.system2_latency)
    pending: list[tuple] = []  # (usable from step, features, observed at step) in flight from System 2
    features, feature_step = None, 0
    success, calls1, calls2, ages, k = False, 0, 0, [], 0
    for k in range(limit):
        t = k / hz
        if schedule.synchronous and k % p1 == 0:
            features, feature_step = stream.compute(obs["instruction"]), k
            calls2 += 1
        elif not schedule.synchronous and k % p2 == 0:
            pending.append((k + lat2, stream.compute(obs["instruction"]), k))
            calls2 += 1
        while pending and pending[0][0] <= k:
            _, features, feature_step = pending.pop(0)
        if k % p1 == 0 and features is not None:
            chunk = policy.act(obs["images"], obs["state"], obs["instruction"], features, seed=seed * 100_003 + k,
                               objects=obs.get("objects") if wants_objects else None)
            core.on_chunk([], chunk, t0=t, now=(k + lat1) / hz)  # usable once it has "arrived"
            calls1 += 1
            ages.append((k - feature_step) / hz)
        left, right = robot.split(obs["state"])
        core.on_feedback(robot.arms[0], [], left, t)
        core.on_feedback(robot.arms[1], [], right, t)
        command = core.tick(t)
        if frames is not None:
            frames.append(np.concatenate([obs["images"][c] for c in ("head", "left", "right")], axis=1))
        obs, success, done, _ = env.step(obs["state"] if command is None else command)
        if (k + 1) % stride == 0:
            stream.push(obs["images"][head], (k + 1) / hz)
        if success or done:
            break
    return {"success": bool(success), "steps": k + 1, "system1_calls": calls1, "system2_calls": calls2,
            "mean_feature_age": float(np.mean(ages)) if ages else math.nan}


def evaluate_policy(policy, task: str, episodes: int, first_seed: int, schedule: EvalSchedule | None = None,
                    image_size=None, fps: float | None = None, max_steps: int | None = None, video: str | None = None,
                    progress: bool = False, scene: str = "clean") -> dict:
    """Success rate of an in-memory policy over seeds first_seed .. first_seed+episodes-1.

    Returns {"success_rate", "episodes": [{"seed", "success", "steps", ...}], "schedule": description, "scene"}.
    video: mp4 of the first two episodes (head | left | right). scene: the twin's clean or randomized scenes
    (video2act.sim.scene; the same object placements per seed).
    """
    from tqdm import tqdm

    from video2act.data.generate import DEFAULT_IMAGE_SIZE
    from video2act.sim.env import CobotMagicEnv

    if episodes < 1:
        raise ValueError(f"episodes must be >= 1. Got {episodes}")
    schedule = schedule or EvalSchedule.from_config(control_hz=fps)
    env = CobotMagicEnv(image_size=tuple(image_size or DEFAULT_IMAGE_SIZE), control_hz=schedule.control_hz, render=True,
                        scene=scene)
    results, frames = [], ([] if video else None)
    try:
        for seed in tqdm(range(first_seed, first_seed + episodes), desc=f"eval {task} ({scene})", unit="ep", disable=not progress):
            r = evaluate_episode(policy, env, task, seed, schedule, max_steps, frames if (video and len(results) < 2) else None)
            results.append({"seed": seed, **r})
    finally:
        env.close()
    if video and frames:
        write_video(video, frames, schedule.control_hz)
    return {"success_rate": float(np.mean([r["success"] for r in results])), "episodes": results,
            "schedule": schedule.describe(), "scene": scene}


def checkpoint_info(checkpoint) -> dict:
    """The checkpoint's dataset.json (fps, image size, tasks ...), {} when absent (the typed record of it, with
    the compatibility check, is model.checkpoint.TrainedWith)."""
    from video2act.model.checkpoint import read_dataset_info

    return read_dataset_info(checkpoint)


def check_twin_matches(trained, schedule: EvalSchedule, image_size, task: str | None, windows=None) -> None:
    """CheckpointMismatch unless the twin, on `schedule` at `image_size`, observes as `trained` (a TrainedWith)
    was trained: control rate, the rate frames enter System 2's windows, the windows, image size, its cameras,
    and the task (task None: any task, e.g. a plumbing test on a checkpoint of synthetic data)."""
    from video2act.data.windows import frame_stride
    from video2act.model.checkpoint import check_compatible
    from video2act.sim.model import CAMERAS

    hz = schedule.control_hz
    check_compatible(trained, "evaluation on the twin", control_hz=hz, system2_frame_hz=hz / frame_stride(hz),
                     windows=windows, image_size=image_size, cameras=tuple(CAMERAS), task=task)


def evaluate(checkpoint, task: str, episodes: int, first_seed: int | None = None, max_steps: int | None = None,
             video: str | None = None, threads: int | None = None, progress: bool = True, ratio: int | None = None,
             synchronous: bool = False, system1_hz: float | None = None, scene: str = "clean",
             any_task: bool = False) -> dict:
    """Success rate of a checkpoint on `task` (see evaluate_policy); schedule from config/eval.yaml with overrides.

    The twin runs at the checkpoint's control rate and image size; a checkpoint it cannot observe alike (see
    check_twin_matches) or, unless any_task, one not trained on `task` is refused (CheckpointMismatch)."""
    import torch

    from video2act.config import load_config
    from video2act.data.generate import DEFAULT_IMAGE_SIZE
    from video2act.model.checkpoint import TrainedWith
    from video2act.model.modeling_video2act import Video2ActPolicy

    trained = TrainedWith.read(checkpoint)
    schedule = EvalSchedule.from_config(ratio=ratio, system1_hz=system1_hz, synchronous=synchronous,
                                        control_hz=trained.control_hz)
    image_size = trained.image_size or DEFAULT_IMAGE_SIZE
    check_twin_matches(trained, schedule, image_size, None if any_task else task)
    if threads:
        torch.set_num_threads(int(threads))
    policy = Video2ActPolicy.from_pretrained(checkpoint)
    stream = policy.make_system2_stream()
    check_twin_matches(trained, schedule, image_size, None, windows=(stream.high.window, stream.low.window))
    first_seed = int(load_config("eval.yaml")["first_seed"]) if first_seed is None else first_seed
    return evaluate_policy(policy, task, episodes, first_seed, schedule, image_size=image_size,
                           max_steps=max_steps, video=video, progress=progress, scene=scene)


def write_video(path: str, frames: list, fps: float) -> None:
    import cv2

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        writer.write(np.ascontiguousarray(f[:, :, ::-1]))
    writer.release()


def shipped_checkpoint() -> Path:
    """The small-preset policy kept in the repository (policies/small; installed beside config/)."""
    from video2act.config import config_dir

    path = config_dir().parent / "policies" / "small"
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no shipped policy at {path}: it is made by scripts/train_shipped.sh")
    return path


def plot_success(rates: dict, episodes: int, path) -> None:
    """Bar chart of success per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(rates), 3.2))
    names = list(rates)
    bars = ax.bar(range(len(names)), [100 * rates[n] for n in names], color="tab:green")
    for bar, n in zip(bars, names):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 2, f"{100 * rates[n]:.0f} %", ha="center")
    ax.set_xticks(range(len(names)), [n.replace("_", "\n", 1) for n in names], fontsize=8)
    ax.set_ylim(0, 110)
    ax.set_ylabel(f"success over {episodes} seeds (%)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
