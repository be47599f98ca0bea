"""Read and write the dataset folder described in video2act.data (meta.json + one .npz per episode); the one
reader (Dataset) also opens the LeRobot v3.0 layout (data/lerobot.py), `create_writer` writes either."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
META_NAME = "meta.json"
DOF = 14
STD_FLOOR = 1e-2  # a joint that never moves must not blow up under (x - mean) / std


class DatasetError(ValueError):
    """A dataset folder or episode that does not follow the format (see video2act.data)."""


@dataclass
class Episode:
    """One demonstration.

    Args:
        images: {camera: (T, H, W, 3) uint8 RGB}.
        state: (T, 14) float32 measured joints before each step.
        action: (T, 14) float32 commanded joint target of each step.
        instruction: the language instruction.
        task: task name (or "" for real data); source: where it came from (seed, bag path).
        objects: optional (T, D) float32 ground-truth object poses (the twin's `Task.object_state`); real
            data has none. Only the sanity ladder's oracle policy reads them.
    """

    images: dict
    state: np.ndarray
    action: np.ndarray
    instruction: str
    task: str = ""
    source: str = ""
    objects: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.state.shape[0])

    def validate(self, cameras=None, image_size=None) -> None:
        """Raise DatasetError naming what is wrong (shapes, dtypes, finiteness, cameras, sizes)."""
        t = len(self)
        for name in ("state", "action"):
            arr = getattr(self, name)
            if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.shape != (t, DOF):
                raise DatasetError(f"{name} must be a ({t}, {DOF}) array. Got {getattr(arr, 'shape', type(arr))}")
            if not np.isfinite(arr).all():
                raise DatasetError(f"{name} holds non-finite values")
        if t < 1:
            raise DatasetError("an episode needs at least one step")
        if self.objects is not None and (not isinstance(self.objects, np.ndarray) or self.objects.ndim != 2
                                         or self.objects.shape[0] != t or not np.isfinite(self.objects).all()):
            raise DatasetError(f"objects must be a finite ({t}, D) array. Got {getattr(self.objects, 'shape', None)}")
        if not isinstance(self.instruction, str) or not self.instruction.strip():
            raise DatasetError(f"instruction must be a non-empty string. Got {self.instruction!r}")
        if cameras is not None and sorted(self.images) != sorted(cameras):
            raise DatasetError(f"episode cameras {sorted(self.images)} differ from the dataset's {sorted(cameras)}")
        for cam, img in self.images.items():
            if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 4 or img.shape[0] != t \
                    or img.shape[3] != 3:
                raise DatasetError(f"images['{cam}'] must be ({t}, H, W, 3) uint8. "
                                   f"Got {getattr(img, 'dtype', None)} {getattr(img, 'shape', None)}")
            if image_size is not None and tuple(img.shape[1:3]) != tuple(image_size):
                raise DatasetError(f"images['{cam}'] are {img.shape[1:3]}, the dataset's image size is {tuple(image_size)}")


def episode_file(index: int) -> str:
    return f"episode_{index:06d}.npz"


def write_episode(path: Path, episode: Episode) -> None:
    arrays = {f"images_{cam}": img for cam, img in episode.images.items()}
    if episode.objects is not None:
        arrays["objects"] = episode.objects.astype(np.float32)
    np.savez_compressed(path, state=episode.state.astype(np.float32), action=episode.action.astype(np.float32),
                        instruction=np.array(episode.instruction), **arrays)


def read_episode(path: Path, cameras) -> Episode:
    """Load one .npz; DatasetError for a missing/corrupt file or missing arrays."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"episode file {path} is missing")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("state", "action", "instruction", *(f"images_{c}" for c in cameras)) if k not in z]
            if missing:
                raise DatasetError(f"{path} lacks arrays {missing}; it has {sorted(z.files)}")
            return Episode(images={c: z[f"images_{c}"] for c in cameras}, state=z["state"], action=z["action"],
                           instruction=str(z["instruction"]), objects=z["objects"] if "objects" in z else None)
    except DatasetError:
        raise
    except Exception as e:  # zip / pickle / truncation errors of a damaged file
        raise DatasetError(f"cannot read episode file {path}: {e}") from e


def compute_stats(episodes_arrays: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """[(state (T, 14), action (T, 14)), ...] -> {state|action: {mean, std, min, max}} over every step;
    std is floored at STD_FLOOR."""
    stats = {}
    for i, name in enumerate(("state", "action")):
        x = np.concatenate([pair[i] for pair in episodes_arrays]).astype(np.float64)
        stats[name] = {"mean": x.mean(0).tolist(), "std": np.maximum(x.std(0), STD_FLOOR).tolist(),
                       "min": x.min(0).tolist(), "max": x.max(0).tolist()}
    return stats


class DatasetWriter:
    """Write episodes one by one, then `finalize()` writes meta.json with the stats.

    DIR must not hold a dataset already (no silent overwrite); cameras and image_size (H, W) are fixed.
    """

    def __init__(self, root, fps: float, cameras, image_size):
        self.root = Path(root)
        if (self.root / META_NAME).exists() or (self.root / "meta" / "info.json").exists():
            raise DatasetError(f"{self.root} already holds a dataset ({META_NAME}); choose another --out (or --force)")
        self.root.mkdir(parents=True, exist_ok=True)
        self.fps, self.cameras, self.image_size = float(fps), list(cameras), tuple(int(v) for v in image_size)
        self.episodes: list[dict] = []
        self._arrays: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, episode: Episode) -> None:
        episode.validate(self.cameras, self.image_size)
        index = len(self.episodes)
        write_episode(self.root / episode_file(index), episode)
        self.episodes.append({"index": index, "file": episode_file(index), "length": len(episode),
                              "instruction": episode.instruction, "task": episode.task, "source": episode.source})
        self._arrays.append((episode.state, episode.action))

    def finalize(self) -> dict:
        if not self.episodes:
            raise DatasetError("no episodes were added; nothing to write")
        meta = {"format_version": FORMAT_VERSION, "fps": self.fps, "cameras": self.cameras,
                "image_size": list(self.image_size), "episodes": self.episodes, "stats": compute_stats(self._arrays)}
        (self.root / META_NAME).write_text(json.dumps(meta, indent=1))
        return meta


LAYOUTS = ("npz", "lerobot")


def remove_dataset(root) -> None:
    """Delete the dataset at `root` (what --force does before writing). Refuses a folder that holds no dataset:
    --force replaces a dataset, it never deletes other files."""
    import shutil

    root = Path(root)
    if not root.exists():
        return
    if not ((root / META_NAME).is_file() or (root / "meta" / "info.json").is_file()):
        if root.is_dir() and not any(root.iterdir()):
            return
        raise DatasetError(f"{root} exists and holds no dataset; refusing to delete it (choose another --out)")
    shutil.rmtree(root)


def create_writer(root, fps: float, cameras, image_size, layout: str = "npz", force: bool = False, **video):
    """A writer (add(episode), finalize()) for `layout` (LAYOUTS). An existing dataset at `root` is an error
    unless force (then it is replaced); `video` (codec, crf) goes to the LeRobot writer."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {list(LAYOUTS)}. Got {layout!r}")
    if force:
        remove_dataset(root)
    if layout == "lerobot":
        from video2act.data.lerobot import LeRobotWriter

        return LeRobotWriter(root, fps, cameras, image_size, **video)
    return DatasetWriter(root, fps, cameras, image_size)


def convert_dataset(src, out, layout: str, force: bool = False, progress: bool = True, camera_map: dict | None = None,
                    **video) -> dict:
    """Copy every episode of dataset `src` (any layout) into a new dataset `out` in `layout`; returns its meta.
    State, action and object poses are copied exactly; images are re-encoded (lossy only into mp4).
    `camera_map` names the cameras of a LeRobot `src` whose names are not this project's (Dataset)."""
    from tqdm import tqdm

    ds = Dataset(src, camera_map=camera_map)
    if Path(out).resolve() == ds.root.resolve() or ds.root.resolve() in Path(out).resolve().parents:
        raise DatasetError(f"--out {out} must not be (inside) the source dataset {src}")
    writer = create_writer(out, ds.fps, ds.cameras, ds.image_size, layout, force, **video)
    for i in tqdm(range(len(ds)), desc=f"-> {layout}", unit="ep", disable=not progress):
        writer.add(ds.episode(i))
    return writer.finalize()


class Dataset:
    """A dataset folder opened for reading; episodes are loaded on demand (`load_all()` keeps them in memory).

    The one reader of every layout: this project's meta.json + .npz, or LeRobot v3.0 (meta/info.json; read
    through data/lerobot.LeRobotSource). `meta` has the same shape for both (`layout` says which).
    `camera_map` ({LeRobot camera name: head | left | right | none}) is for LeRobot folders only."""

    def __init__(self, root, camera_map: dict | None = None):
        self.root = Path(root)
        self._lerobot = None
        meta_path = self.root / META_NAME
        if not meta_path.is_file() and (self.root / "meta" / "info.json").is_file():
            from video2act.data.lerobot import LeRobotSource

            self._lerobot = LeRobotSource(self.root, camera_map)
            self._open(self._lerobot.meta)
            return
        if camera_map:
            raise DatasetError(f"camera names are mapped for LeRobot datasets only; {self.root} is not one")
        if not meta_path.is_file():
            raise DatasetError(f"{self.root} is not a dataset: {META_NAME} is missing, nor is it LeRobot v3.0 "
                               f"(meta/info.json); make one with `video2act dataset generate`, `from-bags` or `from-hdf5`")
        try:
            self.meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as e:
            raise DatasetError(f"{meta_path} is not valid JSON: {e}") from e
        missing = [k for k in ("format_version", "fps", "cameras", "image_size", "episodes", "stats") if k not in self.meta]
        if missing:
            raise DatasetError(f"{meta_path} lacks keys {missing}")
        if self.meta["format_version"] != FORMAT_VERSION:
            raise DatasetError(f"{meta_path} has format_version {self.meta['format_version']}, expected {FORMAT_VERSION}")
        self._open(self.meta)

    @property
    def layout(self) -> str:
        """'npz' (this project's meta.json + .npz) or 'lerobot' (LeRobot v3.0, data/lerobot.py)."""
        return "npz" if self._lerobot is None else "lerobot"

    def _open(self, meta: dict) -> None:
        self.meta = meta
        self.fps = float(self.meta["fps"])
        self.cameras = list(self.meta["cameras"])
        self.image_size = tuple(self.meta["image_size"])
        self._cache: dict[int, Episode] = {}

    def __len__(self) -> int:
        return len(self.meta["episodes"])

    @property
    def lengths(self) -> list[int]:
        return [int(e["length"]) for e in self.meta["episodes"]]

    def episode(self, index: int) -> Episode:
        if not 0 <= index < len(self):
            raise IndexError(f"episode {index} out of range (dataset has {len(self)})")
        if index in self._cache:
            return self._cache[index]
        info = self.meta["episodes"][index]
        if self._lerobot is not None:
            ep = self._lerobot.read_episode(index, self.cameras)
        else:
            ep = read_episode(self.root / info["file"], self.cameras)
        ep.task, ep.source = info.get("task", ""), info.get("source", "")
        if len(ep) != info["length"]:
            raise DatasetError(f"{info['file']} has {len(ep)} steps, meta.json says {info['length']}")
        ep.validate(self.cameras, self.image_size)
        return ep

    def load_all(self) -> list[Episode]:
        """Every episode, kept in memory for later `episode()` calls."""
        for i in range(len(self)):
            self._cache[i] = self.episode(i)
        return [self._cache[i] for i in range(len(self))]

    def normalization(self) -> dict:
        """Kwargs for Video2ActPolicy.set_normalization from the dataset stats."""
        s = self.meta["stats"]
        return {"state_mean": s["state"]["mean"], "state_std": s["state"]["std"],
                "action_mean": s["action"]["mean"], "action_std": s["action"]["std"]}
