"""The MuJoCo twin: model, servos, grasp, seeded tasks, experts, env API, images."""
import numpy as np
import pytest

from video2act.config import load_config
from video2act.sim.env import CobotMagicEnv
from video2act.sim.experts import IK_TOL, make_expert, run_episode, run_expert
from video2act.sim.tasks import TASKS


@pytest.fixture(scope="module")
def env():
    e = CobotMagicEnv(image_size=(60, 80), render=False)
    yield e
    e.close()


def test_model_compiles_and_steps_random_controls_without_warnings(env):
    import mujoco

    env.reset("handover_block", 0)
    m, d = env.model, env.data
    rng = np.random.default_rng(0)
    lo, hi = m.actuator_ctrlrange[:, 0], m.actuator_ctrlrange[:, 1]
    for _ in range(int(1.0 / m.opt.timestep)):
        d.ctrl[:] = rng.uniform(lo, hi)
        mujoco.mj_step(m, d)
    assert all(w.number == 0 for w in d.warning), [(i, w.number) for i, w in enumerate(d.warning) if w.number]
    assert np.all(np.isfinite(d.qpos))


def test_home_pose_matches_v3_kinematics(env):
    env.reset("pick_dual_bottles", 0)
    sim = load_config("sim.yaml")
    flange = env.data.body("left_link6").xpos - np.array([sim["mounting"]["base_x"], sim["mounting"]["base_separation"] / 2, sim["table"]["height"]])
    assert np.allclose(flange, [0.380, 0.0, 0.381], atol=0.003)  # piper_kinematics.md section 5


def test_arm_follows_a_joint_ramp_within_speed_limits(env):
    obs = env.reset("pick_dual_bottles", 0)
    limit = np.array(load_config("robot.yaml")["robot"]["max_velocity"][:6])
    start = obs["state"].astype(float)
    errors, speeds = [], []
    for k in range(1, 46):  # 1.5 s, joints 1..3 ramp at 0.8 rad/s, wrist at 1.2 rad/s
        target = start.copy()
        target[[0, 1, 2]] += np.array([1, -1, -1]) * 0.8 * min(k, 30) / 30
        target[[3, 4, 5]] += 1.2 * min(k, 30) / 30
        obs, *_ = env.step(target)
        errors.append(np.abs(obs["state"][:6] - target[:6]))
        speeds.append(np.abs(env.joint_velocity()[:6]))
    assert np.max(errors[-1]) < 0.01          # settled on the target
    assert np.max(np.array(errors)) < 0.06    # tracking lag while moving
    assert np.all(np.max(speeds, axis=0) < limit * 1.05)
    # a step command is slowed to the hardware speed cap
    env.reset("pick_dual_bottles", 0)
    jump = env.home.copy(); jump[0] += 1.5
    env.step(jump)
    for _ in range(5):
        env.step(jump)
        assert abs(env.joint_velocity()[0]) < limit[0] * 1.1


def test_grasped_bottles_stay_in_the_grippers_while_lifting(env):
    ok, _ = run_episode(env, "pick_dual_bottles", 1)
    assert ok
    top = load_config("sim.yaml")["table"]["height"]
    hold = env.state().astype(float)
    hold[[6, 13]] = 0.0  # keep squeezing
    for _ in range(30):  # hold the lifted pose for 1 s more
        env.step(hold)
    for arm in ("left", "right"):
        assert env.data.body(f"bottle_{arm}").xpos[2] > top + 0.06 + 0.08


@pytest.mark.parametrize("task", list(TASKS))
def test_reset_is_seeded(env, task):
    def poses(seed):
        env.reset(task, seed)
        return np.concatenate([env.data.qpos.copy(), env.model.body_pos.ravel().copy()])

    assert np.array_equal(poses(3), poses(3))
    assert not np.allclose(poses(3), poses(4))


# Seeds 0/1 of handover_block failed before (the left gripper turned by pi on the way to the hand-over,
# swinging the bar round, and the right arm reached for the end the left held); seeds 11/13 of
# place_container_plate failed before (the straight tool line to the approach pose ran j4 into its limit).
@pytest.mark.parametrize("task,seeds", [("pick_dual_bottles", (10, 11)), ("place_empty_cup", (10, 11)),
                                        ("place_container_plate", (11, 13)), ("handover_block", (0, 1))])
