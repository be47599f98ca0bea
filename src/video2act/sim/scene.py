"""Scenes of the twin: "clean" (the tasks as they always were) or "randomized" (RoboTwin 2.0's randomized
setting): per episode, lighting, table and floor colour / texture, 1-3 distractor objects and a small
jitter of the three cameras' poses, all drawn from the episode seed.

    env = CobotMagicEnv(scene="randomized")
    env.reset("place_empty_cup", seed=3)   # same cup / coaster placement as scene "clean", seed 3

The ranges live in config/sim.yaml `scene_randomization` (documented there). Why this shape:
- Its own RNG stream (`scene_rng(seed, task)`): the task still draws its placement from default_rng(seed), so a
  seed's objects, targets and instruction are the same in both scenes and the scripted expert does the same.
- The clean scene compiles exactly the MJCF it compiled before scenes existed and touches nothing at reset,
  so its physics and images are bit-identical (test/sim/test_scene.py holds their hashes).
- The randomized model is compiled once per task with spare parts (pattern textures, table materials,
  distractor slots with a box and a cylinder each); a reset only writes MjModel fields (light_*,
  headlight, geom_rgba / size / matid, mat_*, body_pos, cam_pos / cam_quat): ~0.5 ms per reset
  (`python -m video2act.sim.scene`: reset 1.4 ms clean, 2.2 ms randomized, physics only), where recompiling
  would cost ~6 ms plus a new renderer context (~0.1 s with software EGL) every episode.
- With the distractors clear of every gripper path the task's physics is the same in both scenes: an
  expert's trajectory of a seed is identical, so is its success (tested).
- Distractors stand only in config regions that lie outside every task's object / target ranges and the
  grippers' working volume, and keep `clearance` from the task's bodies as placed: they cannot block a
  grasp, a path or a target, so the experts succeed as in the clean scene.
"""
from __future__ import annotations

import numpy as np

from video2act.config import load_config

SCENES = ("clean", "randomized")
SCENE_STREAM = 0x5CE7E  # second entropy word: the scene's generator is independent of the task's default_rng(seed)
PATTERNS = ("flat", "checker", "gradient")  # MuJoCo builtin textures; a material's rgba tints them
MAX_DISTRACTORS = 3
HIDDEN_GROUP = 5  # geom group no camera draws (MuJoCo shows groups 0-2 by default)
CAMERA_NAMES = ("head", "left_wrist", "right_wrist")


def check_scene(scene: str) -> str:
    """`scene` if it is known; ValueError naming the choices otherwise."""
    if scene not in SCENES:
        raise ValueError(f"scene must be one of {list(SCENES)}, got {scene!r}")
    return scene


def scene_rng(seed: int, task: str) -> np.random.Generator:
    """The episode's scene generator: a stream of its own beside the task's default_rng(seed); the task's name
    is mixed in so that the tasks of a multi-task dataset do not share one set of scenes."""
    import zlib

    return np.random.default_rng([int(seed), SCENE_STREAM, zlib.crc32(task.encode())])


def scene_config(sim: dict | None = None) -> dict:
    sim = sim or load_config("sim.yaml")
    if "scene_randomization" not in sim:
        raise KeyError("config/sim.yaml has no scene_randomization section (needed by scene 'randomized')")
    return sim["scene_randomization"]


def scene_assets_xml(sim: dict | None = None) -> str:
    """Textures and materials of the randomized scene (inserted in <asset>): one table material per pattern.
    Patterns are grey (white / light grey): the material's random rgba gives them their colour."""
    cfg = scene_config(sim)["table"]
    size = int(cfg["texture_size"])
    builtin = {"flat": 'builtin="flat" mark="random" random="0.02" rgb1="1 1 1" markrgb="0.7 0.7 0.7"',
               "checker": 'builtin="checker" rgb1="1 1 1" rgb2="0.72 0.72 0.72"',
               "gradient": 'builtin="gradient" rgb1="1 1 1" rgb2="0.55 0.55 0.55"'}
    return "".join(f'<texture name="scene_{p}" type="2d" {builtin[p]} width="{size}" height="{size}"/>'
                   f'<material name="scene_table_{p}" texture="scene_{p}" texrepeat="4 4"/>' for p in PATTERNS)


def distractors_xml(sim: dict | None = None) -> str:
    """MAX_DISTRACTORS static bodies, each with a box and a cylinder geom (one shown per episode, or none).
    Compiled on the table's far edge (the model's extent, hence the cameras' near plane, stays that of the
    clean scene); placed at reset."""
    sim = sim or load_config("sim.yaml")
    top, tx = float(sim["table"]["height"]), float(sim["table"]["center_x"])
    bodies = ""
    for i in range(MAX_DISTRACTORS):
        bodies += (f'<body name="distractor{i}" pos="{tx + 0.3:.3f} {0.2 * (i - 1):.3f} {top + 0.02:.3f}">'
                   f'<geom name="distractor{i}_box" type="box" size="0.02 0.02 0.02" friction="1 0.02 0.002"/>'
                   f'<geom name="distractor{i}_cylinder" type="cylinder" size="0.02 0.02" friction="1 0.02 0.002"/>'
                   f'</body>')
    return bodies


