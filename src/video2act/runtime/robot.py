"""The dual-arm Piper (Cobot Magic layout) as numbers: joint names, 14-d layout, limits, speeds.

Everything is read from config/robot.yaml (`robot`, `safety`, `rates` sections); nothing here
repeats its numbers. 14-d layout: [left j1..j6, left gripper, right j1..j6, right gripper].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from video2act.config import load_config

# The robot's cameras, in the order of robot.yaml topics.cameras and of every node's camera_topics parameter
# (System 2 watches the first, the head camera).
CAMERAS = ("head", "left", "right")


class RobotConfigError(ValueError):
    """robot.yaml content that does not describe a valid robot."""


def _vec(section: dict, key: str, n: int, where: str) -> np.ndarray:
    if key not in section:
        raise RobotConfigError(f"{where}.{key} is missing")
    v = np.asarray(section[key], dtype=float)
    if v.shape != (n,) or not np.all(np.isfinite(v)):
        raise RobotConfigError(f"{where}.{key} must be {n} finite numbers, got {section[key]!r}")
    return v


def _num(section: dict, key: str, where: str) -> float:
    try:
        v = float(section[key])
    except (KeyError, TypeError, ValueError):
        raise RobotConfigError(f"{where}.{key} must be a number, got {section.get(key)!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise RobotConfigError(f"{where}.{key} must be positive, got {v}")
    return v


def _command_limits(safety: dict, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-arm command limits: robot limits intersected with safety.sdk_limits_deg (arm joints; the gripper keeps
    its limits) less command_margin_deg, converted with the drivers' largest deg_per_rad. Without the table: as is."""
    table = safety.get("sdk_limits_deg")
    if table is None:
        return lower.copy(), upper.copy()
    n = len(lower) - 1  # arm joints; the last entry is the gripper
    t_lo, t_hi = _vec(table, "lower", n, "safety.sdk_limits_deg"), _vec(table, "upper", n, "safety.sdk_limits_deg")
    f, margin = _num(safety, "deg_per_rad", "safety"), float(safety.get("command_margin_deg", 0.0))
    shrink = lambda d: np.sign(d) * np.maximum(np.abs(d) - margin, 0.0) / f  # noqa: E731 - 0 stays 0
    lo, hi = lower.copy(), upper.copy()
    lo[:n], hi[:n] = np.maximum(lower[:n], shrink(t_lo)), np.minimum(upper[:n], shrink(t_hi))
    if np.any(lo > hi):
        raise RobotConfigError("safety.sdk_limits_deg leaves no room inside robot.lower/upper")
    return lo, hi


