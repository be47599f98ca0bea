"""The last gate before the arms: every command passes `SafetyFilter.step`.

Guarantees, for any input (NaN, inf, huge jumps, out-of-range targets):
- every command lies within the joint limits (lower <= cmd <= upper);
- consecutive commands differ per joint by at most safe_velocity / rate_hz; the first command
  after start or resume is within that step of the measured pose;
- nothing is commanded before the first measured pose (returns None).
Behaviour:
- non-finite target -> counted, the last safe pose is held; non-finite measured -> ignored;
- target None (stale chunk upstream) or measured None (stale feedback) -> the last safe pose is held;
- start and resume begin at the measured pose and move at soft_start_scale of the speed limit
  until the target is within one full-speed step of the command (or soft_start_timeout has passed);
- estop() holds the last safe pose until resume();
- a measured pose that jumps by more than robot.resync_error between two ticks (faster than the arm moves:
  a simulator reset, or a bad sample) holds for that tick; if the next sample confirms it, commands restart
  from the measured pose at soft-start speed instead of driving the arm back to the old plan.
"""
from __future__ import annotations

import numpy as np

from video2act.runtime.robot import RobotDescription


class SafetyFilter:
    """Clamps, rate-limits and gates 14-d joint commands at a fixed rate."""

    def __init__(self, robot: RobotDescription, rate_hz: float, soft_start_scale: float | None = None,
                 soft_start_timeout: float | None = None):
        if not rate_hz > 0:
            raise ValueError(f"rate_hz must be positive, got {rate_hz!r}")
        self.robot = robot
        self.rate_hz = float(rate_hz)
        self.max_step = robot.safe_velocity / self.rate_hz  # (14,) per-tick change cap
        self.soft_start_scale = robot.soft_start_scale if soft_start_scale is None else float(soft_start_scale)
        self.soft_start_timeout = robot.soft_start_timeout if soft_start_timeout is None else float(soft_start_timeout)
        if not 0 < self.soft_start_scale <= 1:
            raise ValueError(f"soft_start_scale must be in (0, 1], got {self.soft_start_scale}")
        self._last: np.ndarray | None = None  # last command sent (always safe)
        self._soft_until: float | None = None  # soft start active until this time (None: off)
        self._estopped = False
        self._restart = True  # next command starts from the measured pose
        self._prev_measured: np.ndarray | None = None  # last finite measured pose (jump detection)
        self._jumped_to: np.ndarray | None = None  # measured pose after a jump, awaiting confirmation
        self.stats = {"steps": 0, "commands": 0, "held": 0, "nonfinite_targets": 0, "nonfinite_measured": 0,
                      "limit_clamped": 0, "rate_limited": 0, "no_feedback": 0, "stale_feedback": 0, "estop_held": 0,
                      "measured_jumps": 0, "resyncs": 0}

    @property
    def estopped(self) -> bool:
        return self._estopped

    @property
    def soft_starting(self) -> bool:
        return self._soft_until is not None

    @property
    def last_command(self) -> np.ndarray | None:
        return None if self._last is None else self._last.copy()

    def estop(self) -> None:
        """Hold the last safe pose until resume()."""
        self._estopped = True

    def restart(self) -> None:
        """The next command starts from the measured pose at soft-start speed (e.g. after a feedback outage)."""
        if not self._estopped:
            self._restart = True

    def resume(self) -> None:
        """Leave e-stop; the next command starts from the measured pose at soft-start speed."""
        if self._estopped:
            self._estopped = False
            self._restart = True

    def step(self, target, measured, now: float) -> np.ndarray | None:
        """(14,) safe command for this tick, or None before any measured pose.

        target: (14,) desired pose or None (hold). measured: (14,) fresh measured pose or None (hold).
        """
        self.stats["steps"] += 1
        measured = self._finite_or_none(measured, "nonfinite_measured")
        if self._restart and not self._estopped:
            if measured is None:  # cannot start without knowing where the arms are
                return self._hold("no_feedback")
            self._last = self.robot.clip(measured)
            self._restart = False
            self._soft_until = float(now) + self.soft_start_timeout
        if self._estopped:
            return self._hold("estop_held")
        if self._teleported(measured):
            return self._hold("measured_jumps")
        if self._jumped_to is not None and measured is not None:  # the jump persisted: the arm really is there
            self._jumped_to = None
            self.stats["resyncs"] += 1
            self._last = self.robot.clip(measured)
            self._soft_until = float(now) + self.soft_start_timeout
        target = self._finite_or_none(target, "nonfinite_targets")
        if target is None:
            return self._hold("held")
        if measured is None:  # moving blind is not safe: hold until feedback is fresh again
            return self._hold("stale_feedback")
        clipped = self.robot.clip(target)
        if np.any(clipped != target):
            self.stats["limit_clamped"] += 1
        delta = clipped - self._last
        # Caught up = the target is within one full-speed step: a plan moving at full speed would otherwise
        # never be "reached" at soft-start speed, and the command would trail it until the time-out.
        caught_up = bool(np.all(np.abs(delta) <= self.max_step))
        if self._soft_until is not None and (caught_up or now >= self._soft_until):
            self._soft_until = None  # full speed from this tick on
        cap = self.max_step * (self.soft_start_scale if self._soft_until is not None else 1.0)
        if np.any(np.abs(delta) > cap):
            self.stats["rate_limited"] += 1
        # the limits box is convex and _last lies in it, so a capped step towards a clipped target stays inside
        self._last = self._last + np.clip(delta, -cap, cap)
        self.stats["commands"] += 1
        return self._last.copy()

    def _teleported(self, measured) -> bool:
        """True on a tick where the measured pose jumped by more than robot.resync_error since the last
        sample: faster than the arm can move, so it was moved (a simulator reset) or the sample is bad. That
        tick holds; if the next sample confirms the new pose, commands restart from it (soft start), so the
        arm is never driven back to where the old plan had it, and one bad sample changes nothing."""
        if measured is None or self.robot.resync_error is None:
            return False
        previous, self._prev_measured = self._prev_measured, measured
        if previous is None or not np.any(np.abs(measured - previous) > self.robot.resync_error):
            return False
        self._jumped_to = measured
        return True

    def _hold(self, counter: str) -> np.ndarray | None:
        self.stats[counter] += 1
        return None if self._last is None else self._last.copy()

    def _finite_or_none(self, x, counter: str) -> np.ndarray | None:
        if x is None:
            return None
        arr = np.asarray(x, dtype=float)
        if arr.shape != (self.robot.dof,):
            raise ValueError(f"expected a ({self.robot.dof},) joint vector, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            self.stats[counter] += 1
            return None
        return arr
