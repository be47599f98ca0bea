"""Tiny-preset training on a 2-episode synthetic dataset, the latent cache, checkpoints, and one eval episode."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from data_helpers import write_dataset  # noqa: E402

from video2act.data.format import Dataset, DatasetError  # noqa: E402
from video2act.data.latents import cache_latents, encode_episode_frames, latent_key, load_latents  # noqa: E402
from video2act.data.windows import WindowSampler  # noqa: E402
from video2act.model.modeling_video2act import Video2ActPolicy  # noqa: E402
from video2act.model.system2_stream import SlowFeatures  # noqa: E402
from video2act.training.evaluate import evaluate  # noqa: E402
from video2act.training.train import train  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("train")
    write_dataset(root / "ds", lengths=(12, 9), image_size=(32, 48))
    result = train(root / "ds", "tiny", steps=40, batch_size=4, out=root / "run", lr=2e-3, threads=1,
                   save_every=20, progress=False)
    return root, result


def test_latent_cache_matches_stream_and_is_keyed_by_vae(tmp_path):
    write_dataset(tmp_path / "ds", lengths=(5, 4), image_size=(32, 48))
    ds = Dataset(tmp_path / "ds")
    a = Video2ActPolicy.from_preset("tiny", seed=0)
    folder = cache_latents(ds, a, progress=False)
    assert folder.name == latent_key(a) and folder.name.startswith("tiny-")
    high, low = load_latents(ds, a)[1]
    assert high.shape == (4, 4, 4, 6) and low.shape == (4, 4, 2, 2)
    # the cache equals what the runtime's System 2 stream holds after pushing the same frames
    stream = a.make_system2_stream()
    for k, img in enumerate(ds.episode(1).images["head"]):
        stream.push(img, float(k))
    np.testing.assert_allclose(stream.low.latents()[0].numpy(), low.transpose(1, 0, 2, 3), atol=1e-5)
    np.testing.assert_allclose(stream.high.latents()[0].numpy(), high[-2:].transpose(1, 0, 2, 3), atol=1e-5)
    # another VAE (other init seed) -> another key: the old cache is not used, a clear error until computed
    b = Video2ActPolicy.from_preset("tiny", seed=1)
    assert latent_key(b) != latent_key(a)
    with pytest.raises(DatasetError, match="cache-latents"):
        load_latents(ds, b)
    cache_latents(ds, b, progress=False)
    assert not np.allclose(load_latents(ds, b)[1][0], high)
    assert len(list((tmp_path / "ds" / "latents").iterdir())) == 2
    # same policy again: nothing recomputed (files untouched)
    stamp = (folder / "episode_000000.npz").stat().st_mtime_ns
    cache_latents(ds, a, progress=False)
    assert (folder / "episode_000000.npz").stat().st_mtime_ns == stamp
    with pytest.raises(Exception):
        encode_episode_frames(a, np.zeros((2, 32, 48), np.uint8), (32, 48))


def test_training_reduces_loss_and_saves_checkpoints(run):
    root, result = run
    ckpts = root / "run" / "checkpoints"
    assert (ckpts / "000020" / "model.safetensors").is_file() and (ckpts / "000040" / "config.json").is_file()
    assert (ckpts / "last").resolve() == (ckpts / "000040").resolve()
    assert (root / "run" / "loss.png").stat().st_size > 1000 and len(result["losses"]) == 40
    info = json.loads((ckpts / "last" / "dataset.json").read_text())
    assert info["image_size"] == [32, 48] and info["tasks"] == ["synthetic"]

    ds = Dataset(root / "ds")
    trained = Video2ActPolicy.from_pretrained(ckpts / "last", expected_preset="tiny")
    start = Video2ActPolicy.from_preset("tiny", seed=0)  # train()'s initial weights
    start.set_normalization(**ds.normalization())
    np.testing.assert_allclose(trained.action_std.numpy(), ds.meta["stats"]["action"]["std"], rtol=1e-6)
    s2 = start.config.system2
    sampler = WindowSampler(ds.load_all(), load_latents(ds, start), 64, s2.short_window, s2.long_window)
    batch = sampler.sample(16, np.random.default_rng(5))
    g = torch.Generator().manual_seed(0)
    batch["noise"] = torch.randn(16, 64, 14, generator=g)
    batch["timesteps"] = torch.randint(0, 100, (16,), generator=g)
    with torch.no_grad():
        before, _ = start(batch)
        after, _ = trained(batch)
    assert float(after) < 0.8 * float(before), (float(before), float(after))


def test_checkpoint_loads_back_and_acts_identically(run):
    root, _ = run
    ckpts = root / "run" / "checkpoints"
    a = Video2ActPolicy.from_pretrained(ckpts / "last")
    b = Video2ActPolicy.from_pretrained(ckpts / "000040")
    c = Video2ActPolicy.from_pretrained(ckpts / "000020")
    ep = Dataset(root / "ds").episode(0)
    images = {cam: img[3] for cam, img in ep.images.items()}
    feats = SlowFeatures(spatial=np.ones((2, 8), np.float32), motion=np.zeros((2, 8), np.float32), stamp=0.0)
    chunk = a.act(images, ep.state[3], ep.instruction, feats, seed=3)
    np.testing.assert_array_equal(chunk, b.act(images, ep.state[3], ep.instruction, feats, seed=3))
    assert not np.allclose(chunk, c.act(images, ep.state[3], ep.instruction, feats, seed=3))
    assert chunk.shape == (64, 14) and np.isfinite(chunk).all()


def test_eval_runs_a_capped_episode(run):
    root, _ = run
    result = evaluate(root / "run" / "checkpoints" / "last", "pick_dual_bottles", episodes=1, max_steps=5,
                      replan_every=4, threads=1, progress=False)
    (episode,) = result["episodes"]
    assert episode["steps"] == 5 and episode["replans"] == 2 and episode["seed"] == 1000
    assert episode["success"] is False and result["success_rate"] == 0.0
