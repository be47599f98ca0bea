import math

import pytest

from video2act.runtime.feature_cache import FeatureCache
from video2act.runtime.rate_stats import RateStats


def test_fresh_then_stale_then_none():
    c = FeatureCache(max_age=0.5)
    assert c.get(0.0) is None and c.age(0.0) == math.inf
    c.update("f1", stamp=10.0)
    assert c.get(10.2) == "f1"
    assert c.age(10.2) == pytest.approx(0.2)
    assert c.get(10.5) == "f1"  # exactly max_age old: still acted on
    assert c.get(10.5001) is None  # older: stop acting
    c.update("f2", stamp=10.4)
    assert c.get(10.8) == "f2"


def test_out_of_order_update_ignored():
    c = FeatureCache(max_age=1.0)
    assert c.update("new", 5.0)
    assert not c.update("old", 4.0)
    assert c.get(5.1) == "new" and c.out_of_order == 1 and c.stamp == 5.0


def test_bad_arguments():
    with pytest.raises(ValueError):
        FeatureCache(0.0)
    with pytest.raises(ValueError):
        FeatureCache(1.0).update("x", float("nan"))


def test_rate_stats():
    s = RateStats(window=50)
    for i in range(40):
        s.tick(i / 30.0 + (0.002 if i % 2 else 0.0))
    assert s.rate() == pytest.approx(30.0, rel=0.01)
    assert s.jitter() == pytest.approx(0.002, rel=0.05)
    assert RateStats().rate() == 0.0
