"""AgileX Piper driver conventions and the direct piper_sdk arm logic, without ROS (and without importing the SDK).

Units (piper_sdk 0.6.x, C_PiperInterface_V2): JointCtrl / GetArmJointMsgs in 0.001 deg, GripperCtrl /
GetArmGripperMsgs in 0.001 mm (stroke), gripper effort in 0.001 N (0.5..3 N used by piper_ros).

- `to_sdk(q7, factor)` / `from_sdk(...)`: this project's (7,) arm vector (rad, gripper opening m) <-> SDK integers.
  The direct driver converts with math.degrees (factor SDK_FACTOR); piper_ros's humble node with
  1000*180/3.14 (PIPER_ROS_FACTOR, 0.05 % more), which config/robot.yaml's command limits account for.
- `piper_ros_command(...)`: the JointState fields the piper_ros humble node's joint_callback acts on.
- `PiperArm`: one arm on one CAN port through an SDK object (C_PiperInterface_V2 or anything with its methods):
  enable handshake with a time-out, then per tick either the motion frames (MotionCtrl_2 + JointCtrl +
  GripperCtrl) of the newest command, or nothing (hold) while the link, the feedback or the arm is not healthy.
  Every decision uses the clock passed in (tests use a fake one).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SDK_FACTOR = 1000.0 * 180.0 / math.pi  # rad -> 0.001 deg, exact
PIPER_ROS_FACTOR = 1000.0 * 180.0 / 3.14  # what piper_ros's joint_callback multiplies by (57324.840764)
GRIPPER_FACTOR = 1e6  # m -> 0.001 mm
ARM_STATUS_NAMES = {  # GetArmStatus().arm_status.arm_status (piper_sdk arm_feedback_status.py)
    0x00: "normal", 0x01: "emergency stop", 0x02: "no IK solution", 0x03: "singularity",
    0x04: "target angle beyond limit", 0x05: "joint communication error", 0x06: "joint brake not released",
    0x07: "collision", 0x08: "over-speed while teaching", 0x09: "joint status abnormal", 0x0A: "other error",
    0x0B: "teach recording", 0x0C: "teach executing", 0x0D: "teach paused", 0x0E: "main controller NTC over-temperature",
    0x0F: "discharge resistor NTC over-temperature",
}


def to_sdk(q7, factor: float = SDK_FACTOR) -> tuple[list[int], int]:
    """(7,) [j1..j6 rad, gripper opening m] -> ([6] ints in 0.001 deg, gripper int in 0.001 mm)."""
    q = np.asarray(q7, dtype=float).reshape(7)
    return [int(round(v * factor)) for v in q[:6]], int(round(q[6] * GRIPPER_FACTOR))


def from_sdk(joints6, gripper: int) -> np.ndarray:
    """SDK feedback integers -> (7,) [rad..., m]."""
    return np.array([float(v) / SDK_FACTOR for v in joints6] + [float(gripper) / GRIPPER_FACTOR])


def piper_ros_command(q7, speed_percent: float, gripper_effort: float) -> dict:
    """JointState fields for piper_ros's `joint_ctrl_single` (humble node, both versions).

    name: joint1..joint6, gripper (the newer node maps joints by these names; the 2024 node by index). All
    7 velocities and efforts are given: velocity[6] is the speed (%) only when 7 velocities come and not all
    are zero, else the node uses its default (30 % or 100 % by version); effort[6] is the gripper force (N,
    clipped 0.5..3 by the node). The gripper opening (m) is position[6] in both versions.
    """
    q = np.asarray(q7, dtype=float).reshape(7)
    return {"name": ["joint1", "joint2", "joint3", "joint4", "joint5", "joint6", "gripper"],
            "position": q.tolist(),
            "velocity": [0.0] * 6 + [float(speed_percent)],
            "effort": [0.0] * 6 + [float(gripper_effort)]}


class PiperEnableError(RuntimeError):
    """The arm did not report all six motors enabled within the time-out."""


@dataclass
class PiperArmConfig:
    speed_percent: int = 50  # MotionCtrl_2 move_spd_rate_ctrl (1..100)
    gripper_effort: float = 1.0  # N
    enable_timeout: float = 5.0  # s
    feedback_timeout: float = 0.1  # s without a new joint feedback frame: the link is named lost
    command_timeout: float = 0.5  # s: an older command is not sent again (the arm keeps its last target)

    def __post_init__(self):
        if not 1 <= int(self.speed_percent) <= 100:
            raise ValueError(f"speed_percent must be 1..100. Got {self.speed_percent}")
        if not 0.5 <= float(self.gripper_effort) <= 3.0:
            raise ValueError(f"gripper_effort must be 0.5..3 N. Got {self.gripper_effort}")
        for name in ("enable_timeout", "feedback_timeout", "command_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive. Got {getattr(self, name)}")


class PiperArm:
    """One Piper arm through piper_sdk: enable, health, feedback, one set of motion frames per tick.

    States: "disconnected" -> enable() -> "ready" (motion frames sent) | "link lost" | "arm disabled" |
    "arm error: <status>" | "feedback stale" (held: nothing sent, `feedback()` returns None, so the streamer
    holds on stale feedback) -> back to "ready" as soon as the cause is gone.
    """

    def __init__(self, sdk, name: str, config: PiperArmConfig | None = None):
        self.sdk = sdk
        self.name = name
        self.cfg = config or PiperArmConfig()
        self.state = "disconnected"
        self.detail = ""
        self._stamp = None  # the SDK's time_stamp of the newest joint feedback seen
        self._stamp_seen_at: float | None = None  # our clock when it changed
        self._command: np.ndarray | None = None
        self._command_at: float | None = None
        self.counters = {"ticks": 0, "motion_ticks": 0, "held_ticks": 0, "commands": 0, "state_changes": 0}

    # -- feedback -------------------------------------------------------------------------------------------
    def measured(self) -> np.ndarray:
        """(7,) the SDK's newest joint + gripper feedback (rad, m), whatever its age."""
        j = self.sdk.GetArmJointMsgs().joint_state
        g = self.sdk.GetArmGripperMsgs().gripper_state
        return from_sdk([j.joint_1, j.joint_2, j.joint_3, j.joint_4, j.joint_5, j.joint_6], g.grippers_angle)

    def motors_enabled(self) -> list[bool]:
        low = self.sdk.GetArmLowSpdInfoMsgs()
        return [bool(getattr(low, f"motor_{i}").foc_status.driver_enable_status) for i in range(1, 7)]

    def feedback_age(self, now: float) -> float:
        stamp = self.sdk.GetArmJointMsgs().time_stamp
        if stamp != self._stamp and stamp:
            self._stamp, self._stamp_seen_at = stamp, float(now)
        return math.inf if self._stamp_seen_at is None else float(now) - self._stamp_seen_at

    def feedback(self, now: float) -> np.ndarray | None:
        """(7,) measured pose while the arm is ready, else None (publish nothing: the streamer holds)."""
        return self.measured() if self.state == "ready" else None

    # -- enable ---------------------------------------------------------------------------------------------
    def enable(self, clock, sleep, period: float = 0.05) -> None:
        """EnableArm(7) until all six motors report enabled, or PiperEnableError after enable_timeout.

        The gripper is enabled at its measured opening (GripperCtrl code 0x01), not closed: no motion on enable.
        """
        start = clock()
        while True:
            enabled = self.motors_enabled()
            if all(enabled):
                break
            if clock() - start > self.cfg.enable_timeout:
                self._set("enable failed", f"motors enabled {enabled}")
                raise PiperEnableError(
                    f"arm {self.name}: the motors did not all report enabled within {self.cfg.enable_timeout:g} s "
                    f"after EnableArm(7) (motor 1..6 enabled: {enabled}); is the arm powered, the e-stop released "
                    "and the CAN port right?")
            self.sdk.EnableArm(7)
            sleep(period)
        _, gripper = to_sdk(self.measured())
        self.sdk.GripperCtrl(max(gripper, 0), int(round(self.cfg.gripper_effort * 1000)), 0x01, 0)
        self._set("ready", "enabled")

    def disable(self) -> None:
        self.sdk.DisableArm(7)
        self.sdk.GripperCtrl(0, 0, 0x00, 0)
        self._set("disabled", "disabled on request")

    # -- commands -------------------------------------------------------------------------------------------
    def on_command(self, q7, now: float) -> None:
        q = np.asarray(q7, dtype=float).reshape(-1)
        if q.shape != (7,) or not np.all(np.isfinite(q)):
            raise ValueError(f"arm {self.name}: a command needs 7 finite positions, got {q.tolist()}")
        self._command, self._command_at = q, float(now)
        self.counters["commands"] += 1

    def tick(self, now: float) -> bool:
        """Check health; send the newest command's motion frames when healthy and fresh. True if sent."""
        self.counters["ticks"] += 1
        if self.state in ("disconnected", "enable failed", "disabled"):
            return False
        self._check(now)
        fresh = self._command is not None and float(now) - self._command_at <= self.cfg.command_timeout
        if self.state != "ready" or not fresh:
            self.counters["held_ticks"] += 1
            return False
        joints, gripper = to_sdk(self._command)
        self.sdk.MotionCtrl_2(0x01, 0x01, int(self.cfg.speed_percent), 0x00)  # CAN control, MOVE J, speed, position mode
        self.sdk.JointCtrl(*joints)
        self.sdk.GripperCtrl(max(gripper, 0), int(round(self.cfg.gripper_effort * 1000)), 0x01, 0)
        self.counters["motion_ticks"] += 1
        return True

    def _check(self, now: float) -> None:
        age = self.feedback_age(now)
        status = int(self.sdk.GetArmStatus().arm_status.arm_status)
        enabled = self.motors_enabled()
        if not self.sdk.isOk() or age > self.cfg.feedback_timeout:
            self._set("link lost", f"no feedback frame for {age:.2f} s (SDK isOk: {self.sdk.isOk()})")
        elif status != 0:
            self._set(f"arm error: {ARM_STATUS_NAMES.get(status, hex(status))}", f"arm_status 0x{status:02X}")
        elif not all(enabled):
            self._set("arm disabled", f"motor 1..6 enabled: {enabled}")
        else:
            if self.state != "ready":
                self._command = self._command_at = None  # no plan from before the outage is resumed blind
            self._set("ready", "streaming" if self.state == "ready" else "recovered")

    def _set(self, state: str, detail: str) -> None:
        if state != self.state:
            self.counters["state_changes"] += 1
        self.state, self.detail = state, detail

    def diagnostics(self, now: float) -> dict:
        return {"state": self.state, "detail": self.detail, "feedback_age_s": self.feedback_age(now),
                "sdk_is_ok": bool(self.sdk.isOk()), "motors_enabled": self.motors_enabled(), **self.counters}