@dataclass(frozen=True, eq=False)
class RobotDescription:
    """Joint layout and limits of both arms. Arrays are 14-d (both arms) unless noted."""

    arms: tuple[str, ...]
    joint_names_per_arm: tuple[str, ...]  # (7,) names the drivers use, e.g. joint0..joint6
    names14: tuple[str, ...]  # "<arm>_<joint>", e.g. left_joint0 .. right_joint6
    lower: np.ndarray
    upper: np.ndarray
    max_velocity: np.ndarray  # hardware maximum (rad/s, gripper m/s)
    safe_velocity: np.ndarray  # what the safety filter enforces
    home: np.ndarray
    chunk_timeout: float  # s
    feedback_timeout: float  # s
    soft_start_scale: float  # fraction of safe_velocity after start / resume
    soft_start_timeout: float  # s: soft start ends after this even if the target was not reached
    clock_pause_timeout: float  # s of steady time without a streamer tick: the node clock is reported paused
    control_hz: float
    resync_error: np.ndarray | None = None  # |measured - last command| beyond which the filter restarts
    joint_name_aliases: tuple[tuple[str, ...], ...] = ()  # other drivers' namings of the 7 values, layout order
    command_lower: np.ndarray | None = None  # what commands are clamped to: the limits inside the Piper SDK table
    command_upper: np.ndarray | None = None  # after the drivers' conversion (safety.sdk_limits_deg); None: lower/upper

    @property
    def dof_per_arm(self) -> int:
        return len(self.joint_names_per_arm)

    @property
    def name_schemes(self) -> tuple[tuple[str, ...], ...]:
        """Accepted namings of one arm's 7 values (this layout's first), each in layout order."""
        return (self.joint_names_per_arm, *self.joint_name_aliases)

    @property
    def dof(self) -> int:
        return len(self.names14)

    @classmethod
    def from_config(cls, path=None) -> "RobotDescription":
        """Read config/robot.yaml (or another file with the same sections)."""
        cfg = load_config(str(path) if path is not None else "robot.yaml")
        robot, safety, rates = cfg.get("robot", {}), cfg.get("safety", {}), cfg.get("rates", {})
        arms = tuple(robot.get("arms", ()))
        names = tuple(robot.get("joint_names", ()))
        if len(arms) != 2 or not names:
            raise RobotConfigError(f"robot.arms must name 2 arms and robot.joint_names the joints; got {arms}, {names}")
        n = len(names)
        per_arm = {k: _vec(robot, k, n, "robot") for k in ("lower", "upper", "max_velocity", "home")}
        safe = _vec(safety, "max_velocity", n, "safety")
        if np.any(per_arm["lower"] >= per_arm["upper"]):
            raise RobotConfigError("robot.lower must be below robot.upper for every joint")
        if np.any(safe <= 0) or np.any(safe > per_arm["max_velocity"]):
            raise RobotConfigError("safety.max_velocity must be positive and at most robot.max_velocity")
        if np.any(per_arm["home"] < per_arm["lower"]) or np.any(per_arm["home"] > per_arm["upper"]):
            raise RobotConfigError("robot.home must lie within the joint limits")
        both = lambda v: np.concatenate([v, v])  # noqa: E731 - same limits on both arms
        cmd_lo, cmd_hi = _command_limits(safety, per_arm["lower"], per_arm["upper"])
        return cls(
            arms=arms,
            joint_names_per_arm=names,
            names14=tuple(f"{a}_{j}" for a in arms for j in names),
            lower=both(per_arm["lower"]),
            upper=both(per_arm["upper"]),
            max_velocity=both(per_arm["max_velocity"]),
            safe_velocity=both(safe),
            home=both(per_arm["home"]),
            chunk_timeout=_num(safety, "chunk_timeout", "safety"),
            feedback_timeout=_num(safety, "feedback_timeout", "safety"),
            soft_start_scale=_num(safety, "soft_start_scale", "safety"),
            soft_start_timeout=_num(safety, "soft_start_timeout", "safety"),
            clock_pause_timeout=_num(safety, "clock_pause_timeout", "safety"),
            control_hz=_num(rates, "control_hz", "rates"),
            resync_error=both(_vec(safety, "resync_error", n, "safety")) if "resync_error" in safety else None,
            command_lower=both(cmd_lo), command_upper=both(cmd_hi),
            joint_name_aliases=tuple(tuple(a) for a in robot.get("joint_name_aliases", ()) if len(a) == n),
        )

    def split(self, x14) -> tuple[np.ndarray, np.ndarray]:
        """(14,) -> (left (7,), right (7,))."""
        x = self._check(x14)
        return x[: self.dof_per_arm].copy(), x[self.dof_per_arm :].copy()

    def join(self, left7, right7) -> np.ndarray:
        """(7,), (7,) -> (14,)."""
        left, right = np.asarray(left7, dtype=float), np.asarray(right7, dtype=float)
        if left.shape != (self.dof_per_arm,) or right.shape != (self.dof_per_arm,):
            raise ValueError(f"join expects two ({self.dof_per_arm},) arrays, got {left.shape} and {right.shape}")
        return np.concatenate([left, right])

    def clip(self, x14) -> np.ndarray:
        """(14,) clamped to the command limits (the joint limits, kept inside the Piper SDK's table)."""
        lo = self.lower if self.command_lower is None else self.command_lower
        hi = self.upper if self.command_upper is None else self.command_upper
        return np.clip(self._check(x14), lo, hi)

    def _check(self, x14) -> np.ndarray:
        x = np.asarray(x14, dtype=float)
        if x.shape != (self.dof,):
            raise ValueError(f"expected a ({self.dof},) joint vector, got shape {x.shape}")
        return x
