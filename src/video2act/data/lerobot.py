"""The LeRobot dataset v3.0 layout: parquet for state / action / time, one mp4 per camera and file.

    DIR/
      meta/info.json                                   codebase_version "v3.0", fps, features, path templates
      meta/stats.json                                  per feature {min, max, mean, std, count, q01, q10, q50,
                                                       q90, q99}: every feature of info.json, aggregated from
                                                       the episodes' stats (lerobot_stats.py: LeRobot's rules,
                                                       images per channel in [0, 1], shaped (3, 1, 1))
      meta/tasks.parquet                               task string (index "task") -> task_index
      meta/episodes/chunk-000/file-000.parquet         one row per episode: length, tasks, where its rows and
                                                       frames are (data/*, videos/<key>/{chunk,file}_index,
                                                       from/to_timestamp, dataset_from/to_index), its stats
                                                       (columns stats/<feature>/<stat>, as LeRobot writes
                                                       them), and the project's own columns video2act/task,
                                                       video2act/source
      data/chunk-000/file-000.parquet                  one row per step: observation.state (14), action (14),
                                                       observation.environment_state (object poses, twin data
                                                       only), timestamp, frame_index, episode_index, index,
                                                       task_index
      videos/observation.images.<cam>/chunk-000/file-000.mp4
                                                       the episodes one after another (frame k of an episode at
                                                       from_timestamp + k / fps), H.264 yuv420p by default,
                                                       no B-frames: presentation = decoding order, no edit
                                                       list, so every decoder puts frame k at k / fps

Cameras use the Cobot Magic / ALOHA names (head -> cam_high, left -> cam_left_wrist, right ->
cam_right_wrist; CAMERA_NAMES), and each video feature of info.json says its role in
`info["video2act.camera"]` (head | left | right). Reading, a camera is found by (first match): the
caller's `camera_map` (`--camera NAME=head|left|right`, NAME the feature key or the part after
`observation.images.`), the stored role, the Cobot Magic name, the project name. The task string is the
episode's instruction. State and action are
stored as float32 as they are, so a round trip through this layout is exact for them; images go
through the video codec (lossy: `crf` sets the quality).

`LeRobotWriter` has the surface of format.DatasetWriter (add, finalize); `LeRobotSource` is what
format.Dataset reads this layout through (the one dataset reader detects the layout).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from video2act.data import lerobot_stats
from video2act.data.format import DOF, FORMAT_VERSION, DatasetError, Episode, compute_stats

CODEBASE_VERSION = "v3.0"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
CHUNKS_SIZE = 1000  # files per chunk folder (LeRobot's default)
DATA_FILE_MB = 100  # a data / video file is closed and the next one started past this size (LeRobot's defaults)
VIDEO_FILE_MB = 500
IMAGE_PREFIX = "observation.images."
STATE_KEY, ACTION_KEY, OBJECTS_KEY = "observation.state", "action", "observation.environment_state"
# project camera -> Cobot Magic / ALOHA camera name (the HDF5 recorders' names, FACTS.md)
CAMERA_NAMES = {"head": "cam_high", "left": "cam_left_wrist", "right": "cam_right_wrist"}
JOINT_NAMES = [f"{arm}_{j}" for arm in ("left", "right") for j in ("j1", "j2", "j3", "j4", "j5", "j6", "gripper")]
CAMERA_ROLE = "video2act.camera"  # key of a video feature's info: the project camera it is (head | left | right)
ROLES = tuple(CAMERA_NAMES)


def is_lerobot_dataset(root) -> bool:
    return (Path(root) / INFO_PATH).is_file()


def camera_from_key(video_key: str, camera_map: dict | None = None, role: str | None = None) -> str:
    """'observation.images.cam_high' -> 'head'. In order: `camera_map` ({feature key or short name: role}),
    the `role` stored in info.json, the Cobot Magic name, the project name; DatasetError for none."""
    name = video_key[len(IMAGE_PREFIX):]
    by_name = {v: k for k, v in CAMERA_NAMES.items()}
    for found in ((camera_map or {}).get(video_key), (camera_map or {}).get(name), role, by_name.get(name),
                  name if name in CAMERA_NAMES else None):
        if found is not None:
            if found not in ROLES:
                raise DatasetError(f"camera '{name}' ({video_key}) is mapped to '{found}'; roles are {list(ROLES)}")
            return found
    raise DatasetError(f"unknown camera '{name}' ({video_key}); known: {sorted(by_name)} (or {sorted(CAMERA_NAMES)}); "
                       f"map it with --camera {name}=head|left|right")


def _pandas_index_metadata(index: str, columns: list[tuple[str, str]]) -> bytes:
    """The schema metadata pandas writes, so `pd.read_parquet` (LeRobot's load_tasks) gets `index` as the index."""
    cols = [{"name": n, "field_name": n, "pandas_type": t, "numpy_type": "object" if t == "unicode" else t,
             "metadata": None} for n, t in columns]
    return json.dumps({"index_columns": [index], "column_indexes": [{"name": None, "field_name": None,
                       "pandas_type": "unicode", "numpy_type": "object", "metadata": {"encoding": "UTF-8"}}],
                       "columns": cols, "creator": {"library": "pyarrow"}, "pandas_version": "2.2.3"}).encode()


class _VideoFile:
    """One camera's open mp4: frames appended with pts = frame number (time base 1 / fps)."""

    def __init__(self, path: Path, fps: float, size, codec: str, crf: int, pix_fmt: str):
        import av
        from fractions import Fraction

        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.frames, self.bytes = path, 0, 0
        self.container = av.open(str(path), "w")
        rate = Fraction(fps).limit_denominator(1000)
        self.stream = self.container.add_stream(codec, rate=rate)
        self.stream.height, self.stream.width = int(size[0]), int(size[1])
        self.stream.pix_fmt = pix_fmt
        self.stream.time_base = 1 / rate
        self.stream.codec_context.time_base = 1 / rate
        # A key frame every 30 frames: cheap seeks. No B-frames ("bf" 0): with them libx264 starts decoding 2
        # frames before presentation and the mp4 needs an edit list to put frame k at k / fps; a reader that
        # ignores it (or seeks by index from the header's rate) is then off by frames.
        if codec in ("libx264", "h264", "libx265", "hevc"):
            self.stream.options = {"crf": str(crf), "g": "30", "bf": "0"}
        elif codec == "libsvtav1":
            self.stream.options = {"crf": str(crf), "g": "30", "preset": "8"}
        else:
            self.stream.options = {"g": "30", "bf": "0"}

    def add(self, frames: np.ndarray) -> None:
        import av

        for img in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts = self.frames
            self.frames += 1
            for packet in self.stream.encode(frame):
                self.bytes += packet.size
                self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


class LeRobotWriter:
    """Write episodes in the LeRobot v3.0 layout; `finalize()` writes the metadata and returns the project meta.

    Same surface as format.DatasetWriter. Args: codec / crf / pix_fmt of the videos (libx264 crf 18 yuv420p:
    what browsers and LeRobot's decoders read; libsvtav1 is LeRobot's own default).
    """

    def __init__(self, root, fps: float, cameras, image_size, codec: str = "libx264", crf: int = 18,
                 pix_fmt: str = "yuv420p", robot_type: str = "cobot_magic_piper"):
        self.root = Path(root)
        if is_lerobot_dataset(self.root) or (self.root / "meta.json").exists():
            raise DatasetError(f"{self.root} already holds a dataset; choose another --out (or --force)")
        unknown = [c for c in cameras if c not in CAMERA_NAMES]
        if unknown:
            raise DatasetError(f"unknown cameras {unknown}; the LeRobot layout names {sorted(CAMERA_NAMES)}")
        self.fps, self.cameras = float(fps), list(cameras)
        self.image_size = tuple(int(v) for v in image_size)
        if pix_fmt == "yuv420p" and (self.image_size[0] % 2 or self.image_size[1] % 2):
            raise DatasetError(f"yuv420p video needs an even image size. Got {self.image_size}")
        self.codec, self.crf, self.pix_fmt, self.robot_type = codec, int(crf), pix_fmt, robot_type
        self.root.mkdir(parents=True, exist_ok=True)
        self.episodes: list[dict] = []  # project meta entries
        self._rows: list[dict] = []  # episodes parquet rows
        self._arrays: list[tuple[np.ndarray, np.ndarray]] = []
        self._tasks: dict[str, int] = {}
        self._data: list[dict] = []  # the open data file's per-episode columns
        self._data_file, self._data_bytes = (0, 0), 0
        self._video_file = {c: (0, 0) for c in self.cameras}
        self._videos: dict[str, _VideoFile] = {}
        self._episode_stats: list[dict] = []  # per episode {feature: {stat: array}} (lerobot_stats)
        self._objects_dim: int | None = None
        self._frames = 0

    @staticmethod
    def _next(file: tuple[int, int]) -> tuple[int, int]:
        chunk, index = file
        return (chunk + 1, 0) if index == CHUNKS_SIZE - 1 else (chunk, index + 1)

    def _video(self, cam: str) -> _VideoFile:
        if cam not in self._videos:
            chunk, index = self._video_file[cam]
            path = self.root / VIDEO_PATH.format(video_key=IMAGE_PREFIX + CAMERA_NAMES[cam], chunk_index=chunk,
                                                 file_index=index)
            self._videos[cam] = _VideoFile(path, self.fps, self.image_size, self.codec, self.crf, self.pix_fmt)
        return self._videos[cam]

    def add(self, episode: Episode) -> None:
        episode.validate(self.cameras, self.image_size)
        has_objects = episode.objects is not None
        if self.episodes and (self._objects_dim is not None) != has_objects or \
                has_objects and self._objects_dim not in (None, episode.objects.shape[1]):
            raise DatasetError("every episode must carry object poses of one size, or none does")
        self._objects_dim = episode.objects.shape[1] if has_objects else None
        index, t = len(self.episodes), len(episode)
        task_index = self._tasks.setdefault(episode.instruction, len(self._tasks))
        row = {"episode_index": index, "tasks": [episode.instruction], "length": t,
               "data/chunk_index": self._data_file[0], "data/file_index": self._data_file[1],
               "dataset_from_index": self._frames, "dataset_to_index": self._frames + t}
        for cam in self.cameras:
            video = self._video(cam)
            key = f"videos/{IMAGE_PREFIX}{CAMERA_NAMES[cam]}"
            row.update({f"{key}/chunk_index": self._video_file[cam][0], f"{key}/file_index": self._video_file[cam][1],
                        f"{key}/from_timestamp": video.frames / self.fps,
                        f"{key}/to_timestamp": (video.frames + t) / self.fps})
            video.add(episode.images[cam])
            if video.bytes > VIDEO_FILE_MB * 2 ** 20:
                video.close()
                del self._videos[cam]
                self._video_file[cam] = self._next(self._video_file[cam])
        stats = self._stats(episode, index, task_index)
        row.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0, **lerobot_stats.flatten(stats),
                    "video2act/task": episode.task, "video2act/source": episode.source})
        self._episode_stats.append(stats)
        self._data.append({"state": episode.state.astype(np.float32), "action": episode.action.astype(np.float32),
                           "objects": episode.objects.astype(np.float32) if has_objects else None,
                           "episode_index": index, "task_index": task_index, "from": self._frames})
        self._data_bytes += t * (2 * DOF + (self._objects_dim or 0) + 10) * 4
        if self._data_bytes > DATA_FILE_MB * 2 ** 20:
            self._flush_data()
        self._frames += t
        self._rows.append(row)
        self._arrays.append((episode.state, episode.action))
        self.episodes.append({"index": index, "file": f"episode {index}", "length": t, "instruction": episode.instruction,
                              "task": episode.task, "source": episode.source})

    def _stats(self, episode: Episode, index: int, task_index: int) -> dict:
        """The episode's stats of every feature of info.json, as LeRobot's save_episode computes them."""
        t = len(episode)
        stats = {STATE_KEY: lerobot_stats.vector_stats(episode.state.astype(np.float32)),
                 ACTION_KEY: lerobot_stats.vector_stats(episode.action.astype(np.float32))}
        if episode.objects is not None:
            stats[OBJECTS_KEY] = lerobot_stats.vector_stats(episode.objects.astype(np.float32))
        for cam in self.cameras:
            stats[IMAGE_PREFIX + CAMERA_NAMES[cam]] = lerobot_stats.image_stats(episode.images[cam])
        frame_index = np.arange(t, dtype=np.int64)
        for name, values in (("timestamp", self._timestamps(t)), ("frame_index", frame_index),
                             ("episode_index", np.full(t, index, np.int64)), ("index", self._frames + frame_index),
                             ("task_index", np.full(t, task_index, np.int64))):
            stats[name] = lerobot_stats.vector_stats(values)
        return stats

    def _timestamps(self, t: int) -> np.ndarray:
        """float32 k / fps, k = 0 .. t-1: the data rows' timestamps (LeRobot's add_frame default)."""
        return (np.arange(t) / self.fps).astype(np.float32)

    def _flush_data(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._data:
            return
        cols = {name: [] for name in ("state", "action", "objects", "timestamp", "frame_index", "episode_index",
                                      "index", "task_index")}
        for d in self._data:
            t = len(d["state"])
            cols["state"].append(d["state"])
            cols["action"].append(d["action"])
            cols["objects"].append(d["objects"])
            cols["frame_index"].append(np.arange(t, dtype=np.int64))
            cols["timestamp"].append(self._timestamps(t))
            cols["episode_index"].append(np.full(t, d["episode_index"], np.int64))
            cols["index"].append(d["from"] + np.arange(t, dtype=np.int64))
            cols["task_index"].append(np.full(t, d["task_index"], np.int64))

        def fixed(arrays) -> pa.Array:
            x = np.concatenate(arrays).astype(np.float32)
            return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])

        table = {STATE_KEY: fixed(cols["state"]), ACTION_KEY: fixed(cols["action"])}
        if self._objects_dim is not None:
            table[OBJECTS_KEY] = fixed(cols["objects"])
        for name in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
            table[name] = pa.array(np.concatenate(cols[name]))
        path = self.root / DATA_PATH.format(chunk_index=self._data_file[0], file_index=self._data_file[1])
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(table), path)
        self._data, self._data_bytes = [], 0
        self._data_file = self._next(self._data_file)

    def finalize(self) -> dict:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.episodes:
            raise DatasetError("no episodes were added; nothing to write")
        self._flush_data()
        for video in self._videos.values():
            video.close()
        self._videos = {}
        stats = compute_stats(self._arrays)
        self._write_info()
        dataset_stats = lerobot_stats.aggregate_stats(self._episode_stats)
        (self.root / STATS_PATH).write_text(json.dumps(lerobot_stats.to_json(dataset_stats), indent=1))
        tasks = sorted(self._tasks.items(), key=lambda kv: kv[1])
        table = pa.table({"task_index": pa.array([i for _, i in tasks], pa.int64()), "task": [t for t, _ in tasks]})
        table = table.replace_schema_metadata({b"pandas": _pandas_index_metadata("task", [("task_index", "int64"),
                                                                                          ("task", "unicode")])})
        pq.write_table(table, self.root / TASKS_PATH)
        path = self.root / EPISODES_PATH.format(chunk_index=0, file_index=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(self._rows), path)
        return {"format_version": FORMAT_VERSION, "layout": "lerobot", "fps": self.fps, "cameras": self.cameras,
                "image_size": list(self.image_size), "episodes": self.episodes, "stats": stats}

    def _write_info(self) -> None:
        def vector(n, names=None):
            return {"dtype": "float32", "shape": [n], "names": names}

        features = {STATE_KEY: vector(DOF, JOINT_NAMES), ACTION_KEY: vector(DOF, JOINT_NAMES)}
        if self._objects_dim is not None:
            features[OBJECTS_KEY] = vector(self._objects_dim)
        h, w = self.image_size
        for cam in self.cameras:
            features[IMAGE_PREFIX + CAMERA_NAMES[cam]] = {
                "dtype": "video", "shape": [h, w, 3], "names": ["height", "width", "channels"],
                "info": {"video.height": h, "video.width": w, "video.codec": "h264" if self.codec == "libx264" else
                         "av1" if self.codec == "libsvtav1" else self.codec, "video.pix_fmt": self.pix_fmt,
                         "video.is_depth_map": False, "video.fps": self.fps, "video.channels": 3, "has_audio": False,
                         CAMERA_ROLE: cam}}
        features["timestamp"] = {"dtype": "float32", "shape": [1], "names": None}
        for name in ("frame_index", "episode_index", "index", "task_index"):
            features[name] = {"dtype": "int64", "shape": [1], "names": None}
        fps = int(self.fps) if float(self.fps).is_integer() else self.fps
        info = {"codebase_version": CODEBASE_VERSION, "robot_type": self.robot_type,
                "total_episodes": len(self.episodes), "total_frames": self._frames, "total_tasks": len(self._tasks),
                "chunks_size": CHUNKS_SIZE, "data_files_size_in_mb": DATA_FILE_MB, "video_files_size_in_mb": VIDEO_FILE_MB,
                "fps": fps, "splits": {"train": f"0:{len(self.episodes)}"}, "data_path": DATA_PATH,
                "video_path": VIDEO_PATH, "features": features}
        (self.root / "meta").mkdir(parents=True, exist_ok=True)
        (self.root / INFO_PATH).write_text(json.dumps(info, indent=4))


