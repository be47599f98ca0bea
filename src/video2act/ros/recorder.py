"""`video2act record`: teleoperation recording without rosbag2, into the same mcap bag folder `ros2 bag record` writes.

    video2act record -o episodes/ep_000 --instruction "hand over the block"
    video2act record -o bags/session --instruction "place the cup" --task place_empty_cup --duration 60
    ros2 service call /video2act_record/next_episode std_srvs/srv/Trigger   # next episode, same bag
    video2act dataset from-bags bags/session --out data/real                 # one dataset episode per episode

Subscribes, as `ros2 bag record` does, to the topics of config/bag_topics.yaml (or --topics) as they appear
in the graph, with their advertised type and a QoS that matches their publishers (best effort if any
publisher is, transient local if all are), and stores the serialized messages unchanged with their receive
time (video2act.data.bag_writer). Episode boundaries: the bag starts episode 0; Enter on a terminal (with a
new instruction typed first, if it changes), the ~/next_episode service or a /sim/episode announcement of a
new (task, seed) start the next one. Ctrl-C or SIGTERM closes the bag (metadata.yaml); exit 0.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import threading


def register(subparsers, bench_subparsers) -> None:
    rec = subparsers.add_parser("record", help="record the bag topics into a rosbag2 (mcap) folder without rosbag2",
                                description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    rec.add_argument("-o", "--output", required=True, help="bag folder to create (must not exist)")
    rec.add_argument("--instruction", required=True, help="language instruction of the episode(s)")
    rec.add_argument("--task", default="", help="task name stored with the episodes (optional)")
    rec.add_argument("--topics", nargs="+", help="topics to record (default: config/bag_topics.yaml)")
    rec.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="storage plugin (default mcap)")
    rec.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    rec.add_argument("--use-sim-time", action="store_true", help="receive times from /clock (default: system time)")
    rec.add_argument("--no-sim-episodes", action="store_true", help="do not start an episode on /sim/episode announcements")
    rec.set_defaults(func=cmd_record)


def message_class(msgtype: str):
    """'sensor_msgs/msg/Image' -> the rclpy message class (ValueError when its package is not installed)."""
    package, _, name = msgtype.replace("/msg/", "/").partition("/")
    try:
        return getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"message type {msgtype} is not installed ({e})") from e


def matching_qos(publishers, depth: int = 20):
    """A subscription QoS every publisher of a topic can serve (what `ros2 bag record` chooses)."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    reliable = all(p.qos_profile.reliability == ReliabilityPolicy.RELIABLE for p in publishers)
    latched = bool(publishers) and all(p.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for p in publishers)
    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)


class EpisodeLabels:
    """Which episode the recording is in and how it is labelled (no ROS): /sim/episode announcements start a
    new episode, or relabel from now on when the episode already running is announced with another instruction
    or task than the recording was started with (so a sim episode is never stored under a stale label)."""

    def __init__(self, instruction: str, task: str = ""):
        from video2act.ros.conversions import new_episode

        self.instruction, self.task = instruction, task
        self._new_episode, self._key = new_episode, None

    def announcement(self, text: str) -> tuple[str, str] | None:
        """A /sim/episode JSON -> (instruction, task) of an episode to start now, or None (nothing changes)."""
        import json

        key = self._new_episode(text, self._key)
        if key is None:
            return None
        first, self._key = self._key is None, key
        labels = (json.loads(text).get("instruction") or self.instruction, str(key[0]))
        if first and labels == (self.instruction, self.task):
            return None  # the episode already running when the recording started, labelled as it is
        self.instruction, self.task = labels
        return labels


