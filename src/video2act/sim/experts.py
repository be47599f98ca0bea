"""Scripted experts for the twin's tasks: approach-grasp-lift-move-release plans run through IK.

Each plan is a generator that yields a 14-d joint target per control step. A `move` plans each named
arm's path when it starts: the tool on a straight line (rotation slerped in step) at
`expert.max_linear_speed` and ANGULAR_SPEED through DLS IK (video2act.sim.ik), or, where IK cannot
follow that line (a joint limit on the way), a straight joint-space line to an IK solution of the goal.
Every joint's change per step is capped at `expert.joint_speed_scale` x robot.yaml
`safety.max_velocity` (gripper included), so the demonstrations respect the same limits the robot's
streamer enforces. Experts read privileged object poses from the simulation (grasp points are computed
when a phase starts, from where the object really is). `expert.phase` names the plan step running and
`run_expert` says why an episode failed (`video2act sim experts` prints it per failed seed).

    env.reset(task, seed); expert = make_expert(env)
    while not done: obs, success, done, info = env.step(expert.act())
"""
from __future__ import annotations

from dataclasses import dataclass

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
IK_TOL = 2e-3                # IK error (m + 0.5 x rad) below which a pose counts as reached


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
        self.joint_step = env.description.safe_velocity * float(cfg["joint_speed_scale"]) / hz
        self.lin_step = float(cfg["max_linear_speed"]) / hz
        self.ang_step = ANGULAR_SPEED / hz
        self.approach = float(cfg["approach_height"])
        self.lift = float(cfg["lift_height"])
        self.top = float(env.sim["table"]["height"])
        self.ik = {arm: ArmIK(env.model, arm) for arm in ARMS}
        self.q = env.state().astype(float)  # the commanded target, (14,)
        self.phase = "start"  # the plan step now running (failure reports)
        self.ik_errors: list[tuple[str, str, float]] = []  # (phase, arm, goal IK error) per planned move
        self.finished = False  # the plan ran to its end
        self._plan = PLANS[env.task.name](self)

    def act(self) -> np.ndarray:
        try:
            return next(self._plan)
        except StopIteration:
            self.finished = True
            return self.q.copy()

    # ------------------------------------------------------------ primitives
    def tcp(self, arm: str) -> tuple[np.ndarray, np.ndarray]:
        """Pose the current command puts the arm's tcp at."""
        sl, _ = SLICES[arm]
        return self.ik[arm].fk(self.q[sl])

    def goal_joints(self, arm: str, pos, rot) -> tuple[np.ndarray, float]:
        """IK solution (6,) of (pos, rot) from the arm's commanded joints, else from home; and its error."""
        sl, _ = SLICES[arm]
        best = (None, np.inf)
        for seed in (self.q[sl], self.env.home[sl]):
            q, err = self.ik[arm].solve(seed, pos, rot, iters=100)
            if err < best[1]:
                best = (q, err)
            if err < IK_TOL:
                break
        return best

    def path(self, arm: str, pos, rot) -> tuple[list[np.ndarray], float]:
        """Joint waypoints (6,), one per control step, from the arm's commanded joints to the tool pose
        (pos, rot); and the goal's IK error. The tool moves on a straight line (rotation slerped in step)
        at max_linear_speed / ANGULAR_SPEED; where IK cannot follow that line (a joint limit on the way,
        e.g. the wrist pitch j5 at +-70 deg: DLS then stalls short of the pose), the joints move on a
        straight line to an IK solution of the goal instead."""
        sl, _ = SLICES[arm]
        q0 = self.q[sl].copy()
        p0, r0 = self.ik[arm].fk(q0)
        dp, rv = pos - p0, rotation_error(r0, rot)
        n = max(1, int(np.ceil(max(np.linalg.norm(dp) / self.lin_step, np.linalg.norm(rv) / self.ang_step))))
        q, way = q0, []
        for k in range(1, n + 1):
            target = (p0 + dp * k / n, _rotate(r0, rv * k / n))
            q, err = self.ik[arm].solve(q, *target)
            if err > IK_TOL:  # slow convergence near the wrist singularity (j5 = 0, e.g. at home): more iterations
                q, err = self.ik[arm].solve(q, *target, iters=200)
            if err > IK_TOL:
                break
            way.append(q)
        else:
            return way, err
        q_end, err = self.goal_joints(arm, pos, rot)
        m = max(1, int(np.ceil(np.max(np.abs(q_end - q0) / self.joint_step[sl]))))
        return [q0 + (q_end - q0) * k / m for k in range(1, m + 1)], err

    def move(self, poses: dict | None = None, grip: dict | None = None, settle: int = 20, phase: str | None = None):
        """Yield targets until every arm in `poses` ({arm: (pos, rot)}) and every gripper in `grip`
        ({arm: opening}) reached its goal, then up to `settle` steps for the servos to catch up.
        Joint changes per step are capped at the expert's joint speed."""
        poses, grip = poses or {}, grip or {}
        if phase is not None:
            self.phase = phase
        ways = {}
        for arm, (pos, rot) in poses.items():
            ways[arm], err = self.path(arm, np.asarray(pos, float), rot)
            self.ik_errors.append((self.phase, arm, err))
        grip_step = self.joint_step[6]
        for k in range(10_000):  # bounded: every target is reached in finitely many capped steps
            done = True
            for arm, way in ways.items():
                sl, _ = SLICES[arm]
                goal = way[min(k, len(way) - 1)]
                self.q[sl] += np.clip(goal - self.q[sl], -self.joint_step[sl], self.joint_step[sl])
                done &= k >= len(way) - 1 and np.max(np.abs(way[-1] - self.q[sl])) < 1e-4
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

    def grasp_rotation(self, arm: str, positions, yaws, pitch_axis: int = 1, flip: bool = True) -> np.ndarray:
        """A tool rotation reaching every position in `positions`: top-down with a grasp yaw from `yaws`
        (each also turned by pi), tilted about the tool's y (closing, pitch_axis=1) or x (pitch_axis=0)
        axis by the smallest of PITCHES that IK reaches. Top-down alone reaches only low and near the
        base (the wrist pitch j5 stops at +-70 deg). flip=False keeps the yaws as given (a held object
        would swing round with a gripper turned by pi)."""
        sl, _ = SLICES[arm]
        candidates = [y + k * np.pi for y in yaws for k in ((0, 1) if flip else (0,))]
        fallback = (np.inf, None)
        for pitch in PITCHES:
            for yaw in candidates:
                base = top_down_rotation(yaw)
                rot = _rotate(base, base[:, pitch_axis] * pitch)
                q, worst = self.q[sl], 0.0
                for pos in positions:
                    q, err = self.ik[arm].solve(q, np.asarray(pos, float), rot, iters=100)
                    worst = max(worst, err)
                if worst < IK_TOL:
                    return rot
                fallback = min(fallback, (worst, rot), key=lambda t: t[0])
        return fallback[1]