def _read_parquets(paths, what: str):
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not paths:
        raise DatasetError(f"no {what} parquet files")
    try:
        return pa.concat_tables([pq.read_table(p) for p in paths])
    except Exception as e:  # damaged / not parquet
        raise DatasetError(f"cannot read {what} parquet files {[str(p) for p in paths]}: {e}") from e


class LeRobotSource:
    """A LeRobot v3.0 folder read for format.Dataset: `meta` in the project's shape, `read_episode(i)`.

    State, action (and object poses) of every episode are read at open (small); images are decoded per episode.
    `camera_map` ({feature key or name after 'observation.images.': head | left | right}) names the cameras
    of a dataset whose names are not this project's (see camera_from_key); a camera mapped to none of
    the three roles stays unread only if it is mapped to "none".
    """

    def __init__(self, root, camera_map: dict | None = None):
        self.root = Path(root)
        try:
            info = json.loads((self.root / INFO_PATH).read_text())
        except json.JSONDecodeError as e:
            raise DatasetError(f"{self.root / INFO_PATH} is not valid JSON: {e}") from e
        missing = [k for k in ("codebase_version", "fps", "features", "video_path") if k not in info]
        if missing:
            raise DatasetError(f"{self.root / INFO_PATH} lacks keys {missing}")
        if not str(info["codebase_version"]).startswith("v3"):
            raise DatasetError(f"{self.root} is LeRobot {info['codebase_version']}; this reader reads v3.x "
                               f"(convert it with LeRobot's convert_dataset_v21_to_v30)")
        self.info, features = info, info["features"]
        for key in (STATE_KEY, ACTION_KEY):
            if key not in features:
                raise DatasetError(f"{self.root} has no '{key}' feature; it has {sorted(features)}")
            if list(features[key]["shape"]) != [DOF]:
                raise DatasetError(f"'{key}' must be {DOF}-d ({JOINT_NAMES}). Got shape {features[key]['shape']}")
        images = [k for k in features if k.startswith(IMAGE_PREFIX)]
        not_video = [k for k in images if features[k]["dtype"] != "video"]
        if not_video:
            raise DatasetError(f"image features {not_video} are stored as images, not videos; only videos are read")
        if not images:
            raise DatasetError(f"{self.root} has no video cameras (features {IMAGE_PREFIX}*); a policy needs images")
        camera_map = dict(camera_map or {})
        unknown = [n for n in camera_map if n not in images and IMAGE_PREFIX + n not in images]
        if unknown:
            raise DatasetError(f"--camera names {unknown}, which {self.root} does not have; its cameras are "
                               f"{[k[len(IMAGE_PREFIX):] for k in images]}")
        images = [k for k in images if "none" not in (camera_map.get(k), camera_map.get(k[len(IMAGE_PREFIX):]))]
        camera_map = {n: c for n, c in camera_map.items() if c != "none"}
        self.video_keys = {}
        for k in images:
            cam = camera_from_key(k, camera_map, (features[k].get("info") or {}).get(CAMERA_ROLE))
            if cam in self.video_keys:
                raise DatasetError(f"cameras {self.video_keys[cam]} and {k} are both '{cam}'; map one of them "
                                   f"elsewhere with --camera (or to none)")
            self.video_keys[cam] = k
        if not images:
            raise DatasetError(f"{self.root}: every camera is mapped to none; a policy needs images")
        sizes = {tuple(features[k]["shape"][:2]) for k in images}
        if len(sizes) != 1:
            raise DatasetError(f"cameras must share one image size. Got {sorted(sizes)}")
        self.fps = float(info["fps"])
        episodes = _read_parquets(sorted((self.root / "meta" / "episodes").glob("*/*.parquet")), "meta/episodes")
        self.rows = sorted(episodes.drop_columns([c for c in episodes.column_names if c.startswith("stats/")]).to_pylist(),
                           key=lambda r: r["episode_index"])
        data = _read_parquets(sorted((self.root / "data").glob("*/*.parquet")), "data")
        for key in (STATE_KEY, ACTION_KEY, "episode_index", "frame_index"):
            if key not in data.column_names:
                raise DatasetError(f"{self.root}/data lacks column '{key}'; it has {data.column_names}")
        ep_index = data.column("episode_index").to_numpy()
        frame_index = data.column("frame_index").to_numpy()
        order = np.lexsort((frame_index, ep_index))

        def matrix(name):
            col = data.column(name).combine_chunks()
            return np.asarray(col.flatten().to_numpy(zero_copy_only=False), np.float32).reshape(len(col), -1)[order]

        state, action = matrix(STATE_KEY), matrix(ACTION_KEY)
        objects = matrix(OBJECTS_KEY) if OBJECTS_KEY in data.column_names else None
        ep_index = ep_index[order]
        self.arrays = {}
        for row in self.rows:
            e = row["episode_index"]
            sel = ep_index == e
            if int(sel.sum()) != row["length"]:
                raise DatasetError(f"episode {e}: meta/episodes says {row['length']} steps, data holds {int(sel.sum())}")
            self.arrays[e] = (state[sel], action[sel], objects[sel] if objects is not None else None)
        h, w = sizes.pop() if sizes else (0, 0)
        self.meta = {
            "format_version": FORMAT_VERSION, "layout": "lerobot", "fps": self.fps,
            "cameras": [c for c in CAMERA_NAMES if c in self.video_keys], "image_size": [int(h), int(w)],
            "episodes": [{"index": i, "file": f"episode {r['episode_index']}", "length": r["length"],
                          "instruction": (r.get("tasks") or [""])[0], "task": r.get("video2act/task") or "",
                          "source": r.get("video2act/source") or ""} for i, r in enumerate(self.rows)],
            "stats": compute_stats([self.arrays[r["episode_index"]][:2] for r in self.rows]),
        }

    def read_episode(self, index: int, cameras) -> Episode:
        row, entry = self.rows[index], self.meta["episodes"][index]
        state, action, objects = self.arrays[row["episode_index"]]
        images = {}
        for cam in cameras:
            key = f"videos/{self.video_keys[cam]}"
            path = self.root / self.info["video_path"].format(video_key=self.video_keys[cam],
                                                              chunk_index=row[f"{key}/chunk_index"],
                                                              file_index=row[f"{key}/file_index"])
            images[cam] = decode_frames(path, row[f"{key}/from_timestamp"], row["length"], self.fps)
        return Episode(images=images, state=state, action=action, instruction=entry["instruction"], objects=objects)


def decode_frames(path: Path, start: float, count: int, fps: float) -> np.ndarray:
    """(count, H, W, 3) uint8 RGB: the frames of `path` from time `start` (s) on; DatasetError when it has fewer."""
    import av

    if not path.is_file():
        raise DatasetError(f"video file {path} is missing")
    frames = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if start > 0:
                container.seek(int(start / stream.time_base), stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                if frame.time is not None and frame.time < start - 0.5 / fps:
                    continue
                frames.append(frame.to_ndarray(format="rgb24"))
                if len(frames) == count:
                    break
    except av.error.FFmpegError as e:
        raise DatasetError(f"cannot decode {path}: {e}") from e
    if len(frames) != count:
        raise DatasetError(f"{path} holds {len(frames)} frames from {start:.3f} s, the episode needs {count}")
    return np.stack(frames)
