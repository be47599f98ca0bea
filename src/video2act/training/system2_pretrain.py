"""`video2act system2 pretrain`: train a preset's System 2 (HunyuanVideo VAE + video transformer) on the
head-camera videos of the robot's own datasets, the way that model family is trained, so its features
describe the robot's world instead of being random projections.

Stage 1, VAE: every frame as a 1-frame video (exactly how System 2 encodes it), at both System 2
resolutions; loss = MSE reconstruction + `kl_weight` x KL. Then the latent scale: ``scaling_factor`` =
1 / std of the latents, so the diffusion model sees unit-variance latents (HunyuanVideo's convention).

Stage 2, video transformer at its full configured depth: flow matching as HunyuanVideo (diffusers'
FlowMatchEulerDiscreteScheduler convention): x_s = (1 - s) x0 + s noise, target = noise - x0, timestep
s x 1000, with s drawn logit-normal. Clips are the frames System 2 sees (every `frame_stride(fps)`-th
frame): short windows at the high resolution and long windows at the low resolution, alternately,
conditioned on the episode's instruction through the policy's System 2 conditioning (text encoder +
projections, seeded as in the policy, saved beside the weights so the policy conditions it alike).
The policy then reads features at the truncated depth at the inversion start (system2.py).

    OUT/vae/, OUT/transformer/     save_pretrained folders (System2Config.pretrained_path = OUT loads them)
    OUT/text_encoder/              the instruction encoder the transformer was conditioned with
    OUT/conditioning.safetensors   System 2 conditioning projections (s2_text_proj, s2_pooled_proj, ...)
    OUT/policy_preset.yaml         the policy preset with this System 2: `video2act train --preset OUT/policy_preset.yaml`
    OUT/pretrain.json              data, steps, losses, latent scale, seconds
    OUT/losses.png, OUT/reconstruction.png, OUT/samples.png, OUT/samples.mp4   what it learned, to look at

The same command starts from pretrained HunyuanVideo weights where the preset's `system2.pretrained_path` (a
local folder with vae/ and transformer/, or `--init DIR`) names them, loaded at full depth; `--vae-steps 0`
keeps the pretrained VAE and its scaling factor. Untried at the paper's size (no GPU was lent): fp32 AdamW on
the 13 B transformer needs sharding / bf16 / gradient checkpointing, which this loop does not set up.
"""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import numpy as np

from video2act.training.train import _lr_factor

VAE_DIR, TRANSFORMER_DIR, TEXT_ENCODER_DIR = "vae", "transformer", "text_encoder"
POLICY_PRESET_NAME = "policy_preset.yaml"
INFO_NAME = "pretrain.json"


def _frames_tensor(frames: np.ndarray, resolution):
    """(N, H, W, 3) uint8 -> (N, 3, 1, h, w) float in [-1, 1]: each frame a 1-frame video at `resolution`."""
    import torch

    from video2act.model.system2 import _frame_to_tensor

    return torch.stack([_frame_to_tensor(f, tuple(resolution)) for f in frames])[:, :, None]


class VideoData:
    """Head-camera frames and instructions of one or more datasets, and the System 2 frame stride."""

    def __init__(self, dataset_dirs, camera: str, max_episodes: int | None = None):
        from video2act.data.format import Dataset, DatasetError
        from video2act.data.windows import frame_stride

        self.frames, self.instructions = [], []
        fps = None
        for d in dataset_dirs:
            ds = Dataset(d)
            if camera not in ds.cameras:
                raise DatasetError(f"{d} has no '{camera}' camera (it has {ds.cameras}); System 2 reads the head camera")
            if fps is not None and ds.fps != fps:
                raise DatasetError(f"datasets differ in rate: {fps} Hz and {ds.fps} Hz ({d})")
            fps = ds.fps
            for i in range(len(ds) if max_episodes is None else min(len(ds), max_episodes)):
                ep = ds.episode(i)
                self.frames.append(ep.images[camera])
                self.instructions.append(ep.instruction)
        if not self.frames:
            raise DatasetError("no episodes to pretrain on")
        self.fps = fps
        self.stride = frame_stride(fps)

    def random_frames(self, n: int, rng: np.random.Generator) -> np.ndarray:
        eps = rng.integers(0, len(self.frames), n)
        return np.stack([self.frames[e][rng.integers(0, len(self.frames[e]))] for e in eps])  # (n, H, W, 3)

    def random_clips(self, n: int, window: int, rng: np.random.Generator) -> tuple[list, list]:
        """n (episode, frame indices) clips of `window` frames `stride` apart (clamped at the episode start,
        as System 2's first windows repeat the first frame), and their instructions."""
        from video2act.data.windows import past_window

        eps = rng.integers(0, len(self.frames), n)
        clips = [(int(e), past_window(int(rng.integers(0, len(self.frames[e]))), window, self.stride)) for e in eps]
        return clips, [self.instructions[e] for e in eps]


