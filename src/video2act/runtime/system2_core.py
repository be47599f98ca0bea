"""System 2's scheduling decisions without ROS: which camera frames enter the windows, when to compute.

The rclpy node (video2act.ros.system2_node) converts images and calls `offer(stamp)` per frame, then from its
worker `due(t)` / `computed(t)` with the newest frame's stamp (evaluation: its tick time); every time is passed in
(tests use a fake clock).

- Frame spacing: frames enter System 2's sliding windows at most `frame_hz` (the rate the model was trained
  with: checkpoint dataset.json system2_frame_hz), so the long window spans the time it was trained on. The
  spacing keeps its phase on the stamps (runtime/schedule.py, `FRAME_EARLY` / `FRAME_CATCH_UP`): counted from the
  last queued frame with a 1 ms margin, a 30 Hz camera's jittered stamps skipped a third frame now and then and
  the windows drifted below 10 Hz.
- A clock that jumps backwards by more than `restart_after` seconds (a simulator reset, a replayed bag) restarts
  the windows instead of dropping every later frame as "too early" (which froze System 2 until the clock had
  caught up with its old value); smaller steps back are out-of-order frames and are dropped.
- Compute rate: `rate_hz` calls a second on average, each on the newest frames. The schedule keeps its phase
  (the next call is due one period after the last one was due, not after it ran) so calls that can only start
  when a frame arrives (the node's worker wakes on frames at `frame_hz`) still average `rate_hz`: at 10 Hz frames
  and 6 Hz, calls land on frames 0, 2, 4, 5, 7, 9, 10 ... instead of every second frame (5 Hz). Only lateness of
  less than one frame spacing is made up, and a frame up to `FRAME_EARLY` of a spacing early counts as on time
  (stamp jitter), so two calls are never closer than one period minus 1.25 frame spacings (0.875 s at 1 Hz); a
  call later than that (a slow machine, a skipped frame) starts the schedule afresh from then,
  so there is never a burst to catch up.
- Windows (`feed(stream, rgb, stamp)`, a model.system2_stream.System2Stream or anything with its prime / push /
  reset / ready): new windows (at start, after `new_episode()`, after a restart, or when the stream refuses a
  frame older than its newest) are primed with their first frame in every slot, as training pads an episode's
  first windows; every later queued frame is pushed. The node, `video2act eval` (runtime/closed_loop.py), the
  monitor's replay and the feature pictures all feed System 2 through this one path, so the long window spans
  the same 1.6 s (16 frames at 10 Hz) everywhere.
- Rates: `configured_rates()` is the one reader of robot.yaml's System 2 rates (rates.system2_frame_hz,
  rates.system2_hz) for the node's defaults and evaluation.
"""
from __future__ import annotations

import math

from video2act.runtime.schedule import PhaseSchedule

QUEUE, SKIP, RESTART = "queue", "skip", "restart"
# the frame schedule (runtime/schedule.py), in frame spacings: a stamp this early still enters the windows
# (capture jitter: a 30 Hz camera's every third frame is 1 ms early about half the time); lateness under this is made up
FRAME_EARLY, FRAME_CATCH_UP = 0.25, 0.5


def configured_rates() -> tuple[float, float]:
    """(frame_hz, rate_hz): robot.yaml rates.system2_frame_hz and rates.system2_hz (the nodes' defaults)."""
    from video2act.config import load_config

    rates = load_config("robot.yaml")["rates"]
    return float(rates["system2_frame_hz"]), float(rates["system2_hz"])


class System2Core:
    def __init__(self, frame_hz: float, rate_hz: float, restart_after: float = 1.0):
        for name, v in (("frame_hz", frame_hz), ("rate_hz", rate_hz), ("restart_after", restart_after)):
            if not (v > 0 and math.isfinite(v)):
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        self.spacing = 1.0 / float(frame_hz)
        self.period = 1.0 / float(rate_hz)
        self.restart_after = float(restart_after)
        self._frames = PhaseSchedule(self.spacing, FRAME_EARLY * self.spacing, FRAME_CATCH_UP * self.spacing)  # stamps
        self._calls = self._call_schedule()
        self.counts = {"frames_spaced_out": 0, "frames_out_of_order": 0, "window_restarts": 0, "windows_primed": 0,
                       "frames_out_of_order_in_windows": 0}
        self._prime = True  # the next fed frame starts new windows

    def set_rate(self, rate_hz: float) -> None:
        if not (rate_hz > 0 and math.isfinite(rate_hz)):
            raise ValueError(f"rate_hz must be a positive number, got {rate_hz!r}")
        self.period = 1.0 / float(rate_hz)
        self._calls = self._call_schedule()  # the new rate's schedule starts at the next call

    def _call_schedule(self) -> PhaseSchedule:
        return PhaseSchedule(self.period, early=FRAME_EARLY * self.spacing, catch_up=min(self.period, self.spacing))

    def offer(self, stamp: float) -> str:
        """QUEUE the frame, SKIP it (too close to the last one, or slightly out of order), or RESTART the
        windows with it (the clock went back by more than restart_after)."""
        stamp = float(stamp)
        last_queued = self._frames.last
        if stamp < last_queued - self.restart_after:
            self.counts["window_restarts"] += 1
            self._frames.mark(stamp)  # before the last: a fresh schedule from this frame
            return RESTART
        if stamp < last_queued:
            self.counts["frames_out_of_order"] += 1
            return SKIP
        if not self._frames.due(stamp):
            self.counts["frames_spaced_out"] += 1
            return SKIP
        self._frames.mark(stamp)
        return QUEUE

    def due(self, now: float) -> bool:
        return self._calls.due(now)

    def computed(self, now: float) -> None:
        self._calls.mark(now)

    # -- windows ----------------------------------------------------------------------------------
    def new_episode(self) -> None:
        """A new scene: the next frame offered is queued whatever its stamp and primes new windows."""
        self._prime = True
        self._frames.reset()

    def restart_windows(self) -> None:
        """The next fed frame primes new windows (after a clock jump: offer() returned RESTART)."""
        self._prime = True

    def feed(self, stream, rgb, stamp: float) -> str:
        """Put a queued frame into `stream`'s windows: "primed" (new windows, the frame in every slot) or
        "pushed". A frame the windows refuse (older than their newest: a clock jump) restarts them with it."""
        if not self._prime:
            try:
                stream.push(rgb, stamp)
                return "pushed"
            except ValueError as e:
                if "older than" not in str(e):
                    raise  # a bad frame, not a time jump
                self.counts["frames_out_of_order_in_windows"] += 1
        stream.prime(rgb, stamp)
        self._prime = False
        self.counts["windows_primed"] += 1
        return "primed"

    def on_frame(self, stream, rgb, stamp: float) -> str:
        """offer() then feed() for a caller without a queue (the simulated-time loop): "skip", "primed" or
        "pushed"."""
        decision = self.offer(stamp)
        if decision == SKIP:
            return SKIP
        if decision == RESTART:
            self.restart_windows()
        return self.feed(stream, rgb, stamp)
