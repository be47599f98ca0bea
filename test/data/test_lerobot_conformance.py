"""The LeRobot v3.0 export checked against LeRobot's own rules, and a LeRobot-written dataset imported and trained.

LeRobot's reader (PyPI `lerobot-dataset` 0.4.4, import name `ledataset`) does not install beside this
project's pins: it needs torchvision (whose PyPI build links CUDA torch: `operator torchvision::nms does not
exist` on our CPU torch 2.13.0) and torchcodec (PyPI build links libtorch_cuda and FFmpeg 6 shared libraries),
and it caps av < 16, huggingface-hub < 0.36, packaging < 26, opencv < 4.13 (ours: 18.1, 2.4, 26.4, 5.1). So
these tests redo its checks, each citing where the rule is:

    LD  = lerobot-dataset 0.4.4, ledataset/datasets/<file>          (the reader a LeRobot user installs)
    LR  = huggingface/lerobot @ 7427f31, src/lerobot/datasets/<file>  (the same rules, upstream)
    TC  = pytorch/torchcodec @ c66da14, src/torchcodec/_core/SingleStreamDecoder.cpp
"""
import json
import re

import numpy as np
import pytest

from video2act.cli import main
from video2act.data.format import Dataset, Episode, convert_dataset, create_writer
from video2act.data.lerobot import CAMERA_NAMES

from data_helpers import CAMERAS, synthetic_episode
from test_lerobot_hdf5 import psnr, smooth_episode

av = pytest.importorskip("av")
pq = pytest.importorskip("pyarrow.parquet")
pa = pytest.importorskip("pyarrow")

STATS = ("min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99")  # LD compute_stats.py:20, 110-120
TOLERANCE_S = 1e-4  # LD lerobot_dataset.py:563, the reader's default tolerance_s


def barcode_frames(first: int, length: int, image_size=(32, 48)) -> np.ndarray:
    """(length, H, W, 3) frames that show their number (first, first + 1, ...) as 9 black / white stripes."""
    h, w = image_size
    frames = np.zeros((length, h, w, 3), np.uint8)
    for t in range(length):
        for bit in range(9):
            frames[t, :, bit * 5:bit * 5 + 5] = 255 * (((first + t) >> bit) & 1)
    return frames


def read_barcode(img: np.ndarray) -> int:
    return sum(int(img[:, bit * 5 + 1:bit * 5 + 4].mean() > 127) << bit for bit in range(9))


def decode_all(path, **options) -> tuple[list[int], list[np.ndarray], tuple[float, float]]:
    """Every frame of an mp4 in presentation order: pts, RGB images, (header frame rate, time base)."""
    with av.open(str(path), options=options) as c:
        stream = c.streams.video[0]
        frames = sorted(((f.pts, f.to_ndarray(format="rgb24")) for f in c.decode(stream)), key=lambda x: x[0])
        return [p for p, _ in frames], [img for _, img in frames], (float(stream.base_rate), float(stream.time_base))


def lerobot_frame(pts, images, stream, query_s: float) -> tuple[np.ndarray, float]:
    """The frame LeRobot's torchcodec path returns for a query time: index = round(t * fps) (LD video_utils.py:257),
    with fps the header's r_frame_rate in the approximate seek mode LeRobot opens (LD video_utils.py:193; TC
    140-143), index -> pts = round(index / fps / time_base) (TC getPts, 1518-1531), then the first frame whose
    pts >= that (TC getNextFrameInternal, 556-557). Returns it and its time."""
    fps, time_base = stream
    cursor = round(round(query_s * fps) / fps / time_base)
    k = next(i for i, p in enumerate(pts) if p >= cursor)
    return images[k], pts[k] * time_base


def export(tmp_path, episodes, fps=30.0, image_size=(32, 48)):
    writer = create_writer(tmp_path / "npz", fps, CAMERAS, image_size)
    for ep in episodes:
        writer.add(ep)
    writer.finalize()
    convert_dataset(tmp_path / "npz", tmp_path / "lr", "lerobot", progress=False)
    return tmp_path / "lr"


