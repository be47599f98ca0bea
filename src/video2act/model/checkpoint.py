"""What a checkpoint was trained with (`TrainedWith`), and the one check every consumer runs against it.

A checkpoint folder (`Video2ActPolicy.save_pretrained` + training/train.py)::

    config.json    the architecture (Video2ActConfig): the cameras System 1 reads (System 2 watches the first),
                   System 2's short / long windows (in frames)
    dataset.json   the data it learned from (train.TrainingData.info()): control rate, the rate frames entered
                   System 2's windows, image size, tasks, instructions (and, for people: datasets, episodes,
                   preset, seed)

Whoever runs a checkpoint observes alike or refuses to start, through `check_compatible`:

    consumer                        checks
    ros/system1_node                control rate (chunk spacing), cameras, instruction; each camera's image size
                                    on arrival (a mismatched image is counted and not acted on)
    ros/system2_node                System 2 frame rate and windows, the camera it watches, instruction
    training/evaluate (the twin)    control rate, System 2 frame rate and windows, image size, cameras, task
    demo (closed loop over ROS)     control rate, System 2 frame rate, image size, cameras, instruction, task

Image size: every consumer may send any size (act() resizes to the encoder's size, as bag import resizes the
robot's 640x480 to the dataset's), but not another aspect ratio, which would stretch what the keypoints learned.

Older checkpoints lack fields (before control_hz / system2_frame_hz / instructions were written, dataset.json held
fps, cameras, image size and tasks; a checkpoint saved outside training has no dataset.json at all). A field that
was not recorded is None (or empty) and is not checked.

    trained = TrainedWith.read("policies/small")
    check_compatible(trained, "system1_node", control_hz=30.0, cameras=("head", "left", "right"),
                     instruction="Place the empty cup on the coaster.")   # CheckpointMismatch if not

`load_policy(checkpoint, preset, torch_threads)` is how the nodes, the monitor's replay and the graph benchmark
load one (weights from the folder, else a preset with random weights).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

DATASET_INFO_NAME = "dataset.json"
CONFIG_NAME = "config.json"
ASPECT_TOLERANCE = 0.01  # relative difference of H / W that still counts as the same aspect ratio


class CheckpointMismatch(ValueError):
    """A consumer that would observe otherwise than the checkpoint was trained; `mismatches` lists
    (field, trained, got) for every mismatched field."""

    def __init__(self, message: str, mismatches: list[tuple[str, object, object]]):
        super().__init__(message)
        self.mismatches = mismatches

    @property
    def fields(self) -> list[str]:
        return [m[0] for m in self.mismatches]


@dataclass(frozen=True)
class TrainedWith:
    """What one checkpoint was trained with. None / () where the checkpoint does not record it.

    Args:
        source: where it was read from (the checkpoint folder), for messages.
        control_hz: control rate of the training data (Hz): a chunk's points are 1 / control_hz apart.
        system2_frame_hz: rate at which frames entered System 2's sliding windows (Hz).
        short_window, long_window: System 2's window lengths (frames); the long window spans
            long_window / system2_frame_hz seconds.
        image_size: (H, W) of the training images.
        cameras: the cameras System 1 reads, in order; System 2 watches the first (the head camera).
        instructions: every language instruction of the training episodes.
        tasks: the twin tasks of the training episodes (names; '' dropped).
    """

    source: str = ""
    control_hz: float | None = None
    system2_frame_hz: float | None = None
    short_window: int | None = None
    long_window: int | None = None
    image_size: tuple[int, int] | None = None
    cameras: tuple[str, ...] = ()
    instructions: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()

    @property
    def system2_camera(self) -> str | None:
        return self.cameras[0] if self.cameras else None

    @classmethod
    def from_json(cls, config: dict, info: dict, source: str = "") -> "TrainedWith":
        """From the two files' contents: config.json's dict (Video2ActConfig.to_dict) and dataset.json's ({} if
        absent). dataset.json's `fps` stands in for `control_hz` (they are one number; older files have fps only)."""
        s2 = config.get("system2") or {}
        hz = info.get("control_hz", info.get("fps"))
        size = info.get("image_size")
        return cls(
            source=str(source),
            control_hz=None if hz is None else float(hz),
            system2_frame_hz=None if info.get("system2_frame_hz") is None else float(info["system2_frame_hz"]),
            short_window=None if s2.get("short_window") is None else int(s2["short_window"]),
            long_window=None if s2.get("long_window") is None else int(s2["long_window"]),
            image_size=None if size is None else (int(size[0]), int(size[1])),
            cameras=tuple(config.get("cameras") or ()),
            instructions=tuple(info.get("instructions") or ()),
            tasks=tuple(t for t in info.get("tasks") or () if t),
        )

    @classmethod
    def read(cls, checkpoint) -> "TrainedWith":
        """From a checkpoint folder (config.json required, dataset.json optional). Reads JSON only: no weights."""
        folder = Path(checkpoint)
        if not (folder / CONFIG_NAME).is_file():
            raise ValueError(f"{folder} is not a Video2Act checkpoint: no {CONFIG_NAME} in it")
        config = json.loads((folder / CONFIG_NAME).read_text())
        return cls.from_json(config, read_dataset_info(folder), source=str(folder))

    @classmethod
    def of_policy(cls, policy, checkpoint=None) -> "TrainedWith":
        """For an in-memory policy: its config, plus the dataset.json of `checkpoint` when given."""
        info = read_dataset_info(checkpoint) if checkpoint else {}
        return cls.from_json(policy.config.to_dict(), info, source=str(checkpoint or f"{policy.config.preset} preset"))


