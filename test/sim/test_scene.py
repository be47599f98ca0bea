"""Scenes of the twin (video2act.sim.scene): clean unchanged, randomized seeded and within its bounds."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from video2act.config import load_config
from video2act.sim.env import CobotMagicEnv
from video2act.sim.experts import make_expert, run_expert
from video2act.sim.scene import CAMERA_NAMES, HIDDEN_GROUP, MAX_DISTRACTORS, quat_angle
from video2act.sim.tasks import TASKS

SIM = load_config("sim.yaml")
CFG = SIM["scene_randomization"]
# Seed 7, 48x64, the first 10 expert steps (clean_golden.json): qpos after the 10th step and the mean pixel of the
# head / left / right images (image means recorded with the code before scenes existed, commit 359dbf1). Within
# one machine clean and default scenes must agree bit for bit; across machines MuJoCo's SIMD paths differ in the
# last bits (an AMD EPYC with AVX-512 gave other sha256 digests for all four tasks than the CI machine that had
# recorded them), so the golden states compare to 1e-4 rad / m and the images to half a grey level.
CLEAN_GOLDEN = json.loads((Path(__file__).with_name("clean_golden.json")).read_text())


def _rollout(env, task, seed=7, steps=10):
    obs = env.reset(task, seed)
    expert = make_expert(env)
    states, images, h = [], [], hashlib.sha256()
    for _ in range(steps):
        h.update(env.data.qpos.tobytes())
        h.update(obs["state"].tobytes())
        states.append(env.data.qpos.copy())
        images.append(np.concatenate([obs["images"][c] for c in ("head", "left", "right")], axis=1))
        obs, *_ = env.step(expert.act())
    means = [round(float(obs["images"][c].mean()), 2) for c in ("head", "left", "right")]
    return h.hexdigest()[:16], means, np.array(states), np.array(images)


@pytest.fixture(scope="module")
def rand():
    e = CobotMagicEnv(image_size=(48, 64), render=True, scene="randomized")
    yield e
    e.close()


@pytest.fixture(scope="module")
def fast_rand():
    e = CobotMagicEnv(render=False, scene="randomized")
    yield e
    e.close()


def test_clean_scene_is_the_twin_of_before_bit_for_bit():
    with CobotMagicEnv(image_size=(48, 64)) as default, CobotMagicEnv(image_size=(48, 64), scene="clean") as clean:
        for task, golden in CLEAN_GOLDEN.items():
            h0, m0, s0, i0 = _rollout(default, task)
            h1, m1, s1, i1 = _rollout(clean, task)
            assert h1 == h0 and np.array_equal(s0, s1) and np.array_equal(i0, i1), f"{task}: clean != default scene"
            np.testing.assert_allclose(s1[-1], golden["qpos_after_10_steps"], atol=1e-4, rtol=0,
                                       err_msg=f"{task}: clean-scene physics changed (the shipped policy is measured on it)")
            assert np.allclose(m1, golden["image_means"], atol=0.5), (task, m1, golden["image_means"])
        assert clean._scene is None and clean.model.nbody == default.model.nbody


def test_unknown_scene_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="clean.*randomized"):
        CobotMagicEnv(scene="noisy")


def _scene_fields(env):
    m = env.model
    return np.concatenate([m.light_dir.ravel(), m.light_diffuse.ravel(), m.vis.headlight.ambient, m.mat_rgba.ravel(),
                           m.geom_matid.astype(float), m.cam_pos.ravel(), m.cam_quat.ravel(), m.body_pos.ravel(),
                           m.geom_size.ravel(), m.geom_group.astype(float), m.geom_rgba.ravel()])


def test_same_seed_gives_the_same_scene_and_other_seeds_other_scenes(rand):
    a = rand.reset("place_empty_cup", 3)
    fields = _scene_fields(rand)
    b = rand.reset("place_empty_cup", 4)
    other = _scene_fields(rand)
    c = rand.reset("place_empty_cup", 3)
    assert np.array_equal(_scene_fields(rand), fields)
    for cam in ("head", "left", "right"):
        assert np.array_equal(a["images"][cam], c["images"][cam])
        assert np.abs(a["images"][cam].astype(int) - b["images"][cam]).mean() > 5
    m = rand.model
    assert not np.allclose(fields, other)
    # each part of the scene differs between seeds: light, table colour, cameras
    draws = []
    for seed in range(6):
        rand.reset("place_empty_cup", seed)
        mat = m.geom_matid[m.geom("table").id]
        draws.append((m.light_dir[0].copy(), m.mat_rgba[mat].copy(), m.cam_pos[m.camera("head").id].copy()))
    for part in range(3):
        assert len({tuple(np.round(d[part], 6)) for d in draws}) == 6


def test_task_placement_and_instruction_are_the_same_in_both_scenes(fast_rand):
    with CobotMagicEnv(render=False) as clean:
        for task in TASKS:
            for seed in (0, 5):
                a, b = clean.reset(task, seed), fast_rand.reset(task, seed)
                assert a["instruction"] == b["instruction"]
                assert np.allclose(a["objects"], b["objects"], atol=1e-9), (task, seed)


@pytest.mark.parametrize("task", list(TASKS))
def test_distractors_leave_the_expert_trajectory_unchanged(fast_rand, task):
    """Clear of every grasp, path and target: the task's physics of a seed is the same, step for step."""
    with CobotMagicEnv(render=False) as clean:
        trajectories = []
        for env in (clean, fast_rand):
            states = []
            episode = run_expert(env, task, 1, on_step=lambda obs: states.append(obs["state"]))
            assert episode.success
            trajectories.append(np.array(states))
        assert trajectories[0].shape == trajectories[1].shape
        assert np.allclose(trajectories[0], trajectories[1], atol=1e-9)


