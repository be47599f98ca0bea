"""Video2ActPolicy (tiny preset): act() contract, determinism, caching, checkpoints, training, System 2 stream."""
import math
import json

import numpy as np
import pytest
import torch

from video2act.model import SlowFeatures, Video2ActPolicy

torch.set_num_threads(1)
INSTRUCTION = "pick up the carrot"


@pytest.fixture(scope="module")
def policy():
    return Video2ActPolicy.from_preset("tiny", seed=0)


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (6, 48, 64, 3), dtype=np.uint8)


def features(policy, value=0.1):
    c = policy.config.system2
    return SlowFeatures(
        spatial=np.full((c.num_spatial_tokens, c.token_dim), value, np.float32),
        motion=np.full((c.num_motion_tokens, c.token_dim), -value, np.float32),
        stamp=0.0,
    )


def images(policy, frames, i=0):
    return {cam: frames[(i + k) % len(frames)] for k, cam in enumerate(policy.config.cameras)}


def act(policy, frames, seed=0, **overrides):
    kwargs = dict(images=images(policy, frames), state=np.zeros(14, np.float32), instruction=INSTRUCTION,
                  features=features(policy), seed=seed) | overrides
    return policy.act(**kwargs)


def test_act_returns_a_chunk(policy, frames):
    # Latency is measured by `video2act bench model`, not asserted here.
    chunk = act(policy, frames)
    assert chunk.shape == (64, 14) and chunk.dtype == np.float32 and np.isfinite(chunk).all()


def _sample_gaussian(scheduler: str, spacing: str, steps: int, mu: float = 0.7, s: float = 0.4,
                     prediction: str = "sample", model=None) -> torch.Tensor:
    """Run the policy's sampler with the ideal denoiser of a known target x0 ~ N(mu, s^2): E[x0 | x_t] is
    analytic for x_t = sqrt(a) x0 + sqrt(1 - a) eps."""
    config = Video2ActPolicy.from_preset("tiny", device="meta").config
    d = config.diffusion
    d.scheduler, d.timestep_spacing, d.num_inference_steps, d.prediction_type = scheduler, spacing, steps, prediction
    policy = Video2ActPolicy(config, meta=True)
    sched, alphas = policy.sample_scheduler, policy.train_scheduler.alphas_cumprod
    sched.set_timesteps(steps)
    x = torch.randn(2000, 4, 8, generator=torch.Generator().manual_seed(0))
    for t in sched.timesteps:
        a = float(alphas[int(t)])
        out = model(x, a) if model else mu + math.sqrt(a) * s * s / (a * s * s + 1 - a) * (x - math.sqrt(a) * mu)
        x = sched.step(out, t, x).prev_sample
    return x


@pytest.mark.parametrize("scheduler", ["ddim", "dpm"])
def test_sampler_returns_a_known_distribution_without_shrinkage(scheduler):
    x = _sample_gaussian(scheduler, "trailing", 50)
    assert float(x.mean()) == pytest.approx(0.7, abs=0.01) and float(x.std()) == pytest.approx(0.4, rel=0.05)
    # at the presets' few steps the mean is still unbiased (std shrinks with the solver's step size only)
    assert float(_sample_gaussian(scheduler, "trailing", 5).mean()) == pytest.approx(0.7, abs=0.01)
    # the old "leading" spacing started where the sample keeps signal the noise lacks: pulled toward 0
    assert abs(float(_sample_gaussian(scheduler, "leading", 5).mean()) - 0.7) > 0.05


def test_clean_sample_estimate_is_bounded_by_construction():
    """An epsilon model that is slightly wrong at alpha_bar ~ 0 once sampled +-300 rad: the estimate divides
    by sqrt(alpha_bar). With the clip, whatever the network says, samples stay within clip_sample."""
    clip = Video2ActPolicy.from_preset("tiny", device="meta").config.diffusion.clip_sample
    wrong_eps = lambda x, a: x * 0.9  # noqa: E731 - a 10 % epsilon error
    x = _sample_gaussian("ddim", "trailing", 5, prediction="epsilon", model=wrong_eps)
    assert float(x.abs().max()) <= clip + 1e-6
    huge = _sample_gaussian("ddim", "trailing", 5, model=lambda x, a: torch.full_like(x, 1e3))
    assert float(huge.abs().max()) <= clip + 1e-6


def test_seeded_sampling_is_deterministic(policy, frames):
    a, b, c = act(policy, frames, seed=3), act(policy, frames, seed=3), act(policy, frames, seed=4)
    assert np.array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_conditioning_runs_once_per_call(policy, frames):
    calls = {"image": 0, "text": 0, "dit": 0}
    hooks = [
        policy.encoders.image_encoder.register_forward_hook(lambda *a: calls.__setitem__("image", calls["image"] + 1)),
        policy.encoders.text_encoder.register_forward_hook(lambda *a: calls.__setitem__("text", calls["text"] + 1)),
        policy.dit.register_forward_hook(lambda *a: calls.__setitem__("dit", calls["dit"] + 1)),
    ]
    try:
        act(policy, frames, instruction="a new instruction")
        act(policy, frames, instruction="a new instruction")
    finally:
        for h in hooks:
            h.remove()
    steps = policy.config.diffusion.num_inference_steps
    assert calls == {"image": 2, "text": 1, "dit": 2 * steps}  # text cached per instruction