def _uniform(rng, lo_hi, size=None):
    lo, hi = lo_hi
    return rng.uniform(float(lo), float(hi), size)


def _quat_about(axis, angle: float) -> np.ndarray:
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis])


def _quat_mul(a, b) -> np.ndarray:
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return np.array([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                     w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2])


def quat_angle(a, b) -> float:
    """Rotation angle (rad) between two unit quaternions."""
    return float(2 * np.arccos(np.clip(abs(np.dot(a, b)), 0.0, 1.0)))


class SceneRandomizer:
    """Bound to one compiled randomized model: remembers its nominal values and redraws the scene per reset."""

    def __init__(self, model, sim: dict | None = None):
        self.sim = sim or load_config("sim.yaml")
        self.cfg = scene_config(self.sim)
        self.top = float(self.sim["table"]["height"])
        m = model
        self.light = 0  # the scene's one directional light
        table_mat = m.material("table").id
        self.table_geoms = np.flatnonzero(m.geom_matid == table_mat)
        self.table_mats = [m.material(f"scene_table_{p}").id for p in PATTERNS]
        self.floor_mat = m.material("floor").id
        self.cams = [m.camera(c).id for c in CAMERA_NAMES]
        self.cam_pos0 = m.cam_pos[self.cams].copy()
        self.cam_quat0 = m.cam_quat[self.cams].copy()
        self.slots = [(m.body(f"distractor{i}").id, m.geom(f"distractor{i}_box").id, m.geom(f"distractor{i}_cylinder").id)
                      for i in range(MAX_DISTRACTORS)]
        self.last: dict = {}  # what the latest apply() drew (tests, pictures)
        # every field apply() may write, as compiled: restored first, so a scene depends on its seed alone
        bodies = [b for b, _, _ in self.slots]
        geoms = [g for _, *gs in self.slots for g in gs]
        self._nominal = [(name, idx, getattr(m, name)[idx].copy()) for name, idx in (
            ("mat_rgba", slice(None)), ("mat_texrepeat", slice(None)), ("body_pos", bodies), ("body_quat", bodies),
            ("geom_size", geoms), ("geom_aabb", geoms), ("geom_rbound", geoms), ("geom_rgba", geoms))]

    def apply(self, model, data, rng: np.random.Generator, task) -> dict:
        """Draw and write this episode's scene; call after task.randomize (distractors avoid its bodies)."""
        for name, idx, value in self._nominal:
            getattr(model, name)[idx] = value
        self.last = {"light": self._light(model, rng), "table": self._table(model, rng),
                     "cameras": self._cameras(model, rng)}
        self.last["distractors"] = self._distractors(model, data, rng, task)
        return self.last

    def _light(self, m, rng) -> dict:
        c = self.cfg["light"]
        tilt, azimuth = np.radians(_uniform(rng, c["tilt_deg"])), rng.uniform(0, 2 * np.pi)
        direction = np.array([np.sin(tilt) * np.cos(azimuth), np.sin(tilt) * np.sin(azimuth), -np.cos(tilt)])
        colour = 1.0 + rng.uniform(-c["tint"], c["tint"], 3)  # warm / cool cast
        diffuse = _uniform(rng, c["diffuse"]) * colour
        m.light_dir[self.light] = direction
        m.light_diffuse[self.light] = np.clip(diffuse, 0, 1)
        m.vis.headlight.ambient[:] = _uniform(rng, c["ambient"]) * colour
        m.vis.headlight.diffuse[:] = _uniform(rng, c["headlight_diffuse"]) * colour
        return {"dir": direction, "diffuse": m.light_diffuse[self.light].copy()}

    def _table(self, m, rng) -> dict:
        c = self.cfg["table"]
        k = int(rng.integers(len(PATTERNS)))
        mat = self.table_mats[k]
        m.geom_matid[self.table_geoms] = mat
        m.mat_rgba[mat] = (*_uniform(rng, c["rgb"], 3), 1.0)
        m.mat_texrepeat[mat] = np.full(2, _uniform(rng, c["texrepeat"]))
        m.mat_rgba[self.floor_mat] = (*_uniform(rng, self.cfg["floor_rgb"], 3), 1.0)
        return {"pattern": PATTERNS[k], "rgba": m.mat_rgba[mat].copy()}

    def _cameras(self, m, rng) -> dict:
        """Each camera moved by up to `position` m per axis and turned by up to `rotation_deg` about a random
        axis (in its own frame: head in the world, wrists on the grippers)."""
        c = self.cfg["cameras"]
        out = {}
        for i, cam in enumerate(self.cams):
            axis = rng.normal(size=3)
            angle = np.radians(rng.uniform(-c["rotation_deg"], c["rotation_deg"]))
            m.cam_pos[cam] = self.cam_pos0[i] + rng.uniform(-c["position"], c["position"], 3)
            m.cam_quat[cam] = _quat_mul(self.cam_quat0[i], _quat_about(axis, angle))
            out[CAMERA_NAMES[i]] = (m.cam_pos[cam].copy(), m.cam_quat[cam].copy())
        return out

    def _keep_out(self, m, data, task) -> list[tuple[np.ndarray, float]]:
        """(xy, radius) of each task body as placed (its widest geom's bounding sphere)."""
        out = []
        for body in task.bodies:
            bid = m.body(body).id
            geoms = np.flatnonzero(m.geom_bodyid == bid)
            out.append((data.xpos[bid][:2].copy(), float(m.geom_rbound[geoms].max())))
        return out

    def _distractors(self, m, data, rng, task) -> list[dict]:
        """1-3 boxes / cylinders of random size and colour in the config regions, `clearance` away from
        the task's bodies and from each other (rejection sampling; a slot that finds no room stays hidden)."""
        import mujoco

        mujoco.mj_kinematics(m, data)  # the task's bodies where task.randomize just put them
        c = self.cfg["distractors"]
        n = int(rng.integers(int(c["count"][0]), int(c["count"][1]) + 1))
        regions = [np.asarray(r, float) for r in c["regions"]]  # [x_lo, x_hi, y_lo, y_hi] of centres
        areas = np.array([(r[1] - r[0]) * (r[3] - r[2]) for r in regions])
        occupied = self._keep_out(m, data, task)
        placed = []
        for i, (bid, box, cyl) in enumerate(self.slots):
            for g in (box, cyl):  # hidden: not drawn, colliding with nothing
                m.geom_group[g], m.geom_contype[g], m.geom_conaffinity[g] = HIDDEN_GROUP, 0, 0
            if i >= n:
                continue
            shape = "box" if rng.random() < 0.5 else "cylinder"
            g = box if shape == "box" else cyl
            if shape == "box":
                half = np.array([*_uniform(rng, c["box_half_size"], 2), _uniform(rng, c["half_height"])])
                radius = float(np.hypot(half[0], half[1]))
                m.geom_aabb[g] = [0, 0, 0, *half]
            else:
                r, hh = _uniform(rng, c["cylinder_radius"]), _uniform(rng, c["half_height"])
                half, radius = np.array([r, hh, 0.0]), r
                m.geom_aabb[g] = [0, 0, 0, r, r, hh]
            height = half[2] if shape == "box" else half[1]
            m.geom_size[g] = half
            m.geom_rbound[g] = float(np.linalg.norm(m.geom_aabb[g][3:]))  # broad phase reads it
            rgba = (*_uniform(rng, c["rgb"], 3), 1.0)
            yaw = rng.uniform(-np.pi, np.pi)
            for _ in range(int(c["tries"])):
                region = regions[rng.choice(len(regions), p=areas / areas.sum())]
                xy = np.array([rng.uniform(region[0], region[1]), rng.uniform(region[2], region[3])])
                free = all(np.linalg.norm(xy - p) >= radius + r0 + c["clearance"] for p, r0 in occupied)
                apart = all(np.linalg.norm(xy - p) >= radius + r0 + c["spacing"] for p, r0 in placed)
                if free and apart:
                    break
            else:
                continue
            m.body_pos[bid] = (*xy, self.top + height)
            m.body_quat[bid] = _quat_about((0, 0, 1), yaw)
            m.geom_rgba[g] = rgba
            m.geom_group[g], m.geom_contype[g], m.geom_conaffinity[g] = 0, 1, 1
            placed.append((xy, radius))
        return [{"xy": p, "radius": r} for p, r in placed]


def bench(task: str = "place_empty_cup", resets: int = 50) -> dict:
    """ms per env.reset (physics only, no rendering) in both scenes, the scene draw's share of it, and one
    compile of the randomized model."""
    import time

    from video2act.sim.env import CobotMagicEnv

    out = {}
    for scene in SCENES:
        env = CobotMagicEnv(render=False, scene=scene)
        env.reset(task, 0)  # compile outside the timing
        start = time.perf_counter()
        for seed in range(resets):
            env.reset(task, seed)
        out[scene] = 1e3 * (time.perf_counter() - start) / resets
        if scene == "randomized":
            start = time.perf_counter()
            for seed in range(resets):
                env._scene.apply(env.model, env.data, scene_rng(seed, task), env.task)
            out["apply"] = 1e3 * (time.perf_counter() - start) / resets
            start = time.perf_counter()
            env._models.clear()
            env._load(task)
            out["compile"] = 1e3 * (time.perf_counter() - start)
        env.close()
    return out


if __name__ == "__main__":
    r = bench()
    print(f"reset: clean {r['clean']:.2f} ms, randomized {r['randomized']:.2f} ms "
          f"(scene draw {r['apply']:.3f} ms); compiling the randomized model {r['compile']:.0f} ms")
