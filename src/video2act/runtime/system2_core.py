"""System 2's scheduling decisions without ROS: which camera frames enter the windows, when to compute.

The rclpy node (video2act.ros.system2_node) converts images and calls `offer(stamp)` per frame, then from its
worker `due(now)` / `computed(now)`; every time is passed in (tests use a fake clock).

- Frame spacing: frames enter System 2's sliding windows at most `frame_hz` (the rate the model was trained
  with: checkpoint dataset.json system2_frame_hz), so the long window spans the time it was trained on.
- A clock that jumps backwards by more than `restart_after` seconds (a simulator reset, a replayed bag) restarts
  the windows instead of dropping every later frame as "too early" (which froze System 2 until the clock had
  caught up with its old value); smaller steps back are out-of-order frames and are dropped.
- Compute rate: at most `rate_hz` calls, each on the newest frames.
"""
from __future__ import annotations

import math

QUEUE, SKIP, RESTART = "queue", "skip", "restart"


class System2Core:
    def __init__(self, frame_hz: float, rate_hz: float, restart_after: float = 1.0):
        for name, v in (("frame_hz", frame_hz), ("rate_hz", rate_hz), ("restart_after", restart_after)):
            if not (v > 0 and math.isfinite(v)):
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        self.spacing = 1.0 / float(frame_hz)
        self.period = 1.0 / float(rate_hz)
        self.restart_after = float(restart_after)
        self._last_queued = -math.inf
        self._next_compute = -math.inf
        self.counts = {"frames_spaced_out": 0, "frames_out_of_order": 0, "window_restarts": 0}

    def set_rate(self, rate_hz: float) -> None:
        if not (rate_hz > 0 and math.isfinite(rate_hz)):
            raise ValueError(f"rate_hz must be a positive number, got {rate_hz!r}")
        self.period = 1.0 / float(rate_hz)

    def offer(self, stamp: float) -> str:
        """QUEUE the frame, SKIP it (too close to the last one, or slightly out of order), or RESTART the
        windows with it (the clock went back by more than restart_after)."""
        stamp = float(stamp)
        if stamp < self._last_queued - self.restart_after:
            self.counts["window_restarts"] += 1
            self._last_queued = stamp
            return RESTART
        if stamp < self._last_queued:
            self.counts["frames_out_of_order"] += 1
            return SKIP
        if stamp < self._last_queued + self.spacing - 1e-3:
            self.counts["frames_spaced_out"] += 1
            return SKIP
        self._last_queued = stamp
        return QUEUE

    def due(self, now: float) -> bool:
        return float(now) >= self._next_compute

    def computed(self, now: float) -> None:
        self._next_compute = float(now) + self.period
