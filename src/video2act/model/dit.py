"""System 1: the action diffusion transformer (DiT) over an H x A action chunk.

Token sequence (RDT-1B style): [timestep token, state token, H action tokens] + learned positions, through
`num_layers` diffusers BasicTransformerBlocks (self-attention, cross-attention to the condition tokens, feed-forward).
The condition tokens (image, text, spatial and motion VDM tokens, already projected to `hidden_size` by the policy)
are the cross-attention context; they do not change across denoising steps, so the policy computes them once per
chunk. Output: the predicted noise (epsilon) for every action token.
"""
from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class Video2ActDiT(ModelMixin, ConfigMixin):
    """Epsilon-predicting DiT.

    Args:
        action_dim (`int`): A, width of one action (14).
        state_dim (`int`): width of the proprioceptive state (14).
        chunk_size (`int`): H, actions per chunk (64).
        hidden_size (`int`): token width (also the cross-attention context width).
        num_layers (`int`): number of transformer blocks.
        num_heads (`int`): attention heads.
        ff_inner_dim (`int`): feed-forward width.
    """

    @register_to_config
    def __init__(
        self,
        action_dim: int = 14,
        state_dim: int = 14,
        chunk_size: int = 64,
        hidden_size: int = 256,
        num_layers: int = 4,
        num_heads: int = 8,
        ff_inner_dim: int = 1024,
    ):
        super().__init__()
        self.time_proj = Timesteps(hidden_size, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embed = TimestepEmbedding(hidden_size, hidden_size)
        self.state_embed = nn.Linear(state_dim, hidden_size)
        self.action_embed = nn.Linear(action_dim, hidden_size)
        self.pos_embed = nn.Parameter(torch.randn(1, chunk_size + 2, hidden_size) * 0.02)
        self.blocks = nn.ModuleList(
            [
                BasicTransformerBlock(
                    hidden_size,
                    num_heads,
                    hidden_size // num_heads,
                    cross_attention_dim=hidden_size,
                    activation_fn="gelu-approximate",
                    ff_inner_dim=ff_inner_dim,
                    attention_bias=True,
                )
                for _ in range(num_layers)
            ]
        )
        self.norm_out = nn.LayerNorm(hidden_size)
        self.proj_out = nn.Linear(hidden_size, action_dim)

    def forward(
        self,
        noisy_actions: torch.Tensor,
        timesteps: torch.Tensor,
        state: torch.Tensor,
        context: torch.Tensor,
        context_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """
        Args:
            noisy_actions: (B, H, A) normalised actions with noise.
            timesteps: (B,) or scalar diffusion step.
            state: (B, S) normalised state.
            context: (B, N, hidden_size) condition tokens.
            context_mask: (B, N) bool, True = attend (None: all).
        Returns:
            (B, H, A) predicted noise.
        """
        b = noisy_actions.shape[0]
        timesteps = torch.as_tensor(timesteps, device=noisy_actions.device).expand(b)
        t_tok = self.time_embed(self.time_proj(timesteps).to(noisy_actions.dtype))[:, None]  # (B, 1, D)
        s_tok = self.state_embed(state)[:, None]  # (B, 1, D)
        a_tok = self.action_embed(noisy_actions)  # (B, H, D)
        x = torch.cat([t_tok, s_tok, a_tok], dim=1) + self.pos_embed  # (B, H+2, D)
        bias = None
        if context_mask is not None:
            # diffusers expects an additive bias (B, 1, N): 0 = attend, large negative = ignore.
            bias = (~context_mask).to(x.dtype)[:, None] * -10000.0
        for block in self.blocks:
            x = block(x, encoder_hidden_states=context, encoder_attention_mask=bias)
        return self.proj_out(self.norm_out(x[:, 2:]))  # (B, H, A)
