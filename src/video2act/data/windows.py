"""Training samples: one (episode, step t) -> what policy.forward(batch) needs, with padding at the ends.

    action chunk   actions t .. t+H-1           past the episode end: the last action repeated
    state, images  at t
    high latents   T_s frames ending at t       every `frame_stride`-th frame (the System 2 frame rate,
    low latents    T_l frames ending at t       robot.yaml rates.system2_frame_hz); before the episode
                                                start the first frame repeated (eval primes the same way)
    or, for a frozen System 2, its cached tokens (or filtered maps, when the Q-formers train) from the
    windows ending at the newest System 2 frame at
    or before t - lag, lag drawn in [0, max_feature_lag] steps: System 1 acts on features that are as old
    as System 2's period and latency make them on the robot
    objects        true object poses at t (when the dataset has them)
    keypoint       where the head camera's first keypoint maps should peak (training-only supervision, when
      targets      asked for): "keyframes", where each arm next grasps / releases after t from the recorded
                   joints (data.keyframes: any dataset has them), or "objects", the true object poses (the
                   twin's only); projected into the head image here, so the model never needs a camera model
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


def _target_points(episode, kind: str) -> np.ndarray:
    """(T, S, 3) world points of one episode, zeros where there is none."""
    if kind == "objects":
        return episode.objects.reshape(len(episode), -1, 4)[..., :3]  # [x, y, z, yaw] per body
    from video2act.data.keyframes import keyframe_targets

    return keyframe_targets(episode.state, episode.action).reshape(len(episode), -1, 3)


def head_image_targets(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World points (..., S, 3), zeros = none -> (targets (..., S, 2) [x, y] in the head image in [-1, 1],
    valid (..., S) bool). The nominal head camera of config/sim.yaml (a real robot's calibrated one goes
    there); points behind it are not valid."""
    from video2act.sim.model import project_to_head_camera

    points = np.asarray(points, dtype=np.float64)
    projected = project_to_head_camera(points)
    valid = (np.abs(points).sum(-1) > 0) & np.isfinite(projected).all(-1)
    return np.nan_to_num(projected).astype(np.float32), valid


class WindowSampler:
    """Draws training batches from in-memory episodes and their cached latents.

    Args:
        episodes: list of data.format.Episode.
        latents: per episode (high (T, C, h, w), low (T, C, h', w')) from data.latents.load_latents.
        chunk_size, short_window, long_window: the policy's H, T_s, T_l.
        stride: dataset frames between two System 2 frames (see frame_stride).
    """

    def __init__(self, episodes, latents, chunk_size: int, short_window: int, long_window: int, stride: int = 1,
                 tokens=None, max_feature_lag: int = 0, features: str = "tokens", keypoint_targets: str | None = None):
        source = tokens if tokens is not None else latents
        if source is None or len(episodes) != len(source) or not episodes:
            raise ValueError(f"need one latent (or token) pair per episode. Got {len(episodes)} episodes, "
                             f"{None if source is None else len(source)} pairs")
        if features not in ("tokens", "maps"):
            raise ValueError(f"features must be 'tokens' or 'maps'. Got {features!r}")
        self.episodes, self.latents, self.tokens = episodes, latents, tokens
        # batch keys of the cached pairs: Q-former tokens, or the filtered maps the Q-formers read
        self.feature_keys = ("spatial", "motion") if features == "tokens" else ("spatial_maps", "motion_maps")
        self.max_feature_lag = int(max_feature_lag)
        self.with_objects = all(e.objects is not None for e in episodes)
        if keypoint_targets not in (None, "keyframes", "objects"):
            raise ValueError(f"keypoint_targets must be None, 'keyframes' or 'objects'. Got {keypoint_targets!r}")
        if keypoint_targets == "objects" and not self.with_objects:
            raise ValueError("keypoint_targets='objects' needs true object poses in every episode (the twin's "
                             "datasets); recorded robot data has none: use 'keyframes'")
        # per episode (targets (T, S, 2) in [-1, 1], valid (T, S)) or None
        self.keypoints = None if keypoint_targets is None else [
            head_image_targets(_target_points(e, keypoint_targets)) for e in episodes]
        self.chunk_size, self.short_window, self.long_window = int(chunk_size), int(short_window), int(long_window)
        self.stride = int(stride)
        # every (episode, step) pair is one sample
        self.index = np.concatenate([np.stack([np.full(len(e), i), np.arange(len(e))], 1) for i, e in enumerate(episodes)])

    def __len__(self) -> int:
        return len(self.index)

    def item(self, episode: int, t: int, lag: int = 0) -> dict:
        """One sample (no batch axis): images {cam: (H, W, 3)}, state (14,), action (H, 14), instruction, and
        high (C, T_s, h, w) + low (C, T_l, h', w') latents, or spatial (Ns, D) + motion (Nm, D) tokens (or
        spatial_maps (D, T_s', h, w) + motion_maps (D, T_l', h', w')) from System 2's newest frame at or before
        t - lag; objects (D_obj,) where the dataset has them; keypoint_targets (S, 2) + keypoint_valid (S,)
        when asked for."""
        ep = self.episodes[episode]
        out = {
            "images": {cam: img[t] for cam, img in ep.images.items()},
            "state": ep.state[t],
            "action": ep.action[future_window(t, len(ep), self.chunk_size)],
            "instruction": ep.instruction,
        }
        if self.tokens is not None:
            spatial, motion = self.tokens[episode]
            j = max(0, t - lag) // self.stride
            out.update(zip(self.feature_keys, (spatial[j], motion[j])))
        else:
            high, low = self.latents[episode]
            out.update(high=high[past_window(t, self.short_window, self.stride)].transpose(1, 0, 2, 3),
                       low=low[past_window(t, self.long_window, self.stride)].transpose(1, 0, 2, 3))
        if self.with_objects:
            out["objects"] = ep.objects[t]
        if self.keypoints is not None:
            targets, valid = self.keypoints[episode]
            out["keypoint_targets"], out["keypoint_valid"] = targets[t], valid[t]
        return out

    def batch(self, pairs, lags=None) -> dict:
        """[(episode, t), ...] (+ feature lags) -> the batch dict of Video2ActPolicy.forward (torch tensors,
        uint8 images)."""
        import torch

        lags = np.zeros(len(pairs), dtype=int) if lags is None else lags
        items = [self.item(int(e), int(t), int(lag)) for (e, t), lag in zip(pairs, lags)]
        out = {
            "images": {cam: np.stack([it["images"][cam] for it in items]) for cam in items[0]["images"]},
            "state": torch.from_numpy(np.stack([it["state"] for it in items])),
            "action": torch.from_numpy(np.stack([it["action"] for it in items])),
            "instruction": [it["instruction"] for it in items],
        }
        keys = {**{k: k for k in self.feature_keys}, "high": "high_latents", "low": "low_latents", "objects": "objects",
                "keypoint_targets": "keypoint_targets", "keypoint_valid": "keypoint_valid"}
        for key, name in keys.items():
            if key in items[0]:
                out[name] = torch.from_numpy(np.stack([it[key] for it in items]))
        return out

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict:
        """A batch of `batch_size` samples drawn uniformly over every (episode, step), feature lags uniform."""
        pairs = self.index[rng.integers(0, len(self.index), size=batch_size)]
        return self.batch(pairs, rng.integers(0, self.max_feature_lag + 1, size=batch_size))
