"""System 2 feature extractor: truncation equivalence, loading, shapes, caching, input checks."""

import json

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLHunyuanVideo, HunyuanVideoTransformer3DModel

from video2act.model.filters import motion_filter
from video2act.model.qformer import Video2ActQFormer
from video2act.model.system2 import (
    FrameLatentCache,
    System2Config,
    System2FeatureExtractor,
    paper_system2_config,
)

torch.set_num_threads(2)

TINY_VAE = dict(block_out_channels=(8, 8, 16, 16), layers_per_block=1, norm_num_groups=4, latent_channels=4)
# FULL tiny transformer: 3 dual + 3 single blocks; the extractor keeps fewer.
TINY_TRANSFORMER = dict(
    in_channels=4,
    out_channels=4,
    num_attention_heads=2,
    attention_head_dim=8,
    num_layers=3,
    num_single_layers=3,
    num_refiner_layers=1,
    text_embed_dim=16,
    pooled_projection_dim=8,
    rope_axes_dim=(2, 2, 4),
)
COND_LEN = 5


def tiny_config(**overrides) -> System2Config:
    sizes = dict(
        vae=TINY_VAE,
        transformer=TINY_TRANSFORMER,
        num_dual_blocks=3,
        num_single_blocks=2,
        high_res=(32, 48),
        short_window=2,
        low_res=(16, 16),
        long_window=4,
        num_spatial_tokens=3,
        num_motion_tokens=2,
        token_dim=8,
        qformer_hidden=16,
        qformer_layers=1,
        qformer_heads=2,
    )
    return System2Config(**(sizes | overrides))


