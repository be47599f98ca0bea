import numpy as np
import pytest

from video2act.runtime.robot import RobotDescription
from video2act.runtime.safety import SafetyFilter

ROBOT = RobotDescription.from_config()
HZ = ROBOT.control_hz
CAP = ROBOT.safe_velocity / HZ  # (14,) per-tick change the filter allows


def adversarial_target(rng, robot):
    """A target drawn from the nasty cases: NaN, inf, huge, out of range, None, or a plausible pose."""
    kind = rng.integers(7)
    x = rng.uniform(robot.lower, robot.upper)
    if kind == 0:
        x[rng.integers(14)] = np.nan
    elif kind == 1:
        x[rng.integers(14)] = rng.choice([np.inf, -np.inf])
    elif kind == 2:
        x = rng.normal(scale=1e6, size=14)
    elif kind == 3:
        x = robot.upper + rng.uniform(0, 5, size=14) * rng.choice([-1, 1], size=14)
    elif kind == 4:
        return None
    return x


@pytest.mark.parametrize("seed", range(5))
def test_property_commands_stay_in_limits_and_step_below_cap(seed):
    rng = np.random.default_rng(seed)
    f = SafetyFilter(ROBOT, HZ)
    prev = None
    restart = True  # the first command starts from the measured pose
    walk = None
    for k in range(2000):
        now = k / HZ
        # the arm wanders (may leave the range: clipped) and is now and then teleported anywhere
        walk = rng.uniform(ROBOT.lower - 0.2, ROBOT.upper + 0.2) if walk is None or rng.random() < 0.02 \
            else np.clip(walk + rng.normal(0, 0.02, 14), ROBOT.lower - 0.2, ROBOT.upper + 0.2)
        measured = walk.copy()
        if rng.random() < 0.05:
            measured = None
        elif rng.random() < 0.05:
            measured[rng.integers(14)] = np.nan
        if rng.random() < 0.01:
            f.estop()
        if rng.random() < 0.02 and f.estopped:
            f.resume()
            restart = True
        resyncs = f.stats["resyncs"]
        cmd = f.step(adversarial_target(rng, ROBOT), measured, now)
        restart = restart or f.stats["resyncs"] > resyncs  # the arm was elsewhere: a restart from it
        if cmd is None:
            assert prev is None  # None only before the very first command
            continue
        assert np.all(np.isfinite(cmd))
        assert np.all(cmd >= ROBOT.lower) and np.all(cmd <= ROBOT.upper)
        if restart and measured is not None and np.all(np.isfinite(measured)) and not f.estopped:
            # (re)start: within a soft step of the measured pose
            assert np.all(np.abs(cmd - ROBOT.clip(measured)) <= CAP * ROBOT.soft_start_scale + 1e-12)
            restart = False
        elif prev is not None:
            assert np.all(np.abs(cmd - prev) <= CAP + 1e-12)
        prev = cmd
    assert f.stats["nonfinite_targets"] > 200 and f.stats["limit_clamped"] > 200


def test_nothing_before_feedback_then_soft_start_then_full_speed():
    f = SafetyFilter(ROBOT, HZ)
    home = ROBOT.home.copy()
    target = home.copy()
    target[0] += 0.1
    assert f.step(target, None, 0.0) is None and f.stats["no_feedback"] == 1
    cmds = np.array([f.step(target, home, k / HZ) for k in range(1, 40)])
    soft = CAP[0] * ROBOT.soft_start_scale  # 0.01 rad per tick at 30 Hz
    # soft speed until the target is within one full-speed step (0.1 - 7 x 0.01 = 0.03 <= 0.033), then caught up
    np.testing.assert_allclose(np.diff(cmds[:7, 0]), soft, rtol=1e-9)
    assert cmds[0, 0] == pytest.approx(home[0] + soft)
    assert cmds[7, 0] == pytest.approx(target[0]) and cmds[-1, 0] == pytest.approx(target[0])
    np.testing.assert_array_equal(cmds[:, 1:], np.tile(home[1:], (len(cmds), 1)))
    assert not f.soft_starting
    target[0] -= 0.5  # a new far target now moves at the full cap
    nxt = [f.step(target, home, 3.0 + k / HZ) for k in range(3)]
    assert nxt[0][0] - cmds[-1, 0] == pytest.approx(-CAP[0])
    assert nxt[2][0] - nxt[1][0] == pytest.approx(-CAP[0])


def test_soft_start_ends_at_once_when_the_plan_starts_at_the_arm():
    """A plan that starts at the measured pose and moves at full speed is followed exactly: soft start must
    not make the command trail it (it used to, for its whole 2 s time-out)."""
    f = SafetyFilter(ROBOT, HZ)
    home = ROBOT.home.copy()
    plan = [home + np.eye(14)[0] * CAP[0] * 0.9 * k for k in range(1, 30)]
    cmds = np.array([f.step(p, home, k / HZ) for k, p in enumerate(plan)])
    np.testing.assert_allclose(cmds, np.array(plan), atol=1e-12)
    assert not f.soft_starting and f.stats["rate_limited"] == 0


