"""Real-time chunking in the runtime (System1Core.guidance, blend rtc), System2Core's windows, SeamMeter."""
from __future__ import annotations

import numpy as np
import pytest
from closed_loop_fakes import FakeStream

from video2act.runtime.chunk_executor import ChunkExecutor
from video2act.runtime.robot import RobotDescription
from video2act.runtime.seams import SeamMeter, arm_joint_index, jerk_rms
from video2act.runtime.system1_core import System1Core, chunk_frame_id, prefix_steps_of
from video2act.runtime.system2_core import System2Core


def core(**kw):
    robot = RobotDescription.from_config()
    return System1Core(robot, {"spatial": (2, 4), "motion": (3, 4)}, 0.3, 1.0, 0.1, 10.0, lambda *a: a, **kw), robot


def test_guidance_continues_the_executing_chunk_for_the_measured_delay():
    s1, robot = core(guidance="rtc", control_hz=30.0, guidance_delay=0.1, guidance_soft_steps=4)
    state = robot.home.copy()
    first = s1.guidance(0.0, state)  # nothing executing: the streamer holds the measured pose
    assert first.steps == 3 and np.allclose(first.prefix, state) and len(first.prefix) == 7
    assert np.allclose(first.weights, [1, 1, 1, 0.8, 0.6, 0.4, 0.2])
    chunk = state + np.arange(64)[:, None] * 0.01
    s1.accept_chunk(chunk, t_obs=0.0)
    s1.note_delay(0.2)  # measured: 6 steps of 30 Hz
    g = s1.guidance(0.2, state)
    assert g.steps == 6 and np.allclose(g.prefix, chunk[6:16])
    # robot.yaml chunk_timeout 0.5 s: the streamer holds the chunk's step 15 from then on, and so does the prefix
    assert robot.chunk_timeout == 0.5
    assert np.allclose(s1.guidance(0.3, state).prefix, chunk[9:19])  # arrives at 0.5: still streamed until then
    assert np.allclose(s1.guidance(0.4, state).prefix, chunk[[12, 13, 14, 15, 15, 15, 15, 15, 15, 15]])
    s1.new_episode()
    assert np.allclose(s1.guidance(0.6, state).prefix, state)
    assert core()[0].guidance(0.0, state) is None  # guidance none


def test_guidance_holds_where_the_streamer_does_with_its_own_chunk_timeout():
    """The prefix must follow the streamer's chunk_timeout, not robot.yaml's: with the streamer at 1.0 s and
    guidance at 0.5 s, a 0.4 s System 1's prefix held step 15 while the streamer still ran steps 12..23, and every
    switch jumped back (bench blend rtc 0.4 s: 1 / 30 successes)."""
    state = RobotDescription.from_config().home.copy()
    chunk = state + np.arange(64)[:, None] * 0.01
    for timeout, expected in ((None, [12, 13, 14] + [15] * 9), (1.0, list(range(12, 24)))):
        s1, _ = core(guidance="rtc", control_hz=30.0, guidance_delay=0.4, guidance_soft_steps=0, chunk_timeout=timeout)
        s1.accept_chunk(chunk, t_obs=0.0)
        g = s1.guidance(0.4, state)
        assert g.steps == 12 and np.allclose(g.prefix, chunk[expected])
    with pytest.raises(ValueError, match="chunk_timeout"):
        core(chunk_timeout=0.0)


def test_prefix_steps_travel_in_the_frame_id():
    assert prefix_steps_of(chunk_frame_id(6)) == 6
    assert chunk_frame_id(0) == "" and prefix_steps_of("") == 0 and prefix_steps_of("camera_f") == 0


def test_rtc_takes_over_outright_when_spliced_and_crossfades_when_late():
    ex = ChunkExecutor(0.1, blend="rtc", blend_window=0.2, dof=1)
    ex.add_chunk(np.zeros((20, 1)), 0.0, now=0.0)
    ex.add_chunk(np.ones((20, 1)), 0.5, now=0.7, prefix_steps=3)  # arrives at step 2 of 3 guided: a splice
    assert ex.sample(0.7)[0] == 1.0
    late = ChunkExecutor(0.1, blend="rtc", blend_window=0.2, dof=1)
    late.add_chunk(np.zeros((20, 1)), 0.0, now=0.0)
    late.add_chunk(np.ones((20, 1)), 0.5, now=0.9, prefix_steps=3)  # the prefix ran out at 0.8: fade in
    assert late.sample(0.9)[0] == pytest.approx(0.0) and late.sample(1.0)[0] == pytest.approx(0.5)


def test_system2_core_primes_new_windows_and_restarts_on_a_refused_frame():
    s2, stream = System2Core(10.0, 6.0), FakeStream(window=4)
    img = np.zeros((4, 4, 3), np.uint8)
    assert s2.on_frame(stream, img, 0.0) == "primed" and stream.ready()
    assert s2.on_frame(stream, img, 0.05) == "skip"  # 10 Hz spacing
    assert s2.on_frame(stream, img, 0.1) == "pushed"
    s2.new_episode()
    assert s2.on_frame(stream, img + 7, 0.0) == "primed" and [f for f, _ in stream.frames] == [7] * 4
    s2.on_frame(stream, img, 0.1)
    assert s2.feed(stream, img, 0.05) == "primed"  # older than the windows hold: they restart with it
    assert s2.counts["frames_out_of_order_in_windows"] == 1 and s2.counts["windows_primed"] == 3


def test_seam_meter_splits_switch_steps_from_within_steps_and_counts_gaps_and_holds():
    robot = RobotDescription.from_config()
    meter = SeamMeter(arm_joint_index(robot), 1 / 30)
    q = robot.home.copy()
    for k in range(10):
        q = q + 0.01 * (k != 5) + 0.05 * (k == 5)  # a 0.05 jump where chunk 1 takes over
        meter.tick(k / 30, q, True, 0 if k < 5 else 1)
    meter.tick(0.5, q, False, 1)  # a hold after a 0.2 s gap
    s = meter.summary()
    assert s["switches"] == 1 and s["switch_step_max"] == pytest.approx(0.05)
    assert s["within_step_max"] == pytest.approx(0.01) and s["holds"] == 1
    assert s["longest_gap_s"] == pytest.approx(0.5 - 9 / 30) and sum(s["interval_hist"]) == 10
    assert "seam_switch_step_mean" in meter.diagnostics()
    t = np.arange(10) / 30
    assert jerk_rms(np.stack([t ** 3] * 2, axis=1), 1 / 30) == pytest.approx(6.0)  # d3/dt3 of t^3
