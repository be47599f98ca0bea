"""Writing rosbag2 folders (metadata.yaml + mcap) with the `rosbags` library: what `video2act record` stores.

No ROS here: messages arrive already serialized (CDR bytes, as rclpy hands them to a raw subscription and
as rosbag2 stores them), so the bag is byte for byte what `ros2 bag record -s mcap` writes for the same
messages; message definitions come from rosbags' Jazzy type store.

Episodes: one bag may hold several. Each starts with a marker on EPISODE_TOPIC (std_msgs/msg/String, JSON
{"episode": i, "instruction": ..., "task": ...}) stamped with its start time; the converter
(video2act.data.bags) splits the bag at the markers and takes each episode's instruction from its marker.
The first episode's instruction and task are also in metadata.yaml `custom_data` (video2act.instruction,
video2act.task), so `ros2 bag info` shows them.
"""
from __future__ import annotations

import json
from pathlib import Path

EPISODE_TOPIC = "/video2act/episode"
EPISODE_TYPE = "std_msgs/msg/String"


def episode_marker(index: int, instruction: str, task: str = "") -> str:
    """The JSON text of an episode marker."""
    return json.dumps({"episode": int(index), "instruction": instruction, "task": task})


def parse_episode_marker(text: str) -> dict | None:
    """{"episode", "instruction", "task"} of a marker, or None when `text` is not one."""
    try:
        ep = json.loads(text)
        return {"episode": int(ep["episode"]), "instruction": str(ep.get("instruction", "")), "task": str(ep.get("task", ""))}
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


class BagWriter:
    """One rosbag2 folder: `add_topic` as topics are discovered, `write` serialized messages, `close`.

        with BagWriter("teleop_bag") as bag:
            bag.start_episode(t0_ns, "hand over the block")
            bag.add_topic("/puppet/joint_left", "sensor_msgs/msg/JointState")
            bag.write("/puppet/joint_left", t_ns, cdr_bytes)
    """

    def __init__(self, path, storage: str = "mcap"):
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore

        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"bag {self.path} exists already; choose a new output folder")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        plugin = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}[storage]
        self.typestore = get_typestore(Stores.ROS2_JAZZY)
        self._writer = Writer(self.path, version=9, storage_plugin=plugin)
        self._writer.open()
        self._connections: dict[str, object] = {}
        self.counts: dict[str, int] = {}
        self.episodes = 0

    def has_type(self, msgtype: str) -> bool:
        return msgtype in self.typestore.fielddefs

    def add_topic(self, topic: str, msgtype: str) -> None:
        """Register a topic (once); ValueError for a type the Jazzy type store does not know."""
        if topic in self._connections:
            return
        if not self.has_type(msgtype):
            raise ValueError(f"cannot record {topic}: message type {msgtype} is not in the rosbags Jazzy type store")
        self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=self.typestore)
        self.counts[topic] = 0

    def write(self, topic: str, stamp_ns: int, data: bytes) -> None:
        self._writer.write(self._connections[topic], int(stamp_ns), data)
        self.counts[topic] += 1

    def start_episode(self, stamp_ns: int, instruction: str, task: str = "") -> int:
        """Write the marker of a new episode starting at `stamp_ns`; returns its index."""
        index = self.episodes
        if index == 0:
            self._writer.set_custom_data("video2act.instruction", instruction)
            self._writer.set_custom_data("video2act.task", task)
        self.add_topic(EPISODE_TOPIC, EPISODE_TYPE)
        msg = self.typestore.types[EPISODE_TYPE](data=episode_marker(index, instruction, task))
        self.write(EPISODE_TOPIC, stamp_ns, bytes(self.typestore.serialize_cdr(msg, EPISODE_TYPE)))
        self.episodes += 1
        return index

    def close(self) -> None:
        """Finish the bag (writes metadata.yaml); safe to call twice."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> "BagWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
