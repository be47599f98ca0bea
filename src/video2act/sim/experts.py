"""Scripted experts for the twin's tasks: approach-grasp-lift-move-release plans run through IK.

Each plan is a generator that yields a 14-d joint target per control step. A `move` interpolates the
tool pose of each named arm toward its goal at `expert.max_linear_speed` and ANGULAR_SPEED, solves
DLS IK (video2act.sim.ik) every step, and caps every joint's change per step at
`expert.joint_speed_scale` x robot.yaml `safety.max_velocity` (gripper included), so the demonstrations
respect the same limits the robot's streamer enforces. Experts read privileged object poses from the
simulation (grasp points are computed when a phase starts, from where the object really is).

    env.reset(task, seed); expert = make_expert(env)
    while not done: obs, success, done, info = env.step(expert.act())
"""
from __future__ import annotations

import numpy as np

from video2act.sim.ik import ArmIK, rotation_error, top_down_rotation
from video2act.sim.model import ARMS

ANGULAR_SPEED = 1.5          # rad/s of the tool orientation
GRIP_OPEN = 0.065            # m: opening before a grasp (the Piper's stroke is 0.07)
GRASP_CLEARANCE = 0.034      # m: lowest tcp height above the table (pad tips stay off the table)
PAD_TOP_BELOW_OBJECT_TOP = 0.035  # m: tcp this far below an object's top keeps the gripper body above it
PITCHES = (0.0, 0.2, -0.2, 0.4, -0.4, 0.6, -0.6, 0.8, -0.8)  # rad of tool tilt tried in order
HANDOVER_POINT = (0.34, 0.0, 0.1)  # bar centre (x, y, height above the table) during the hand-over
SLICES = {"left": (slice(0, 6), 6), "right": (slice(7, 13), 13)}


def _rotate(rot: np.ndarray, rotvec: np.ndarray) -> np.ndarray:
    """Rotation `rot` turned by the world-frame rotation vector `rotvec` (Rodrigues)."""
    angle = np.linalg.norm(rotvec)
    if angle < 1e-12:
        return rot
    k = rotvec / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return (np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx) @ rot


