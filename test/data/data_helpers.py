"""Synthetic episodes for the data and training tests (written directly, no simulator)."""
import numpy as np

from video2act.data.format import DatasetWriter, Episode

CAMERAS = ["head", "left", "right"]


def synthetic_episode(length: int, seed: int, image_size=(32, 48), instruction="Pick up both bottles.") -> Episode:
    """Images whose brightness follows the step, states on a ramp, actions = next state."""
    rng = np.random.default_rng(seed)
    h, w = image_size
    base = rng.integers(0, 200, size=(1, h, w, 3))
    images = {cam: np.clip(base + 3 * np.arange(length)[:, None, None, None] + 10 * i, 0, 255).astype(np.uint8)
              for i, cam in enumerate(CAMERAS)}
    home = np.array([0.0, 1.57, -1.35, 0.0, 0.0, 0.0, 0.04] * 2, dtype=np.float32)
    state = home + np.linspace(0, 0.3, length, dtype=np.float32)[:, None] * rng.uniform(-1, 1, 14).astype(np.float32)
    action = np.concatenate([state[1:], state[-1:]]).astype(np.float32)
    return Episode(images=images, state=state, action=action, instruction=instruction, task="synthetic",
                   source=f"seed {seed}")


def write_dataset(root, lengths=(12, 9), image_size=(32, 48)):
    writer = DatasetWriter(root, fps=30.0, cameras=CAMERAS, image_size=image_size)
    episodes = [synthetic_episode(n, seed=i, image_size=image_size) for i, n in enumerate(lengths)]
    for ep in episodes:
        writer.add(ep)
    writer.finalize()
    return episodes
