"""The sim bridge's episode, lock-step and clock logic with a fake clock and a stand-in simulator, no ROS."""
import numpy as np
import pytest

from video2act.sim.bridge_core import SimBridgeCore


class FakeEnv:
    """CobotMagicEnv's contract: reset -> obs, step(target) -> (obs, success, done, info); done after 3 steps."""

    def __init__(self, episode_steps=3, dt=1 / 30):
        self.episode_steps, self.dt, self.targets = episode_steps, dt, []

    def reset(self, task, seed):
        self.k = 0
        return self._obs()

    def step(self, target):
        self.targets.append(np.asarray(target))
        self.k += 1
        return self._obs(), self.k == self.episode_steps, self.k >= self.episode_steps, {}

    def _obs(self):
        return {"state": np.full(14, 0.1 * self.k), "time": self.k * self.dt, "instruction": "do it", "images": {}}


def test_realtime_steps_every_tick_and_keeps_going_after_the_end_with_the_result_latched():
    core = SimBridgeCore(FakeEnv(), control_hz=30, camera_hz=10)
    core.reset("t", 3, now=0.0)
    for k in range(5):
        assert core.tick(now=k / 30) is not None
    ep = core.episode()
    assert ep["done"] and ep["success"] and ep["step"] == 3 and ep["seed"] == 3
    assert core.steps_total == 5  # the world went on


def test_lockstep_waits_for_both_arms_or_the_timeout_then_stops_at_the_end():
    env = FakeEnv()
    core = SimBridgeCore(env, control_hz=30, camera_hz=30, mode="lockstep", lockstep_timeout=0.5)
    core.reset("t", 0, now=0.0)
    assert core.tick(now=0.1) is None  # no command yet, not timed out
    assert core.on_command("left", [0.2] * 7)
    assert core.tick(now=0.2) is None  # one arm only
    assert core.on_command("right", [0.3] * 7)
    assert core.tick(now=0.3) is not None
    np.testing.assert_allclose(env.targets[-1], [0.2] * 7 + [0.3] * 7)
    assert core.tick(now=0.9) is not None  # 0.6 s without commands: a dead policy does not stall the sim
    np.testing.assert_allclose(env.targets[-1], [0.2] * 7 + [0.3] * 7)  # the last commands held
    core.tick(now=1.5)
    assert core.done and core.tick(now=3.0) is None  # lock-step stops at the end


def test_clock_continues_through_resets_and_bad_commands_are_dropped():
    core = SimBridgeCore(FakeEnv(), control_hz=30, camera_hz=10)
    core.reset("t", 0, now=0.0)
    for k in range(3):
        core.tick(now=k / 30)
    end = core.sim_time
    core.reset("t", 1, now=1.0)  # the env's own time restarts at 0 ...
    assert core.sim_time == pytest.approx(end + 1 / 30)  # ... /clock does not go back
    assert core.episode()["step"] == 0 and not core.done
    for bad in ([0.0] * 6, [np.nan] * 7, "x"):
        assert not core.on_command("left", bad)
    assert not core.on_command("middle", [0.0] * 7)
    assert core.dropped == 4 and core.episode()["dropped_commands"] == 4


def test_images_at_the_camera_rate_and_bad_settings_refused():
    core = SimBridgeCore(FakeEnv(episode_steps=100), control_hz=30, camera_hz=10)
    core.reset("t", 0, now=0.0)
    due = []
    for k in range(6):
        core.tick(now=k / 30)
        due.append(core.images_due())
    assert due == [False, False, True, False, False, True]
    with pytest.raises(ValueError, match="camera_hz"):
        SimBridgeCore(FakeEnv(), control_hz=30, camera_hz=60)
    with pytest.raises(ValueError, match="mode"):
        SimBridgeCore(FakeEnv(), control_hz=30, camera_hz=30, mode="fast")
