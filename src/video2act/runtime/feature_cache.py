"""The newest value of an input (System 2 features, arm feedback) with its stamp and age.

Staleness policy: a value is acted on while it is at most `max_age` seconds old (age measured
from its stamp, i.e. the time the data describes, not when it arrived); after that `get` returns
None and the caller stops acting (System 1 skips planning, the streamer holds the pose). A value
stamped older than the one held is ignored (out-of-order delivery), and counted.

Clock faults: a value stamped more than max_age in the future of the caller's clock (a publisher with a
wrong clock) is refused; a held value that the clock has fallen behind by more than max_age (the clock went
back: a simulator reset) is dropped. Either would otherwise look fresh for a long time and make every
correctly stamped value after it "out of order": the input would be frozen.
"""
from __future__ import annotations

import math
from typing import Any


class FeatureCache:
    """Holds one timestamped value; `get(now)` gives it while fresh, else None."""

    def __init__(self, max_age: float):
        if not (max_age > 0 and math.isfinite(max_age)):
            raise ValueError(f"max_age must be a positive number of seconds, got {max_age!r}")
        self.max_age = float(max_age)
        self._value: Any = None
        self._stamp: float | None = None
        self.updates = 0
        self.out_of_order = 0
        self.from_the_future = 0

    @property
    def stamp(self) -> float | None:
        """Stamp (s) of the value held, None before the first update."""
        return self._stamp

    def update(self, features: Any, stamp: float, now: float | None = None) -> bool:
        """Store `features` stamped `stamp` (s); False (and not stored) when older than the value held or,
        given the receiver's clock `now`, stamped more than max_age in its future."""
        stamp = float(stamp)
        if not math.isfinite(stamp):
            raise ValueError(f"stamp must be a finite time in seconds, got {stamp!r}")
        if now is not None:
            if stamp > float(now) + self.max_age:
                self.from_the_future += 1
                return False
            self._drop_if_clock_went_back(float(now))
        if self._stamp is not None and stamp < self._stamp:
            self.out_of_order += 1
            return False
        self._value, self._stamp = features, stamp
        self.updates += 1
        return True

    def age(self, now: float) -> float:
        """now - stamp (s); inf before the first update. Negative when stamped in the future (clock skew)."""
        return math.inf if self._stamp is None else float(now) - self._stamp

    def get(self, now: float) -> Any:
        """The value when at most max_age old, else None (missing or stale)."""
        self._drop_if_clock_went_back(float(now))
        return self._value if self.age(now) <= self.max_age else None

    def _drop_if_clock_went_back(self, now: float) -> None:
        if self._stamp is not None and self._stamp > now + self.max_age:
            self.clear()

    def clear(self) -> None:
        self._value, self._stamp = None, None
