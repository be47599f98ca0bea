"""The twin's tasks, modelled on the RoboTwin tasks of the paper: objects, seeded randomisation,
language instruction, success predicate, step limit.

A task adds its object bodies to the MJCF (`objects_xml`), places and colours them from a seeded
generator (`randomize`), and judges the state (`success`). Ranges and sizes live in config/sim.yaml
(`tasks.<name>`). World frame: x toward the table, y left, z up; the table top is at z = table.height.
Free objects are bodies with a free joint; targets (pad, plate, coaster) are static bodies moved by
`model.body_pos` at reset.
"""
from __future__ import annotations

import numpy as np

from video2act.config import load_config

PALETTE = {  # colour name -> rgba; used where the colour is part of the instruction
    "red": (0.85, 0.15, 0.12, 1), "green": (0.15, 0.65, 0.2, 1), "blue": (0.15, 0.3, 0.85, 1),
    "yellow": (0.9, 0.8, 0.15, 1), "orange": (0.95, 0.5, 0.1, 1), "purple": (0.55, 0.2, 0.7, 1),
}
OBJECT_FRICTION = "1.2 0.02 0.002"
MIN_GAP = 0.05  # m between an object and the edge of its target at reset
OBJECT_SLOTS = 4  # bodies in `Task.object_state` (unused slots are zero): the most any task has
OBJECT_DIM = 4 * OBJECT_SLOTS  # x, y, z, yaw per body


def _free_body(name: str, geom: str, mass: float) -> str:
    return (f'<body name="{name}" pos="0 0 2"><freejoint name="{name}_free"/>'
            f'<geom name="{name}" {geom} mass="{mass}" friction="{OBJECT_FRICTION}" condim="4"/></body>')


def _static_disc(name: str, radius: float, half_h: float, rgba: str) -> str:
    return f'<body name="{name}" pos="0 0 0"><geom name="{name}" type="cylinder" size="{radius} {half_h}" rgba="{rgba}"/></body>'


def _set_free_pose(model, data, body: str, pos, yaw: float = 0.0) -> None:
    adr = model.jnt_qposadr[model.body(body).jntadr[0]]
    data.qpos[adr:adr + 3] = pos
    data.qpos[adr + 3:adr + 7] = (np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2))
    dof = model.jnt_dofadr[model.body(body).jntadr[0]]
    data.qvel[dof:dof + 6] = 0.0


def _touches_gripper(model, data, body: str) -> bool:
    """Whether any contact joins the body's geoms and a finger pad (the object is still held)."""
    bid = model.body(body).id
    for c in data.contact[: data.ncon]:
        b1, b2 = model.geom_bodyid[c.geom1], model.geom_bodyid[c.geom2]
        if bid in (b1, b2):
            other = b2 if b1 == bid else b1
            if "finger" in model.body(other).name:
                return True
    return False


def _upright(data, body: str, min_cos: float = 0.9) -> bool:
    return float(data.body(body).xmat[8]) > min_cos  # z axis of the body vs world z


