"""A rate limit that keeps its phase: System 1's plans and System 2's frames and calls (clock passed in).

Events are due one period after the last one was *due*, not after it happened, so events that can only occur when
an input arrives (a frame, a free worker) still average the rate, and one late event does not delay every later
one. Counted from when the last event happened instead, a rate equal to the input rate turns any delay into a
permanent lag (System 1 planned each 10 Hz frame up to 100 ms after it arrived, for the rest of the run), and a
frame whose stamp jitters 1 ms early is skipped, so a 10 Hz window of a 30 Hz camera drifts to ~7.5 Hz.

- `early`: s before its due time an event is still taken (stamp jitter; not a faster input).
- `catch_up`: lateness below this is made up (the next event stays on the old phase); a later event starts the
  schedule afresh from itself, so there is never a burst.
  Two events are never closer than period - catch_up - early.
- A time before the last event (a clock that went back: simulator reset, replayed bag) restarts the schedule, so a
  jump never stops the events.
"""
from __future__ import annotations

import math


class PhaseSchedule:
    def __init__(self, period: float, early: float = 0.0, catch_up: float = 0.0):
        if not (period > 0 and math.isfinite(period)) or early < 0 or catch_up < 0:
            raise ValueError(f"period must be positive, early and catch_up >= 0; got {period!r}, {early!r}, {catch_up!r}")
        self.period, self.early, self.catch_up = float(period), float(early), float(catch_up)
        self.reset()

    def reset(self) -> None:
        """The next event is due at once and starts a fresh schedule."""
        self._next = -math.inf
        self._last = -math.inf

    @property
    def last(self) -> float:
        """Time of the last event (-inf before the first, after reset)."""
        return self._last

    def due(self, t: float) -> bool:
        t = float(t)
        return t >= self._next - self.early or t < self._last

    def mark(self, t: float) -> None:
        """An event happened at t."""
        t = float(t)
        keep_phase = t >= self._last and t - self._next < self.catch_up
        self._next = (self._next if keep_phase else t) + self.period
        self._last = t
