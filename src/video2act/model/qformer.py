"""Q-former that compresses a stream of filtered VDM feature tokens to a few tokens.

Built on transformers' ``Blip2QFormerModel``: ``num_queries`` learned query
tokens self-attend and cross-attend (in every layer) to the feature tokens,
then a linear maps them to ``token_dim`` (the width System 1 consumes).

The VDM hidden states carry position only implicitly (HunyuanVideo applies
RoPE inside attention, not to the residual stream), and cross-attention is
blind to token order, so when the caller gives the (T, h, w) grid a fixed 3D
sine-cosine position code is added to the normalised feature tokens.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import Blip2QFormerConfig, Blip2QFormerModel


def sincos_position_code(grid: tuple[int, int, int], dim: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Fixed 3D sine-cosine code for a (T, h, w) token grid, flattened T-major.

    Returns:
        (T * h * w, dim); each axis gets about a third of the channels, the rest are zero.
    """
    per_axis = (dim // 3) // 2 * 2  # even number of channels per axis (sin + cos pairs)
    codes = []
    for size in grid:
        half = per_axis // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=device, dtype=torch.float32) / max(half, 1))
        angles = torch.arange(size, device=device, dtype=torch.float32)[:, None] * freqs[None]  # (size, half)
        codes.append(torch.cat([angles.sin(), angles.cos()], dim=1))  # (size, per_axis)
    t_code, y_code, x_code = codes
    num_t, num_y, num_x = grid
    code = torch.cat(
        [
            t_code[:, None, None].expand(num_t, num_y, num_x, per_axis),
            y_code[None, :, None].expand(num_t, num_y, num_x, per_axis),
            x_code[None, None, :].expand(num_t, num_y, num_x, per_axis),
        ],
        dim=-1,
    ).reshape(num_t * num_y * num_x, 3 * per_axis)
    code = nn.functional.pad(code, (0, dim - 3 * per_axis))
    return code.to(dtype)


class Video2ActQFormer(nn.Module):
    """Learned queries cross-attending to feature tokens.

    Args:
        in_dim: width of the feature tokens (the VDM hidden size).
        token_dim: width of the output tokens.
        num_queries: number of output tokens.
        hidden_size, num_layers, num_heads: Q-former transformer sizes.
    """

    def __init__(
        self, in_dim: int, token_dim: int, num_queries: int, hidden_size: int, num_layers: int, num_heads: int
    ) -> None:
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"qformer hidden size must be divisible by its heads. Got {hidden_size} and {num_heads}")
        config = Blip2QFormerConfig(
            hidden_size=hidden_size,
            num_hidden_layers=num_layers,
            num_attention_heads=num_heads,
            intermediate_size=4 * hidden_size,
            encoder_hidden_size=in_dim,
            cross_attention_frequency=1,
        )
        self.in_dim = in_dim
        # Filtered magnitudes have no fixed scale; normalising keeps cross-attention logits sane.
        self.input_norm = nn.LayerNorm(in_dim)
        self.queries = nn.Parameter(torch.randn(1, num_queries, hidden_size) * 0.02)
        self.qformer = Blip2QFormerModel(config)
        self.out_proj = nn.Linear(hidden_size, token_dim)

    def forward(self, features: torch.Tensor, grid: tuple[int, int, int] | None = None) -> torch.Tensor:
        """Compress feature tokens.

        Args:
            features: (B, N, in_dim) feature tokens.
            grid: optional (T, h, w) with T * h * w == N (tokens flattened T-major);
                adds the fixed position code.

        Returns:
            (B, num_queries, token_dim).
        """
        if features.ndim != 3 or features.shape[-1] != self.in_dim:
            raise ValueError(f"Q-former expects features (B, N, {self.in_dim}), got shape {tuple(features.shape)}")
        tokens = self.input_norm(features.to(self.queries.dtype))  # (B, N, in_dim)
        if grid is not None:
            if math.prod(grid) != features.shape[1]:
                raise ValueError(f"Q-former grid {tuple(grid)} does not match {features.shape[1]} tokens")
            tokens = tokens + sincos_position_code(grid, self.in_dim, tokens.device, tokens.dtype)
        queries = self.queries.expand(features.shape[0], -1, -1)  # (B, Nq, hidden)
        hidden = self.qformer(query_embeds=queries, encoder_hidden_states=tokens).last_hidden_state
        return self.out_proj(hidden)  # (B, Nq, token_dim)
