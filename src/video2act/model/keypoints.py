"""Small-preset System 1 image pathway: a convolutional encoder with spatial-softmax keypoints.

Why not a ViT here: at CPU resolutions a bottle is ~4 px wide and its whole placement range ~12 px of the
head camera (96x128). A 16-px-patch ViT trained from scratch cannot place it to the 1-2 cm the grasp needs;
a few full-resolution convolutions followed by a spatial soft-argmax (Levine et al. 2016; Diffusion
Policy's ResNet + SpatialSoftmax) give sub-pixel coordinates of whatever the filters respond to, which is
the inductive bias the task needs.

    pixels (B*V, 3, H, W) in [-1, 1] (+ x, y coordinate channels)
      -> conv 5x5 stride 2 -> conv 3x3 -> conv 3x3 (GroupNorm + SiLU each)   (B*V, C, H/2, W/2)
      -> 1x1 conv to K maps -> softmax over the H/2 x W/2 positions (learned temperature)
      -> expected (x, y) in [-1, 1] per map                                  (B*V, K, 2)
      -> token_k = Linear(x_k, y_k) + keypoint embedding_k                  (B*V, K, hidden_size)

`ObjectStateEncoder` is the sanity ladder's oracle: the same token interface fed with the simulator's true
object poses (Task.object_state) instead of images, so the same System 1 can be trained and evaluated with
perception taken out of the question.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class SpatialSoftmax(nn.Module):
    """(N, K, h, w) maps -> (N, K, 2) expected (x, y) in [-1, 1] under a per-map softmax over positions."""

    def __init__(self, num_maps: int, init_temperature: float = 1.0):
        super().__init__()
        self.log_temperature = nn.Parameter(torch.full((num_maps,), float(np.log(init_temperature))))

    def log_probs(self, maps: torch.Tensor) -> torch.Tensor:
        """(N, K, h, w) maps -> (N, K, h*w) log-probabilities over positions."""
        return (maps.flatten(2) / self.log_temperature.exp()[None, :, None]).log_softmax(dim=-1)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        n, k, h, w = maps.shape
        probs = self.log_probs(maps).exp().view(n, k, h, w)
        ys = torch.linspace(-1.0, 1.0, h, device=maps.device, dtype=maps.dtype)
        xs = torch.linspace(-1.0, 1.0, w, device=maps.device, dtype=maps.dtype)
        x = (probs.sum(2) * xs).sum(-1)  # (N, K)
        y = (probs.sum(3) * ys).sum(-1)  # (N, K)
        return torch.stack([x, y], dim=-1)


class KeypointImageEncoder(nn.Module):
    """CNN + spatial-softmax keypoint tokens (see module docstring).

    Args:
        image_size: (H, W) the policy resizes every camera to (aspect ratio kept by choosing it so).
        channels: widths of the three convolutions.
        num_keypoints: K maps, K tokens per camera.
        hidden_size: token width.
        shift: random-shift augmentation in pixels (training only; replicate-pad then random crop). A fixed
            camera tells absolute positions: a shift of s px costs ~s px of placement accuracy.
        coord_channels: append x / y coordinate channels to the image (CoordConv).
        color_jitter: training only, each colour channel of an image times 1 +- color_jitter (one draw per
            image and channel), on top of the +-10 % brightness / contrast: the warm / cool casts of the
            randomised scenes' lights (config/sim.yaml scene_randomization.light.tint). 0 leaves hues alone.
    """

    def __init__(self, image_size, channels=(16, 32, 32), num_keypoints: int = 16, hidden_size: int = 128,
                 shift: int = 0, groups: int = 8, coord_channels: bool = True, init_temperature: float = 1.0,
                 color_jitter: float = 0.0):
        super().__init__()
        self.color_jitter = float(color_jitter)
        c1, c2, c3 = channels
        self.image_size = tuple(int(v) for v in image_size)
        self.shift = int(shift)
        self.hidden_size = int(hidden_size)
        self.num_keypoints = int(num_keypoints)
        self.coord_channels = bool(coord_channels)
        self.net = nn.Sequential(
            nn.Conv2d(3 + 2 * self.coord_channels, c1, 5, stride=2, padding=2), nn.GroupNorm(min(groups, c1), c1), nn.SiLU(),
            nn.Conv2d(c1, c2, 3, padding=1), nn.GroupNorm(min(groups, c2), c2), nn.SiLU(),
            nn.Conv2d(c2, c3, 3, padding=1), nn.GroupNorm(min(groups, c3), c3), nn.SiLU(),
            nn.Conv2d(c3, num_keypoints, 1),
        )
        self.softmax = SpatialSoftmax(num_keypoints, init_temperature)
        self.coord_embed = nn.Linear(2, hidden_size)
        self.keypoint_embed = nn.Parameter(torch.randn(num_keypoints, hidden_size) * 0.02)

    def augment(self, pixels: torch.Tensor) -> torch.Tensor:
        """Random shift of up to `shift` px (one draw per image), mild brightness / contrast jitter and, with
        color_jitter, a per-channel colour cast."""
        n, _, h, w = pixels.shape
        s = self.shift
        if s > 0:
            padded = F.pad(pixels, (s, s, s, s), mode="replicate")
            dx = torch.randint(0, 2 * s + 1, (n,), device=pixels.device)
            dy = torch.randint(0, 2 * s + 1, (n,), device=pixels.device)
            rows = (dy[:, None] + torch.arange(h, device=pixels.device))[:, :, None]  # (n, h, 1)
            cols = (dx[:, None] + torch.arange(w, device=pixels.device))[:, None, :]  # (n, 1, w)
            idx = torch.arange(n, device=pixels.device)[:, None, None]
            pixels = padded.permute(0, 2, 3, 1)[idx, rows, cols].permute(0, 3, 1, 2)
        gain = 1.0 + 0.1 * (torch.rand(n, 1, 1, 1, device=pixels.device) * 2 - 1)
        bias = 0.1 * (torch.rand(n, 1, 1, 1, device=pixels.device) * 2 - 1)
        if self.color_jitter > 0:
            # the cast scales the light falling on the scene: the [0, 1] image, not its [-1, 1] code
            cast = 1.0 + self.color_jitter * (torch.rand(n, 3, 1, 1, device=pixels.device) * 2 - 1)
            pixels = ((pixels + 1.0) * cast - 1.0).clamp(-1.0, 1.0)
        return (pixels * gain + bias).clamp(-1.0, 1.0)

    def keypoints(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels (N, 3, H, W) in [-1, 1] -> (N, K, 2) keypoint coordinates in [-1, 1]."""
        return self.softmax(self.maps(pixels))

    def maps(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels (N, 3, H, W) in [-1, 1] -> (N, K, H/2, W/2) keypoint maps (softmax logits x temperature)."""
        if self.training:
            pixels = self.augment(pixels)
        if self.coord_channels:
            # CoordConv: convolutions alone are translation-equivariant, so one map cannot tell the left bottle
            # from the right one and its soft-argmax lands between them; x / y channels let a map be "left"
            n, _, h, w = pixels.shape
            ys = torch.linspace(-1.0, 1.0, h, device=pixels.device, dtype=pixels.dtype)
            xs = torch.linspace(-1.0, 1.0, w, device=pixels.device, dtype=pixels.dtype)
            grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"))  # (2, h, w): x, y
            pixels = torch.cat([pixels, grid.expand(n, -1, -1, -1)], dim=1)
        return self.net(pixels)

    def heatmap_loss(self, maps: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor, sigma: float = 1.0):
        """Cross-entropy of maps 0..S-1 against a Gaussian (sigma in map cells) at targets (N, S, 2) in [-1, 1]
        (x, y), where valid (N, S). Supervising where a keypoint should be (training only, where the true object
        positions are known) teaches the filters to find small objects in hundreds of steps instead of the
        tens of thousands a soft-argmax needs when it learns only through the actions."""
        n, s = targets.shape[:2]
        h, w = maps.shape[-2:]
        ys = torch.linspace(-1.0, 1.0, h, device=maps.device)
        xs = torch.linspace(-1.0, 1.0, w, device=maps.device)
        tx = (targets[..., 0].clamp(-1, 1)[..., None] - xs) * (w - 1) / 2  # (N, S, w) in cells
        ty = (targets[..., 1].clamp(-1, 1)[..., None] - ys) * (h - 1) / 2  # (N, S, h)
        q = torch.exp(-0.5 * (ty[..., :, None] ** 2 + tx[..., None, :] ** 2) / sigma ** 2).flatten(2)  # (N, S, h*w)
        q = q / q.sum(-1, keepdim=True).clamp(min=1e-12)
        ce = -(q * self.softmax.log_probs(maps)[:, :s]).sum(-1)  # (N, S)
        valid = valid.to(ce.dtype)
        return (ce * valid).sum() / valid.sum().clamp(min=1.0)

    def embed(self, coords: torch.Tensor) -> torch.Tensor:
        """(N, K, 2) keypoints -> tokens (N, K, hidden_size)."""
        return self.coord_embed(coords) + self.keypoint_embed

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels (N, 3, H, W) -> tokens (N, K, hidden_size)."""
        return self.embed(self.keypoints(pixels))


class ObjectStateEncoder(nn.Module):
    """Oracle tokens from true object poses: (B, slots * 4) [x, y, z, yaw per body] -> (B, slots, hidden_size)."""

    def __init__(self, num_slots: int, hidden_size: int = 128):
        super().__init__()
        self.num_slots, self.hidden_size = int(num_slots), int(hidden_size)
        self.proj = nn.Sequential(nn.Linear(5, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size))
        self.slot_embed = nn.Parameter(torch.randn(num_slots, hidden_size) * 0.02)

    def forward(self, objects: torch.Tensor) -> torch.Tensor:
        b = objects.shape[0]
        slots = objects.view(b, self.num_slots, 4)
        # table-centred metres -> ~unit scale; yaw as (cos, sin) so +-pi are the same angle
        xyz = (slots[..., :3] - slots.new_tensor([0.3, 0.0, 0.78])) * 10.0
        feats = torch.cat([xyz, slots[..., 3:].cos(), slots[..., 3:].sin()], dim=-1)  # (B, slots, 5)
        return self.proj(feats) + self.slot_embed
