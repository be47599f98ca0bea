"""Video2Act model core (torch only, never ROS): System 2 VDM features, System 1 DiT, the policy and its presets.

    from video2act.model import Video2ActPolicy
    policy = Video2ActPolicy.from_preset("small")
    stream = policy.make_system2_stream()      # push head frames, compute(instruction) -> SlowFeatures
    chunk = policy.act(images, state, instruction, features)   # (64, 14) joint targets

Heavy modules (torch, diffusers, transformers) load on first attribute access, so `import video2act.model` is cheap.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "Video2ActConfig": "video2act.model.configuration_video2act",
    "Video2ActPolicy": "video2act.model.modeling_video2act",
    "SlowFeatures": "video2act.model.system2_stream",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'video2act.model' has no attribute {name!r}")
