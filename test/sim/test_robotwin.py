"""RoboTwin backend against a stand-in with RoboTwin's contract; missing RoboTwin -> clear error."""
import numpy as np
import pytest

from video2act.sim.robotwin import RoboTwinEnv, RoboTwinUnavailable, import_robotwin_task


class StandInTask:
    """RoboTwin's task surface: setup_demo, get_obs, take_action(qpos), check_success, close_env."""

    def __init__(self):
        self.actions, self.closed = [], False

    def setup_demo(self, seed, **kwargs):
        self.q = np.full(14, 0.1)
        self.q[[6, 13]] = 0.5  # grippers half open in RoboTwin's [0, 1]

    def get_obs(self):
        cam = lambda v: {"rgb": np.full((240, 320, 3), v, np.uint8)}
        return {"observation": {"head_camera": cam(10), "left_camera": cam(20), "right_camera": cam(30)},
                "joint_action": {"vector": self.q.copy()}}

    def take_action(self, action, action_type="qpos"):
        assert action_type == "qpos"
        self.actions.append(np.asarray(action, float).copy())
        self.q = np.asarray(action, float).copy()

    def check_success(self):
        return len(self.actions) >= 3

    def get_instruction(self):
        return "hand the block over"

    def close_env(self):
        self.closed = True


def test_robotwin_backend_converts_and_steps_lockstep():
    made = []
    env = RoboTwinEnv(image_size=(120, 160), task_factory=lambda name: made.append(StandInTask()) or made[-1])
    obs = env.reset("handover_block", 3)
    assert obs["instruction"] == "hand the block over"
    assert obs["state"].shape == (14,) and obs["state"].dtype == np.float32
    assert obs["state"][6] == pytest.approx(0.035)  # 0.5 of the 0.07 m stroke
    assert obs["images"]["head"].shape == (120, 160, 3) and obs["images"]["right"][0, 0, 0] == 30
    target = np.zeros(14); target[6], target[13] = 0.07, 0.014
    obs, success, done, info = env.step(target)
    sent = made[-1].actions[-1]
    assert sent[6] == pytest.approx(1.0) and sent[13] == pytest.approx(0.2)  # metres -> [0, 1]
    assert obs["state"][13] == pytest.approx(0.014)
    assert not success and info["step"] == 1 and obs["time"] == pytest.approx(1 / 30)
    env.step(target)
    _, success, done, _ = env.step(target)
    assert success and done
    with pytest.raises(ValueError):
        env.step(np.full(14, np.nan))
    env.close()
    assert made[-1].closed


def test_missing_robotwin_says_how_to_install():
    with pytest.raises(RoboTwinUnavailable, match="Install RoboTwin"):
        import_robotwin_task("handover_block")