class Task:
    """Base: `name`, `instruction` (set at randomize), `max_steps`, and the three hooks."""

    name = ""

    def __init__(self, sim: dict | None = None):
        self.sim = sim or load_config("sim.yaml")
        self.cfg = self.sim["tasks"][self.name]
        self.top = float(self.sim["table"]["height"])
        self.max_steps = int(self.cfg["max_steps"])
        self.instruction = ""

    def objects_xml(self) -> str:
        raise NotImplementedError

    def randomize(self, model, data, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def success(self, model, data) -> bool:
        raise NotImplementedError

    bodies: tuple = ()  # the task's object and target bodies, in the order of object_state

    def object_state(self, model, data) -> np.ndarray:
        """(OBJECT_DIM,) float32 [x, y, z, yaw] of each body in `bodies`, zero-padded: the ground truth a
        policy must otherwise read from the images (the sanity ladder's oracle input)."""
        out = np.zeros(OBJECT_DIM, dtype=np.float32)
        for i, body in enumerate(self.bodies):
            b = data.body(body)
            out[4 * i:4 * i + 3] = b.xpos
            out[4 * i + 3] = np.arctan2(b.xmat[3], b.xmat[0])  # yaw of the body's x axis
        return out

    def _xy(self, rng, key_x: str, key_y: str, side: float = 1.0) -> np.ndarray:
        return np.array([rng.uniform(*self.cfg[key_x]), side * rng.uniform(*self.cfg[key_y])])


class HandoverBlock(Task):
    """A bar lies on the left; the left arm lifts it by one end, the right arm takes the other end and
    places it on the blue pad on the right."""

    name = "handover_block"
    bodies = ("block", "pad")

    def objects_xml(self) -> str:
        sx, sy, sz = (v / 2 for v in self.cfg["block_size"])
        return (_free_body("block", f'type="box" size="{sx} {sy} {sz}" rgba="{_rgba("red")}"', 0.06)
                + _static_disc("pad", self.cfg["pad_radius"], 0.001, _rgba("blue")))

    def randomize(self, model, data, rng) -> None:
        bxy, pxy = self._xy(rng, "block_x", "block_y"), self._xy(rng, "pad_x", "pad_y")
        yaw = rng.uniform(-0.15, 0.15)
        _set_free_pose(model, data, "block", (*bxy, self.top + self.cfg["block_size"][2] / 2), yaw)
        model.body("pad").pos = (*pxy, self.top + 0.001)
        self.instruction = "Use the left arm to pick up the red block, hand it over to the right arm and place it on the blue pad."

    def success(self, model, data) -> bool:
        block, pad = data.body("block").xpos, model.body("pad").pos
        on_pad = np.linalg.norm(block[:2] - pad[:2]) < self.cfg["pad_radius"]
        resting = block[2] < self.top + self.cfg["block_size"][2] / 2 + 0.01
        return bool(on_pad and resting and not _touches_gripper(model, data, "block"))


class _PlaceOnTarget(Task):
    """One object on one side (the arm on that side places it) onto a target disc nearer the middle."""

    obj = target = ""
    obj_half_height = target_radius = target_half_h = 0.0

    def randomize(self, model, data, rng) -> None:
        side = 1.0 if rng.random() < 0.5 else -1.0
        obj_xy = self._xy(rng, f"{self.obj}_x", f"{self.obj}_y_abs", side)
        target_xy = self._xy(rng, f"{self.target}_x", f"{self.target}_y_abs", side)
        for _ in range(100):  # start off the target (bounded: the config ranges must allow it)
            if np.linalg.norm(obj_xy - target_xy) >= self.target_radius + MIN_GAP:
                break
            target_xy = self._xy(rng, f"{self.target}_x", f"{self.target}_y_abs", side)
        else:
            raise ValueError(f"{self.name}: config ranges leave no room for a {MIN_GAP} m gap between object and target")
        _set_free_pose(model, data, self.obj, (*obj_xy, self.top + self.obj_half_height), self._yaw(rng))
        model.body(self.target).pos = (*target_xy, self.top + self.target_half_h)
        self.arm = "left" if side > 0 else "right"

    def _yaw(self, rng) -> float:
        return 0.0

    def success(self, model, data) -> bool:
        obj, target = data.body(self.obj).xpos, model.body(self.target).pos
        inside = np.linalg.norm(obj[:2] - target[:2]) < self.target_radius
        resting = obj[2] < self.top + 2 * self.target_half_h + self.obj_half_height + 0.01
        return bool(inside and resting and _upright(data, self.obj) and not _touches_gripper(model, data, self.obj))


class PlaceContainerPlate(_PlaceOnTarget):
    """A coloured box container, randomly turned, goes onto the plate."""

    name = "place_container_plate"
    obj, target = "container", "plate"
    bodies = (obj, target)

    def __init__(self, sim=None):
        super().__init__(sim)
        self.obj_half_height = self.cfg["container_size"][2] / 2
        self.target_radius, self.target_half_h = self.cfg["plate_radius"], 0.005

    def objects_xml(self) -> str:
        sx, sy, sz = (v / 2 for v in self.cfg["container_size"])
        return (_free_body("container", f'type="box" size="{sx} {sy} {sz}" rgba="{_rgba("green")}"', 0.08)
                + _static_disc("plate", self.target_radius, self.target_half_h, "0.92 0.92 0.9 1"))

    def _yaw(self, rng) -> float:
        return rng.uniform(-np.pi / 4, np.pi / 4)

    def randomize(self, model, data, rng) -> None:
        super().randomize(model, data, rng)
        colour = list(PALETTE)[rng.integers(len(PALETTE))]
        model.geom("container").rgba = PALETTE[colour]
        self.instruction = f"Place the {colour} container onto the plate."


class PlaceEmptyCup(_PlaceOnTarget):
    """An empty cup goes upright onto the coaster."""

    name = "place_empty_cup"
    obj, target = "cup", "coaster"
    bodies = (obj, target)

    def __init__(self, sim=None):
        super().__init__(sim)
        self.obj_half_height = self.cfg["cup_height"] / 2
        self.target_radius, self.target_half_h = self.cfg["coaster_radius"], 0.003

    def objects_xml(self) -> str:
        r, hh = self.cfg["cup_radius"], self.cfg["cup_height"] / 2
        return (_free_body("cup", f'type="cylinder" size="{r} {hh}" rgba="0.95 0.95 0.97 1"', 0.05)
                + _static_disc("coaster", self.target_radius, self.target_half_h, "0.3 0.2 0.12 1"))

    def randomize(self, model, data, rng) -> None:
        super().randomize(model, data, rng)
        self.instruction = "Place the empty cup on the coaster."


class PickDualBottles(Task):
    """One bottle on each side; both arms lift them at the same time."""

    name = "pick_dual_bottles"
    bodies = ("bottle_left", "bottle_right")

    def objects_xml(self) -> str:
        r, hh = self.cfg["bottle_radius"], self.cfg["bottle_height"] / 2
        return "".join(_free_body(f"bottle_{arm}", f'type="cylinder" size="{r} {hh}" rgba="0.5 0.5 0.5 1"', 0.06)
                       for arm in ("left", "right"))

    def randomize(self, model, data, rng) -> None:
        colours = rng.choice(list(PALETTE), size=2, replace=False)
        for arm, side, colour in (("left", 1.0, colours[0]), ("right", -1.0, colours[1])):
            xy = self._xy(rng, "bottle_x", "bottle_y_abs", side)
            _set_free_pose(model, data, f"bottle_{arm}", (*xy, self.top + self.cfg["bottle_height"] / 2))
            model.geom(f"bottle_{arm}").rgba = PALETTE[colour]
        self.instruction = "Pick up both bottles with both arms at the same time."

    def success(self, model, data) -> bool:
        floor = self.top + self.cfg["bottle_height"] / 2 + self.cfg["lift_height"]
        return all(data.body(f"bottle_{arm}").xpos[2] > floor for arm in ("left", "right"))


def _rgba(colour: str) -> str:
    return " ".join(str(v) for v in PALETTE[colour])


TASKS = {t.name: t for t in (HandoverBlock, PlaceContainerPlate, PlaceEmptyCup, PickDualBottles)}


def make_task(name: str, sim: dict | None = None) -> Task:
    """A task instance by name; ValueError listing the known tasks otherwise."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {sorted(TASKS)}")
    return TASKS[name](sim)