def test_the_export_carries_lerobots_stats_per_episode_and_in_stats_json(tmp_path):
    lengths = (150, 9, 1)  # 150: LeRobot samples 100 of its frames for image stats; 1: its one-sample rule
    episodes = [smooth_episode(n, seed) for seed, n in enumerate(lengths)]
    root = export(tmp_path, episodes)
    info = json.loads((root / "meta/info.json").read_text())
    stats = {k: {s: np.asarray(v) for s, v in d.items()} for k, d in json.loads((root / "meta/stats.json").read_text()).items()}
    rows = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    features = info["features"]
    # every non-string feature has every stat, in stats.json and per episode (LD compute_stats.py:507-522; the
    # columns are flatten_dict({"stats": ...}) -> "stats/<feature>/<stat>", LD lerobot_dataset.py:410)
    assert sorted(stats) == sorted(features) and "observation.environment_state" in stats and "timestamp" in stats
    for key in features:
        assert sorted(stats[key]) == sorted(STATS), key
        for row in rows:
            assert all(f"stats/{key}/{s}" in row for s in STATS), (key, sorted(row))
    # shapes: images / videos (3, 1, 1) per stat (LD compute_stats.py:511-527, validated at :546), count (1,)
    # (:543), (T, D) vectors (D,), 1-d columns (1,) (keepdims = data.ndim == 1, :518)
    for key, ft in features.items():
        want = (3, 1, 1) if ft["dtype"] == "video" else tuple(ft["shape"])
        for s in STATS:
            got = [np.asarray(r[f"stats/{key}/{s}"]).shape for r in rows] + [stats[key][s].shape]
            assert got == [(1,) if s == "count" else want] * 4, (key, s, got)
    # count = frames for vectors; images count the frames LeRobot samples: every frame below 100, else
    # max(100, T ** 0.75) of them (LD compute_stats.py:194-216)
    assert stats["observation.state"]["count"].tolist() == [160] and stats["timestamp"]["count"].tolist() == [160]
    assert [r["stats/observation.images.cam_high/count"] for r in rows] == [[100], [9], [1]]
    assert stats["observation.images.cam_high"]["count"].tolist() == [110]
    # values against plain numpy over the frames: the aggregate of the episodes (LD compute_stats.py:565-591)
    # is the statistic of all frames
    for key, name in (("observation.state", "state"), ("action", "action"), ("observation.environment_state", "objects")):
        x = np.concatenate([getattr(ep, name) for ep in episodes]).astype(np.float64)
        np.testing.assert_allclose(stats[key]["mean"], x.mean(0), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(stats[key]["std"], x.std(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(stats[key]["min"], x.min(0))
        np.testing.assert_array_equal(stats[key]["max"], x.max(0))
    np.testing.assert_allclose(stats["timestamp"]["max"], [149 / 30], rtol=1e-7)
    np.testing.assert_allclose(stats["index"]["mean"], [159 / 2])
    np.testing.assert_allclose(stats["episode_index"]["mean"], [(9 + 2) / 160])
    # image stats in [0, 1] per channel: every frame of episode 1, the sampled frames of episode 0
    # (np.round(np.linspace(0, T - 1, 100)), LD compute_stats.py:214-216)
    for i, frames in ((1, episodes[1].images["head"]), (0, episodes[0].images["head"][np.round(np.linspace(0, 149, 100)).astype(int)])):
        x = frames.reshape(-1, 3) / 255.0
        mean = np.asarray(rows[i]["stats/observation.images.cam_high/mean"]).reshape(3)
        std = np.asarray(rows[i]["stats/observation.images.cam_high/std"]).reshape(3)
        np.testing.assert_allclose(mean, x.mean(0), atol=1e-6)
        np.testing.assert_allclose(std, x.std(0), atol=1e-5)
        assert np.asarray(rows[i]["stats/observation.images.cam_high/max"]).max() <= 1.0
    # quantiles: a 5000-bin histogram interpolated within the bin (LD compute_stats.py:151-191): within two bins
    # of the order statistic; one-frame episodes take the mean (LD compute_stats.py:395-422)
    x = episodes[0].state.astype(np.float64)
    for s, q in (("q01", 0.01), ("q10", 0.10), ("q50", 0.5), ("q90", 0.9), ("q99", 0.99)):
        got = np.asarray(rows[0][f"stats/observation.state/{s}"])
        bin_width = (x.max(0) - x.min(0)) / 5000
        assert (np.abs(got - np.quantile(x, q, axis=0, method="inverted_cdf")) <= 2 * bin_width + 1e-6).all(), s
        assert rows[2][f"stats/observation.state/{s}"] == rows[2]["stats/observation.state/mean"]
    # stats.json quantiles: count-weighted means of the episodes' (LD compute_stats.py:593-600)
    q = np.array([r["stats/observation.state/q99"] for r in rows])
    np.testing.assert_allclose(stats["observation.state"]["q99"], (q * [[150], [9], [1]]).sum(0) / 160, rtol=1e-12)
    qi = np.array([r["stats/observation.images.cam_left_wrist/q01"] for r in rows])
    np.testing.assert_allclose(stats["observation.images.cam_left_wrist"]["q01"],
                               (qi * np.array([100, 9, 1])[:, None, None, None]).sum(0) / 110, rtol=1e-12)
    for key in ("observation.images.cam_high", "observation.state", "timestamp"):
        s = stats[key]
        # ordered; the histogram's outer edges lie 1e-10 beyond min / max (LD compute_stats.py:63-65, 176-179)
        assert (s["min"] - 1e-9 <= s["q01"]).all() and (s["q01"] <= s["q50"]).all() and (s["q50"] <= s["q99"]).all() \
            and (s["q99"] <= s["max"] + 1e-9).all() and (s["q01"] < s["q99"]).any(), key
    # our reader ignores the stats columns and still reads the episodes
    assert Dataset(root).lengths == list(lengths)


@pytest.mark.parametrize("fps", [30.0, 15.0])
def test_decoded_frame_k_is_source_frame_k_for_lerobots_reader_and_ours(tmp_path, fps):
    lengths = (40, 37, 23)
    episodes, first = [], 0
    for seed, n in enumerate(lengths):
        ep = synthetic_episode(n, seed)
        ep.images = {cam: barcode_frames(first + 100 * i, n) for i, cam in enumerate(CAMERAS)}
        episodes.append(ep)
        first += n
    root = export(tmp_path, episodes, fps=fps)
    data = pq.read_table(root / "data/chunk-000/file-000.parquet").to_pydict()
    rows = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    # data rows: timestamp = frame_index / fps in float32 (LeRobot's add_frame default, LD lerobot_dataset.py:1147)
    np.testing.assert_array_equal(np.asarray(data["timestamp"], np.float32),
                                  (np.asarray(data["frame_index"]) / fps).astype(np.float32))
    for i, cam in enumerate(CAMERAS):
        key = "observation.images." + CAMERA_NAMES[cam]
        path = root / f"videos/{key}/chunk-000/file-000.mp4"
        pts, images, stream = decode_all(path)
        assert stream[0] == fps and len(pts) == sum(lengths)
        # no B-frames: decoding order is presentation order and frame k is at k / fps without an edit list,
        # so a reader that ignores edit lists sees the same times
        with av.open(str(path)) as c:
            packets = [(p.pts, p.dts) for p in c.demux(c.streams.video[0]) if p.size]
        assert all(p == d for p, d in packets) and packets[0] == (0, 0)
        assert decode_all(path, ignore_editlist="1")[0] == pts
        np.testing.assert_allclose(np.asarray(pts) * stream[1], np.arange(len(pts)) / fps, atol=1e-9)
        for e, (row, n) in enumerate(zip(rows, lengths)):
            # an episode's span: from the previous episode's to_timestamp, n / fps long (LD lerobot_dataset.py:1470-1503)
            start = row[f"videos/{key}/from_timestamp"]
            assert start == pytest.approx(sum(lengths[:e]) / fps) and \
                row[f"videos/{key}/to_timestamp"] - start == pytest.approx(n / fps)
            # dataset[k]: the row's float32 timestamp shifted by from_timestamp (LD lerobot_dataset.py:1026-1027,
            # 1065) decoded as LeRobot decodes; within its tolerance (LD video_utils.py:266-281)
            sel = np.flatnonzero(np.asarray(data["episode_index"]) == e)
            for k, ts in zip(np.asarray(data["frame_index"])[sel], np.asarray(data["timestamp"], np.float32)[sel]):
                img, loaded = lerobot_frame(pts, images, stream, start + float(ts))
                assert abs(loaded - (start + float(ts))) < TOLERANCE_S, (cam, e, k)
                assert read_barcode(img) == sum(lengths[:e]) + k + 100 * i, (cam, e, k)
    ds = Dataset(root)  # and our own reader
    for e, ep in enumerate(episodes):
        got = ds.episode(e)
        for cam in CAMERAS:
            assert [read_barcode(f) for f in got.images[cam]] == [read_barcode(f) for f in ep.images[cam]]


def write_like_lerobot(root, episodes, fps: int, keys: dict, vcodec="h264"):
    """A LeRobot v3.0 folder laid out as LeRobotDataset.create + add_frame + save_episode write it, other camera
    names (`keys`: project camera -> feature key) and video encoded as LeRobot's encode_video_frames does (PyAV,
    LD video_utils.py:303-390: codec h264 (libx264, B-frames on), g 2, crf 30, yuv420p, frames without pts).
    The first camera's episodes are concatenated in one file (from_timestamp = the previous to_timestamp, LD
    lerobot_dataset.py:1470-1503), the others get one file per episode (file_index 0, 1, ...)."""
    from video2act.data import lerobot_stats
    from video2act.data.lerobot import JOINT_NAMES, _pandas_index_metadata

    h, w = episodes[0].images["head"].shape[1:3]
    video_info = {"video.height": h, "video.width": w, "video.codec": "h264", "video.pix_fmt": "yuv420p",
                  "video.is_depth_map": False, "video.fps": fps, "video.channels": 3, "has_audio": False}
    features = {"observation.state": {"dtype": "float32", "shape": [14], "names": JOINT_NAMES},
                "action": {"dtype": "float32", "shape": [14], "names": JOINT_NAMES},
                **{key: {"dtype": "video", "shape": [h, w, 3], "names": ["height", "width", "channels"],
                         "info": video_info} for key in keys.values()},
                "timestamp": {"dtype": "float32", "shape": [1], "names": None},  # DEFAULT_FEATURES, LD utils.py:72-78
                **{k: {"dtype": "int64", "shape": [1], "names": None}
                   for k in ("frame_index", "episode_index", "index", "task_index")}}

    def encode(path, frames):
        path.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(path), "w") as out:
            stream = out.add_stream("h264" if vcodec == "h264" else vcodec, fps, options={"g": "2", "crf": "30"})
            stream.pix_fmt, stream.width, stream.height = "yuv420p", w, h
            for img in frames:
                out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
            out.mux(stream.encode())

    rows, start = [], 0
    for e, ep in enumerate(episodes):
        n = len(ep)
        row = {"episode_index": e, "tasks": [ep.instruction], "length": n, "data/chunk_index": 0, "data/file_index": 0,
               "dataset_from_index": start, "dataset_to_index": start + n}
        for i, (cam, key) in enumerate(keys.items()):
            file_index = 0 if i == 0 else e
            row.update({f"videos/{key}/chunk_index": 0, f"videos/{key}/file_index": file_index,
                        f"videos/{key}/from_timestamp": start / fps if i == 0 else 0.0,
                        f"videos/{key}/to_timestamp": (start + n) / fps if i == 0 else n / fps})
            if i > 0:
                encode(root / f"videos/{key}/chunk-000/file-{e:03d}.mp4", ep.images[cam])
        stats = {"observation.state": lerobot_stats.vector_stats(ep.state), "action": lerobot_stats.vector_stats(ep.action),
                 **{key: lerobot_stats.image_stats(ep.images[cam]) for cam, key in keys.items()}}
        row.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0, **lerobot_stats.flatten(stats)})
        rows.append(row)
        start += n
    first_cam, first_key = next(iter(keys.items()))
    encode(root / f"videos/{first_key}/chunk-000/file-000.mp4", np.concatenate([ep.images[first_cam] for ep in episodes]))

    def fixed(arrays):
        x = np.concatenate(arrays).astype(np.float32)
        return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])

    data = {"observation.state": fixed([ep.state for ep in episodes]), "action": fixed([ep.action for ep in episodes]),
            "timestamp": pa.array(np.concatenate([np.arange(len(ep)) / fps for ep in episodes]).astype(np.float32)),
            "frame_index": pa.array(np.concatenate([np.arange(len(ep)) for ep in episodes]).astype(np.int64)),
            "episode_index": pa.array(np.concatenate([np.full(len(ep), e) for e, ep in enumerate(episodes)]).astype(np.int64)),
            "index": pa.array(np.arange(start, dtype=np.int64)), "task_index": pa.array(np.zeros(start, np.int64))}
    (root / "data/chunk-000").mkdir(parents=True)
    pq.write_table(pa.table(data), root / "data/chunk-000/file-000.parquet")
    (root / "meta/episodes/chunk-000").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), root / "meta/episodes/chunk-000/file-000.parquet")
    tasks = pa.table({"task_index": pa.array([0], pa.int64()), "task": [episodes[0].instruction]})
    pq.write_table(tasks.replace_schema_metadata({b"pandas": _pandas_index_metadata("task", [("task_index", "int64"),
                                                                                          ("task", "unicode")])}),
                   root / "meta/tasks.parquet")
    info = {"codebase_version": "v3.0", "robot_type": "aloha", "total_episodes": len(episodes), "total_frames": start,
            "total_tasks": 1, "chunks_size": 1000, "data_files_size_in_mb": 100, "video_files_size_in_mb": 200,
            "fps": fps, "splits": {"train": f"0:{len(episodes)}"},
            "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
            "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4", "features": features}
    (root / "meta/info.json").write_text(json.dumps(info, indent=4))
    (root / "meta/stats.json").write_text(json.dumps(lerobot_stats.to_json(lerobot_stats.aggregate_stats(
        [{k: {s: np.asarray(r[f"stats/{k}/{s}"]) for s in STATS} for k in ("observation.state", "action", *keys.values())}
         for r in rows]))))