def test_soft_start_ends_after_timeout_when_target_keeps_moving():
    f = SafetyFilter(ROBOT, HZ)
    home = ROBOT.home.copy()
    n_soft = int(round(ROBOT.soft_start_timeout * HZ))
    cmds = []
    for k in range(n_soft + 5):
        target = home.copy()
        target[3] = 1.5  # far away on joint 3 (limit 1.745): never within a full step before the time-out
        cmds.append(f.step(target, home, k / HZ))
    steps = np.diff(np.array(cmds)[:, 3])
    np.testing.assert_allclose(steps[:n_soft - 1], CAP[3] * ROBOT.soft_start_scale)
    assert steps[-1] == pytest.approx(CAP[3])


def test_nonfinite_and_stale_targets_hold_the_last_safe_pose():
    f = SafetyFilter(ROBOT, HZ)
    home = ROBOT.home.copy()
    f.step(home, home, 0.0)
    held = f.last_command
    bad = home.copy()
    bad[4] = np.nan
    np.testing.assert_array_equal(f.step(bad, home, 0.1), held)
    np.testing.assert_array_equal(f.step(np.full(14, np.inf), home, 0.2), held)
    np.testing.assert_array_equal(f.step(None, home, 0.3), held)
    np.testing.assert_array_equal(f.step(home + 0.1, None, 0.4), held)  # stale feedback: never move blind
    assert f.stats["nonfinite_targets"] == 2 and f.stats["held"] == 3 and f.stats["stale_feedback"] == 1
    assert f.step(home + 0.1, home, 0.5)[0] > held[0]  # fresh feedback again: moves


def test_out_of_range_target_reaches_the_limit_exactly():
    f = SafetyFilter(ROBOT, HZ)
    home = ROBOT.home.copy()
    target = home + 100.0
    cmd = None
    for k in range(2000):
        cmd = f.step(target, home, k / HZ)
    np.testing.assert_array_equal(cmd, ROBOT.command_upper)  # the joint limits kept inside the Piper SDK table
    assert f.stats["limit_clamped"] == 2000


def test_estop_holds_until_resume_then_restarts_from_measured():
    f = SafetyFilter(ROBOT, HZ)
    home = ROBOT.home.copy()
    target = home.copy()
    target[0] = 1.0
    for k in range(10):
        f.step(target, home, k / HZ)
    f.estop()
    held = f.last_command
    for k in range(10, 40):
        np.testing.assert_array_equal(f.step(target, home, k / HZ), held)
    assert f.stats["estop_held"] == 30
    measured = held.copy()
    measured[0] -= 0.05  # the arm sagged / was pushed while stopped
    f.resume()
    first = f.step(target, measured, 40 / HZ)
    soft = CAP * ROBOT.soft_start_scale
    assert first[0] == pytest.approx(measured[0] + soft[0])
    second = f.step(target, measured, 41 / HZ)
    assert second[0] - first[0] == pytest.approx(soft[0])
    assert f.soft_starting


def test_resume_waits_for_feedback():
    f = SafetyFilter(ROBOT, HZ)
    home = ROBOT.home.copy()
    f.step(home, home, 0.0)
    f.estop()
    f.resume()
    np.testing.assert_array_equal(f.step(home + 0.2, None, 0.1), home)  # holds, no restart without a pose
    assert f.stats["no_feedback"] == 1


def test_an_arm_moved_away_restarts_from_where_it_is_instead_of_being_driven_back():
    """A simulator reset teleports the arm 1 rad from the last command: one tick holds, then commands
    restart at the measured pose, at soft-start speed, toward the new target; the old pose is never commanded
    again. A single bad sample changes nothing."""
    f = SafetyFilter(ROBOT, HZ)
    home = ROBOT.home.copy()
    away = home.copy()
    away[0] += 1.0
    for k in range(60):  # the arm followed the commands out to `away`
        f.step(away, f.last_command if f.last_command is not None else home, k / HZ)
    assert f.last_command[0] == pytest.approx(away[0])
    target = home.copy()
    target[1] += 0.1
    cmds = [f.step(target, home, 2.0 + k / HZ) for k in range(10)]  # teleported back home
    assert cmds[0][0] == pytest.approx(away[0]) and f.stats["measured_jumps"] == 1  # the jump tick holds
    assert f.stats["resyncs"] == 1 and all(abs(c[0] - home[0]) < 1e-9 for c in cmds[1:])
    assert cmds[1][1] == pytest.approx(home[1] + CAP[1] * ROBOT.soft_start_scale)
    # one wild sample: held one tick, then the arm carries on from its own pose (a restart at where it is)
    g = SafetyFilter(ROBOT, HZ)
    g.step(home, home, 0.0)
    wild = home.copy()
    wild[2] -= 1.0
    held = g.step(target, wild, 0.1)
    np.testing.assert_array_equal(held, home)
    nxt = g.step(target, home, 0.2)
    assert np.all(np.abs(nxt - home) <= CAP + 1e-12) and abs(nxt[2] - home[2]) < 1e-9
