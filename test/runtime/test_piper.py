"""Piper conventions: command limits inside the SDK table, the piper_ros sink's contract with AgileX's humble node,
feedback names mapped by name, the enable gate (fake clock).

The piper_ros rules mirrored here are those of agilexrobotics/piper_ros, src/piper/piper/piper_ctrl_single_node.py
(humble, stored version 95330bc), each cited by line; `upstream_joint_callback` follows PiperRosNode.joint_callback
(l. 285-348) and drives the real piper_sdk over the virtual bus, where the simulated arm decodes the frames with
piper_sdk's own parser.
"""
import math
import time

import numpy as np
import pytest

from video2act.runtime.piper import (EnableGate, PIPER_ROS_FACTOR, SDK_FACTOR, piper_ros_command, to_sdk)
from video2act.runtime.robot import RobotDescription
from video2act.runtime.safety import SafetyFilter
from video2act.runtime.streamer import FeedbackError, StreamerCore

ROBOT = RobotDescription.from_config()


def sdk_table_mdeg():
    """piper_sdk's own joint table (C_PiperParamManager, rad) as the SDK converts it (__CalJointSDKLimit)."""
    pytest.importorskip("piper_sdk")
    from piper_sdk.piper_param import C_PiperParamManager

    m = C_PiperParamManager()
    lims = [m.GetJointLimitParam(f"j{i}") for i in range(1, 7)]
    return (np.array([round(math.degrees(lo) * 1000) for lo, _ in lims]),
            np.array([round(math.degrees(hi) * 1000) for _, hi in lims]))


def test_no_command_leaves_the_sdk_table_after_either_drivers_conversion():
    lo_mdeg, hi_mdeg = sdk_table_mdeg()
    rng = np.random.default_rng(0)
    f = SafetyFilter(ROBOT, 200.0)
    measured = ROBOT.home.copy()
    worst = {"piper_ros": -np.inf, "piper_sdk": -np.inf}
    # targets sweep each joint's range and well beyond it, in long walks so the rate limit reaches the edges
    for k in range(6000):
        if k % 300 == 0:
            target = np.where(rng.random(14) < 0.5, ROBOT.lower - 1.0, ROBOT.upper + 1.0)
        cmd = f.step(target, measured, k / 200.0)
        measured = cmd
        for arm_cmd in ROBOT.split(cmd):
            for name, factor in (("piper_ros", PIPER_ROS_FACTOR), ("piper_sdk", SDK_FACTOR)):
                joints, gripper = to_sdk(arm_cmd, factor)
                excess = np.maximum(np.array(joints) - hi_mdeg, lo_mdeg - np.array(joints))
                j = np.array(joints)
                toward = np.where(j >= 0, j - hi_mdeg, lo_mdeg - j)  # distance past the edge each joint is nearest
                edges = np.where(j >= 0, hi_mdeg, lo_mdeg)
                worst[name] = max(worst[name], toward[edges != 0].astype(float).max(initial=-np.inf))  # 0 is in
                assert np.all(excess <= 0), f"{name}: {joints} outside the SDK table [{lo_mdeg}, {hi_mdeg}]"
                assert 0 <= gripper <= 70000  # the SDK's gripper range (0..0.07 m)
    # the edges were reached: the closest joint command is within the 0.1 deg margin (+ the SDK table's own
    # rounding, e.g. j1 2.6179 rad = 149.995 deg) of the table
    assert -110 <= worst["piper_ros"] < 0 and worst["piper_sdk"] < worst["piper_ros"]
    print(f"\nclosest approach to the SDK table: piper_ros {-worst['piper_ros']:.0f} mdeg, piper_sdk {-worst['piper_sdk']:.0f} mdeg")


def test_the_old_limits_would_have_left_the_table():
    lo_mdeg, hi_mdeg = sdk_table_mdeg()
    joints, _ = to_sdk(ROBOT.upper[:7], PIPER_ROS_FACTOR)  # the twin's limits through piper_ros's factor
    assert joints[0] == 150076 > hi_mdeg[0]  # 2.618 rad -> 150.08 deg, as the issue measured


# -- the piper_ros contract ---------------------------------------------------------------------------------------

def upstream_joint_callback(msg: dict, sdk, enabled: bool, gripper_val_mutiple: int = 1) -> None:
    """PiperRosNode.joint_callback of the humble node (stored version 95330bc), rule by rule."""
    factor = 57324.840764  # l. 291: "1000*180/3.14"
    joint_positions = {}
    for idx, joint_name in enumerate(msg["name"]):  # l. 299-301: mapped BY NAME
        joint_positions[joint_name] = round(msg["position"][idx] * factor)
    joint_6 = 0
    if len(msg["position"]) >= 7:  # l. 304-307: the gripper is position[6] whatever its name, in m -> 0.001 mm
        joint_6 = round(msg["position"][6] * 1000 * 1000) * gripper_val_mutiple
    if not enabled:  # l. 310: dropped until enabled
        return
    velocity = msg.get("velocity", [])
    all_zeros = all(v == 0 for v in velocity) if velocity else True  # l. 311-314
    if not all_zeros and len(velocity) == 7:  # l. 315-322: speed = velocity[6] clipped 1..100, else 100
        sdk.MotionCtrl_2(0x01, 0x01, int(np.clip(round(velocity[6]), 1, 100)))
    else:
        sdk.MotionCtrl_2(0x01, 0x01, 100)
    sdk.JointCtrl(*(joint_positions.get(f"joint{i}", 0) for i in range(1, 7)))  # l. 327-334: missing name = 0
    effort = msg.get("effort", [])
    if len(effort) >= 7:  # l. 337-346: effort[6] N clipped 0.5..3, NaN -> 1 N
        e = float(np.clip(effort[6], 0.5, 3))
        sdk.GripperCtrl(abs(joint_6), 1000 if math.isnan(e) else round(e * 1000), 0x01, 0)
    else:
        sdk.GripperCtrl(abs(joint_6), 1000, 0x01, 0)  # l. 348