def test_inputs_condition_the_chunk(policy, frames):
    base = act(policy, frames)
    assert np.abs(act(policy, frames, state=np.full(14, 0.3, np.float32)) - base).max() > 1e-4
    assert np.abs(act(policy, frames, features=features(policy, 2.0)) - base).max() > 1e-4
    assert np.abs(act(policy, frames, instruction="open the laptop") - base).max() > 1e-4
    assert np.abs(act(policy, frames, images=images(policy, frames, 2)) - base).max() > 1e-4


def test_any_image_size_is_resized(policy, frames):
    big = {cam: np.zeros((480, 640, 3), np.uint8) for cam in policy.config.cameras}
    small = {cam: np.zeros(policy.config.image_size + (3,), np.uint8) for cam in policy.config.cameras}
    assert np.allclose(act(policy, frames, images=big), act(policy, frames, images=small), atol=1e-5)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda kw: kw["images"].update(head=kw["images"]["head"][..., :1]), "uint8 \\(H, W, 3\\)"),
        (lambda kw: kw["images"].update(left=kw["images"]["left"].astype(np.float32)), "uint8"),
        (lambda kw: kw["images"].pop("right"), "missing camera 'right'"),
        (lambda kw: kw.update(state=np.full(14, np.nan)), "finite \\(14,\\)"),
        (lambda kw: kw.update(state=np.zeros(12)), "finite \\(14,\\)"),
        (lambda kw: kw.update(instruction=""), "non-empty string"),
        (lambda kw: kw["features"].__setattr__("spatial", np.zeros((5, 3), np.float32)), "features.spatial"),
        (lambda kw: kw["features"].motion.fill(np.nan), "features.motion"),
    ],
)
def test_bad_inputs_raise_value_error(policy, frames, change, message):
    kw = dict(images=dict(images(policy, frames)), state=np.zeros(14, np.float32), instruction=INSTRUCTION,
              features=features(policy), seed=0)
    change(kw)
    with pytest.raises(ValueError, match=message):
        policy.act(**kw)


def test_checkpoint_round_trip(policy, frames, tmp_path):
    policy.set_normalization(np.full(14, 0.1), np.full(14, 0.5), np.linspace(-1, 1, 14), np.full(14, 0.2))
    try:
        policy.save_pretrained(tmp_path / "ckpt")
        again = Video2ActPolicy.from_pretrained(tmp_path / "ckpt", expected_preset="tiny")
        assert np.array_equal(act(again, frames), act(policy, frames))
        assert torch.equal(again.action_mean, policy.action_mean)
        assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
            "config.json", "model.safetensors", "normalization.json", "tokenizer"]
    finally:
        policy.set_normalization(*(getattr(Video2ActPolicy.from_preset("tiny"), k).numpy()
                                   for k in ("state_mean", "state_std", "action_mean", "action_std")))


def test_other_preset_checkpoint_is_rejected(policy, tmp_path):
    policy.save_pretrained(tmp_path / "tiny")
    with pytest.raises(ValueError, match="'tiny' policy, but a 'small' policy was expected"):
        Video2ActPolicy.from_pretrained(tmp_path / "tiny", expected_preset="small")
    # Weights of one architecture under a config of another: names the shape mismatch.
    config = json.loads((tmp_path / "tiny" / "config.json").read_text())
    config["dit"]["hidden_size"] = 32
    (tmp_path / "tiny" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="does not match the 'tiny' architecture.*shape mismatches"):
        Video2ActPolicy.from_pretrained(tmp_path / "tiny")
    with pytest.raises(ValueError, match="not a Video2Act checkpoint"):
        Video2ActPolicy.from_pretrained(tmp_path)


def test_normalization_maps_actions_affinely(frames):
    policy = Video2ActPolicy.from_preset("tiny", seed=1)
    base = act(policy, frames)
    stats = {k: getattr(policy, k).numpy().copy() for k in ("state_mean", "state_std", "action_mean", "action_std")}
    policy.set_normalization(stats["state_mean"], stats["state_std"], stats["action_mean"] + 1.0,
                             stats["action_std"] * 2.0)
    moved = act(policy, frames)
    expected = (base - stats["action_mean"]) * 2.0 + stats["action_mean"] + 1.0
    assert np.allclose(moved, expected, atol=1e-5)
    with pytest.raises(ValueError, match="action_std must be > 0"):
        policy.set_normalization(stats["state_mean"], stats["state_std"], stats["action_mean"], np.zeros(14))
    with pytest.raises(ValueError, match="state_mean must be a finite \\(14,\\)"):
        policy.set_normalization(np.zeros(3), stats["state_std"], stats["action_mean"], stats["action_std"])


