import numpy as np
import pytest

from video2act.runtime.chunk_executor import ChunkError, ChunkExecutor

DT = 1.0 / 30.0  # control-rate chunk spacing (Cobot Magic)


def ramp_chunk(t0, h, v, offset=0.0, dof=14):
    """(h, dof) positions of x(t) = v * t + offset sampled at t0 + i*DT (every joint the same)."""
    t = t0 + np.arange(h) * DT
    return np.repeat((v * t + offset)[:, None], dof, axis=1)


def stream(ex, t_start, t_end, hz):
    """(n,) times and (n, dof) samples (NaN rows where sample returned None)."""
    ts = t_start + np.arange(int(round((t_end - t_start) * hz)) + 1) / hz
    out = []
    for t in ts:
        s = ex.sample(t)
        out.append(np.full(ex.dof, np.nan) if s is None else s)
    return ts, np.array(out)


def test_interpolation_at_200hz_hits_chunk_points_exactly():
    rng = np.random.default_rng(0)
    actions = rng.normal(size=(64, 14))
    ex = ChunkExecutor(DT, blend="ensemble")
    ex.add_chunk(actions, t0=100.0, now=100.0)
    j = np.arange(0, 421)  # 200 Hz over the chunk's 63 * DT = 2.1 s
    samples = np.array([ex.sample(100.0 + k / 200.0) for k in j])
    # every 20th 200 Hz tick is a chunk step (20/200 s = 3/30 s): exact, not approximate
    np.testing.assert_array_equal(samples[::20], actions[::3])
    # in between: linear interpolation of the neighbouring steps
    u = (j / 200.0) / DT
    i0 = np.minimum(np.floor(u + 1e-9).astype(int), 62)
    a = (u - i0)[:, None]
    np.testing.assert_allclose(samples, (1 - a) * actions[i0] + a * actions[i0 + 1], atol=1e-12)
    assert ex.sample(100.0 + 64 * DT) is None  # past the last step: no chunk covers t


def test_past_steps_are_skipped():
    actions = ramp_chunk(0.0, 64, v=0.3)
    ex = ChunkExecutor(DT)
    assert ex.add_chunk(actions, t0=0.0, now=0.1) == 3  # steps due at 0, 1/30, 2/30 were past
    assert ex.sample(0.05) is None  # before arrival: never executed
    np.testing.assert_array_equal(ex.sample(0.1), actions[3])
    # without `now`, the arrival time is the last sampled time
    ex2 = ChunkExecutor(DT)
    assert ex2.sample(0.2) is None
    assert ex2.add_chunk(actions, t0=0.0) == 6
    assert ex2.stats["skipped_steps"] == 6
    np.testing.assert_array_equal(ex2.sample(0.2), actions[6])
    # a chunk entirely in the past is dropped
    assert ex2.add_chunk(actions[:3], t0=0.0) == 3 and ex2.stats["expired_chunks"] == 1


def test_consistent_replan_blends_without_a_step_larger_than_the_chunks_own():
    """Boundary continuity: a re-plan of the same motion from a later, off-grid observation."""
    f = lambda t: 0.5 * np.sin(np.pi * t)  # noqa: E731 - 1.57 rad/s peak
    for blend in ("ensemble", "crossfade"):
        ex = ChunkExecutor(DT, blend=blend, blend_window=0.1, dof=1)
        ta = np.arange(64) * DT
        ex.add_chunk(f(ta)[:, None], t0=0.0, now=0.0)
        _, before = stream(ex, 0.0, 0.4, 200)
        t0b = 0.2 + 0.37 * DT  # observation time not on chunk A's grid, arrives 0.2 s later
        ex.add_chunk(f(t0b + ta)[:, None], t0=t0b, now=0.4)
        ts, after = stream(ex, 0.4, 1.0, 200)
        path = np.concatenate([before[:-1, 0], after[:, 0]])
        steps = np.abs(np.diff(path))
        boundary = slice(len(before) - 2, len(before) - 1 + 20)  # the step into 0.4 s and the 0.1 s fade
        own = []  # each chunk's own interpolated motion over the same ticks
        for t0, chunk in ((0.0, f(ta)), (t0b, f(t0b + ta))):
            alone = ChunkExecutor(DT, blend="replace", dof=1)
            alone.add_chunk(chunk[:, None], t0=t0, now=0.0)
            own.append(np.abs(np.diff(stream(alone, 0.0, 1.0, 200)[1][:, 0])))
        own_max = np.fmax(own[0], own[1])[boundary].max()
        assert steps[boundary].max() <= own_max * 1.01, blend
        assert steps[boundary].max() >= own_max * 0.9  # the path still moves like the chunks