@pytest.fixture
def piper_bus():
    pytest.importorskip("piper_sdk")
    from video2act.runtime.piper import open_sdk
    from video2act.runtime.piper_sim import SimulatedPiper

    channel = f"v2a_contract_{time.monotonic_ns()}"
    sim = SimulatedPiper(channel)
    sim.set_enabled(True)
    sdk = open_sdk(channel, "virtual")
    yield sim, sdk
    sdk.DisconnectPort()
    sim.close()


def _decoded(sim, n):
    end = time.monotonic() + 3.0
    while len(sim.motion_frames) < n and time.monotonic() < end:
        time.sleep(0.002)
    time.sleep(0.02)
    return sim.motion_frames[n - 1][1], sim.gripper_commands[-1], sim.speed_percent


def test_the_piper_ros_sink_commands_reach_the_arm_joint_by_joint(piper_bus):
    sim, sdk = piper_bus
    rng = np.random.default_rng(1)
    worst = 0.0
    for k in range(1, 21):
        q = rng.uniform(ROBOT.command_lower[:7], ROBOT.command_upper[:7])
        upstream_joint_callback(piper_ros_command(q, 50.0, 1.0), sdk, enabled=True)
        joints, (_, angle, effort, code), speed = _decoded(sim, k)
        assert joints == [round(v * PIPER_ROS_FACTOR) for v in q[:6]]  # every joint in its own place
        assert (angle, effort, code, speed) == (round(q[6] * 1e6), 1000, 0x01, 50)
        worst = max(worst, np.abs(np.array(joints) / PIPER_ROS_FACTOR - q[:6]).max())
    assert worst <= 0.5 / PIPER_ROS_FACTOR  # exact to the driver's resolution (its own factor)


def test_the_old_piper_ros_message_put_every_joint_one_place_over(piper_bus):
    """What the sink sent before: names joint0..joint6 and only velocity[6]: the node read joint1 (our j2) as its
    joint 1, set joint 6 from our gripper in rad, and used its default speed."""
    sim, sdk = piper_bus
    q = np.array([0.1, 1.0, -1.0, 0.2, -0.3, 0.4, 0.05])
    old = {"name": [f"joint{i}" for i in range(7)], "position": q.tolist(), "velocity": [0.0] * 6 + [50.0]}
    upstream_joint_callback(old, sdk, enabled=True)
    joints, _, speed = _decoded(sim, 1)
    assert joints == [round(v * PIPER_ROS_FACTOR) for v in q[1:7]]  # shifted by one; j6 := gripper opening
    assert speed == 50  # (7 velocities given); with fewer the node would use 100 %


def test_piper_ros_feedback_is_mapped_by_name():
    core = StreamerCore(ROBOT, rate_hz=30.0, chunk_dt=1 / 30.0)
    q = np.array([0.1, 1.2, -1.1, 0.2, -0.3, 0.4, 0.03])
    names = ["gripper", "joint6", "joint5", "joint4", "joint3", "joint2", "joint1"]  # joint_states_single, reordered
    core.on_feedback("left", names, q[::-1], 0.0)
    core.on_feedback("right", ["joint1", "joint2", "joint3", "joint4", "joint5", "joint6", "gripper"], q, 0.0)
    np.testing.assert_array_equal(core.measured(0.0), np.concatenate([q, q]))
    with pytest.raises(FeedbackError, match=r"match none of the expected namings.*'joint0'.*'gripper'"):
        core.on_feedback("left", ["a", "b", "c", "d", "e", "f", "g"], q, 0.0)


def test_enable_gate_waits_for_the_closing_gripper_then_streams():
    gate = EnableGate(["left", "right"], start=0.0, timeout=8.0, settle_s=0.3)
    gate.on_result("left", True, 0.1)
    gate.on_result("right", True, 0.1)
    t, g = 0.1, 0.04
    while not gate.done:  # the driver closes the gripper at ~0.05 m/s after enabling
        g = max(0.0, g - 0.05 / 30)
        for arm in ("left", "right"):
            gate.on_measured(arm, [0.0] * 6 + [g], t)
        t += 1 / 30
        assert t < 5.0
    assert g == 0.0 and 0.9 + 0.3 - 0.05 <= t <= 0.9 + 0.3 + 0.05  # closed at 0.9 s (0.8 s of closing), then 0.3 s still
    refused = EnableGate(["left", "right"], start=0.0, timeout=8.0)
    refused.on_result("left", False, 0.5)
    refused.check_timeout(8.5)
    assert not refused.done and "arm left: enable refused" in refused.failed
    assert "arm right: enable refused (no answer from the driver within 8 s)" in refused.failed