# ---------------------------------------------------------------- plans (generators of targets)
def _closing_yaw(rot: np.ndarray) -> float:
    """World yaw of the finger closing direction (the tool's y axis) of a tool rotation."""
    return float(np.arctan2(rot[1, 1], rot[0, 1]))


def _pick(ex: Expert, arm: str, pos, yaws, obj_top: float, pitch_axis: int = 1):
    """Open above `pos`, descend, close: the object is in the gripper afterwards."""
    z = ex.grasp_height(obj_top)
    rot = ex.grasp_rotation(arm, [[pos[0], pos[1], z], [pos[0], pos[1], z + ex.approach]], yaws, pitch_axis)
    yield from ex.move({arm: (np.array([pos[0], pos[1], z + ex.approach]), rot)}, {arm: GRIP_OPEN}, phase=f"{arm} approach")
    yield from ex.move({arm: (np.array([pos[0], pos[1], z]), rot)}, phase=f"{arm} descend")
    yield from ex.move(grip={arm: 0.0}, phase=f"{arm} close")
    yield from ex.wait(8)


def _place(ex: Expert, arm: str, obj: str, target_xy, surface_z: float):
    """Carry the held object over `target_xy` and set its bottom on `surface_z`; release, back off."""
    p_tcp, rot = ex.tcp(arm)
    p_obj, _ = ex.body_pose(obj)
    half_h = p_obj[2] - ex.bottom(obj)
    offset = p_tcp - p_obj  # the object's pose in the grip, measured now
    down = np.array([target_xy[0], target_xy[1], surface_z + half_h + 0.004]) + offset
    yield from ex.move({arm: (down + [0, 0, ex.lift * 0.7], rot)}, phase=f"{arm} carry")
    yield from ex.move({arm: (down, rot)}, phase=f"{arm} lower")
    yield from ex.move(grip={arm: GRIP_OPEN}, phase=f"{arm} release")
    yield from ex.move({arm: (down + [0, 0, ex.approach], rot)}, phase=f"{arm} retreat")