def test_a_lerobot_written_dataset_with_other_camera_names_imports_and_trains(tmp_path, capsys):
    keys = {"head": "observation.images.top", "left": "observation.images.wrist_left",
            "right": "observation.images.wrist_right"}
    episodes, first = [], 0
    for seed, n in enumerate((12, 9)):
        ep = smooth_episode(n, seed)
        ep.objects, ep.task, ep.source = None, "", ""
        ep.images["head"] = barcode_frames(first, n)
        episodes.append(ep)
        first += n
    src = tmp_path / "lerobot_set"
    write_like_lerobot(src, episodes, 30, keys)
    with av.open(str(src / "videos/observation.images.top/chunk-000/file-000.mp4")) as c:  # B-frames: an edit list
        assert any(p.pts != p.dts for p in c.demux(c.streams.video[0]) if p.size)
    out = tmp_path / "imported"
    assert main(["dataset", "convert", str(src), "--to", "npz", "--out", str(out)]) == 2
    assert "unknown camera 'top'" in capsys.readouterr().err and not out.exists()
    with pytest.raises(SystemExit, match=re.escape("NAME=head|left|right|none. Got 'top=middle'")):
        main(["dataset", "convert", str(src), "--to", "npz", "--camera", "top=middle", "--out", str(out)])
    assert main(["dataset", "convert", str(src), "--to", "npz", "--camera", "top=head", "--camera",
                 "observation.images.wrist_left=left", "--camera", "wrist_right=right", "--out", str(out)]) == 0
    ds = Dataset(out)
    assert ds.layout == "npz" and ds.lengths == [12, 9] and ds.cameras == CAMERAS and ds.image_size == (32, 48)
    for e, ep in enumerate(episodes):
        got = ds.episode(e)
        np.testing.assert_array_equal(got.state, ep.state)
        np.testing.assert_array_equal(got.action, ep.action)
        assert got.instruction == ep.instruction
        assert [read_barcode(f) for f in got.images["head"]] == [read_barcode(f) for f in ep.images["head"]]
        for cam in ("left", "right"):  # crf 30: LeRobot's default quality
            assert psnr(got.images[cam], ep.images[cam]) > 30, (e, cam, psnr(got.images[cam], ep.images[cam]))
    run = tmp_path / "run"
    assert main(["train", "--dataset", str(out), "--preset", "tiny", "--steps", "3", "--batch-size", "2",
                 "--val-fraction", "0", "--out", str(run)]) == 0
    info = json.loads((run / "checkpoints" / "last" / "dataset.json").read_text())
    assert info["image_size"] == [32, 48] and info["episodes"] == 2