def training_batch(policy, frames, b=2):
    rng = np.random.default_rng(1)
    c = policy.config.system2
    g = torch.Generator().manual_seed(2)
    return {
        "images": {cam: torch.from_numpy(frames[:b]) for cam in policy.config.cameras},
        "state": torch.from_numpy(rng.uniform(-0.5, 0.5, (b, 14)).astype(np.float32)),
        "action": torch.from_numpy(rng.uniform(-0.5, 0.5, (b, 64, 14)).astype(np.float32)).cumsum(1) * 0.05,
        "instruction": [INSTRUCTION] * b,
        "spatial": torch.randn(b, c.num_spatial_tokens, c.token_dim, generator=g),
        "motion": torch.randn(b, c.num_motion_tokens, c.token_dim, generator=g),
    }


def test_tiny_policy_overfits_one_batch(frames):
    policy = Video2ActPolicy.from_preset("tiny", seed=0).train()
    batch = training_batch(policy, frames)
    g = torch.Generator().manual_seed(5)
    # Timesteps from 20 up: near t = 0 the noise is almost unidentifiable from x_t (it is scaled by
    # 1 / sqrt(1 - alpha_bar_t)), so the epsilon loss there has a floor that says nothing about learning.
    t_low, t_high = 20, policy.config.diffusion.num_train_timesteps
    # The loss before and after is measured at the same fixed (noise, timestep) draws.
    fixed = [(torch.randn(2, 64, 14, generator=g), torch.randint(t_low, t_high, (2,), generator=g)) for _ in range(8)]

    def eval_loss():
        with torch.no_grad():
            return np.mean([policy({**batch, "noise": n, "timesteps": t})[0].item() for n, t in fixed])

    before = eval_loss()
    opt = torch.optim.Adam([p for p in policy.parameters() if p.requires_grad], lr=3e-3, foreach=True)
    for _ in range(150):
        loss, info = policy({**batch, "timesteps": torch.randint(t_low, t_high, (2,), generator=g)})
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert isinstance(info["loss"], float)
    after = eval_loss()
    assert after < before / 10, (before, after)


def test_forward_through_system2_latents_trains_qformers(frames):
    policy = Video2ActPolicy.from_preset("tiny", seed=0).train()
    c = policy.config.system2
    batch = training_batch(policy, frames)
    del batch["spatial"], batch["motion"]
    lat = policy.system2.latent_channels
    batch["high_latents"] = torch.randn(2, lat, c.short_window, c.high_res[0] // 8, c.high_res[1] // 8)
    batch["low_latents"] = torch.randn(2, lat, c.long_window, c.low_res[0] // 8, c.low_res[1] // 8)
    loss, _ = policy(batch)
    loss.backward()
    assert torch.isfinite(loss)
    for module in (policy.system2.spatial_qformer, policy.system2.motion_qformer, policy.s2_text_proj,
                   policy.s2_image_proj, policy.dit):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
    assert all(p.grad is None for p in policy.system2.transformer.parameters())  # frozen VDM


def test_system2_stream(policy, frames):
    stream = policy.make_system2_stream()
    window = policy.config.system2.long_window
    with pytest.raises(ValueError, match="uint8 \\(H, W, 3\\)"):
        stream.push(frames[0][..., :2], 0.0)
    for i in range(window - 1):
        stream.push(frames[i % len(frames)], i / 30)
    assert not stream.ready()
    with pytest.raises(RuntimeError, match="pushed frames"):
        stream.compute(INSTRUCTION)
    stream.push(frames[1], 1.0)
    assert stream.ready()
    out = stream.compute(INSTRUCTION)
    c = policy.config.system2
    assert out.spatial.shape == (c.num_spatial_tokens, c.token_dim) and out.spatial.dtype == np.float32
    assert out.motion.shape == (c.num_motion_tokens, c.token_dim) and out.motion.dtype == np.float32
    assert out.stamp == 1.0
    assert set(out.heatmaps) == {"spatial", "motion"}
    for m in out.heatmaps.values():
        assert m.dtype == np.float32 and m.min() >= 0 and m.max() <= 1 and m.ndim == 2
    assert np.array_equal(stream.compute(INSTRUCTION).spatial, out.spatial)  # same frames -> same features
    assert np.abs(stream.compute("open the laptop").spatial - out.spatial).max() > 1e-6
    stream.push(frames[3], 1.1)
    assert np.abs(stream.compute(INSTRUCTION).motion - out.motion).max() > 1e-6
    # Features feed System 1 directly.
    assert act(policy, frames, features=out).shape == (64, 14)