def conditioning(batch: int = 1, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randn(batch, COND_LEN, TINY_TRANSFORMER["text_embed_dim"], generator=gen)
    mask = torch.tensor([[1, 1, 1, 0, 0]] * batch)  # padded: checks the joint attention mask too
    pooled = torch.randn(batch, TINY_TRANSFORMER["pooled_projection_dim"], generator=gen)
    return tokens, mask, pooled


def random_frames(batch: int, num_frames: int, size: tuple[int, int], seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, num_frames, 3, *size, generator=gen) * 2 - 1


@pytest.fixture(scope="module")
def pretrained_dir(tmp_path_factory):
    """A tiny random VAE + FULL transformer written with diffusers' save_pretrained."""
    path = tmp_path_factory.mktemp("hunyuan")
    torch.manual_seed(0)
    vae = AutoencoderKLHunyuanVideo(**TINY_VAE).eval()
    transformer = HunyuanVideoTransformer3DModel(**TINY_TRANSFORMER).eval()
    vae.save_pretrained(path / "vae")
    transformer.save_pretrained(path / "transformer")
    return path, vae, transformer


@pytest.fixture(scope="module")
def extractor():
    torch.manual_seed(0)
    return System2FeatureExtractor(tiny_config()).eval()


def full_model_states_after(transformer, block, latents, tokens, mask, pooled, guidance_scale=6.0):
    """Image-token states after `block` of the FULL diffusers model, captured with a forward hook."""
    captured = {}

    def keep_output(module, args, output):
        captured["hidden"] = output[0]  # returns None: the model's own output is unchanged

    handle = block.register_forward_hook(keep_output)
    batch = latents.shape[0]
    with torch.no_grad():
        transformer(
            hidden_states=latents,
            timestep=torch.zeros(batch),
            encoder_hidden_states=tokens,
            encoder_attention_mask=mask,
            pooled_projections=pooled,
            guidance=torch.full((batch,), guidance_scale * 1000.0),
        )
    handle.remove()
    return captured["hidden"]  # (B, N, D)


@pytest.mark.parametrize(
    "kept_dual, kept_single",
    [(3, 2), (2, 0)],
    ids=["20+5-like (all dual + some single)", "dual only"],
)
def test_truncated_extractor_equals_full_model_at_that_depth(pretrained_dir, kept_dual, kept_single):
    path, _, full = pretrained_dir
    config = tiny_config(pretrained_path=str(path), num_dual_blocks=kept_dual, num_single_blocks=kept_single)
    extractor = System2FeatureExtractor(config)
    assert len(extractor.transformer.transformer_blocks) == kept_dual
    assert len(extractor.transformer.single_transformer_blocks) == kept_single

    latents = torch.randn(2, 4, 3, 4, 6, generator=torch.Generator().manual_seed(3))  # (B, C, T, h, w)
    tokens, mask, pooled = conditioning(batch=2)
    mask[1, 3] = 1  # different valid lengths per sample
    states = extractor.vdm_hidden_states(latents, tokens, mask, pooled)
    assert states.shape == (2, 16, 3, 2, 3)  # (B, D, T, h/2, w/2)

    cut = full.single_transformer_blocks[kept_single - 1] if kept_single else full.transformer_blocks[kept_dual - 1]
    reference = full_model_states_after(full, cut, latents, tokens, mask, pooled)  # (B, T*h*w, D)
    reference = reference.reshape(2, 3, 2, 3, 16).permute(0, 4, 1, 2, 3)
    torch.testing.assert_close(states, reference, atol=1e-5, rtol=1e-5)


def test_pretrained_round_trip_gives_identical_outputs(pretrained_dir):
    path, full_vae, _ = pretrained_dir
    config = tiny_config(pretrained_path=str(path))
    torch.manual_seed(0)
    first = System2FeatureExtractor(config).eval()
    torch.manual_seed(1)  # different Q-former init, then the same state
    second = System2FeatureExtractor(System2Config.from_dict(json.loads(json.dumps(config.to_dict())))).eval()
    assert not any("decoder" in key for key in first.state_dict())  # only the encoder half is kept
    second.load_state_dict(first.state_dict())

    frames = random_frames(1, 2, (32, 48))
    latents = first.encode_frames(frames)
    with torch.no_grad():
        reference = full_vae.encode(frames[0].unsqueeze(2)).latent_dist.mode() * full_vae.config.scaling_factor
    torch.testing.assert_close(latents, reference.permute(2, 1, 0, 3, 4), atol=1e-6, rtol=1e-6)

    low = first.encode_frames(random_frames(1, 4, (16, 16), seed=1))
    cond = conditioning()
    with torch.no_grad():
        out_first = first(latents, low, *cond)
        out_second = second(second.encode_frames(frames), second.encode_frames(random_frames(1, 4, (16, 16), 1)), *cond)
    for a, b in zip(out_first, out_second):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_output_shapes_and_heatmaps(extractor):
    high = extractor.encode_frames(random_frames(2, 2, (32, 48)))
    low = extractor.encode_frames(random_frames(2, 4, (16, 16)))
    assert high.shape == (2, 4, 2, 4, 6) and low.shape == (2, 4, 4, 2, 2)
    with torch.no_grad():
        spatial, motion = extractor(high, low, *conditioning(batch=2))
    assert spatial.shape == (2, 3, 8) and motion.shape == (2, 2, 8)
    assert torch.isfinite(spatial).all() and torch.isfinite(motion).all()
    maps = extractor.last_heatmaps
    assert maps["spatial"].shape == (2, 2, 2, 3) and maps["motion"].shape == (2, 4, 1, 1)
    for heatmap in maps.values():
        assert heatmap.min() >= 0 and heatmap.max() <= 1
        torch.testing.assert_close(heatmap.amax(dim=(-2, -1)), torch.ones(heatmap.shape[:2]))


def test_qformers_train_while_vdm_stays_frozen(extractor):
    extractor.train()
    assert not extractor.transformer.training and not extractor.vae.training
    assert all(not p.requires_grad for p in extractor.transformer.parameters())
    high = extractor.encode_frames(random_frames(1, 2, (32, 48)))
    low = extractor.encode_frames(random_frames(1, 4, (16, 16)))
    spatial, motion = extractor(high, low, *conditioning())
    (spatial.sum() + motion.sum()).backward()
    assert extractor.spatial_qformer.queries.grad is not None
    assert extractor.motion_qformer.queries.grad is not None
    extractor.zero_grad(set_to_none=True)
    extractor.eval()


def test_static_scene_gives_zero_motion_features(extractor):
    still = random_frames(1, 1, (16, 16)).expand(1, 4, 3, 16, 16)
    low = extractor.encode_frames(still)
    states = extractor.vdm_hidden_states(low, *conditioning())
    # Per-frame encoding + RoPE over time: states differ per frame only through position, so compare
    # against a moving clip instead of expecting exact zeros.
    moving = extractor.encode_frames(random_frames(1, 4, (16, 16), seed=5))
    still_energy = motion_filter(states, 0.1).abs().mean()
    moving_energy = motion_filter(extractor.vdm_hidden_states(moving, *conditioning()), 0.1).abs().mean()
    assert still_energy < moving_energy
    # The VAE itself is per frame: identical frames give identical latents.
    torch.testing.assert_close(low[:, :, 0], low[:, :, 3])


def test_paper_config_builds_on_meta_with_expected_size():
    config = paper_system2_config()
    assert config.cond_dim == 4096 and config.pooled_dim == 768 and config.hidden_dim == 3072
    extractor = System2FeatureExtractor(config, meta=True)
    params = list(extractor.parameters())
    assert all(p.device.type == "meta" for p in params)
    transformer = extractor.transformer
    assert len(transformer.transformer_blocks) == 20 and len(transformer.single_transformer_blocks) == 5
    dim = 3072
    # Leading terms: a dual block has 12 D^2 (two AdaLN-zero) + 8 D^2 (joint attention) + 16 D^2 (two 4x MLPs);
    # a single block 3 D^2 (AdaLN) + 3 D^2 (qkv) + 4 D^2 (MLP in) + 5 D^2 (proj_out of attn + MLP).
    expected_blocks = 20 * 36 * dim**2 + 5 * 15 * dim**2
    blocks = sum(p.numel() for b in [*transformer.transformer_blocks, *transformer.single_transformer_blocks]
                 for p in b.parameters())
    assert abs(blocks - expected_blocks) / expected_blocks < 0.01
    vdm = sum(p.numel() for p in [*extractor.vae.parameters(), *transformer.parameters()])
    assert 5e9 < vdm < 9e9
    encoder = sum(p.numel() for p in extractor.vae.parameters())
    assert 5e7 < encoder < 2e8  # encoder half of the 246M-parameter HunyuanVideo VAE


def test_frame_cache_encodes_each_frame_once_and_keeps_newest_in_order(extractor, monkeypatch):
    calls = []
    original = extractor.vae.encode

    def counting_encode(video, *args, **kwargs):
        calls.append(tuple(video.shape))
        return original(video, *args, **kwargs)

    monkeypatch.setattr(extractor.vae, "encode", counting_encode)
    cache = FrameLatentCache(extractor, (16, 16), window=4)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, size=(24, 20, 3), dtype=np.uint8) for _ in range(6)]  # resized to 16x16
    for index, frame in enumerate(frames):
        assert not cache.ready() or index >= 4
        cache.push(frame, stamp=0.1 * index)
    assert len(calls) == 6 and all(shape[2] == 1 for shape in calls)  # one 1-frame video per push
    assert cache.ready() and cache.newest_stamp == pytest.approx(0.5)
    assert cache.stamps == pytest.approx([0.2, 0.3, 0.4, 0.5])

    latents = cache.latents()
    assert latents.shape == (1, 4, 4, 2, 2)
    for slot, frame in enumerate(frames[2:]):
        fresh = FrameLatentCache(extractor, (16, 16), window=1)
        fresh.push(frame, 0.0)
        torch.testing.assert_close(latents[:, :, slot], fresh.latents()[:, :, 0])
    assert len(calls) == 10  # latents() itself never encodes

    with pytest.raises(ValueError, match="older than"):
        cache.push(frames[0], stamp=0.0)
    cache.reset()
    assert not cache.ready() and cache.newest_stamp is None
    with pytest.raises(RuntimeError, match="0 of 4"):
        cache.latents()


