"""Training samples: one (episode, step t) -> what policy.forward(batch) needs, with padding at the ends.

    action chunk   actions t .. t+H-1           past the episode end: the last action repeated
    state, images  at t
    high latents   T_s frames ending at t       every `frame_stride`-th frame (the System 2 frame rate,
    low latents    T_l frames ending at t       robot.yaml rates.system2_frame_hz); before the episode
                                                start the first frame repeated (eval primes the same way)
"""
from __future__ import annotations

import numpy as np


def past_window(t: int, window: int, stride: int = 1) -> np.ndarray:
    """(window,) frame indices ending at t, `stride` apart, oldest first, clipped at 0."""
    return np.clip(np.arange(t - (window - 1) * stride, t + 1, stride), 0, None)


def frame_stride(fps: float) -> int:
    """Dataset frames per System 2 frame: fps / robot.yaml rates.system2_frame_hz (at least 1)."""
    from video2act.config import load_config

    return max(1, int(round(fps / float(load_config("robot.yaml")["rates"]["system2_frame_hz"]))))


def future_window(t: int, length: int, horizon: int) -> np.ndarray:
    """(horizon,) step indices t .. t+horizon-1, clipped at the episode's last step."""
    return np.clip(np.arange(t, t + horizon), None, length - 1)


class WindowSampler:
    """Draws training batches from in-memory episodes and their cached latents.

    Args:
        episodes: list of data.format.Episode.
        latents: per episode (high (T, C, h, w), low (T, C, h', w')) from data.latents.load_latents.
        chunk_size, short_window, long_window: the policy's H, T_s, T_l.
        stride: dataset frames between two System 2 frames (see frame_stride).
    """

    def __init__(self, episodes, latents, chunk_size: int, short_window: int, long_window: int, stride: int = 1):
        if len(episodes) != len(latents) or not episodes:
            raise ValueError(f"need one latent pair per episode. Got {len(episodes)} episodes, {len(latents)} latents")
        self.episodes, self.latents = episodes, latents
        self.chunk_size, self.short_window, self.long_window = int(chunk_size), int(short_window), int(long_window)
        self.stride = int(stride)
        # every (episode, step) pair is one sample
        self.index = np.concatenate([np.stack([np.full(len(e), i), np.arange(len(e))], 1) for i, e in enumerate(episodes)])

    def __len__(self) -> int:
        return len(self.index)

    def item(self, episode: int, t: int) -> dict:
        """One sample (no batch axis): images {cam: (H, W, 3)}, state (14,), action (H, 14),
        high (C, T_s, h, w), low (C, T_l, h', w'), instruction."""
        ep = self.episodes[episode]
        high, low = self.latents[episode]
        return {
            "images": {cam: img[t] for cam, img in ep.images.items()},
            "state": ep.state[t],
            "action": ep.action[future_window(t, len(ep), self.chunk_size)],
            "high": high[past_window(t, self.short_window, self.stride)].transpose(1, 0, 2, 3),
            "low": low[past_window(t, self.long_window, self.stride)].transpose(1, 0, 2, 3),
            "instruction": ep.instruction,
        }

    def batch(self, pairs) -> dict:
        """[(episode, t), ...] -> the batch dict of Video2ActPolicy.forward (torch tensors, uint8 images)."""
        import torch

        items = [self.item(int(e), int(t)) for e, t in pairs]
        return {
            "images": {cam: np.stack([it["images"][cam] for it in items]) for cam in items[0]["images"]},
            "state": torch.from_numpy(np.stack([it["state"] for it in items])),
            "action": torch.from_numpy(np.stack([it["action"] for it in items])),
            "high_latents": torch.from_numpy(np.stack([it["high"] for it in items])),
            "low_latents": torch.from_numpy(np.stack([it["low"] for it in items])),
            "instruction": [it["instruction"] for it in items],
        }

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict:
        """A batch of `batch_size` samples drawn uniformly over every (episode, step)."""
        return self.batch(self.index[rng.integers(0, len(self.index), size=batch_size)])
