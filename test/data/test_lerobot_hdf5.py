"""LeRobot v3.0 layout (export / import through the one dataset reader) and Cobot Magic HDF5 import."""
import json

import numpy as np
import pytest

from video2act.cli import main
from video2act.data.format import Dataset, DatasetError, Episode, convert_dataset, create_writer
from video2act.data.hdf5 import read_hdf5_episode, write_hdf5_episode
from video2act.data.lerobot import CAMERA_NAMES

from data_helpers import CAMERAS, synthetic_episode, write_dataset

pytest.importorskip("av")
pytest.importorskip("pyarrow")
h5py = pytest.importorskip("h5py")


def smooth_episode(length: int, seed: int, image_size=(32, 48)) -> Episode:
    """Camera-like images (smooth shading that moves with the step), states on a ramp, object poses."""
    ep = synthetic_episode(length, seed, image_size)
    h, w = image_size
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    for i, cam in enumerate(CAMERAS):
        frames = []
        for t in range(length):
            phase = 0.3 * t + seed + i
            frames.append(np.stack([120 + 80 * np.sin(4 * xx + phase), 100 + 60 * np.cos(3 * yy - phase),
                                    90 + 70 * np.sin(2 * (xx + yy) + 0.5 * phase)], -1))
        ep.images[cam] = np.clip(np.stack(frames), 0, 255).astype(np.uint8)
    ep.objects = np.random.default_rng(seed).normal(size=(length, 16)).astype(np.float32)
    return ep


def psnr(a, b) -> float:
    return float(10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - b) ** 2)))


def test_lerobot_round_trip_is_exact_for_state_and_action(tmp_path):
    written = [smooth_episode(14, 0), smooth_episode(9, 1)]
    writer = create_writer(tmp_path / "npz", 30.0, CAMERAS, (32, 48))
    for ep in written:
        writer.add(ep)
    writer.finalize()
    convert_dataset(tmp_path / "npz", tmp_path / "lr", "lerobot", progress=False)
    convert_dataset(tmp_path / "lr", tmp_path / "back", "npz", progress=False)
    lr, back = Dataset(tmp_path / "lr"), Dataset(tmp_path / "back")
    assert (lr.layout, back.layout) == ("lerobot", "npz")
    assert lr.lengths == back.lengths == [14, 9] and lr.cameras == CAMERAS and lr.image_size == (32, 48)
    assert lr.meta["stats"] == Dataset(tmp_path / "npz").meta["stats"]
    for i, ep in enumerate(written):
        for got in (lr.episode(i), back.episode(i)):
            np.testing.assert_array_equal(got.state, ep.state)
            np.testing.assert_array_equal(got.action, ep.action)
            np.testing.assert_array_equal(got.objects, ep.objects)
            assert (got.instruction, got.task, got.source) == (ep.instruction, ep.task, ep.source)
            for cam in CAMERAS:  # through H.264 (crf 18, yuv420p): within codec tolerance, frames in order
                err = np.abs(got.images[cam].astype(int) - ep.images[cam])
                assert err.mean() < 3.0 and psnr(got.images[cam], ep.images[cam]) > 35, (cam, err.mean())  # measured 2.3, 39 dB
                per_frame = np.abs(got.images[cam][1:].astype(int) - ep.images[cam][:-1]).mean()
                assert per_frame > 3 * err.mean()  # a frame off would show here


