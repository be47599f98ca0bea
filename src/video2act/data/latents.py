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


FEATURE_DIRS = {"tokens": "system2_tokens", "maps": "system2_maps"}
QFORMERS = ("system2.spatial_qformer.", "system2.motion_qformer.")


def feature_key(policy, kind: str, stride: int) -> str:
    """'<preset>-<12 hex>' of everything a frozen System 2's cached `kind` ("tokens" or "maps") depends on: the
    VAE key, the kept VDM blocks, the conditioning projections and text encoder, the window layout, frame
    stride and filters, and for tokens the Q-formers."""
    s2 = policy.config.system2
    digest = hashlib.sha256(latent_key(policy).encode())
    digest.update(json.dumps([s2.short_window, s2.long_window, s2.spatial_filter, s2.motion_filter, s2.motion_cutoff,
                              policy.config.system2_image_condition, int(stride)]).encode())
    prefixes = ("system2.", "s2_", "encoders.text_encoder.")
    skip = ("system2.vae.",) + (QFORMERS if kind == "maps" else ())
    for name, tensor in sorted(policy.state_dict().items()):
        if name.startswith(prefixes) and not name.startswith(skip):
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return f"{policy.config.preset}-{digest.hexdigest()[:12]}"


def _feature_dir(dataset, policy, stride: int) -> tuple[str, Path]:
    kind = policy.config.system2_cache
    if kind is None:
        raise ValueError("System 2 features are cached only for fixed conditioning (config.frozen names 'system2' "
                         "or 'system2_conditioning'); otherwise training runs System 2 on cached latents")
    return kind, Path(dataset.root) / FEATURE_DIRS[kind] / feature_key(policy, kind, stride)


def cache_system2_features(dataset, policy, stride: int, progress: bool = True, batch: int = 32) -> Path:
    """A frozen System 2's features for every `stride`-th step of every episode (the frames System 2 sees at
    its own frame rate), computed once per dataset and System 2; returns the folder. What is cached follows
    config.system2_cache: the Q-former tokens, or (Q-formers trained) the filtered maps they read, float16.

    DIR/system2_tokens/<key>/episode_000000.npz: spatial (ceil(T/stride), Ns, D), motion (.., Nm, D);
    DIR/system2_maps/<key>/episode_000000.npz: spatial (ceil(T/stride), D, T_s', h, w), motion (.., D, T_l', h', w');
    row j holds what System 2 gives from the windows ending at step j * stride (data/windows.py).
    """
    import torch
    from tqdm import tqdm

    from video2act.data.windows import past_window

    kind, folder = _feature_dir(dataset, policy, stride)
    cache_latents(dataset, policy, progress=progress)
    latents = load_latents(dataset, policy)
    folder.mkdir(parents=True, exist_ok=True)
    s2 = policy.config.system2
    todo = [i for i in range(len(dataset)) if not (folder / episode_file(i)).is_file()]
    was_training = policy.training
    policy.eval()
    try:
        for i in tqdm(todo, desc=f"System 2 {kind}", unit="ep", disable=not progress or not todo):
            high, low = latents[i]
            instruction = dataset.episode(i).instruction
            steps = np.arange(0, len(high), stride)
            spatial, motion = [], []
            with torch.no_grad():
                text, text_mask = policy.encode_instructions([instruction])
                for j in range(0, len(steps), batch):
                    ts = steps[j:j + batch]
                    h = torch.from_numpy(np.stack([high[past_window(t, s2.short_window, stride)] for t in ts]))
                    lo = torch.from_numpy(np.stack([low[past_window(t, s2.long_window, stride)] for t in ts]))
                    n = len(ts)
                    cond = policy.system2_condition(text.expand(n, -1, -1), text_mask.expand(n, -1), None)
                    args = (h.permute(0, 2, 1, 3, 4), lo.permute(0, 2, 1, 3, 4), *cond)
                    if kind == "tokens":
                        sp, mo = (x.float().numpy() for x in policy.system2(*args))
                    else:  # half the disk and memory; the Q-formers read them back as float32
                        sp, mo = (x.half().numpy() for x in policy.system2.filtered_maps(*args))
                    spatial.append(sp)
                    motion.append(mo)
            tmp = folder / f"tmp_{episode_file(i)}"
            np.savez(tmp, spatial=np.concatenate(spatial), motion=np.concatenate(motion))
            tmp.replace(folder / episode_file(i))
    finally:
        policy.train(was_training)
    return folder


def load_system2_features(dataset, policy, stride: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(spatial (T', ...), motion (T', ...)), ...] per episode from cache_system2_features."""
    kind, folder = _feature_dir(dataset, policy, stride)
    out = []
    for i, length in enumerate(dataset.lengths):
        path = folder / episode_file(i)
        if not path.is_file():
            raise DatasetError(f"no System 2 {kind} for episode {i} under {folder}")
        with np.load(path) as z:
            spatial, motion = z["spatial"], z["motion"]
        if len(spatial) != -(-length // stride):
            raise DatasetError(f"{path} holds {len(spatial)} {kind} rows, the episode needs {-(-length // stride)}")
        out.append((spatial, motion))
    return out
