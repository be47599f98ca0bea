"""Synthetic bag streams for the recorder tests: the seven topics of config/bag_topics.yaml published by the
test process's own rclpy node over DDS, with values read back from the dataset (frame index in the red
channel, joints linear in the header stamp)."""
from __future__ import annotations

import threading
import time

import numpy as np

from video2act.config import load_config

ROBOT = load_config("robot.yaml")
T0 = 1000.0   # s: header stamps of the synthetic recording
HZ = 30.0
N = 12        # frames per episode
H, W = 24, 32


def joint_value(kind: str, arm: str, t: float) -> np.ndarray:
    """Linear in time: interpolation at camera stamps is exact."""
    offset = {"state": 0.0, "action": 0.5}[kind] + {"left": 0.0, "right": 1.0}[arm]
    return offset + 0.1 * np.arange(7) + 0.2 * (t - T0)


def frame(cam: int, k: int) -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    img[..., 0] = k  # the frame index, read back from the dataset
    img[..., 1] = 40 * cam
    img[..., 2] = np.arange(W, dtype=np.uint8)[None] * 5
    return img


class Publishers:
    """The seven bag streams, published by this test process's own rclpy node (spun in a thread)."""

    def __init__(self):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile
        from sensor_msgs.msg import Image, JointState

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("recorder_test_source", context=self.context)
        qos = QoSProfile(depth=100)  # reliable: nothing is lost on the way to the recorder
        topics = ROBOT["topics"]
        self.cams = [self.node.create_publisher(Image, topics["cameras"][c], qos) for c in ("head", "left", "right")]
        self.joints = {(kind, arm): self.node.create_publisher(JointState, topics[topic][arm], qos)
                       for kind, topic in (("state", "feedback"), ("action", "command")) for arm in ("left", "right")}
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._spin = threading.Thread(target=self.executor.spin, daemon=True)
        self._spin.start()

    @property
    def all(self):
        return [*self.cams, *self.joints.values()]

    def publish(self, k: int) -> None:
        from builtin_interfaces.msg import Time
        from sensor_msgs.msg import Image, JointState

        t = T0 + k / HZ
        stamp = Time(sec=int(t), nanosec=int(round((t - int(t)) * 1e9)))
        for i, pub in enumerate(self.cams):
            msg = Image(height=H, width=W, encoding="rgb8", step=W * 3, data=frame(i, k).tobytes())
            msg.header.stamp = stamp
            pub.publish(msg)
        for (kind, arm), pub in self.joints.items():
            msg = JointState(name=[f"joint{j}" for j in range(7)], position=joint_value(kind, arm, t).tolist())
            msg.header.stamp = stamp
            pub.publish(msg)

    def wait_acked(self) -> None:
        from rclpy.duration import Duration

        for pub in self.all:
            assert pub.wait_for_all_acked(Duration(seconds=30)), f"{pub.topic_name}: the recorder did not acknowledge"

    def next_episode(self) -> str:
        from std_srvs.srv import Trigger

        client = self.node.create_client(Trigger, "/video2act_record/next_episode")
        assert client.wait_for_service(timeout_sec=30), "the recorder's next_episode service did not appear"
        future = client.call_async(Trigger.Request())
        deadline = time.monotonic() + 30
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert future.done() and future.result().success, "next_episode failed"
        return future.result().message

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()


def wait_for(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