def test_expert_succeeds_well_within_the_step_limit(env, task, seeds):
    for seed in seeds:
        episode = run_expert(env, task, seed)
        assert episode.success, (seed, episode.failure())
        assert episode.steps < env.task.max_steps / 1.3  # the limit leaves room for a slower policy


def test_expert_path_is_a_tool_line_where_ik_can_follow_it_else_a_joint_line_to_the_goal(env):
    def approach(seed):  # the first goal of the place_container_plate expert: open above the container
        env.reset("place_container_plate", seed)
        ex = make_expert(env)
        p, r = ex.body_pose("container")
        z = ex.grasp_height(2 * p[2] - ex.bottom("container"))
        yaw = np.arctan2(r[1, 0], r[0, 0])
        above = np.array([p[0], p[1], z + ex.approach])
        arm = env.task.arm
        return ex, arm, above, ex.grasp_rotation(arm, [[p[0], p[1], z], above], [yaw + k * np.pi / 2 for k in range(4)])

    def off_line(ex, arm, way, start, goal):
        tool = np.array([ex.ik[arm].fk(q)[0] for q in way])
        u = (goal - start) / np.linalg.norm(goal - start)
        rel = tool - start
        return np.max(np.linalg.norm(rel - np.outer(rel @ u, u), axis=1))

    # seed 11: the straight tool line is reachable (an unsynchronised position/rotation line stalled at j4's limit)
    # seed 0: the straight line runs the wrist pitch j5 into its limit; the joints go round it
    for seed, on_line in ((11, True), (0, False)):
        ex, arm, above, rot = approach(seed)
        start = ex.tcp(arm)[0]
        way, err = ex.path(arm, above, rot)
        assert err < IK_TOL
        assert np.linalg.norm(ex.ik[arm].fk(way[-1])[0] - above) < 2e-3
        assert (off_line(ex, arm, way, start, above) < 2e-3) == on_line, seed


def test_env_api_shapes_and_images():
    env = CobotMagicEnv(image_size=(48, 64), control_hz=30, render=True)
    obs = env.reset("place_empty_cup", 0)
    assert set(obs) == {"images", "state", "instruction", "time", "objects"}
    cup, coaster = obs["objects"][:4], obs["objects"][4:8]  # true poses (the sanity ladder's oracle input)
    assert obs["objects"].shape == (16,) and not obs["objects"][8:].any()
    assert 0.27 <= cup[0] <= 0.37 and 0.1 <= abs(cup[1]) <= 0.22 and cup[2] > 0.75 and coaster[2] < cup[2]
    assert obs["state"].dtype == np.float32 and obs["state"].shape == (14,)
    assert "cup" in obs["instruction"]
    for key in ("head", "left", "right"):
        img = obs["images"][key]
        assert img.shape == (48, 64, 3) and img.dtype == np.uint8
        assert img.std() > 5.0  # not a constant image
    # the fingers (dark grey pads) are in the wrist cameras' view, not clipped by the near plane
    for key in ("left", "right"):
        v = obs["images"][key].max(axis=2)
        assert np.mean((v > 5) & (v < 70)) > 0.01, key
    assert (env.model.vis.global_.offheight, env.model.vis.global_.offwidth) == (48, 64)  # buffer = image size
    obs2, success, done, info = env.step(np.full(14, 99.0))  # clamped to the limits
    assert obs2["time"] == pytest.approx(1 / 30, abs=1e-6)
    assert not done and info["step"] == 1
    assert np.all(obs2["state"][[6, 13]] <= 0.07 + 1e-3)
    with pytest.raises(ValueError):
        env.step(np.zeros(13))
    with pytest.raises(ValueError):
        env.reset("no_such_task", 0)
    env.close()


@pytest.mark.parametrize("task", ["place_container_plate", "place_empty_cup"])
def test_objects_start_off_their_targets_for_many_seeds(env, task):
    t = TASKS[task]
    for seed in range(100):
        env.reset(task, seed)
        obj, target = env.data.body(t.obj).xpos, env.model.body(t.target).pos
        assert np.linalg.norm(obj[:2] - target[:2]) > env.task.target_radius
        assert not env.success()