def _fold(vae) -> None:
    """Single-frame convolutions for encoder and decoder (exact for 1-frame videos, ~3x cheaper on a CPU)."""
    from video2act.model.system2 import _fold_single_frame_convs

    _fold_single_frame_convs(vae.encoder)
    _fold_single_frame_convs(vae.decoder)


def build_full_vdm(system2_config, device):
    """The full VAE (with decoder) and the full-depth transformer (with output head) of a System2Config:
    pretrained weights where its pretrained_path names them, a random init otherwise."""
    from diffusers import AutoencoderKLHunyuanVideo, HunyuanVideoTransformer3DModel

    path = system2_config.pretrained_path
    if path is not None:
        vae = AutoencoderKLHunyuanVideo.from_pretrained(path, subfolder=VAE_DIR)
        transformer = HunyuanVideoTransformer3DModel.from_pretrained(path, subfolder=TRANSFORMER_DIR)
    else:
        vae = AutoencoderKLHunyuanVideo(**system2_config.full_vae_config())
        transformer = HunyuanVideoTransformer3DModel(**system2_config.full_transformer_config())
    return vae.to(device), transformer.to(device)


def train_vae(vae, data: VideoData, resolutions, steps: int, batch_size: int, lr: float, kl_weight: float,
              rng: np.random.Generator, device, progress: bool = True) -> list[dict]:
    """Stage 1: reconstruction + KL on single frames, alternating the resolutions; returns per-step losses."""
    import torch
    from tqdm import tqdm

    vae.train()
    opt = torch.optim.AdamW([p for p in vae.parameters()], lr=lr, weight_decay=1e-4)
    log = []
    bar = tqdm(range(steps), desc="System 2 VAE", unit="step", disable=not progress)
    for step in bar:
        for g in opt.param_groups:
            g["lr"] = lr * _lr_factor(step, steps)
        video = _frames_tensor(data.random_frames(batch_size, rng), resolutions[step % len(resolutions)]).to(device)
        posterior = vae.encode(video).latent_dist
        recon = vae.decode(posterior.sample()).sample  # (B, 3, 1, H, W)
        mse = torch.nn.functional.mse_loss(recon, video)
        kl = 0.5 * (posterior.mean.pow(2) + posterior.var - 1.0 - posterior.logvar).mean()
        loss = mse + kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        log.append({"mse": mse.item(), "kl": kl.item()})
        bar.set_postfix(mse=f"{log[-1]['mse']:.4f}", kl=f"{log[-1]['kl']:.2f}")
    vae.eval()
    return log


def encode_latents(vae, data: VideoData, resolution, device, batch: int = 64, progress: bool = True) -> list:
    """Unscaled posterior-mean latents of every frame at `resolution`: [(T, C, h, w) float32 per episode]."""
    import torch
    from tqdm import tqdm

    out = []
    with torch.no_grad():
        for frames in tqdm(data.frames, desc=f"latents {resolution[0]}x{resolution[1]}", unit="ep", disable=not progress):
            lat = [vae.encode(_frames_tensor(frames[i:i + batch], resolution).to(device)).latent_dist.mode()[:, :, 0]
                   for i in range(0, len(frames), batch)]
            out.append(torch.cat(lat).float().cpu().numpy())  # (T, C, h, w)
    return out


class Conditioning:
    """The policy's System 2 conditioning (text encoder + projections, frozen): per instruction, cached; with
    `system2_image_condition` also on the newest frame of each clip, as System 2 is conditioned at run time."""

    def __init__(self, policy):
        self.policy = policy
        self._cache = {}

    def _one(self, instruction: str, frame: np.ndarray | None):
        policy = self.policy
        if instruction not in self._cache:
            self._cache[instruction] = policy.encode_instructions([instruction])
        text, mask = self._cache[instruction]
        head = None
        if policy.config.system2_image_condition:
            cam = policy.config.head_camera
            head = policy.preprocess_images({cam: frame}, cameras=(cam,))[:, 0]  # (1, 3, h, w)
        return policy.system2_condition(text, mask, head)

    def __call__(self, instructions: list[str], device, newest_frames=None):
        import torch

        frames = newest_frames if newest_frames is not None else [None] * len(instructions)
        with torch.no_grad():
            rows = [self._one(s, f) for s, f in zip(instructions, frames)]
        tokens, mask, pooled = (torch.cat([r[k] for r in rows]).to(device) for k in range(3))
        return tokens, mask, pooled


