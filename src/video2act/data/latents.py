"""System 2 latent cache: per-frame VAE latents of the head camera, computed once per dataset and policy VAE.

    DIR/latents/<preset>-<hash>/key.json             what the key stands for (preset, resolutions, hash)
    DIR/latents/<preset>-<hash>/episode_000000.npz   high (T, C, h, w), low (T, C, h', w') float32

Each frame goes through the same resize (system2._frame_to_tensor) and VAE (encode_frames) as the
runtime's FrameLatentCache, so a training window of cached latents equals what System2Stream would
hold after pushing those frames. <hash> covers the VAE weights, the two resolutions and the camera:
another preset (or another VAE) gets another folder, never stale latents.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from video2act.data.format import DatasetError, episode_file

LATENTS_DIR = "latents"


def latent_key(policy) -> str:
    """'<preset>-<12 hex>' identifying the policy's frozen VAE, the System 2 resolutions and the head camera."""
    s2 = policy.config.system2
    digest = hashlib.sha256()
    digest.update(json.dumps([list(s2.high_res), list(s2.low_res), policy.config.head_camera]).encode())
    for name, tensor in sorted(policy.system2.vae.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return f"{policy.config.preset}-{digest.hexdigest()[:12]}"


def latent_dir(dataset, policy) -> Path:
    return Path(dataset.root) / LATENTS_DIR / latent_key(policy)


def encode_episode_frames(policy, frames: np.ndarray, resolution, batch: int = 32):
    """frames (T, H, W, 3) uint8 -> (T, C, h, w) float32 latents at `resolution`, as FrameLatentCache makes them."""
    import torch

    from video2act.model.system2 import _frame_to_tensor

    out = []
    with torch.no_grad():
        for i in range(0, len(frames), batch):
            x = torch.stack([_frame_to_tensor(f, tuple(resolution)) for f in frames[i:i + batch]])  # (b, 3, H, W)
            lat = policy.system2.encode_frames(x[None])  # (1, C, b, h, w)
            out.append(lat[0].permute(1, 0, 2, 3).float().cpu().numpy())  # (b, C, h, w)
    return np.concatenate(out)


def cache_latents(dataset, policy, progress: bool = True) -> Path:
    """Compute the missing latent files of `dataset` for `policy`'s VAE; returns the cache folder."""
    from tqdm import tqdm

    folder = latent_dir(dataset, policy)
    folder.mkdir(parents=True, exist_ok=True)
    s2 = policy.config.system2
    head = policy.config.head_camera
    if head not in dataset.cameras:
        raise DatasetError(f"the policy's head camera '{head}' is not in the dataset's cameras {dataset.cameras}")
    (folder / "key.json").write_text(json.dumps({"preset": policy.config.preset, "camera": head,
                                                 "high_res": list(s2.high_res), "low_res": list(s2.low_res)}))
    todo = [i for i in range(len(dataset)) if not (folder / episode_file(i)).is_file()]
    for i in tqdm(todo, desc="VAE latents", unit="ep", disable=not progress or not todo):
        frames = dataset.episode(i).images[head]
        high = encode_episode_frames(policy, frames, s2.high_res)
        low = encode_episode_frames(policy, frames, s2.low_res)
        tmp = folder / f"tmp_{episode_file(i)}"
        np.savez(tmp, high=high, low=low)
        tmp.replace(folder / episode_file(i))  # a killed run never leaves a half-written file under the real name
    return folder


def load_latents(dataset, policy) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(high (T, C, h, w), low (T, C, h', w')), ...] per episode; DatasetError when the cache for this
    policy's key is missing or does not match the episodes."""
    folder = latent_dir(dataset, policy)
    out = []
    for i, length in enumerate(dataset.lengths):
        path = folder / episode_file(i)
        if not path.is_file():
            raise DatasetError(f"no System 2 latents for episode {i} under {folder} (key {folder.name}); run "
                               f"`video2act dataset cache-latents --dataset {dataset.root} --preset {policy.config.preset}`")
        with np.load(path) as z:
            high, low = z["high"], z["low"]
        if len(high) != length or len(low) != length:
            raise DatasetError(f"{path} holds {len(high)} / {len(low)} latent frames, the episode has {length}")
        out.append((high, low))
    return out