def read_dataset_info(checkpoint) -> dict:
    """The checkpoint's dataset.json as written by training ({} when absent)."""
    path = Path(checkpoint) / DATASET_INFO_NAME
    return json.loads(path.read_text()) if path.is_file() else {}


def _hz(v: float) -> str:
    return f"{float(v):g} Hz"


def _size(hw) -> str:
    return f"{int(hw[0])}x{int(hw[1])} (HxW, aspect {int(hw[0]) / int(hw[1]):.3f})"


def mismatches(trained: TrainedWith, *, control_hz: float | None = None, system2_frame_hz: float | None = None,
               windows: tuple[int, int] | None = None, image_size: tuple[int, int] | None = None,
               cameras=None, system2_camera: str | None = None, instruction: str | None = None,
               task: str | None = None) -> list[tuple[str, str, str]]:
    """(field, trained, got) for each given value that does not match what `trained` records (see
    check_compatible); arguments left None, and fields the checkpoint does not record, are not compared."""
    out: list[tuple[str, str, str]] = []
    if control_hz is not None and trained.control_hz is not None \
            and not math.isclose(float(control_hz), trained.control_hz, rel_tol=1e-6):
        out.append(("control_hz", _hz(trained.control_hz), _hz(control_hz)))
    if system2_frame_hz is not None and trained.system2_frame_hz is not None \
            and not math.isclose(float(system2_frame_hz), trained.system2_frame_hz, rel_tol=1e-6):
        out.append(("system2_frame_hz", _hz(trained.system2_frame_hz), _hz(system2_frame_hz)))
    if windows is not None and trained.long_window is not None \
            and (int(windows[0]), int(windows[1])) != (trained.short_window, trained.long_window):
        out.append(("windows", f"short {trained.short_window}, long {trained.long_window} frames",
                    f"short {int(windows[0])}, long {int(windows[1])} frames"))
    if image_size is not None and trained.image_size is not None:
        h, w = (int(v) for v in image_size)
        th, tw = trained.image_size
        if not (h > 0 and w > 0) or abs((h / w) / (th / tw) - 1.0) > ASPECT_TOLERANCE:
            out.append(("image_size", _size(trained.image_size), _size((h, w)) if h > 0 and w > 0 else f"{h}x{w}"))
    if cameras is not None and trained.cameras:
        missing = [c for c in trained.cameras if c not in tuple(cameras)]
        if missing:
            out.append(("cameras", f"{list(trained.cameras)}", f"{list(cameras)} (missing {missing})"))
    if system2_camera is not None and trained.system2_camera is not None and system2_camera != trained.system2_camera:
        out.append(("system2_camera", repr(trained.system2_camera), repr(system2_camera)))
    if instruction is not None and trained.instructions \
            and instruction.strip() not in {i.strip() for i in trained.instructions}:
        out.append(("instruction", f"one of {list(trained.instructions)}", repr(instruction)))
    if task is not None and trained.tasks and task not in trained.tasks:
        out.append(("task", f"one of {list(trained.tasks)}", repr(task)))
    return out


def check_compatible(trained: TrainedWith, where: str, settings: dict[str, str] | None = None, **offered) -> None:
    """Raise CheckpointMismatch when `where` (a node, evaluation, the demo) would run the checkpoint otherwise than
    it was trained; the message names every mismatched field, what the checkpoint was trained with and what it got.

    offered (each optional; see `mismatches`): control_hz, system2_frame_hz, windows (short, long), image_size
    (H, W; compared by aspect ratio), cameras (those provided: every trained camera must be among them),
    system2_camera (the one System 2 watches: the trained first camera), instruction (one of the trained ones),
    task (one of the trained tasks). settings: field -> the consumer's name for it (a node's parameter, e.g.
    {"system2_frame_hz": "frame_hz"}), shown beside the field.
    """
    found = mismatches(trained, **offered)
    if found:
        settings = settings or {}
        label = lambda name: f"{name} ({settings[name]})" if name in settings else name  # noqa: E731
        lines = "\n".join(f"  {label(name)}: trained with {want}, got {got}" for name, want, got in found)
        raise CheckpointMismatch(f"checkpoint {trained.source or '(in memory)'} does not match {where}:\n{lines}", found)


def load_policy(checkpoint: str | None, preset: str, torch_threads: int):
    """Video2ActPolicy from a checkpoint folder, else a preset with random weights (eval mode); torch runs
    `torch_threads` CPU threads (at least 1). torch loads here, on the first call."""
    import torch

    from video2act.model import Video2ActPolicy

    torch.set_num_threads(max(1, int(torch_threads)))
    policy = Video2ActPolicy.from_pretrained(checkpoint) if checkpoint else Video2ActPolicy.from_preset(preset)
    return policy.eval()
