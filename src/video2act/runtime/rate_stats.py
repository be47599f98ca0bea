"""Rate and jitter of a periodic event (timer ticks, messages) over a sliding window of stamps."""
from __future__ import annotations

from collections import deque

import numpy as np


class RateStats:
    """Keeps the last `window` event times; reports rate (Hz) and period statistics (s)."""

    def __init__(self, window: int = 100):
        if window < 2:
            raise ValueError(f"window must hold at least 2 events, got {window}")
        self._times: deque[float] = deque(maxlen=window)
        self.count = 0

    def tick(self, t: float) -> None:
        self._times.append(float(t))
        self.count += 1

    def periods(self) -> np.ndarray:
        """(n-1,) intervals between the stored events (s)."""
        return np.diff(np.asarray(self._times, dtype=float))

    def rate(self) -> float:
        """Mean rate over the window (Hz); 0.0 with fewer than 2 events."""
        p = self.periods()
        span = float(p.sum()) if p.size else 0.0
        return p.size / span if span > 0 else 0.0

    def jitter(self) -> float:
        """Standard deviation of the period (s); 0.0 with fewer than 3 events."""
        p = self.periods()
        return float(p.std()) if p.size >= 2 else 0.0

    def max_period(self) -> float:
        p = self.periods()
        return float(p.max()) if p.size else 0.0
