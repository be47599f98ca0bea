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


def test_the_sampler_hands_the_model_head_image_targets_from_keyframes_or_objects():
    """data.windows projects the targets (the model holds no camera model): on an expert episode the grasp
    keyframes land within 2 px (of the 128-px-wide head image) of the projected true bottles; slots without a
    next event are not valid; asking for object targets where a dataset has no object poses is refused."""
    from dataclasses import replace

    from video2act.data.generate import record_expert_episode
    from video2act.data.windows import WindowSampler
    from video2act.sim.env import CobotMagicEnv

    env = CobotMagicEnv(image_size=(24, 32), control_hz=30.0, render=False)
    try:
        episode, success = record_expert_episode(env, "pick_dual_bottles", seed=4)
    finally:
        env.close()
    assert success
    tokens = [(np.zeros((len(episode), 2, 4), np.float32), np.zeros((len(episode), 2, 4), np.float32))]

    def batch(kind, ep=episode):
        return WindowSampler([ep], None, 8, 2, 4, tokens=tokens, keypoint_targets=kind).batch([(0, 0), (0, len(ep) - 1)])

    kf, obj = batch("keyframes"), batch("objects")
    assert kf["keypoint_targets"].shape == (2, len(SLOTS), 2) and kf["keypoint_valid"].shape == (2, len(SLOTS))
    # pick_dual_bottles: both arms grasp (slots 0, 2) and never release; at the last step nothing is ahead
    assert kf["keypoint_valid"][0].tolist() == [True, False, True, False]
    assert not kf["keypoint_valid"][1].any()
    bottles = obj["keypoint_targets"][0][obj["keypoint_valid"][0]].numpy()  # (2, 2)
    for slot in (0, 2):
        px = np.abs(bottles - kf["keypoint_targets"][0, slot].numpy()) * 63.5  # [-1, 1] -> px at 128 wide
        assert px.max(-1).min() < 2.0, (slot, px)
    assert "keypoint_targets" not in WindowSampler([episode], None, 8, 2, 4, tokens=tokens).batch([(0, 0)])
    with pytest.raises(ValueError, match="object poses"):
        batch("objects", replace(episode, objects=None))
    with pytest.raises(ValueError, match="keypoint_targets must be"):
        batch("labels")