def _guidance(transformer, batch: int, scale: float, device):
    import torch

    if not transformer.config.guidance_embeds:
        return None
    return torch.full((batch,), scale * 1000.0, device=device)


def flow_matching_loss(transformer, x0, cond, guidance_scale: float, generator=None):
    """HunyuanVideo's objective on clean latents x0 (B, C, T, h, w): MSE of the predicted velocity noise - x0 at
    x_s = (1 - s) x0 + s noise, s logit-normal, timestep s x 1000."""
    import torch

    b = x0.shape[0]
    noise = torch.randn(x0.shape, generator=generator).to(x0)
    s = torch.sigmoid(torch.randn(b, generator=generator)).to(x0)  # (B,) logit-normal: most weight mid-way
    xs = (1 - s.view(b, 1, 1, 1, 1)) * x0 + s.view(b, 1, 1, 1, 1) * noise
    tokens, mask, pooled = cond
    pred = transformer(xs, s * 1000.0, tokens, mask, pooled, guidance=_guidance(transformer, b, guidance_scale, x0.device),
                       return_dict=False)[0]
    return torch.nn.functional.mse_loss(pred.float(), (noise - x0).float())


def train_transformer(transformer, latents: dict, data: VideoData, windows: dict, cond: Conditioning, steps: int,
                      batch_size: int, lr: float, guidance_scale: float, rng: np.random.Generator, device,
                      progress: bool = True) -> list[dict]:
    """Stage 2: flow matching on latent clips, alternating the (window, resolution) streams in `windows`
    ({name: window}); `latents` {name: per-episode (T, C, h, w) scaled latents}."""
    import torch
    from tqdm import tqdm

    transformer.train()
    opt = torch.optim.AdamW(transformer.parameters(), lr=lr, weight_decay=1e-4)
    names = list(windows)
    gen = torch.Generator().manual_seed(int(rng.integers(1 << 31)))
    log = []
    bar = tqdm(range(steps), desc="System 2 transformer", unit="step", disable=not progress)
    for step in bar:
        for g in opt.param_groups:
            g["lr"] = lr * _lr_factor(step, steps)
        name = names[step % len(names)]
        clips, instructions = data.random_clips(batch_size, windows[name], rng)
        x0 = torch.from_numpy(np.stack([latents[name][e][idx] for e, idx in clips]))  # (B, T, C, h, w)
        x0 = x0.permute(0, 2, 1, 3, 4).to(device)  # (B, C, T, h, w)
        newest = [data.frames[e][idx[-1]] for e, idx in clips]
        loss = flow_matching_loss(transformer, x0, cond(instructions, device, newest), guidance_scale, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(transformer.parameters(), 1.0)
        opt.step()
        log.append({"stream": name, "loss": loss.item()})
        bar.set_postfix(loss=f"{log[-1]['loss']:.4f}")
    transformer.eval()
    return log


def sample_clip(transformer, shape, cond, guidance_scale: float, steps: int = 30, seed: int = 0):
    """Euler integration of the learned flow from noise (s = 1) to data (s = 0): (1, C, T, h, w) latents."""
    import torch

    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    sigmas = torch.linspace(1.0, 0.0, steps + 1)
    with torch.no_grad():
        for s, s_next in zip(sigmas[:-1], sigmas[1:]):
            v = transformer(x, s.view(1) * 1000.0, *cond, guidance=_guidance(transformer, 1, guidance_scale, x.device),
                            return_dict=False)[0]
            x = x + (s_next - s) * v
    return x


def _to_uint8(video) -> np.ndarray:
    """(N, 3, 1, H, W) in [-1, 1] -> (N, H, W, 3) uint8."""
    return ((video[:, :, 0].permute(0, 2, 3, 1).clamp(-1, 1).float().cpu().numpy() + 1) * 127.5).round().astype(np.uint8)


def _decode(vae, latents, scale: float) -> np.ndarray:
    """(1, C, T, h, w) scaled latents -> (T, H, W, 3) uint8, frame by frame (as they were encoded)."""
    import torch

    with torch.no_grad():
        frames = latents[0].permute(1, 0, 2, 3)[:, :, None] / scale  # (T, C, 1, h, w)
        return _to_uint8(vae.decode(frames).sample)


def _grid(rows: list[np.ndarray], upscale: int = 2) -> np.ndarray:
    """Rows of (N, H, W, 3) frames (same N, H, W) -> one image, 2 px gaps."""
    import cv2

    rows = [np.concatenate([np.pad(f, ((2, 2), (2, 2), (0, 0)), constant_values=255) for f in r], axis=1) for r in rows]
    image = np.concatenate(rows, axis=0)
    return cv2.resize(image, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_NEAREST)


def write_previews(out: Path, vae, transformer, data: VideoData, latents: dict, windows: dict, resolutions: dict,
                   scale: float, cond: Conditioning, guidance_scale: float, device) -> dict:
    """reconstruction.png (frames over their VAE reconstructions, both resolutions), samples.png / samples.mp4
    (a real clip of each stream over one sampled from noise for the same instruction); returns the paths."""
    import cv2
    import torch

    rng = np.random.default_rng(0)
    frames = data.random_frames(8, rng)
    rows = []
    with torch.no_grad():
        for res in resolutions.values():
            video = _frames_tensor(frames, res).to(device)
            rows += [_to_uint8(video), _to_uint8(vae.decode(vae.encode(video).latent_dist.mode()).sample)]
    recon = [_grid(rows[i:i + 2]) for i in range(0, len(rows), 2)]
    width = max(r.shape[1] for r in recon)
    recon = np.concatenate([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in recon])
    paths = {"reconstruction": out / "reconstruction.png", "samples": out / "samples.png", "video": out / "samples.mp4"}
    cv2.imwrite(str(paths["reconstruction"]), recon[..., ::-1])

    sample_rows, clips_for_video = [], []
    for name, window in windows.items():
        (clip,), (instruction,) = data.random_clips(1, window, rng)
        real = _decode(vae, torch.from_numpy(latents[name][clip[0]][clip[1]]).permute(1, 0, 2, 3)[None], scale)
        shape = (1, vae.config.latent_channels, window, *latents[name][0].shape[-2:])
        newest = [data.frames[clip[0]][clip[1][-1]]]
        fake = _decode(vae, sample_clip(transformer, shape, cond([instruction], device, newest), guidance_scale), scale)
        sample_rows.append(_grid([real, fake]))
        clips_for_video.append((real, fake))
    width = max(r.shape[1] for r in sample_rows)
    cv2.imwrite(str(paths["samples"]), np.concatenate(
        [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in sample_rows])[..., ::-1])
    # the long (motion) stream as a video: real clip left, sampled clip right
    real, fake = clips_for_video[-1]
    frame_size = (real.shape[2] * 8 + 4, real.shape[1] * 4)
    writer = cv2.VideoWriter(str(paths["video"]), cv2.VideoWriter_fourcc(*"mp4v"), 4, frame_size)
    for a, b in zip(real, fake):
        pair = np.concatenate([a, np.full((a.shape[0], 1, 3), 255, np.uint8), b], axis=1)
        pair = cv2.resize(pair, frame_size, interpolation=cv2.INTER_NEAREST)
        writer.write(np.ascontiguousarray(pair[..., ::-1]))
    writer.release()
    return paths


def plot_losses(vae_log: list[dict], transformer_log: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    for ax, log, keys, title in ((axes[0], vae_log, ("mse", "kl"), "VAE (per frame)"),
                                 (axes[1], transformer_log, ("loss",), "transformer (flow matching)")):
        for key in keys:
            if not log:
                continue
            if "stream" in log[0]:
                for stream in sorted({r["stream"] for r in log}):
                    pts = [(i, r[key]) for i, r in enumerate(log) if r["stream"] == stream]
                    ax.plot(*zip(*pts), lw=0.6, label=f"{key} ({stream})")
            else:
                ax.plot([r[key] for r in log], lw=0.6, label=key)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def pretrain(dataset_dirs, out, preset: str = "small", vae_steps: int = 1500, transformer_steps: int = 1500,
             batch_size: int = 32, vae_lr: float = 1e-3, transformer_lr: float = 5e-4, kl_weight: float = 1e-4,
             init: str | None = None, seed: int = 0, threads: int | None = None, device: str = "cpu",
             max_episodes: int | None = None, force: bool = False, progress: bool = True) -> dict:
    """Both stages, then previews and the files listed in the module docstring; returns pretrain.json's content."""
    import dataclasses

    import torch
    import yaml

    from video2act.model.configuration_video2act import Video2ActConfig
    from video2act.model.modeling_video2act import Video2ActPolicy
    from video2act.model.system2 import CONDITIONING_NAME

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out} is not empty; pass --force to overwrite it")
    out.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(threads)
    t0 = time.time()
    base = Video2ActConfig.from_preset(preset)
    s2 = base.system2 if init is None else dataclasses.replace(base.system2, pretrained_path=init)
    policy = Video2ActPolicy.from_preset(preset, seed=seed)  # its conditioning (seeded) is what System 2 learns from
    data = VideoData([str(d) for d in dataset_dirs], base.head_camera, max_episodes)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    vae, transformer = build_full_vdm(s2, device)
    _fold(vae)
    resolutions = {"spatial": tuple(s2.high_res), "motion": tuple(s2.low_res)}
    windows = {"spatial": s2.short_window, "motion": s2.long_window}

    vae_log = train_vae(vae, data, list(resolutions.values()), vae_steps, batch_size, vae_lr, kl_weight, rng, device,
                        progress) if vae_steps > 0 else []
    for p in vae.parameters():
        p.requires_grad_(False)
    raw = {name: encode_latents(vae, data, res, device, progress=progress) for name, res in resolutions.items()}
    if vae_steps > 0:  # unit-variance latents for the transformer (a pretrained VAE keeps its own factor)
        std = float(np.sqrt(np.mean([np.mean(lat.astype(np.float64) ** 2) for lat in raw["spatial"]])))
        vae.register_to_config(scaling_factor=1.0 / max(std, 1e-6))
    scale = float(vae.config.scaling_factor)
    latents = {name: [lat * scale for lat in eps] for name, eps in raw.items()}
    cond = Conditioning(policy)
    tr_log = train_transformer(transformer, latents, data, windows, cond, transformer_steps, batch_size,
                               transformer_lr, s2.guidance_scale, rng, device, progress)

    vae.save_pretrained(out / VAE_DIR)
    transformer.save_pretrained(out / TRANSFORMER_DIR)
    policy.encoders.text_encoder.save_pretrained(out / TEXT_ENCODER_DIR)
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in policy.state_dict().items() if k.startswith(("s2_text_proj.",
               "s2_pooled_proj.", "s2_image_proj."))}, str(out / CONDITIONING_NAME))
    preset_dict = copy.deepcopy(base.to_dict())
    preset_dict["system2"]["pretrained_path"] = "."  # relative to the preset file: the folder moves as a whole
    preset_dict["text_encoder"]["pretrained"] = TEXT_ENCODER_DIR
    (out / POLICY_PRESET_NAME).write_text(
        f"# {preset} preset with the System 2 pretrained by `video2act system2 pretrain` in this folder\n"
        + yaml.safe_dump(preset_dict, sort_keys=False))
    plot_losses(vae_log, tr_log, out / "losses.png")
    previews = write_previews(out, vae, transformer, data, latents, windows, resolutions, scale, cond,
                              s2.guidance_scale, device)

    def tail(log, key, stream=None):
        vals = [r[key] for r in log if stream is None or r.get("stream") == stream]
        return float(np.mean(vals[-max(1, len(vals) // 10):])) if vals else None

    info = {"preset": preset, "datasets": [str(d) for d in dataset_dirs], "episodes": len(data.frames),
            "frame_stride": data.stride, "seed": seed, "init": init, "vae_steps": vae_steps,
            "transformer_steps": transformer_steps, "batch_size": batch_size, "kl_weight": kl_weight,
            "scaling_factor": scale,
            "vae_mse": {"first": vae_log[0]["mse"] if vae_log else None, "last": tail(vae_log, "mse")},
            "flow_loss": {name: {"first": next((r["loss"] for r in tr_log if r["stream"] == name), None),
                                 "last": tail(tr_log, "loss", name)} for name in windows},
            "seconds": round(time.time() - t0, 1), "previews": {k: p.name for k, p in previews.items()}}
    (out / INFO_NAME).write_text(json.dumps(info, indent=1))
    return info
