"""System 2's frame spacing, compute rate and clock-jump handling with a fake clock, no ROS."""
import pytest

from video2act.runtime.system2_core import QUEUE, RESTART, SKIP, System2Core


def test_frames_enter_at_the_trained_frame_rate():
    core = System2Core(frame_hz=10.0, rate_hz=6.0)
    stamps = [k / 30 for k in range(12)]  # a 30 Hz camera
    assert [core.offer(t) for t in stamps] == [QUEUE, SKIP, SKIP] * 4
    assert core.counts["frames_spaced_out"] == 8


def test_a_clock_that_jumps_back_restarts_the_windows_instead_of_freezing_them():
    core = System2Core(frame_hz=10.0, rate_hz=6.0, restart_after=1.0)
    for k in range(50):
        core.offer(100.0 + k / 10)
    assert core.offer(104.85) == SKIP and core.counts["frames_out_of_order"] == 1  # a late frame: dropped
    assert core.offer(0.0) == RESTART  # simulator reset: /clock starts again at 0
    assert [core.offer(k / 10) for k in range(1, 4)] == [QUEUE] * 3  # frames flow at once
    assert core.counts["window_restarts"] == 1


def test_compute_rate_on_the_clock_passed_in():
    core = System2Core(frame_hz=10.0, rate_hz=5.0)
    assert core.due(0.0)
    core.computed(0.0)
    assert not core.due(0.17) and core.due(0.176)  # a frame 25 ms early (jitter) is on time
    core.set_rate(1.0)
    core.computed(1.0)
    assert not core.due(1.9) and core.due(2.0)
    with pytest.raises(ValueError, match="rate_hz"):
        core.set_rate(0.0)


def test_frame_driven_calls_average_the_configured_rate():
    """The node's worker can only call System 2 when a frame arrives (10 Hz); at 6 Hz the schedule must keep its
    phase or calls land on every second frame (5 Hz, what the demo graph measured)."""
    core = System2Core(frame_hz=10.0, rate_hz=6.0)
    calls = []
    for k in range(101):  # 10 s of frames
        now = k / 10.0
        if core.due(now):
            core.computed(now)
            calls.append(now)
    assert len(calls) == 61  # 6 Hz over 10 s, plus the call at 0
    assert min(b - a for a, b in zip(calls, calls[1:])) >= 0.1 - 1e-9  # never faster than the frames


def test_only_lateness_under_one_frame_is_made_up():
    """At 1 Hz a call 0.3 s late (skipped frames) restarts the schedule: the next is a full period later, so the
    rate is never exceeded by more than one frame's worth (the graph test slows System 2 to 1 Hz)."""
    core = System2Core(frame_hz=10.0, rate_hz=1.0)
    core.computed(0.0)
    core.computed(1.05)  # 0.05 s late: kept in phase
    assert core.due(2.0) and not core.due(1.97)
    core.computed(2.3)  # 0.3 s late: afresh
    assert not core.due(3.27) and core.due(3.3)


def test_a_late_call_starts_the_schedule_afresh_instead_of_bursting():
    core = System2Core(frame_hz=10.0, rate_hz=5.0)
    core.computed(0.0)
    core.computed(1.0)  # 0.8 s late (a stalled machine): the next call is one period after this one
    assert not core.due(1.17) and core.due(1.2)


def test_a_jittered_30hz_camera_fills_the_windows_at_exactly_10hz():
    """Every third frame of a 30 Hz camera whose stamps jitter +-3 ms: the spacing keeps its phase. Counted from the
    last queued frame with a 1 ms margin, an early third frame was skipped and the windows ran at ~8 Hz."""
    core = System2Core(frame_hz=10.0, rate_hz=6.0)
    jitter = [0.003, -0.003, 0.0, -0.002, 0.002, -0.003]
    stamps = [k / 30 + jitter[k % len(jitter)] for k in range(300)]  # 10 s
    queued = [t for t in stamps if core.offer(t) == QUEUE]
    assert len(queued) == 100 and core.counts["frames_spaced_out"] == 200
