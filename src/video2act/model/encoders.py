"""System 1 image and text encoders (transformers SiglipVisionModel / T5EncoderModel) and the instruction tokenizer.

The image encoder class is named by `image_encoder.type`: "siglip" (paper), "keypoints" (small preset: CNN +
spatial softmax, keypoints.py) or "objects" (the sanity ladder's oracle on true object poses).

The same classes serve every preset; only their configs differ (config/presets/*.yaml). The paper preset loads
pretrained SigLIP ViT-L and T5 v1.1 XXL with `from_pretrained` (local path or hub id); small / tiny build them from
small configs of the same classes, with transformers' ByT5Tokenizer (bytes + 3 specials: no vocab file, nothing
downloads). Images are expected in [-1, 1] (SigLIP's own preprocessing: mean 0.5, std 0.5).
"""
from __future__ import annotations

import torch
from torch import nn
from transformers import AutoTokenizer, ByT5Tokenizer, SiglipVisionConfig, SiglipVisionModel, T5Config, T5EncoderModel

from video2act.model.configuration_video2act import Video2ActConfig
from video2act.model.keypoints import KeypointImageEncoder, ObjectStateEncoder


class Video2ActEncoders(nn.Module):
    """SigLIP vision tower (no pooling head) + T5 encoder + tokenizer.

    Args:
        config: the policy config (image_encoder, text_encoder, tokenizer, max_text_tokens).
        load_pretrained: load `pretrained` weights where the config names them (False: random init from config;
            a policy checkpoint loads its own weights afterwards).
        tokenizer_dir: folder of a saved tokenizer (from a policy checkpoint), used instead of building one.
    """

    def __init__(self, config: Video2ActConfig, load_pretrained: bool = False, tokenizer_dir: str | None = None):
        super().__init__()
        self.max_text_tokens = config.max_text_tokens
        img, txt = config.image_encoder, config.text_encoder
        self.image_type = img.type
        # SigLIP's attention-pooling head is dropped: System 1 cross-attends to all patch tokens.
        img_kwargs = {**img.config, "vision_use_head": False}
        if img.type == "keypoints":
            self.image_encoder = KeypointImageEncoder(**img.config)
        elif img.type == "objects":
            self.image_encoder = ObjectStateEncoder(**img.config)
        elif load_pretrained and img.pretrained:
            self.image_encoder = SiglipVisionModel.from_pretrained(img.pretrained, vision_use_head=False)
        else:
            self.image_encoder = SiglipVisionModel(SiglipVisionConfig(**img_kwargs))
        if load_pretrained and txt.pretrained:
            self.text_encoder = T5EncoderModel.from_pretrained(txt.pretrained)
        else:
            with torch.random.fork_rng(devices=[]):  # independent of the image encoder's init (see the policy)
                torch.manual_seed(torch.initial_seed() + 1)
                self.text_encoder = T5EncoderModel(T5Config(**txt.config))
        self._tokenizer_source = tokenizer_dir or (txt.pretrained if config.tokenizer == "pretrained" else None)
        if config.tokenizer == "pretrained" and self._tokenizer_source is None:
            raise ValueError("tokenizer 'pretrained' needs text_encoder.pretrained (a local path or hub id)")
        self._tokenizer = None

    @property
    def tokenizer(self):
        """Built on first use, so a meta-device model (parameter counts) never touches tokenizer files."""
        if self._tokenizer is None:
            tok = AutoTokenizer.from_pretrained(self._tokenizer_source) if self._tokenizer_source else ByT5Tokenizer()
            vocab = self.text_encoder.config.vocab_size
            if len(tok) > vocab:
                raise ValueError(f"tokenizer has {len(tok)} tokens but the text encoder's vocab_size is {vocab}")
            self._tokenizer = tok
        return self._tokenizer

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels (B, V, 3, H, W) in [-1, 1] -> tokens (B, V * N_patches, D_img); all V cameras in one batch."""
        b, v = pixels.shape[:2]
        if self.image_type == "objects":
            raise ValueError("the 'objects' image encoder reads object poses, not pixels (encode_objects)")
        if self.image_type == "keypoints":
            tokens = self.image_encoder(pixels.flatten(0, 1))  # (B*V, K, D)
        else:
            tokens = self.image_encoder(pixel_values=pixels.flatten(0, 1)).last_hidden_state  # (B*V, N, D)
        return tokens.reshape(b, v * tokens.shape[1], tokens.shape[2])  # (B, V*N, D)

    def tokenize(self, instructions: list[str], device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """instructions (B strings) -> ids (B, L) long, mask (B, L) bool with L = max_text_tokens."""
        out = self.tokenizer(
            list(instructions), padding="max_length", truncation=True, max_length=self.max_text_tokens, return_tensors="pt"
        )
        return out["input_ids"].to(device), out["attention_mask"].to(device).bool()

    def encode_text(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids, mask (B, L) -> tokens (B, L, D_txt)."""
        return self.text_encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state