class Expert:
    """Runs the task's plan; `act()` -> float (14,) joint target for the next step (holds when finished)."""

    def __init__(self, env):
        self.env = env
        cfg = env.sim["expert"]
        hz = env.control_hz
        self.joint_step = np.array(env.robot["safety"]["max_velocity"] * 2) * float(cfg["joint_speed_scale"]) / hz
        self.lin_step = float(cfg["max_linear_speed"]) / hz
        self.ang_step = ANGULAR_SPEED / hz
        self.approach = float(cfg["approach_height"])
        self.lift = float(cfg["lift_height"])
        self.top = float(env.sim["table"]["height"])
        self.ik = {arm: ArmIK(env.model, arm) for arm in ARMS}
        self.q = env.state().astype(float)  # the commanded target, (14,)
        self._plan = PLANS[env.task.name](self)

    def act(self) -> np.ndarray:
        try:
            return next(self._plan)
        except StopIteration:
            return self.q.copy()

    # ------------------------------------------------------------ primitives
    def tcp(self, arm: str) -> tuple[np.ndarray, np.ndarray]:
        """Pose the current command puts the arm's tcp at."""
        sl, _ = SLICES[arm]
        return self.ik[arm].fk(self.q[sl])

    def move(self, poses: dict | None = None, grip: dict | None = None, max_steps: int = 200, settle: int = 20):
        """Yield targets until every arm in `poses` ({arm: (pos, rot)}) and every gripper in `grip`
        ({arm: opening}) reached its goal, then up to `settle` steps for the servos to catch up."""
        poses, grip = poses or {}, grip or {}
        way = {arm: self.tcp(arm) for arm in poses}
        grip_step = self.joint_step[6]
        for _ in range(max_steps):
            done = True
            for arm, (pos, rot) in poses.items():
                p, r = way[arm]
                dp = pos - p
                dist = np.linalg.norm(dp)
                p = p + dp * min(1.0, self.lin_step / dist) if dist > 0 else p
                rv = rotation_error(r, rot)
                ang = np.linalg.norm(rv)
                r = _rotate(r, rv * min(1.0, self.ang_step / ang)) if ang > 0 else r
                way[arm] = (p, r)
                sl, _ = SLICES[arm]
                q_goal, _ = self.ik[arm].solve(self.q[sl], p, r)
                self.q[sl] += np.clip(q_goal - self.q[sl], -self.joint_step[sl], self.joint_step[sl])
                done &= dist < 1e-6 and ang < 1e-6 and np.max(np.abs(q_goal - self.q[sl])) < 1e-4
            for arm, opening in grip.items():
                _, gi = SLICES[arm]
                self.q[gi] += np.clip(opening - self.q[gi], -grip_step, grip_step)
                done &= abs(opening - self.q[gi]) < 1e-6
            yield self.q.copy()
            if done:
                break
        for _ in range(settle):
            measured = self.env.state()
            if np.max(np.abs(measured[[*range(6), *range(7, 13)]] - self.q[[*range(6), *range(7, 13)]])) < 0.01:
                break
            yield self.q.copy()

    def wait(self, steps: int):
        for _ in range(steps):
            yield self.q.copy()

    # ------------------------------------------------------------ privileged reads
    def body_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        d = self.env.data.body(name)
        return d.xpos.copy(), d.xmat.reshape(3, 3).copy()

    def bottom(self, name: str) -> float:
        """Lowest world z of a body's (single) geom."""
        import mujoco

        m, d = self.env.model, self.env.data
        g = m.body(name).geomadr[0]
        size, rot = m.geom_size[g], d.geom_xmat[g].reshape(3, 3)
        if m.geom_type[g] == mujoco.mjtGeom.mjGEOM_BOX:
            return float(d.geom_xpos[g][2] - np.abs(rot[2]) @ size)
        r, hh = size[0], size[1]  # cylinder
        return float(d.geom_xpos[g][2] - abs(rot[2, 2]) * hh - np.hypot(rot[2, 0], rot[2, 1]) * r)

    def grasp_height(self, obj_top: float) -> float:
        """tcp z for a top-down grasp of an object whose top is at `obj_top` (world z)."""
        return max(self.top + GRASP_CLEARANCE, obj_top - PAD_TOP_BELOW_OBJECT_TOP)

    def grasp_rotation(self, arm: str, positions, yaws, pitch_axis: int = 1) -> np.ndarray:
        """A tool rotation reaching every position in `positions`: top-down with a grasp yaw from `yaws`
        (each also turned by pi), tilted about the tool's y (closing, pitch_axis=1) or x (pitch_axis=0)
        axis by the smallest of PITCHES that IK reaches. Top-down alone reaches only low and near the
        base (the wrist pitch j5 stops at +-70 deg)."""
        sl, _ = SLICES[arm]
        candidates = [y + k * np.pi for y in yaws for k in (0, 1)]
        fallback = (np.inf, None)
        for pitch in PITCHES:
            for yaw in candidates:
                base = top_down_rotation(yaw)
                rot = _rotate(base, base[:, pitch_axis] * pitch)
                q, worst = self.q[sl], 0.0
                for pos in positions:
                    q, err = self.ik[arm].solve(q, np.asarray(pos, float), rot, iters=100)
                    worst = max(worst, err)
                if worst < 2e-3:
                    return rot
                fallback = min(fallback, (worst, rot), key=lambda t: t[0])
        return fallback[1]


# ---------------------------------------------------------------- plans (generators of targets)
def _pick(ex: Expert, arm: str, pos, yaws, obj_top: float, pitch_axis: int = 1):
    """Open above `pos`, descend, close: the object is in the gripper afterwards."""
    z = ex.grasp_height(obj_top)
    rot = ex.grasp_rotation(arm, [[pos[0], pos[1], z], [pos[0], pos[1], z + ex.approach]], yaws, pitch_axis)
    yield from ex.move({arm: (np.array([pos[0], pos[1], z + ex.approach]), rot)}, {arm: GRIP_OPEN})
    yield from ex.move({arm: (np.array([pos[0], pos[1], z]), rot)})
    yield from ex.move(grip={arm: 0.0})
    yield from ex.wait(8)


def _place(ex: Expert, arm: str, obj: str, target_xy, surface_z: float):
    """Carry the held object over `target_xy` and set its bottom on `surface_z`; release, back off."""
    p_tcp, rot = ex.tcp(arm)
    p_obj, _ = ex.body_pose(obj)
    half_h = p_obj[2] - ex.bottom(obj)
    offset = p_tcp - p_obj  # the object's pose in the grip, measured now
    down = np.array([target_xy[0], target_xy[1], surface_z + half_h + 0.004]) + offset
    yield from ex.move({arm: (down + [0, 0, ex.lift * 0.7], rot)}, max_steps=250)
    yield from ex.move({arm: (down, rot)})
    yield from ex.move(grip={arm: GRIP_OPEN})
    yield from ex.move({arm: (down + [0, 0, ex.approach], rot)})


