"""Hindsight keyframes (data/keyframes.py): grasp / release targets from the recorded joints alone."""
import numpy as np
import pytest

from video2act.data.keyframes import SLOTS, gripper_events, keyframe_targets
from video2act.runtime.kinematics import DualArmKinematics


def test_events_are_the_half_stroke_crossings():
    opening = np.array([0.065] * 5 + [0.04, 0.02, 0.0, 0.0, 0.0] + [0.03, 0.065, 0.065])
    closes, opens = gripper_events(opening)
    assert closes.tolist() == [6]  # 0.02 is the first command below the half stroke 0.0325
    assert opens.tolist() == [11]
    # a gripper that never moves (a one-arm task's idle arm) has no events
    assert [e.size for e in gripper_events(np.full(20, 0.04))] == [0, 0]


def test_targets_are_the_fingertips_at_the_next_event_and_zero_after_the_last():
    t = 30
    rng = np.random.default_rng(0)
    state = np.tile([0.0, 1.57, -1.35, 0.0, 0.0, 0.0, 0.065] * 2, (t, 1)) + rng.normal(0, 0.05, (t, 14))
    action = state.copy()
    action[:, 6] = np.where((np.arange(t) >= 10) & (np.arange(t) < 20), 0.0, 0.065)  # left closes at 10, opens at 20
    action[:, 13] = 0.065  # right never grasps
    out = keyframe_targets(state, action).reshape(t, len(SLOTS), 3)
    kin = DualArmKinematics.from_config()
    grasp, release = kin.fingertip_positions(state[10])[0], kin.fingertip_positions(state[20])[0]
    np.testing.assert_allclose(out[:11, 0], np.tile(grasp, (11, 1)), atol=1e-6)  # up to and at the grasp
    assert not out[11:, 0].any()  # no grasp left after step 10
    np.testing.assert_allclose(out[:21, 1], np.tile(release, (21, 1)), atol=1e-6)
    assert not out[21:, 1].any() and not out[:, 2:].any()


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"\(T, 14\)"):
        keyframe_targets(np.zeros((5, 14)), np.zeros((5, 7)))


@pytest.mark.parametrize("task", ["pick_dual_bottles", "place_empty_cup"])
def test_grasp_targets_land_on_the_objects_the_twin_knows(task):
    """The label-free target and the simulator's label agree: on an expert episode each arm's first grasp
    target is within 2 cm (x, y) of an object's true position at the start."""
    from video2act.data.generate import record_expert_episode
    from video2act.sim.env import CobotMagicEnv

    env = CobotMagicEnv(image_size=(24, 32), control_hz=30.0, render=False)
    try:
        episode, success = record_expert_episode(env, task, seed=3)
    finally:
        env.close()
    assert success
    targets = keyframe_targets(episode.state, episode.action).reshape(len(episode), len(SLOTS), 3)
    bodies = episode.objects[0].reshape(-1, 4)[:, :3]
    bodies = bodies[np.abs(bodies).sum(-1) > 0]
    grasps = [targets[0, s] for s in (0, 2) if targets[0, s].any()]
    assert len(grasps) == (2 if task == "pick_dual_bottles" else 1)
    for g in grasps:
        assert np.min(np.linalg.norm(bodies[:, :2] - g[:2], axis=1)) < 0.02
