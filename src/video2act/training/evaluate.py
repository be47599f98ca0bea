"""Closed-loop evaluation on the twin, in-process (no ROS), deterministic.

Per control step k (t = k / control_hz, simulated time, so inference costs no robot time):

    every `replan_every` steps: System 2 features from the stream (head frames so far) -> policy.act on
        the newest observation (noise seeded by seed and k) -> ChunkExecutor.add_chunk(t0 = t)
    target = ChunkExecutor.sample(t); command = SafetyFilter.step(target, measured state, t); env.step(command)
    push the new head frame into the System 2 stream

The executor and the safety filter are the runtime's own (as the trajectory streamer uses them), with
config/streamer.yaml's blending. At reset the stream is primed with the first head frame repeated,
matching the training windows' padding (data/windows.py). The env renders at the training dataset's
image size (checkpoint dataset.json), so the policy sees images like those it was trained on.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from video2act.training.train import DATASET_INFO_NAME


def streamer_blending() -> dict:
    """blend, ensemble_k, blend_window of config/streamer.yaml (the streamer node's defaults)."""
    from video2act.config import load_config

    params = load_config("streamer.yaml")["trajectory_streamer"]["ros__parameters"]
    return {k: params[k] for k in ("blend", "ensemble_k", "blend_window")}


def evaluate_episode(policy, env, task: str, seed: int, replan_every: int = 8, max_steps: int | None = None,
                     frames: list | None = None) -> dict:
    """One closed-loop episode; {"success", "steps", "replans"}. frames collects (head | left | right) images."""
    from video2act.data.windows import frame_stride
    from video2act.runtime.chunk_executor import ChunkExecutor
    from video2act.runtime.robot import RobotDescription
    from video2act.runtime.safety import SafetyFilter

    if replan_every < 1:
        raise ValueError(f"replan_every must be >= 1. Got {replan_every}")
    robot = RobotDescription.from_config()
    hz = env.control_hz
    stride = frame_stride(hz)  # System 2 sees frames at its own rate, as system2_node does
    executor = ChunkExecutor(1.0 / hz, dof=robot.dof, **streamer_blending())
    safety = SafetyFilter(robot, hz)
    obs = env.reset(task, seed)
    stream = policy.make_system2_stream()
    head = policy.config.head_camera
    s2 = policy.config.system2
    for _ in range(max(s2.short_window, s2.long_window)):  # pad like training: the first frame repeated
        stream.push(obs["images"][head], 0.0)
    limit = env.task.max_steps if max_steps is None else min(max_steps, env.task.max_steps)
    success, replans, k = False, 0, 0
    for k in range(limit):
        t = k / hz
        if k % replan_every == 0:
            features = stream.compute(obs["instruction"])
            chunk = policy.act(obs["images"], obs["state"], obs["instruction"], features, seed=seed * 100_003 + k)
            executor.add_chunk(chunk, t0=t, now=t)
            replans += 1
        command = safety.step(executor.sample(t), obs["state"], t)
        if frames is not None:
            frames.append(np.concatenate([obs["images"][c] for c in ("head", "left", "right")], axis=1))
        obs, success, done, _ = env.step(obs["state"] if command is None else command)
        if (k + 1) % stride == 0:
            stream.push(obs["images"][head], (k + 1) / hz)
        if success or done:
            break
    return {"success": bool(success), "steps": k + 1, "replans": replans}


def evaluate(checkpoint, task: str, episodes: int, first_seed: int = 1000, replan_every: int = 8,
             max_steps: int | None = None, video: str | None = None, threads: int | None = None,
             progress: bool = True) -> dict:
    """Success rate of a checkpoint over seeds first_seed .. first_seed+episodes-1.

    Seeds default to 1000+ so they do not overlap the expert seeds a dataset was generated from (0+).
    Returns {"success_rate", "episodes": [{"seed", "success", "steps", "replans"}, ...]}.
    """
    import torch
    from tqdm import tqdm

    from video2act.config import load_config
    from video2act.data.generate import DEFAULT_IMAGE_SIZE
    from video2act.model.modeling_video2act import Video2ActPolicy
    from video2act.sim.env import CobotMagicEnv

    if episodes < 1:
        raise ValueError(f"episodes must be >= 1. Got {episodes}")
    if threads:
        torch.set_num_threads(int(threads))
    checkpoint = Path(checkpoint)
    policy = Video2ActPolicy.from_pretrained(checkpoint)
    info_path = checkpoint / DATASET_INFO_NAME
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    image_size = tuple(info.get("image_size", DEFAULT_IMAGE_SIZE))
    hz = float(info.get("fps", load_config("robot.yaml")["rates"]["control_hz"]))
    env = CobotMagicEnv(image_size=image_size, control_hz=hz, render=True)
    results, frames = [], ([] if video else None)
    try:
        for seed in tqdm(range(first_seed, first_seed + episodes), desc=f"eval {task}", unit="ep", disable=not progress):
            r = evaluate_episode(policy, env, task, seed, replan_every, max_steps,
                                 frames if (video and not results) else None)
            results.append({"seed": seed, **r})
    finally:
        env.close()
    if video and frames:
        _write_video(video, frames, hz)
    return {"success_rate": float(np.mean([r["success"] for r in results])), "episodes": results}


def _write_video(path: str, frames: list, fps: float) -> None:
    import cv2

    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        writer.write(np.ascontiguousarray(f[:, :, ::-1]))
    writer.release()
