"""Faults on the running graph (separate processes over DDS; 320x240 cameras to save CPU).

One graph serves every test here; each test leaves it healthy (chunks flowing, streamer
streaming) for the next. Every test also checks that no command step exceeded the speed limit
and every command stayed inside the joint limits while the fault was going on.
"""
from __future__ import annotations

import time

import numpy as np
import pytest
from graph_helpers import PROBE_FRAME, S2_TINY, TINY, assert_commands_safe, wait_until

pytestmark = [pytest.mark.ros, pytest.mark.slow]

MAX_FEATURE_AGE = 1.5  # s, System 1's limit in this graph
RECOVER_S = 20.0  # healthy again after a fault, on a loaded 2-core machine
RESTART_S = 150.0  # a node process importing torch, on a loaded 2-core machine


@pytest.fixture(scope="module")
def graph(graph_factory):
    g = graph_factory({
        "synthetic_robot": {"width": 320, "height": 240},
        "system2_node": dict(S2_TINY),
        "system1_node": {**TINY, "max_feature_age": MAX_FEATURE_AGE},
    })
    assert g.wait_for_chunks(5, timeout=150), f"no action chunks within 150 s\n{g.tails()}"
    assert g.wait_streaming(timeout=10), f"streamer not streaming: {g.rec.diag('trajectory_streamer')}"
    return g


def held_from(rec, arm: str, t0: float, t1: float) -> float | None:
    """Receive time from which every command in [t0, t1) equals the last one (None: never held)."""
    recs = rec.command_records(arm, t0, t1)
    if len(recs) < 2:
        return None
    last = recs[-1][2]
    k = len(recs) - 1
    while k > 0 and np.array_equal(recs[k - 1][2], last):
        k -= 1
    return recs[k][0] if k < len(recs) - 1 else None


def counter(rec, node: str, key: str) -> int:
    return int(rec.diag(node).get(key, 0))


def wait_counter_above(rec, node: str, key: str, value: int, timeout: float = 5.0) -> bool:
    """Diagnostics come at 1 Hz: wait for one that reports the counter above `value`."""
    return wait_until(lambda: counter(rec, node, key) > value, timeout)


def recover(graph, timeout: float = RECOVER_S) -> None:
    t = time.time()
    assert graph.wait_for_chunks(3, timeout, since=t), f"chunks did not resume\n{graph.tails()}"
    assert graph.wait_streaming(RECOVER_S), f"streamer not streaming: {graph.rec.diag('trajectory_streamer')}"


def assert_moving(rec, t0: float, t1: float) -> None:
    """Commands changed in [t0, t1): a later 'hold' (constant commands) is then a real change of behaviour."""
    for arm in ("left", "right"):
        recs = rec.command_records(arm, t0, t1)
        assert len(recs) > 5 and not all(np.array_equal(r[2], recs[0][2]) for r in recs), f"{arm} commands were not moving"


def test_malformed_images_features_and_nan_chunks_are_counted_and_dropped(graph):
    from sensor_msgs.msg import Image
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    from video2act.ros.conversions import float_image_msg, rgb_to_image_msg, sec_to_stamp

    rec, topics = graph.rec, graph.cfg["topics"]
    t0 = time.time()
    before = {(n, k): counter(rec, n, k) for n, k in (("system1_node", "images_dropped_bad"), ("system2_node", "frames_dropped_bad"),
                                                      ("system1_node", "features_dropped_bad"), ("trajectory_streamer", "chunks_dropped"))}
    from rclpy.qos import qos_profile_sensor_data

    cam = rec.publisher(Image, topics["cameras"]["head"], qos_profile_sensor_data)
    spatial = rec.publisher(Image, topics["features"]["spatial"], 10)
    chunk_pub = rec.publisher(JointTrajectory, topics["action_chunk"], 10)
    rate = float(graph.cfg["rates"]["camera_hz"])
    # the synthetic head camera pauses, so System 1's sync can only pair the wrist images with the bad ones
    rec.set_parameter("synthetic_robot", "camera_rates_hz", [0.0, rate, rate])
    time.sleep(1.0)  # discovery
    for i in range(30):
        stamp = sec_to_stamp(time.time())
        bad = rgb_to_image_msg(np.zeros((240, 320, 3), np.uint8), stamp=stamp, frame_id=PROBE_FRAME)
        if i % 2:
            bad.encoding = "16UC1"  # wrong encoding
        else:
            bad.height = 480  # wrong size: data holds 240 rows
        cam.publish(bad)
        if i % 3 == 0:
            nan_tokens = np.full((2, 8), np.nan, np.float32)
            spatial.publish(float_image_msg(nan_tokens, stamp=stamp, frame_id=PROBE_FRAME))
            spatial.publish(float_image_msg(np.zeros((3, 5), np.float32), stamp=stamp, frame_id=PROBE_FRAME))  # wrong shape
        if i % 10 == 0:
            msg = JointTrajectory(joint_names=list(graph.robot.names14))
            msg.header.stamp, msg.header.frame_id = stamp, PROBE_FRAME
            msg.points = [JointTrajectoryPoint(positions=[float("nan")] * 14) for _ in range(4)]
            chunk_pub.publish(msg)
        time.sleep(1 / 15)
    rec.set_parameter("synthetic_robot", "camera_rates_hz", [rate, rate, rate])
    for (node, key), value in before.items():
        assert wait_counter_above(rec, node, key, value), f"{node} did not count {key}: {rec.diag(node)}"
    print({f"{n}.{k}": counter(rec, n, k) - v for (n, k), v in before.items()})
    graph.assert_alive()
    recover(graph)
    assert_commands_safe(rec, graph.robot, graph.control_hz, t0)