def open_sdk(can_port: str, interface: str = "socketcan"):
    """A connected C_PiperInterface_V2 on `can_port` (piper-sdk imported here, only when a driver starts).

    The SDK's constructor opens socketcan itself; to use another python-can interface (e.g. `virtual` for tests
    and dry runs) it is built with can_auto_init=False and the bus made by the SDK's own CreateCanBus(bustype=...)
    before ConnectPort(), the SDK's documented way for other CAN adapters. With socketcan the port is checked
    (exists, up, 1 Mbit/s) as the SDK's constructor would.
    """
    try:
        from piper_sdk import C_PiperInterface_V2
    except ImportError as e:
        raise RuntimeError(f"piper-sdk is not installed ({e}): pip install 'video2act[piper]'") from None
    sdk = C_PiperInterface_V2(can_name=can_port, judge_flag=False, can_auto_init=False)
    sdk.CreateCanBus(can_port, bustype=interface, expected_bitrate=1000000, judge_flag=interface == "socketcan")
    sdk.ConnectPort()
    return sdk


class EnableGate:
    """The piper_ros sink's start: enable each arm through the driver's own interface, then stream.

    The humble node drops every joint command until it is enabled (`enable_srv` service or `enable_flag` topic)
    and closes the gripper (GripperCtrl 0) when enabling. Per arm: "requesting" (the node sends the request;
    `on_result` with the driver's answer) -> "settling" (from settle_min on, until the measured gripper has not moved by more than
    settle_tol for settle_s, at most settle_timeout) -> "enabled". A refused or unanswered request ->
    "refused" and `failed` names the arm. The streamer starts (from the measured pose) once `done`.
    """

    def __init__(self, arms, start: float, timeout: float = 8.0, settle_s: float = 0.3, settle_tol: float = 5e-4,
                 settle_timeout: float = 3.0, settle_min: float = 0.5):
        self.state = {a: "requesting" for a in arms}
        self.detail = {a: "" for a in arms}
        self.start, self.timeout = float(start), float(timeout)
        self.settle_s, self.settle_tol, self.settle_timeout = float(settle_s), float(settle_tol), float(settle_timeout)
        self.settle_min = float(settle_min)  # s after the request before stillness counts (the topic interface
        # gives no answer: the driver may act on the request a little later, then the gripper starts to close)
        self._settle_from: dict[str, float] = {}
        self._still: dict[str, tuple[float, float]] = {}  # arm -> (gripper, since)

    def on_result(self, arm: str, ok: bool, now: float, detail: str = "") -> None:
        if self.state[arm] != "requesting":
            return
        if ok:
            self.state[arm], self._settle_from[arm] = "settling", float(now)
        else:
            self.state[arm], self.detail[arm] = "refused", detail or "the driver answered enable_response: false"

    def on_measured(self, arm: str, q7, now: float) -> None:
        if self.state[arm] != "settling" or now - self._settle_from[arm] < self.settle_min:
            return
        g = float(np.asarray(q7, dtype=float).reshape(-1)[-1])
        ref, since = self._still.get(arm, (g, float(now)))
        if abs(g - ref) > self.settle_tol:
            ref, since = g, float(now)
        self._still[arm] = (ref, since)
        if now - since >= self.settle_s or now - self._settle_from[arm] >= self.settle_timeout:
            self.state[arm] = "enabled"

    def check_timeout(self, now: float) -> None:
        for arm, state in self.state.items():
            if state == "requesting" and now - self.start > self.timeout:
                self.state[arm] = "refused"
                self.detail[arm] = f"no answer from the driver within {self.timeout:g} s"

    @property
    def done(self) -> bool:
        return all(s == "enabled" for s in self.state.values())

    @property
    def failed(self) -> str:
        return "; ".join(f"arm {a}: enable refused ({self.detail[a]})" for a, s in self.state.items() if s == "refused")

    def summary(self) -> str:
        return self.failed or "enabling arms: " + ", ".join(f"{a} {s}" for a, s in self.state.items())
