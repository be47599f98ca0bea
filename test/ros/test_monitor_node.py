"""monitor_node as a separate process: /joint_states relay with URDF names, predicted-path markers from FK."""
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from video2act.config import load_config  # noqa: E402
from video2act.ros.monitor_node import chunk_to_array, feedback_to_urdf  # noqa: E402
from video2act.runtime.kinematics import DualArmKinematics  # noqa: E402


def test_feedback_mapping_and_bad_input():
    names, values = feedback_to_urdf("right", [0.1, 1.0, -1.0, 0.2, 0.3, 0.4, 0.06])
    assert names == [f"right_joint{i}" for i in range(1, 9)]
    assert values == pytest.approx([0.1, 1.0, -1.0, 0.2, 0.3, 0.4, 0.03, -0.03])
    with pytest.raises(ValueError, match="7 finite positions"):
        feedback_to_urdf("left", [0.0] * 6)
    with pytest.raises(ValueError, match="7 finite positions"):
        feedback_to_urdf("left", [0.0] * 6 + [float("nan")])

    class Point:
        def __init__(self, p):
            self.positions = p

    class Msg:
        points = [Point([0.0] * 14), Point([0.0] * 13)]

    with pytest.raises(ValueError, match="14 positions"):
        chunk_to_array(Msg())


@pytest.mark.ros
@pytest.mark.slow
def test_monitor_node_relays_joint_states_and_draws_the_chunk_path():
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
    from visualization_msgs.msg import Marker, MarkerArray

    prefix = f"/test_{uuid.uuid4().hex[:8]}"
    cmd = [sys.executable, "-m", "video2act.ros.monitor_node", "--ros-args",
           "-p", f"feedback_topics:=[{prefix}/left, {prefix}/right]", "-p", f"action_chunk_topic:={prefix}/chunk",
           "-p", f"joint_states_topic:={prefix}/joint_states", "-p", f"path_topic:={prefix}/path"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ctx = Context()
    rclpy.init(context=ctx)
    node = Node("monitor_node_test", context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    joint_states, markers = [], []
    node.create_subscription(JointState, f"{prefix}/joint_states", joint_states.append, 10)
    node.create_subscription(MarkerArray, f"{prefix}/path", markers.append, 10)
    feedback = node.create_publisher(JointState, f"{prefix}/left", 10)
    chunk_pub = node.create_publisher(JointTrajectory, f"{prefix}/chunk", 10)

    home = load_config("robot.yaml")["robot"]["home"]
    chunk = np.tile(np.array(home * 2), (16, 1))
    chunk[:, 0] = np.linspace(-0.3, 0.3, 16)   # left j1 sweeps
    chunk[:, 8] = np.linspace(1.57, 1.2, 16)   # right j2 lowers
    traj = JointTrajectory()
    traj.joint_names = [f"{arm}_joint{i}" for arm in ("left", "right") for i in range(7)]
    traj.points = [JointTrajectoryPoint(positions=row.tolist()) for row in chunk]
    fb = JointState(name=[f"joint{i}" for i in range(7)], position=[0.1, 1.0, -1.0, 0.2, 0.3, 0.4, 0.05])
    fb.header.stamp.sec = 42
    try:
        deadline = time.monotonic() + 30
        while (not joint_states or not markers) and time.monotonic() < deadline and proc.poll() is None:
            feedback.publish(fb)
            chunk_pub.publish(traj)
            executor.spin_once(timeout_sec=0.1)
        assert proc.poll() is None, proc.communicate()[1]
        js = joint_states[-1]
        assert list(js.name) == [f"left_joint{i}" for i in range(1, 9)]
        assert list(js.position) == pytest.approx([0.1, 1.0, -1.0, 0.2, 0.3, 0.4, 0.025, -0.025])
        assert js.header.stamp.sec == 42

        by_ns = {m.ns: m for m in markers[-1].markers}
        assert set(by_ns) == {"left_path", "left_goal", "right_path", "right_goal"}
        expected = dict(zip(("left", "right"), DualArmKinematics.from_config().fingertip_paths(chunk)))
        for arm in ("left", "right"):
            line = by_ns[f"{arm}_path"]
            assert line.type == Marker.LINE_STRIP and line.header.frame_id == "world"
            got = np.array([[p.x, p.y, p.z] for p in line.points])
            np.testing.assert_allclose(got, expected[arm], atol=1e-6)
            goal = by_ns[f"{arm}_goal"].pose.position
            np.testing.assert_allclose([goal.x, goal.y, goal.z], expected[arm][-1], atol=1e-6)
        left = expected["left"]
        assert left[0, 1] < left[-1, 1] and np.ptp(left[:, 1]) > 0.2  # the sweep is visible: tens of cm
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        node.destroy_node()
        rclpy.shutdown(context=ctx)