def test_estop_holds_and_resume_restarts_smoothly(graph):
    from std_srvs.srv import Trigger

    rec, robot = graph.rec, graph.robot
    t0 = time.time()
    assert rec.call(Trigger, "/trajectory_streamer/estop", Trigger.Request()).success
    t_stop = time.time()
    time.sleep(1.5)
    assert rec.diag("trajectory_streamer").get("estop") == "true"
    for arm in ("left", "right"):
        recs = rec.command_records(arm, t_stop + 0.1, time.time())
        assert len(recs) > 30, "the streamer must keep publishing (the held pose) during e-stop"
        assert all(np.array_equal(r[2], recs[0][2]) for r in recs), f"{arm} moved during e-stop"
    t_resume = time.time()
    assert rec.call(Trigger, "/trajectory_streamer/resume", Trigger.Request()).success
    recover(graph)
    # smooth restart: from the held pose at no more than the soft-start speed
    soft_cap = robot.soft_start_scale * robot.safe_velocity / graph.control_hz
    for k, arm in enumerate(("left", "right")):
        recs = rec.command_records(arm, t_resume - 0.2, t_resume + 0.5)
        steps = np.abs(np.diff(np.stack([r[2] for r in recs]), axis=0))
        assert np.all(steps <= soft_cap[7 * k:7 * k + 7] + 1e-9), f"{arm}: restart step above soft-start cap: {steps.max(axis=0)}"
    assert_commands_safe(rec, robot, graph.control_hz, t0)


def test_camera_stop_holds_within_configured_time(graph):
    rec, robot = graph.rec, graph.robot
    chunk_timeout = float(graph.cfg["safety"]["chunk_timeout"])
    rate = float(graph.cfg["rates"]["camera_hz"])
    t0 = time.time()
    assert_moving(rec, t0 - 1.0, t0)
    rec.set_parameter("synthetic_robot", "camera_rates_hz", [rate, 0.0, rate])  # left wrist camera stops
    t_stop = time.time()
    time.sleep(chunk_timeout + 2.0)
    t_end = time.time()
    rec.set_parameter("synthetic_robot", "camera_rates_hz", [rate, rate, rate])
    # no chunk from an observation after the stop; the streamer holds once the newest chunk is too old
    late = [c for c in list(rec.chunks) if c[1] > t_stop + 0.05]
    assert not late, f"chunks from observations after the camera stopped: {[c[1] - t_stop for c in late]}"
    for arm in ("left", "right"):
        held = held_from(rec, arm, t_stop, t_end)
        assert held is not None, f"{arm} did not hold after the camera stopped"
        assert held - t_stop <= chunk_timeout + 0.3, f"{arm} held {held - t_stop:.2f} s after the stop (limit {chunk_timeout} s + 0.3)"
    recover(graph)
    assert_commands_safe(rec, robot, graph.control_hz, t0)


def test_system2_killed_then_restarted(graph):
    rec, robot, group = graph.rec, graph.robot, graph.group
    chunk_timeout = float(graph.cfg["safety"]["chunk_timeout"])
    pids = graph.pids()
    t0 = time.time()
    assert_moving(rec, t0 - 1.0, t0)
    # kill just after a feature message: System 1 then still has about MAX_FEATURE_AGE of use in them
    n_feats = len(rec.features["spatial"])
    assert wait_until(lambda: len(rec.features["spatial"]) > n_feats, 10.0, 0.005)
    group.kill("system2_node")
    t_kill = time.time()
    last_feature = max(f[1] for f in rec.features["spatial"])
    # System 1 goes on with the features it has until they are too old, then stops publishing chunks
    deadline = last_feature + MAX_FEATURE_AGE
    time.sleep(max(0.0, deadline - time.time()) + 1.5)
    t_quiet = time.time()
    chunks_after = [c for c in list(rec.chunks) if c[0] > t_kill]
    assert chunks_after, "System 1 stopped at once instead of using the features it still had"
    assert max(c[1] for c in chunks_after) <= deadline + 0.05, "System 1 acted on features older than max_feature_age"
    assert wait_counter_above(rec, "system1_node", "features_missing_or_stale", 0)
    last_chunk_obs = max(c[1] for c in list(rec.chunks))
    for arm in ("left", "right"):
        held = held_from(rec, arm, t_kill, t_quiet)
        assert held is not None and held <= last_chunk_obs + chunk_timeout + 0.3, f"{arm} did not hold in time"
    assert rec.diag("trajectory_streamer").get("state", "").startswith("holding")

    group.start(graph.specs["system2_node"])
    recover(graph, RESTART_S)
    graph.assert_alive()
    unchanged = {n: p for n, p in graph.pids().items() if n != "system2_node"}
    assert unchanged == {n: p for n, p in pids.items() if n != "system2_node"}, "only System 2 may restart"
    assert_commands_safe(rec, robot, graph.control_hz, t0)