def plan_place_on_target(ex: Expert, obj: str, target: str, square: bool):
    arm = ex.env.task.arm
    p, r = ex.body_pose(obj)
    obj_yaw = np.arctan2(r[1, 0], r[0, 0])
    yaws = [obj_yaw + k * np.pi / 2 for k in range(4)] if square else [np.pi / 2, 0.0]
    top_z = 2 * p[2] - ex.bottom(obj)
    yield from _pick(ex, arm, p, yaws, top_z)
    yield from ex.move({arm: (ex.tcp(arm)[0] + [0, 0, ex.lift], ex.tcp(arm)[1])}, phase=f"{arm} lift")
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
    yield from ex.move({"left": (ex.tcp("left")[0] + [0, 0, ex.lift], ex.tcp("left")[1])}, phase="left lift")
    # hand-over point: the bar held low across the middle of the table, long axis along y. The fingers
    # keep closing along +-x as grasped: a gripper turned by pi would swing the bar to the other side.
    left_hold = np.array([HANDOVER_POINT[0], HANDOVER_POINT[1] + half, ex.top + HANDOVER_POINT[2]])
    hold_yaw = 0.0 if np.cos(_closing_yaw(ex.tcp("left")[1])) >= 0 else np.pi
    hold_rot = ex.grasp_rotation("left", [left_hold], [hold_yaw], pitch_axis=0, flip=False)
    yield from ex.move({"left": (left_hold, hold_rot)}, phase="left to hand-over")
    # the right arm takes the end of the bar away from the left gripper
    p, r = ex.body_pose("block")
    ends = [p + half * r[:, 1], p - half * r[:, 1]]
    right_grasp = max(ends, key=lambda e: np.linalg.norm(e - ex.tcp("left")[0]))
    above = right_grasp + [0, 0, ex.approach]
    rot = ex.grasp_rotation("right", [above, right_grasp], [np.arctan2(r[1, 0], r[0, 0])], pitch_axis=0)
    yield from ex.move({"right": (above, rot)}, {"right": GRIP_OPEN}, phase="right approach")
    yield from ex.move({"right": (right_grasp, rot)}, phase="right descend")
    yield from ex.move(grip={"right": 0.0}, phase="right close")
    yield from ex.wait(8)
    yield from ex.move(grip={"left": GRIP_OPEN}, phase="left release")
    yield from ex.move({"left": (ex.tcp("left")[0] + [0, 0.05, ex.approach], ex.tcp("left")[1])}, phase="left retreat")
    pad = ex.env.model.body("pad").pos
    yield from _place(ex, "right", "block", pad[:2], pad[2] + 0.001)


def plan_pick_dual_bottles(ex: Expert):
    grasps = {}
    for arm in ARMS:
        p, _ = ex.body_pose(f"bottle_{arm}")
        grasp = np.array([p[0], p[1], ex.grasp_height(2 * p[2] - ex.bottom(f"bottle_{arm}"))])
        rot = ex.grasp_rotation(arm, [grasp + [0, 0, ex.approach], grasp, grasp + [0, 0, ex.lift]], [np.pi / 2, 0.0])
        grasps[arm] = (grasp, rot)
    yield from ex.move({a: (g + [0, 0, ex.approach], rot) for a, (g, rot) in grasps.items()}, {a: GRIP_OPEN for a in ARMS},
                       phase="both approach")
    yield from ex.move({a: (g, rot) for a, (g, rot) in grasps.items()}, phase="both descend")
    yield from ex.move(grip={a: 0.0 for a in ARMS}, phase="both close")
    yield from ex.wait(8)
    yield from ex.move({a: (g + [0, 0, ex.lift], rot) for a, (g, rot) in grasps.items()}, phase="both lift")


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


@dataclass
class ExpertEpisode:
    """How one expert episode went: enough to say why it failed."""

    success: bool
    steps: int
    phase: str            # the plan step running when the episode ended
    plan_finished: bool   # the plan had run out (a failure then: the success predicate is false at rest)
    worst_ik: float       # largest goal IK error of the episode's moves (m + 0.5 x rad): unreachable goals
    worst_ik_phase: str

    def failure(self) -> str:
        """'' on success, else the failure in words."""
        if self.success:
            return ""
        where = "plan finished, task not achieved" if self.plan_finished else "step limit hit"
        return f"{where} (phase {self.phase!r}; worst goal IK error {self.worst_ik:.3f} in {self.worst_ik_phase!r})"


def run_expert(env, task: str, seed: int, on_step=None) -> ExpertEpisode:
    """Reset, run the expert until done. `on_step(obs)` sees every observation."""
    obs = env.reset(task, seed)
    if on_step:
        on_step(obs)
    expert = make_expert(env)
    done, success = False, False
    while not done:
        obs, success, done, info = env.step(expert.act())
        if on_step:
            on_step(obs)
    worst_phase, _, worst = max(expert.ik_errors, key=lambda e: e[2], default=("", "", 0.0))
    return ExpertEpisode(bool(success), env.step_count, expert.phase, expert.finished, float(worst), worst_phase)


def run_episode(env, task: str, seed: int, on_step=None) -> tuple[bool, int]:
    """Reset, run the expert until done; (success, steps). `on_step(obs)` sees every observation."""
    episode = run_expert(env, task, seed, on_step)
    return episode.success, episode.steps