def test_camera_jitter_stays_within_the_configured_bounds(fast_rand):
    with CobotMagicEnv(render=False) as clean:
        clean.reset("pick_dual_bottles", 0)
        pos0 = {c: clean.model.cam_pos[clean.model.camera(c).id].copy() for c in CAMERA_NAMES}
        quat0 = {c: clean.model.cam_quat[clean.model.camera(c).id].copy() for c in CAMERA_NAMES}
    bound, max_deg = CFG["cameras"]["position"], CFG["cameras"]["rotation_deg"]
    offsets, angles = [], []
    for seed in range(40):
        fast_rand.reset("pick_dual_bottles", seed)
        m = fast_rand.model
        for c in CAMERA_NAMES:
            cid = m.camera(c).id
            offsets.append(m.cam_pos[cid] - pos0[c])
            angles.append(np.degrees(quat_angle(m.cam_quat[cid], quat0[c])))
        head = fast_rand.data.cam_xpos[m.camera("head").id]  # the world pose follows (what renders)
        assert np.all(np.abs(head - SIM["cameras"]["head"]["pos"]) <= bound + 1e-9)
    offsets, angles = np.abs(offsets), np.array(angles)
    assert offsets.max() <= bound + 1e-12 and angles.max() <= max_deg + 1e-9
    assert offsets.max() > 0.8 * bound and angles.max() > 0.8 * max_deg  # the jitter is really used
    assert 1.0 <= CFG["cameras"]["position"] * 100 * np.sqrt(3) <= 2.0 and max_deg <= 2.0  # the issue's +-1-2 cm, 2 deg


def _footprint(m, g):
    return float(np.hypot(*m.geom_size[g][:2])) if m.geom_type[g] == 6 else float(m.geom_size[g][0])  # 6: box


def test_distractors_stand_in_their_regions_clear_of_the_task_bodies(fast_rand):
    import mujoco

    counts = set()
    regions = np.array(CFG["distractors"]["regions"], float)
    top = SIM["table"]["height"]
    for task in TASKS:
        for seed in range(12):
            fast_rand.reset(task, seed)
            m, d = fast_rand.model, fast_rand.data
            shown = [g for g in range(m.ngeom) if m.geom(g).name.startswith("distractor") and m.geom_group[g] != HIDDEN_GROUP]
            counts.add(len(shown))
            assert CFG["distractors"]["count"][0] <= len(shown) <= CFG["distractors"]["count"][1]
            for g in shown:
                xy, r = d.geom_xpos[g][:2], _footprint(m, g)
                assert any(x0 <= xy[0] <= x1 and y0 <= xy[1] <= y1 for x0, x1, y0, y1 in regions), (task, seed, xy)
                bottom = d.geom_xpos[g][2] - (m.geom_size[g][2] if m.geom_type[g] == 6 else m.geom_size[g][1])
                assert abs(bottom - top) < 1e-6  # standing on the table
                for body in fast_rand.task.bodies:
                    bid = m.body(body).id
                    rb = m.geom_rbound[m.geom_bodyid == bid].max()
                    assert np.linalg.norm(xy - d.xpos[bid][:2]) >= r + rb + CFG["distractors"]["clearance"] - 1e-9
            for i in range(d.ncon):  # nothing of the task touches a distractor
                names = {m.geom(d.contact[i].geom1).name, m.geom(d.contact[i].geom2).name}
                assert not any(n.startswith("distractor") for n in names), (task, seed, names)
    assert counts == set(range(1, MAX_DISTRACTORS + 1))


def test_distractor_regions_lie_outside_every_task_range():
    """The config promise: a distractor's whole footprint stays off every object / target range (grown by the
    largest object radius) and off the grippers' low working volume (measured over the experts)."""
    d = CFG["distractors"]
    reach = max(np.hypot(*[d["box_half_size"][1]] * 2), d["cylinder_radius"][1])
    grown = [(x0 - reach, x1 + reach, y0 - reach, y1 + reach) for x0, x1, y0, y1 in d["regions"]]

    def overlaps(a, b):
        return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]

    margin = 0.08  # the largest task radius (plate)
    for name, cfg in SIM["tasks"].items():
        for key, xr in cfg.items():
            if not key.endswith("_x"):
                continue
            stem = key[:-2]
            yr = cfg.get(f"{stem}_y") or cfg[f"{stem}_y_abs"]
            boxes = [(xr[0], xr[1], min(yr), max(yr))]
            if f"{stem}_y_abs" in cfg:
                boxes.append((xr[0], xr[1], -max(yr), -min(yr)))
            for bx in boxes:
                task_box = (bx[0] - margin, bx[1] + margin, bx[2] - margin, bx[3] + margin)
                assert not any(overlaps(g, task_box) for g in grown), (name, key)
    grippers = (0.25, 0.42, -0.27, 0.27)
    assert not any(overlaps(g, grippers) for g in grown)


def test_randomized_images_stay_in_range_and_show_the_distractors(rand):
    obs = rand.reset("pick_dual_bottles", 2)
    m = rand.model
    head = obs["images"]["head"].astype(float)
    assert 30 < head.mean() < 225 and head.std() > 10  # lit, neither black nor washed out
    shown = [g for g in range(m.ngeom) if m.geom(g).name.startswith("distractor") and m.geom_group[g] != HIDDEN_GROUP]
    saved = m.geom_group[shown].copy()
    m.geom_group[shown] = HIDDEN_GROUP
    try:
        without = rand.render()["head"].astype(float)
    finally:
        m.geom_group[shown] = saved
    assert np.abs(head - without).max() > 50  # the distractors are in view of the head camera