def plan_place_on_target(ex: Expert, obj: str, target: str, square: bool):
    arm = ex.env.task.arm
    p, r = ex.body_pose(obj)
    obj_yaw = np.arctan2(r[1, 0], r[0, 0])
    yaws = [obj_yaw + k * np.pi / 2 for k in range(4)] if square else [np.pi / 2, 0.0]
    top_z = 2 * p[2] - ex.bottom(obj)
    yield from _pick(ex, arm, p, yaws, top_z)
    yield from ex.move({arm: (ex.tcp(arm)[0] + [0, 0, ex.lift], ex.tcp(arm)[1])})
    target_pos = ex.env.model.body(target).pos
    surface = target_pos[2] + ex.env.model.geom(target).size[1]
    yield from _place(ex, arm, obj, target_pos[:2], surface)


def plan_handover_block(ex: Expert):
    task = ex.env.task
    half = task.cfg["block_size"][1] / 2 - 0.03  # grasp 3 cm in from each end
    p, r = ex.body_pose("block")
    axis = r[:, 1]  # the bar's long axis
    left_grasp = p + half * axis
    top_z = 2 * p[2] - ex.bottom("block")
    bar_yaw = np.arctan2(r[1, 0], r[0, 0])  # fingers close across the bar
    yield from _pick(ex, "left", left_grasp, [bar_yaw], top_z, pitch_axis=0)
    yield from ex.move({"left": (ex.tcp("left")[0] + [0, 0, ex.lift], ex.tcp("left")[1])})
    # hand-over point: the bar held low across the middle of the table, long axis along y
    left_hold = np.array([HANDOVER_POINT[0], HANDOVER_POINT[1] + half, ex.top + HANDOVER_POINT[2]])
    yield from ex.move({"left": (left_hold, ex.grasp_rotation("left", [left_hold], [0.0], pitch_axis=0))}, max_steps=250)
    p, r = ex.body_pose("block")
    right_grasp = p - half * r[:, 1]
    above = right_grasp + [0, 0, ex.approach]
    rot = ex.grasp_rotation("right", [above, right_grasp], [np.arctan2(r[1, 0], r[0, 0])], pitch_axis=0)
    yield from ex.move({"right": (above, rot)}, {"right": GRIP_OPEN}, max_steps=250)
    yield from ex.move({"right": (right_grasp, rot)})
    yield from ex.move(grip={"right": 0.0})
    yield from ex.wait(8)
    yield from ex.move(grip={"left": GRIP_OPEN})
    yield from ex.move({"left": (ex.tcp("left")[0] + [0, 0.05, ex.approach], ex.tcp("left")[1])})
    pad = ex.env.model.body("pad").pos
    yield from _place(ex, "right", "block", pad[:2], pad[2] + 0.001)


def plan_pick_dual_bottles(ex: Expert):
    grasps = {}
    for arm in ARMS:
        p, _ = ex.body_pose(f"bottle_{arm}")
        grasp = np.array([p[0], p[1], ex.grasp_height(2 * p[2] - ex.bottom(f"bottle_{arm}"))])
        rot = ex.grasp_rotation(arm, [grasp + [0, 0, ex.approach], grasp, grasp + [0, 0, ex.lift]], [np.pi / 2, 0.0])
        grasps[arm] = (grasp, rot)
    yield from ex.move({a: (g + [0, 0, ex.approach], rot) for a, (g, rot) in grasps.items()}, {a: GRIP_OPEN for a in ARMS})
    yield from ex.move({a: (g, rot) for a, (g, rot) in grasps.items()})
    yield from ex.move(grip={a: 0.0 for a in ARMS})
    yield from ex.wait(8)
    yield from ex.move({a: (g + [0, 0, ex.lift], rot) for a, (g, rot) in grasps.items()})


PLANS = {
    "handover_block": plan_handover_block,
    "place_container_plate": lambda ex: plan_place_on_target(ex, "container", "plate", square=True),
    "place_empty_cup": lambda ex: plan_place_on_target(ex, "cup", "coaster", square=False),
    "pick_dual_bottles": plan_pick_dual_bottles,
}


def make_expert(env) -> Expert:
    """The scripted expert for the env's current task (call right after env.reset)."""
    if env.task is None:
        raise ValueError("make_expert needs an env that was reset to a task")
    return Expert(env)


def run_episode(env, task: str, seed: int, on_step=None) -> tuple[bool, int]:
    """Reset, run the expert until done; (success, steps). `on_step(obs)` sees every observation."""
    obs = env.reset(task, seed)
    if on_step:
        on_step(obs)
    expert = make_expert(env)
    done, success = False, False
    while not done:
        obs, success, done, info = env.step(expert.act())
        if on_step:
            on_step(obs)
    return success, env.step_count
