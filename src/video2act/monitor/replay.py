"""Replays into the monitor: a recorded rosbag2 (mcap / sqlite3, read with `rosbags`, no ROS needed) or a
dataset episode (any layout the dataset reader opens). `rate` 1.0 plays in real time, 0 as fast as possible."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def _pace(start_wall: float, t: float, rate: float) -> None:
    if rate > 0:
        delay = start_wall + t / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def replay_episode(core, dataset, episode: int = 0, rate: float = 1.0, chunk_size: int = 64) -> int:
    """Log one dataset episode: cameras, state as feedback, action as command, and the next `chunk_size`
    actions as the predicted path (what a perfect policy would plan). Returns the steps logged."""
    from video2act.data.format import Dataset

    ds = dataset if hasattr(dataset, "episode") else Dataset(dataset)
    ep = ds.episode(episode)
    core.set_estop(False, 0.0, state=f"replay of {Path(ds.root).name} episode {episode}: {ep.instruction}")
    start = time.monotonic()
    for t in range(len(ep)):
        stamp = t / ds.fps
        _pace(start, stamp, rate)
        for cam, frames in ep.images.items():
            core.camera(cam, frames[t], stamp)
        for i, arm in enumerate(("left", "right")):
            core.feedback(arm, ep.state[t, 7 * i: 7 * i + 7], stamp)
            core.command(arm, ep.action[t, 7 * i: 7 * i + 7], stamp)
        core.chunk(ep.action[np.clip(np.arange(t, t + chunk_size), None, len(ep) - 1)], stamp)
    return len(ep)


def replay_bag(core, path, rate: float = 1.0, router=None) -> dict:
    """Log every monitored topic of a bag in time order (stamps: header.stamp, else the bag's receive time).
    Returns {"messages": routed, "dropped": bad, "topics": [monitored topics found]}."""
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_typestore

    from video2act.monitor.messages import MessageRouter

    router = router or MessageRouter(core)
    typestore = get_typestore(Stores.ROS2_JAZZY)
    routed = 0
    with Reader(Path(path)) as reader:
        wanted = [c for c in reader.connections if c.topic in router.topics]
        if not wanted:
            raise ValueError(f"bag {path} has none of the monitored topics {sorted(router.topics)}; it has "
                             f"{sorted({c.topic for c in reader.connections})}")
        start, first = time.monotonic(), None
        for conn, bag_ns, raw in reader.messages(connections=wanted):
            first = bag_ns if first is None else first
            _pace(start, (bag_ns - first) * 1e-9, rate)
            routed += router.on_message(conn.topic, typestore.deserialize_cdr(raw, conn.msgtype), bag_ns * 1e-9)
    return {"messages": routed, "dropped": router.dropped, "topics": sorted({c.topic for c in wanted})}
