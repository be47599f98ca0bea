"""Scripted-expert demonstrations on the MuJoCo twin, rendered in-process, written as a dataset."""
from __future__ import annotations

import numpy as np

from video2act.data.format import Episode, create_writer

def default_image_size() -> tuple[int, int]:
    """HxW datasets store their cameras at (config/data.yaml)."""
    from video2act.config import load_config

    h, w = load_config("data.yaml")["image_size"]
    return int(h), int(w)


DEFAULT_IMAGE_SIZE = default_image_size()


def record_expert_episode(env, task: str, seed: int, max_steps: int | None = None) -> tuple[Episode, bool]:
    """Run the task's scripted expert from `seed`; (episode, success).

    Step t stores the observation before the command (images, state) and the command (action).
    max_steps caps the episode (None: the task's own limit).
    """
    from video2act.sim.experts import make_expert

    obs = env.reset(task, seed)
    expert = make_expert(env)
    images = {cam: [] for cam in obs["images"]}
    states, actions, objects = [], [], []
    done, success = False, False
    while not done:
        target = env.clamp(expert.act())  # what the robot is really told to do
        for cam, img in obs["images"].items():
            images[cam].append(img)
        states.append(obs["state"])
        objects.append(obs["objects"])
        actions.append(target.astype(np.float32))
        obs, success, done, _ = env.step(target)
        if max_steps is not None and len(actions) >= max_steps:
            break
    episode = Episode(images={c: np.stack(v) for c, v in images.items()}, state=np.stack(states).astype(np.float32),
                      action=np.stack(actions), instruction=obs["instruction"], task=task,
                      source=f"expert seed {seed}" + ("" if env.scene == "clean" else f" scene {env.scene}"),
                      objects=np.stack(objects))
    return episode, bool(success)


def generate_dataset(task: str, episodes: int, out, image_size=DEFAULT_IMAGE_SIZE, first_seed: int = 0,
                     keep_failed: bool = False, max_seeds: int | None = None, progress: bool = True,
                     layout: str = "npz", force: bool = False, scene: str = "clean") -> dict:
    """Collect `episodes` expert episodes of `task` (seeds first_seed, first_seed+1, ...) into dataset `out`
    (`layout` npz or lerobot, see format.create_writer; force replaces a dataset at `out`) in the twin's `scene`
    (clean or randomized, video2act.sim.scene; each episode's source names it).

    Failed expert episodes are skipped (unless keep_failed) and more seeds are tried, at most max_seeds
    (default 2 x episodes). Returns {"kept", "failed", "failed_seeds", "steps", "meta", "scene"}.
    """
    from tqdm import tqdm

    from video2act.config import load_config
    from video2act.sim.env import CobotMagicEnv
    from video2act.sim.model import CAMERAS

    if episodes < 1:
        raise ValueError(f"episodes must be >= 1. Got {episodes}")
    hz = float(load_config("robot.yaml")["rates"]["control_hz"])
    env = CobotMagicEnv(image_size=image_size, control_hz=hz, render=True, scene=scene)
    writer = create_writer(out, hz, list(CAMERAS), image_size, layout, force)
    max_seeds = 2 * episodes if max_seeds is None else max_seeds
    failed_seeds, steps = [], 0
    bar = tqdm(total=episodes, desc=f"expert {task} ({scene})", unit="ep", disable=not progress)
    try:
        for seed in range(first_seed, first_seed + max_seeds):
            if len(writer.episodes) >= episodes:
                break
            episode, success = record_expert_episode(env, task, seed)
            if not success:
                failed_seeds.append(seed)
                if not keep_failed:
                    continue
            writer.add(episode)
            steps += len(episode)
            bar.update(1)
            bar.set_postfix(failed=len(failed_seeds))
    finally:
        bar.close()
        env.close()
    meta = writer.finalize()
    return {"kept": len(writer.episodes), "failed": len(failed_seeds), "failed_seeds": failed_seeds,
            "steps": steps, "meta": meta, "scene": scene}