class Recorder:
    """The rclpy side: discovers the topics, subscribes raw, hands bytes to a BagWriter."""

    def __init__(self, node, bag, topics: list[str], instruction: str, task: str = "", sim_episodes: bool = True):
        from std_srvs.srv import Trigger

        from video2act.config import load_config

        self.node, self.bag, self.wanted = node, bag, list(dict.fromkeys(topics))
        self.labels = EpisodeLabels(instruction, task)
        self._lock = threading.Lock()
        self._subs: dict[str, object] = {}
        self._warned: set[str] = set()
        bag.start_episode(self._now(), instruction, task)
        node.create_service(Trigger, "~/next_episode", self._on_next_episode)
        if sim_episodes:
            from std_msgs.msg import String

            from video2act.ros import qos

            node.create_subscription(String, load_config("robot.yaml")["topics"]["sim_episode"], self._on_sim_episode, qos.control())
        node.create_timer(0.5, self.discover)
        self.discover()
        node.get_logger().info(f"recording {len(self.wanted)} topics into {bag.path} (episode 0: {instruction!r})")

    def _now(self) -> int:
        return self.node.get_clock().now().nanoseconds

    def discover(self) -> None:
        """Subscribe to every wanted topic that now has a publisher."""
        types = dict(self.node.get_topic_names_and_types())
        for topic in self.wanted:
            if topic in self._subs or topic not in types:
                continue
            msgtype = types[topic][0]
            try:
                cls = message_class(msgtype)
                with self._lock:
                    self.bag.add_topic(topic, msgtype)
            except ValueError as e:
                if topic not in self._warned:
                    self._warned.add(topic)
                    self.node.get_logger().warn(f"not recording {topic}: {e}")
                continue
            qos = matching_qos(self.node.get_publishers_info_by_topic(topic))
            self._subs[topic] = self.node.create_subscription(cls, topic, lambda raw, t=topic: self._on_message(t, raw), qos, raw=True)
            self.node.get_logger().info(f"recording {topic} ({msgtype})")

    def _on_message(self, topic: str, raw: bytes) -> None:
        with self._lock:
            if self.bag is not None:
                self.bag.write(topic, self._now(), raw)

    def next_episode(self, instruction: str | None = None) -> int:
        labels = self.labels
        with self._lock:
            labels.instruction = instruction or labels.instruction
            index = self.bag.start_episode(self._now(), labels.instruction, labels.task)
        self.node.get_logger().info(f"episode {index} started: {labels.instruction!r} ({labels.task or 'no task'})")
        return index

    def _on_next_episode(self, request, response):
        response.success, response.message = True, f"episode {self.next_episode()} started"
        return response

    def _on_sim_episode(self, msg) -> None:
        labels = self.labels.announcement(msg.data)
        if labels is not None:
            self.next_episode(labels[0])

    def close(self) -> dict:
        with self._lock:
            bag, self.bag = self.bag, None
            bag.close()
        return bag.counts


def _read_terminal(recorder: Recorder) -> None:
    """Enter: next episode; a line of text first: the next episode's instruction."""
    print("recording; Enter: next episode (type a new instruction first to change it); Ctrl-C: stop", flush=True)
    for line in sys.stdin:
        recorder.next_episode(line.strip() or None)


def cmd_record(args) -> int:
    import rclpy
    from rclpy.executors import ExternalShutdownException

    from video2act.config import recorded_topics
    from video2act.data.bag_writer import EPISODE_TOPIC, BagWriter

    topics = [t for t in (args.topics or recorded_topics()) if t != EPISODE_TOPIC]  # markers are written directly
    bag = recorder = node = None
    try:  # a Ctrl-C at any point after the bag folder exists still closes it (metadata.yaml)
        bag = BagWriter(args.output, storage=args.storage)
        rclpy.init(args=["--ros-args", "-p", f"use_sim_time:={'true' if args.use_sim_time else 'false'}"])
        node = rclpy.create_node("video2act_record")
        recorder = Recorder(node, bag, topics, args.instruction, args.task, sim_episodes=not args.no_sim_episodes)
        if sys.stdin is not None and sys.stdin.isatty():
            threading.Thread(target=_read_terminal, args=(recorder,), daemon=True).start()
        if args.duration is not None:
            node.create_timer(args.duration, lambda: rclpy.try_shutdown())
        rclpy.spin(node)
    except FileExistsError as e:
        print(f"video2act record: {e}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        counts = recorder.close() if recorder is not None else {}
        if recorder is None and bag is not None:
            bag.close()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    summary = ", ".join(f"{t}: {n}" for t, n in counts.items()) or "no messages"
    print(f"video2act record: wrote {args.output} ({summary})", flush=True)
    return 0
