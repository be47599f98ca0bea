import json

import numpy as np
import pytest

from video2act.data.format import STD_FLOOR, Dataset, DatasetError, DatasetWriter
from video2act.config import load_config
from video2act.data.windows import WindowSampler, frame_stride, future_window, past_window

from data_helpers import CAMERAS, synthetic_episode, write_dataset


@pytest.fixture
def tiny_dataset(tmp_path):
    root = tmp_path / "ds"
    return root, write_dataset(root)


def test_round_trip_and_stats(tiny_dataset):
    root, written = tiny_dataset
    ds = Dataset(root)
    assert len(ds) == 2 and ds.lengths == [12, 9] and ds.cameras == CAMERAS and ds.image_size == (32, 48)
    for i, ep in enumerate(written):
        back = ds.episode(i)
        for cam in CAMERAS:
            np.testing.assert_array_equal(back.images[cam], ep.images[cam])
        np.testing.assert_array_equal(back.state, ep.state)
        np.testing.assert_array_equal(back.action, ep.action)
        assert back.instruction == ep.instruction and back.task == "synthetic"
    all_actions = np.concatenate([e.action for e in written]).astype(np.float64)
    stats = ds.meta["stats"]["action"]
    np.testing.assert_allclose(stats["mean"], all_actions.mean(0), atol=1e-6)
    np.testing.assert_allclose(stats["std"], np.maximum(all_actions.std(0), STD_FLOOR), atol=1e-6)
    np.testing.assert_allclose(stats["max"], all_actions.max(0), atol=1e-6)
    norm = ds.normalization()
    assert set(norm) == {"state_mean", "state_std", "action_mean", "action_std"} and len(norm["state_std"]) == 14


def test_constant_joint_std_is_floored(tmp_path):
    ep = synthetic_episode(5, seed=0)
    ep.state[:, 3] = 0.25
    writer = DatasetWriter(tmp_path / "ds", fps=30, cameras=CAMERAS, image_size=(32, 48))
    writer.add(ep)
    meta = writer.finalize()
    assert meta["stats"]["state"]["std"][3] == pytest.approx(STD_FLOOR)


def test_bad_inputs_raise_clear_errors(tmp_path, tiny_dataset):
    with pytest.raises(DatasetError, match="meta.json is missing"):
        Dataset(tmp_path / "nothing")
    root, _ = tiny_dataset
    with pytest.raises(DatasetError, match="already holds a dataset"):
        DatasetWriter(root, fps=30, cameras=CAMERAS, image_size=(32, 48))
    (root / "episode_000001.npz").unlink()
    with pytest.raises(DatasetError, match="episode_000001.npz is missing"):
        Dataset(root).episode(1)
    (root / "episode_000000.npz").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="cannot read"):
        Dataset(root).episode(0)
    meta = json.loads((root / "meta.json").read_text())
    meta.pop("stats")
    (root / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="stats"):
        Dataset(root)
    writer = DatasetWriter(tmp_path / "other", fps=30, cameras=CAMERAS, image_size=(32, 48))
    with pytest.raises(DatasetError, match=r"images\['head'\] are \(16, 16\)"):
        writer.add(synthetic_episode(4, 0, image_size=(16, 16)))
    bad = synthetic_episode(4, 0)
    bad.action = bad.action[:, :7]
    with pytest.raises(DatasetError, match=r"action must be a \(4, 14\)"):
        writer.add(bad)
    with pytest.raises(DatasetError, match="no episodes"):
        writer.finalize()


def test_window_indices_pad_at_both_ends():
    np.testing.assert_array_equal(past_window(0, 4), [0, 0, 0, 0])
    np.testing.assert_array_equal(past_window(2, 4), [0, 0, 1, 2])
    np.testing.assert_array_equal(past_window(7, 3), [5, 6, 7])
    np.testing.assert_array_equal(past_window(7, 4, stride=3), [0, 1, 4, 7])  # System 2 frames, 3 apart
    np.testing.assert_array_equal(future_window(7, 9, 4), [7, 8, 8, 8])
    np.testing.assert_array_equal(future_window(0, 9, 3), [0, 1, 2])


def test_frame_stride_follows_the_system2_frame_rate():
    frame_hz = load_config("robot.yaml")["rates"]["system2_frame_hz"]
    assert frame_stride(30.0) == round(30.0 / frame_hz)
    assert frame_stride(frame_hz / 2) == 1  # never below one frame


def test_sampler_builds_padded_batches(tmp_path):
    episodes = [synthetic_episode(6, 0), synthetic_episode(4, 1)]
    # latent "frames" carry their index so the windows can be read back
    latents = [(np.arange(len(e), dtype=np.float32)[:, None, None, None] * np.ones((1, 2, 3, 3), np.float32),
                100 + np.arange(len(e), dtype=np.float32)[:, None, None, None] * np.ones((1, 2, 2, 2), np.float32))
               for e in episodes]
    sampler = WindowSampler(episodes, latents, chunk_size=5, short_window=2, long_window=4)
    assert len(sampler) == 10
    batch = sampler.batch([(1, 3), (0, 1)])
    assert batch["action"].shape == (2, 5, 14) and batch["state"].shape == (2, 14)
    assert batch["high_latents"].shape == (2, 2, 2, 3, 3) and batch["low_latents"].shape == (2, 2, 4, 2, 2)
    assert batch["images"]["head"].shape == (2, 32, 48, 3) and batch["images"]["head"].dtype == np.uint8
    # episode 1, t = 3 (its last step): the chunk repeats the last action
    np.testing.assert_array_equal(batch["action"][0].numpy(), episodes[1].action[[3, 3, 3, 3, 3]])
    np.testing.assert_array_equal(batch["state"][1].numpy(), episodes[0].state[1])
    np.testing.assert_array_equal(batch["images"]["left"][0], episodes[1].images["left"][3])
    # episode 0, t = 1: windows padded with frame 0 at the start
    np.testing.assert_array_equal(batch["high_latents"][1, 0, :, 0, 0].numpy(), [0, 1])
    np.testing.assert_array_equal(batch["low_latents"][1, 0, :, 0, 0].numpy(), [100, 100, 100, 101])
    assert batch["instruction"] == ["Pick up both bottles."] * 2
    # System 2 frames `stride` apart, as system2_node pushes them
    strided = WindowSampler(episodes, latents, chunk_size=5, short_window=2, long_window=4, stride=2).batch([(0, 5)])
    np.testing.assert_array_equal(strided["high_latents"][0, 0, :, 0, 0].numpy(), [3, 5])
    np.testing.assert_array_equal(strided["low_latents"][0, 0, :, 0, 0].numpy(), [100, 101, 103, 105])
    with pytest.raises(ValueError, match="one latent \(or token\) pair per episode"):
        WindowSampler(episodes, latents[:1], 5, 2, 4)


def test_write_dataset_helper_lengths(tmp_path):
    eps = write_dataset(tmp_path / "x", lengths=(3,))
    assert Dataset(tmp_path / "x").lengths == [3] == [len(eps[0])]


def test_object_poses_round_trip_and_are_validated(tmp_path):
    ep = synthetic_episode(6, seed=0)
    ep.objects = np.arange(6 * 16, dtype=np.float32).reshape(6, 16)
    writer = DatasetWriter(tmp_path / "ds", fps=30.0, cameras=CAMERAS, image_size=(32, 48))
    writer.add(ep)
    writer.finalize()
    np.testing.assert_array_equal(Dataset(tmp_path / "ds").episode(0).objects, ep.objects)
    ep.objects = ep.objects[:4]
    with pytest.raises(DatasetError, match="objects must be a finite"):
        ep.validate()
