"""Finding and reading the project's config files (config/*.yaml): the one source of truth for numbers.

Works from a source checkout (`pip install -e .`), from a pip install (share/video2act/config under
sys.prefix) and from a colcon install (ament_index share directory).
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import yaml


def config_dir() -> Path:
    """The directory holding robot.yaml and the other config files ($VIDEO2ACT_CONFIG_DIR overrides)."""
    candidates = []
    if os.environ.get("VIDEO2ACT_CONFIG_DIR"):
        candidates.append(Path(os.environ["VIDEO2ACT_CONFIG_DIR"]))
    candidates.append(Path(__file__).resolve().parents[2] / "config")  # source checkout
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory("video2act")) / "config")
    except Exception:  # ament_index is not installed with the ROS 2 wheels
        pass
    candidates.append(Path(sys.prefix) / "share" / "video2act" / "config")
    for c in candidates:
        if (c / "robot.yaml").is_file():
            return c
    raise FileNotFoundError(
        "video2act config directory not found (looked in: " + ", ".join(map(str, candidates)) + "); "
        "set VIDEO2ACT_CONFIG_DIR to the package's config/ folder"
    )


def config_path(name: str) -> Path:
    """Path of a config file by name (e.g. 'robot.yaml'); a clear error when it does not exist."""
    p = Path(name)
    if not p.is_absolute() and not p.exists():
        p = config_dir() / name
    if not p.is_file():
        raise FileNotFoundError(f"config file not found: {p}")
    return p


@functools.lru_cache(maxsize=None)
def _load_cached(path: str) -> dict:
    with open(path) as f:
        return yaml.safe_load(f) or {}


def load_config(name: str = "robot.yaml") -> dict:
    """Parsed YAML config (a fresh copy each call, so callers may modify it)."""
    import copy

    return copy.deepcopy(_load_cached(str(config_path(name))))


def recorded_topics() -> list[str]:
    """Topics to record for teleoperation: config/bag_topics.yaml `robot_topics` (dotted keys under
    robot.yaml `topics`, e.g. `cameras.head`) resolved to names, then its literal `extra_topics`."""
    spec = load_config("bag_topics.yaml")
    topics = load_config("robot.yaml")["topics"]
    resolved = []
    for key in spec["robot_topics"]:
        value = topics
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                raise KeyError(f"bag_topics.yaml names {key!r}, which is not a topic in robot.yaml `topics`")
            value = value[part]
        resolved.append(value)
    return resolved + list(spec.get("extra_topics", []))
