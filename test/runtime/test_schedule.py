"""PhaseSchedule: the phase-keeping rate limit behind System 1's plans and System 2's frames and calls."""
import pytest

from video2act.runtime.schedule import PhaseSchedule


def run(schedule, times):
    taken = []
    for t in times:
        if schedule.due(t):
            schedule.mark(t)
            taken.append(t)
    return taken


def test_phase_is_kept_and_only_lateness_under_catch_up_is_made_up():
    s = PhaseSchedule(1.0, catch_up=0.3)
    assert run(s, [0.0, 0.5, 1.2, 2.0]) == [0.0, 1.2, 2.0]  # 0.2 late: the next is still due at 2.0
    s = PhaseSchedule(1.0, catch_up=0.3)
    assert run(s, [0.0, 1.5, 2.0, 2.4, 2.5]) == [0.0, 1.5, 2.5]  # 0.5 late: afresh from 1.5


def test_early_events_within_tolerance_are_due_and_keep_the_phase():
    s = PhaseSchedule(0.1, early=0.025)
    assert run(s, [0.0, 0.07, 0.097, 0.15, 0.176]) == [0.0, 0.097, 0.176]  # 0.176: 0.2 less 0.025


def test_a_clock_going_back_restarts_the_schedule_and_reset_makes_the_next_due():
    s = PhaseSchedule(1.0)
    assert run(s, [10.0, 10.5, 3.0, 3.5, 4.0]) == [10.0, 3.0, 4.0]
    s.reset()
    assert s.due(4.1)


def test_bad_arguments_are_refused():
    for args in ((0.0,), (1.0, -0.1), (1.0, 0.0, -1.0), (float("inf"),)):
        with pytest.raises(ValueError):
            PhaseSchedule(*args)