@pytest.mark.parametrize("blend", ["ensemble", "crossfade", "replace"])
def test_disagreeing_replan_step_bound(blend):
    """A new chunk offset by d: replace jumps by d; blending spreads it over the window."""
    v, d, window, hz = 0.3, 0.05, 0.1, 200
    ex = ChunkExecutor(DT, blend=blend, blend_window=window, dof=2)
    ex.add_chunk(ramp_chunk(0.0, 64, v, dof=2), t0=0.0, now=0.0)
    _, before = stream(ex, 0.0, 0.5, hz)
    ex.add_chunk(ramp_chunk(0.4, 64, v, offset=d, dof=2), t0=0.4, now=0.5)
    _, after = stream(ex, 0.5, 1.0, hz)
    path = np.concatenate([before[:-1], after])[:, 0]
    steps = np.abs(np.diff(path))
    within = v / hz
    if blend == "replace":
        assert steps.max() == pytest.approx(d + within, abs=1e-9)
        return
    new_weight = np.exp(-0.01) / (1 + np.exp(-0.01)) if blend == "ensemble" else 1.0
    # the new chunk's normalised weight rises by at most 1/(window*hz) per tick (ensemble: w/(1+w), slope <= 1)
    assert steps.max() <= within + d / (window * hz) + 1e-12
    assert steps.max() < 0.1 * d  # no jump: the offset is spread over 20 ticks
    # after the window the new chunk holds its full weight
    assert after[-1, 0] == pytest.approx(v * 1.0 + new_weight * d, abs=1e-9)


def test_old_chunk_leaving_the_blend_is_continuous():
    v, d, hz = 0.3, 0.05, 200
    ex = ChunkExecutor(DT, blend="ensemble", blend_window=0.1, dof=1)
    ex.add_chunk(ramp_chunk(0.0, 31, v, dof=1), t0=0.0, now=0.0)  # ends at 1.0 s
    ex.add_chunk(ramp_chunk(0.5, 64, v, offset=d, dof=1), t0=0.5, now=0.5)
    _, path = stream(ex, 0.5, 1.5, hz)
    steps = np.abs(np.diff(path[:, 0]))
    assert steps.max() <= v / hz + d / (0.1 * hz) + 1e-12
    assert path[-1, 0] == pytest.approx(v * 1.5 + d, abs=1e-9)  # only the new chunk is left


def test_bad_chunks_raise():
    ex = ChunkExecutor(DT)
    bad = np.zeros((64, 14))
    bad[5, 3] = np.nan
    with pytest.raises(ChunkError, match="non-finite"):
        ex.add_chunk(bad, 0.0)
    with pytest.raises(ChunkError, match=r"\(H, 14\)"):
        ex.add_chunk(np.zeros((64, 7)), 0.0)
    with pytest.raises(ChunkError, match="increasing"):
        ex.add_chunk(np.zeros((3, 14)), 0.0, step_times=[0.0, 0.1, 0.1])
    with pytest.raises(ValueError, match="blend must be one of"):
        ChunkExecutor(DT, blend="average")
    assert ex.num_chunks == 0


def test_explicit_step_times_and_eviction():
    ex = ChunkExecutor(DT, max_chunks=2, dof=1)
    ex.add_chunk([[0.0], [1.0], [3.0]], t0=1.0, now=1.0, step_times=[0.0, 0.5, 1.5])
    assert ex.sample(1.25) == pytest.approx([0.5])
    assert ex.sample(2.0) == pytest.approx([2.0])
    for k in range(3):
        ex.add_chunk(np.zeros((64, 1)), t0=2.0 + k * 0.01, now=2.0 + k * 0.01)
    assert ex.num_chunks == 2 and ex.stats["evicted_chunks"] == 2
    ex.reset()
    assert ex.num_chunks == 0 and ex.sample(2.1) is None