def test_bad_inputs_raise_value_errors(extractor):
    high = extractor.encode_frames(random_frames(1, 2, (32, 48)))
    low = extractor.encode_frames(random_frames(1, 4, (16, 16)))
    cond = conditioning()
    with pytest.raises(ValueError, match=r"\(B, T, 3, H, W\)"):
        extractor.encode_frames(torch.zeros(1, 2, 4, 32, 48))
    with pytest.raises(ValueError, match="multiples of 16"):
        extractor.encode_frames(torch.zeros(1, 2, 3, 30, 48))
    nan_frames = random_frames(1, 2, (32, 48))
    nan_frames[0, 1, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        extractor.encode_frames(nan_frames)
    with pytest.raises(ValueError, match=r"high_latents must be \(B, 4, 2, 4, 6\)"):
        extractor(high[:, :, :1], low, *cond)  # wrong window length
    with pytest.raises(ValueError, match=r"low_latents must be \(B, 4, 4, 2, 2\)"):
        extractor(high, extractor.encode_frames(random_frames(1, 4, (32, 32))), *cond)  # wrong image size
    bad_latents = high.clone()
    bad_latents[0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        extractor(bad_latents, low, *cond)
    tokens, mask, pooled = cond
    with pytest.raises(ValueError, match="prefix mask"):
        extractor(high, low, tokens, torch.tensor([[1, 0, 1, 0, 0]]), pooled)
    with pytest.raises(ValueError, match=r"cond_tokens must be \(1, L, 16\)"):
        extractor(high, low, tokens[..., :8], mask, pooled)

    cache = FrameLatentCache(extractor, (16, 16), window=2)
    with pytest.raises(ValueError, match=r"uint8 frames must be \(H, W, 3\)"):
        cache.push(np.zeros((16, 16, 4), dtype=np.uint8), 0.0)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        cache.push(torch.full((3, 16, 16), 255.0), 0.0)
    with pytest.raises(ValueError, match="NaN"):
        cache.push(torch.full((3, 16, 16), float("nan")), 0.0)


def test_config_validation_and_json_round_trip():
    config = tiny_config()
    assert System2Config.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown System2Config keys"):
        System2Config.from_dict(config.to_dict() | {"num_blocks": 3})
    with pytest.raises(ValueError, match="needs num_dual_blocks = 3"):
        tiny_config(num_dual_blocks=2, num_single_blocks=1)
    with pytest.raises(ValueError, match="cannot keep"):
        tiny_config(num_single_blocks=4)
    with pytest.raises(ValueError, match="must be one of"):
        tiny_config(spatial_filter="canny")
    with pytest.raises(ValueError, match="multiples of 16"):
        System2FeatureExtractor(tiny_config(low_res=(24, 24)), meta=True)


def test_qformer_sees_token_positions_only_through_the_grid_code():
    torch.manual_seed(0)
    qformer = Video2ActQFormer(in_dim=12, token_dim=5, num_queries=3, hidden_size=16, num_layers=1, num_heads=2).eval()
    with torch.no_grad():  # sharpen attention: at init (std 0.02) it is near-uniform, hence near order-blind anyway
        qformer.queries.normal_()
        for name, param in qformer.named_parameters():
            if name.endswith(("query.weight", "key.weight")):
                param.mul_(30.0)
    features = torch.randn(2, 2 * 3 * 4, 12)  # (B, T*h*w, D)
    shuffled = features[:, torch.randperm(24, generator=torch.Generator().manual_seed(1))]
    with torch.no_grad():
        out = qformer(features)
        assert out.shape == (2, 3, 5)
        torch.testing.assert_close(qformer(shuffled), out, atol=1e-5, rtol=1e-5)  # a set without positions
        with_grid = qformer(features, grid=(2, 3, 4))
        assert (qformer(shuffled, grid=(2, 3, 4)) - with_grid).abs().max() > 1e-3
    with pytest.raises(ValueError, match="does not match 24 tokens"):
        qformer(features, grid=(2, 3, 3))
    with pytest.raises(ValueError, match=r"\(B, N, 12\)"):
        qformer(features[..., :8])


def test_stream_accepts_flipped_and_strided_views():
    """A camera frame handed over as a non-contiguous numpy view (flipped, every other column) is accepted,
    as act() accepts it, and encodes like its contiguous copy."""
    from video2act.model import Video2ActPolicy

    policy = Video2ActPolicy.from_preset("tiny", seed=0)
    frame = np.random.default_rng(0).integers(0, 255, (64, 192, 3), dtype=np.uint8)
    for view in (frame[::-1], frame[:, ::2], frame[:, :, ::-1]):
        a, b = policy.make_system2_stream(), policy.make_system2_stream()
        for k in range(2):
            a.push(view, float(k))
            b.push(np.ascontiguousarray(view), float(k))
        assert torch.equal(a.high.latents(), b.high.latents())