def test_lerobot_files_follow_the_v3_layout(tmp_path):
    import pyarrow.parquet as pq

    write_dataset(tmp_path / "npz", lengths=(6, 4))
    convert_dataset(tmp_path / "npz", tmp_path / "lr", "lerobot", progress=False)
    root = tmp_path / "lr"
    info = json.loads((root / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 30 and info["total_frames"] == 10
    assert info["total_episodes"] == 2 and info["splits"] == {"train": "0:2"}
    video = info["features"]["observation.images.cam_high"]
    assert video["dtype"] == "video" and video["shape"] == [32, 48, 3] and video["info"]["video.codec"] == "h264"
    assert info["features"]["observation.state"]["shape"] == [14] and len(info["features"]["action"]["names"]) == 14
    for name in CAMERA_NAMES.values():
        assert (root / f"videos/observation.images.{name}/chunk-000/file-000.mp4").stat().st_size > 0
    data = pq.read_table(root / "data/chunk-000/file-000.parquet")
    assert data.num_rows == 10 and data.column("index").to_pylist() == list(range(10))
    assert data.column("frame_index").to_pylist() == [*range(6), *range(4)]
    assert data.column("timestamp").to_pylist()[5] == pytest.approx(5 / 30)
    episodes = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert [(e["dataset_from_index"], e["dataset_to_index"]) for e in episodes] == [(0, 6), (6, 10)]
    assert episodes[1]["videos/observation.images.cam_high/from_timestamp"] == pytest.approx(6 / 30)
    tasks = pq.read_table(root / "meta/tasks.parquet")
    assert tasks.column("task").to_pylist() == ["Pick up both bottles."]
    assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["task"]  # pandas reads it as the index
    stats = json.loads((root / "meta/stats.json").read_text())
    assert len(stats["action"]["mean"]) == 14 and np.array(stats["observation.images.cam_high"]["mean"]).shape == (3, 1, 1)


def test_outputs_are_never_overwritten_without_force(tmp_path):
    write_dataset(tmp_path / "npz", lengths=(3,))
    convert_dataset(tmp_path / "npz", tmp_path / "lr", "lerobot", progress=False)
    with pytest.raises(DatasetError, match="already holds a dataset"):
        convert_dataset(tmp_path / "npz", tmp_path / "lr", "lerobot", progress=False)
    with pytest.raises(DatasetError, match="already holds a dataset"):
        convert_dataset(tmp_path / "lr", tmp_path / "npz", "npz", progress=False)
    with pytest.raises(DatasetError, match="must not be"):
        convert_dataset(tmp_path / "lr", tmp_path / "lr", "npz", force=True, progress=False)
    (tmp_path / "lr" / "note.txt").write_text("replaced with the dataset")
    convert_dataset(tmp_path / "npz", tmp_path / "lr", "lerobot", force=True, progress=False)
    assert not (tmp_path / "lr" / "note.txt").exists() and Dataset(tmp_path / "lr").lengths == [3]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("not a dataset")
    with pytest.raises(DatasetError, match="holds no dataset; refusing"):
        convert_dataset(tmp_path / "npz", tmp_path / "other", "lerobot", force=True, progress=False)
    assert (tmp_path / "other" / "keep.txt").exists()


def test_bad_lerobot_folders_raise_clear_errors(tmp_path):
    write_dataset(tmp_path / "npz", lengths=(3, 3))
    convert_dataset(tmp_path / "npz", tmp_path / "lr", "lerobot", progress=False)
    info_path = tmp_path / "lr/meta/info.json"
    info = json.loads(info_path.read_text())
    info["features"]["observation.images.cam_top"] = info["features"].pop("observation.images.cam_high")
    info_path.write_text(json.dumps(info))
    assert Dataset(tmp_path / "lr")._lerobot.video_keys["head"] == "observation.images.cam_top"  # the stored role
    del info["features"]["observation.images.cam_top"]["info"]["video2act.camera"]
    info_path.write_text(json.dumps(info))
    with pytest.raises(DatasetError, match="unknown camera 'cam_top'.*--camera cam_top=head"):
        Dataset(tmp_path / "lr")
    with pytest.raises(DatasetError, match=r"--camera names \['cam_low'\], which"):
        Dataset(tmp_path / "lr", camera_map={"cam_low": "head"})
    with pytest.raises(DatasetError, match="are both 'left'"):
        Dataset(tmp_path / "lr", camera_map={"cam_top": "left"})
    with pytest.raises(DatasetError, match="mapped to 'top'"):
        Dataset(tmp_path / "lr", camera_map={"cam_top": "top"})
    assert Dataset(tmp_path / "lr", camera_map={"cam_top": "none"}).cameras == ["left", "right"]
    with pytest.raises(DatasetError, match="LeRobot datasets only"):
        Dataset(tmp_path / "npz", camera_map={"cam_top": "head"})
    info["codebase_version"] = "v2.1"
    info_path.write_text(json.dumps(info))
    with pytest.raises(DatasetError, match="v2.1"):
        Dataset(tmp_path / "lr")
    convert_dataset(tmp_path / "npz", tmp_path / "lr", "lerobot", force=True, progress=False)
    video = tmp_path / "lr/videos/observation.images.cam_left_wrist/chunk-000/file-000.mp4"
    video.unlink()
    with pytest.raises(DatasetError, match="file-000.mp4 is missing"):
        Dataset(tmp_path / "lr").episode(0)


@pytest.mark.parametrize("compress", [False, True])
def test_hdf5_episodes_import(tmp_path, compress):
    ep = smooth_episode(7, 0, image_size=(48, 64))
    write_hdf5_episode(tmp_path / "episode_0.hdf5", ep, compress=compress)
    got = read_hdf5_episode(tmp_path / "episode_0.hdf5", (24, 32), "Hand the block over.", task="handover_block")
    np.testing.assert_array_equal(got.state, ep.state)
    np.testing.assert_array_equal(got.action, ep.action)
    import cv2

    for cam in CAMERAS:
        expect = np.stack([cv2.resize(f, (32, 24), interpolation=cv2.INTER_AREA) for f in ep.images[cam]])
        assert got.images[cam].shape == (7, 24, 32, 3)
        assert np.abs(got.images[cam].astype(int) - expect).mean() < (2.0 if compress else 1e-9)
    assert got.instruction == "Hand the block over." and got.source.endswith("episode_0.hdf5")


def test_bad_hdf5_files_are_refused_clearly(tmp_path):
    ep = smooth_episode(5, 0)
    good = tmp_path / "good.hdf5"
    write_hdf5_episode(good, ep)

    def variant(name, edit):
        path = tmp_path / f"{name}.hdf5"
        path.write_bytes(good.read_bytes())
        with h5py.File(path, "a") as f:
            edit(f)
        return path

    cases = {
        "no_action": (lambda f: f.__delitem__("action"), r"lacks \['/action'\]"),
        "short": (lambda f: (f.__delitem__("action"), f.create_dataset("action", data=ep.action[:4])),
                  r"differ in length: .*'/action': 4"),
        "narrow": (lambda f: (f.__delitem__("observations/qpos"), f.create_dataset("observations/qpos", data=ep.state[:, :7])),
                   r"qpos must be \(T, 14\)"),
        "cam_low": (lambda f: f.move("observations/images/cam_high", "observations/images/cam_low"),
                    r"unknown cameras \['cam_low'\]"),
        "one_cam": (lambda f: f.__delitem__("observations/images/cam_left_wrist"), r"no image stream for cameras \['left'\]"),
    }
    for name, (edit, message) in cases.items():
        with pytest.raises(DatasetError, match=message):
            read_hdf5_episode(variant(name, edit), (32, 48), "x")
    # a mapped camera name is accepted
    renamed = variant("mapped", lambda f: f.move("observations/images/cam_high", "observations/images/cam_low"))
    assert read_hdf5_episode(renamed, (32, 48), "x", camera_map={"cam_low": "head"}).images["head"].shape == (5, 32, 48, 3)
    (tmp_path / "text.hdf5").write_text("not hdf5")
    with pytest.raises(DatasetError, match="cannot open"):
        read_hdf5_episode(tmp_path / "text.hdf5", (32, 48), "x")


def test_dataset_cli_converts_and_reports_bad_input(tmp_path, capsys):
    for i in range(2):
        write_hdf5_episode(tmp_path / f"episode_{i}.hdf5", smooth_episode(5 + i, i))
    args = ["dataset", "from-hdf5", str(tmp_path), "--instruction", "Pick up both bottles.", "--image-size", "32x48",
            "--out", str(tmp_path / "lr")]
    assert main(args) == 0 and Dataset(tmp_path / "lr").lengths == [5, 6]
    assert main(args) == 2 and "already holds a dataset" in capsys.readouterr().err
    assert main(args + ["--force"]) == 0
    assert main(["dataset", "convert", str(tmp_path / "lr"), "--to", "npz", "--out", str(tmp_path / "npz")]) == 0
    assert main(["dataset", "info", str(tmp_path / "npz")]) == 0 and "npz layout" in capsys.readouterr().out
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "episode_0.hdf5").write_bytes((tmp_path / "episode_0.hdf5").read_bytes())
    with h5py.File(tmp_path / "bad" / "episode_0.hdf5", "a") as f:
        del f["observations/qpos"]
    assert main(["dataset", "from-hdf5", str(tmp_path / "bad"), "--instruction", "x", "--out", str(tmp_path / "x")]) == 2
    assert "lacks ['/observations/qpos']" in capsys.readouterr().err and not (tmp_path / "x").exists()
    # episodes are written one at a time: a bad file after a good one leaves nothing half-written ...
    (tmp_path / "bad" / "episode.hdf5").write_bytes((tmp_path / "episode_1.hdf5").read_bytes())  # no number: first
    assert main(["dataset", "from-hdf5", str(tmp_path / "bad"), "--instruction", "x", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
    # ... and replacing a dataset with --force checks every file first: the old dataset survives a bad file
    assert main(["dataset", "from-hdf5", str(tmp_path / "bad"), "--instruction", "x", "--out", str(tmp_path / "lr"),
                 "--force"]) == 2
    assert Dataset(tmp_path / "lr").lengths == [5, 6]


def test_generate_and_from_bags_write_the_lerobot_layout(tmp_path, capsys):
    from test_bags import write_bag

    args = ["dataset", "generate", "--task", "pick_dual_bottles", "--episodes", "1", "--image-size", "32x48",
            "--to", "lerobot", "--out", str(tmp_path / "twin")]
    assert main(args) == 0
    twin = Dataset(tmp_path / "twin")
    ep = twin.episode(0)
    assert twin.layout == "lerobot" and ep.task == "pick_dual_bottles" and ep.objects is not None
    assert main(args) == 2 and "already holds a dataset" in capsys.readouterr().err
    write_bag(tmp_path / "bag", frames=6)
    assert main(["dataset", "from-bags", str(tmp_path / "bag"), "--instruction", "lift", "--image-size", "8x12",
                 "--to", "lerobot", "--out", str(tmp_path / "real")]) == 0
    real = Dataset(tmp_path / "real")
    assert real.layout == "lerobot" and real.image_size == (8, 12) and real.episode(0).instruction == "lift"
