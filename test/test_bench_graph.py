"""bench graph's rate measure: events per second over their own intervals, not a count over the window."""
import numpy as np
import pytest

from video2act.bench.graph import event_rate


def test_event_rate_does_not_depend_on_where_the_window_falls():
    events = np.arange(0.0, 20.0, 1 / 6)  # 6 Hz
    for t0 in (0.0, 0.05, 0.1, 0.15):
        window = events[(events >= t0) & (events < t0 + 15.0)]
        assert event_rate(window) == pytest.approx(6.0)
    assert event_rate([]) == 0.0 and event_rate([1.0]) == 0.0 and event_rate([1.0, 1.0]) == 0.0
