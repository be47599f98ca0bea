"""Image / text encoders and the byte tokenizer of the CPU presets."""
import torch

from video2act.model import Video2ActConfig
from video2act.model.encoders import Video2ActEncoders

torch.set_num_threads(1)


def test_tiny_encoders_shapes_and_tokenizer(tmp_path):
    config = Video2ActConfig.from_preset("tiny")
    enc = Video2ActEncoders(config).eval()
    h, w = config.image_size
    with torch.no_grad():
        img = enc.encode_images(torch.rand(2, 3, 3, h, w) * 2 - 1)
    n_patches = (h // 16) * (w // 16)
    assert img.shape == (2, 3 * n_patches, config.image_dim)
    ids, mask = enc.tokenize(["pick up the carrot", "go"])
    assert ids.shape == mask.shape == (2, config.max_text_tokens)
    assert mask[1].sum() == 3  # "g", "o", </s>: ByT5 is one token per byte
    with torch.no_grad():
        txt = enc.encode_text(ids, mask)
    assert txt.shape == (2, config.max_text_tokens, config.text_dim)
    # The tokenizer saves and reloads from its own files (checkpoint folder), no download.
    enc.tokenizer.save_pretrained(str(tmp_path))
    again = Video2ActEncoders(config, tokenizer_dir=str(tmp_path))
    assert torch.equal(again.tokenize(["pick up the carrot"])[0], ids[:1])


def test_long_instruction_is_truncated():
    config = Video2ActConfig.from_preset("tiny")
    enc = Video2ActEncoders(config)
    ids, mask = enc.tokenize(["x" * 500])
    assert ids.shape == (1, config.max_text_tokens) and bool(mask.all())
