"""CobotMagicEnv: the twin as a Python environment (in-process; used by evaluation, data generation
and the simulator bridge node).

    env = CobotMagicEnv(image_size=(240, 320), control_hz=30, render=True, scene="clean")
    obs = env.reset("handover_block", seed=0)
    obs, success, done, info = env.step(target14)
    env.close()

Observation: {"images": {"head", "left", "right": uint8 (H, W, 3) RGB}, "state": float32 (14,)
[left j1..j6, left gripper opening m, right j1..j6, right gripper m], "instruction": str, "time": s}.
One step = 1/control_hz s of physics. The target is clamped to the joint limits of config/robot.yaml
and its change per step is capped at the hardware speed limit (robot.max_velocity), as the Piper
firmware caps joint speed. With render=False the images dict is empty (fast expert evaluation).
scene "clean" (default) is the twin as the shipped policy was measured on; "randomized" redraws lighting,
table / floor colour and texture, distractors and camera poses per episode from the seed, with the same
task placement (video2act.sim.scene, config/sim.yaml scene_randomization).
"""
from __future__ import annotations

import numpy as np

from video2act.config import load_config
from video2act.runtime.robot import RobotDescription
from video2act.sim.model import ARMS, CAMERAS, build_mjcf, physics_timestep
from video2act.sim.scene import check_scene, distractors_xml, scene_assets_xml, scene_rng
from video2act.sim.tasks import make_task

SETTLE_S = 0.1  # physics time after reset so objects seat on the table before the first observation


class CobotMagicEnv:
    """The dual-arm Piper twin with one task loaded at a time (see module docstring)."""

    def __init__(self, image_size=(240, 320), control_hz: float = 30.0, render: bool = True, scene: str = "clean"):
        self.scene = check_scene(scene)
        h, w = (int(v) for v in image_size)
        if h <= 0 or w <= 0:
            raise ValueError(f"image_size must be positive (H, W), got {image_size}")
        self.image_size = (h, w)
        self.control_hz = float(control_hz)
        self.render_enabled = bool(render)
        self.robot = load_config("robot.yaml")
        self.sim = load_config("sim.yaml")
        self.description = RobotDescription.from_config()  # the 14-d layout, read in one place
        self.lower, self.upper = self.description.lower.copy(), self.description.upper.copy()
        self.max_step = self.description.max_velocity / self.control_hz
        self.home = self.description.home.copy()
        self.dt, self.substeps = physics_timestep(self.control_hz, self.sim)
        self.model = self.data = self.task = None
        self._models: dict[str, object] = {}
        self._renderer = None
        self._scenes: dict[str, object] = {}  # task -> SceneRandomizer, made with its model (it keeps the nominal values)
        self._scene = None  # that of the loaded model (randomized scene only)
        self.step_count = 0
        self._ctrl_target = self.home.copy()

    # ---------------------------------------------------------------- model / task
    def _load(self, task_name: str) -> None:
        import mujoco

        task = make_task(task_name, self.sim)
        if task_name not in self._models:
            if self.scene == "clean":  # exactly the MJCF of before scenes existed: clean stays bit-identical
                xml = build_mjcf(task.objects_xml(), self.control_hz, self.robot, self.sim, offscreen=self.image_size)
            else:
                xml = build_mjcf(task.objects_xml() + distractors_xml(self.sim), self.control_hz, self.robot, self.sim,
                                 offscreen=self.image_size, assets_xml=scene_assets_xml(self.sim))
            self._models[task_name] = mujoco.MjModel.from_xml_string(xml)
            if self.scene == "randomized":
                from video2act.sim.scene import SceneRandomizer

                self._scenes[task_name] = SceneRandomizer(self._models[task_name], self.sim)
        self.task = task
        self.model = self._models[task_name]
        self._scene = self._scenes.get(task_name)
        self.data = mujoco.MjData(self.model)
        m = self.model
        self._qadr = np.array([m.jnt_qposadr[m.joint(f"{a}_joint{i}").id] for a in ARMS for i in range(1, 7)])
        self._dadr = np.array([m.jnt_dofadr[m.joint(f"{a}_joint{i}").id] for a in ARMS for i in range(1, 7)])
        self._finger_adr = {a: [m.jnt_qposadr[m.joint(f"{a}_finger_{f}").id] for f in "ab"] for a in ARMS}
        self._act = np.array([m.actuator(f"{a}_act{i}").id for a in ARMS for i in range(1, 7)]
                             + [m.actuator(f"{a}_gripper").id for a in ARMS])
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def reset(self, task: str, seed: int) -> dict:
        """Load `task`, place its objects from `seed`, put both arms at home; the first observation."""
        import mujoco

        if self.task is None or self.task.name != task:
            self._load(task)
        else:
            mujoco.mj_resetData(self.model, self.data)
        self._set_arm_qpos(self.home)
        self.task.randomize(self.model, self.data, np.random.default_rng(int(seed)))
        if self._scene is not None:  # after the task: distractors keep clear of its bodies as placed
            self._scene.apply(self.model, self.data, scene_rng(seed, task), self.task)
        self._ctrl_target = self.home.copy()
        self._apply_ctrl(self.home)
        mujoco.mj_forward(self.model, self.data)
        mujoco.mj_step(self.model, self.data, nstep=int(round(SETTLE_S / self.dt)))
        self.data.time = 0.0
        self.step_count = 0
        self.seed = int(seed)
        return self._observe()

    def _set_arm_qpos(self, x14: np.ndarray) -> None:
        joints = np.concatenate([x14[0:6], x14[7:13]])
        self.data.qpos[self._qadr] = joints
        for arm, g in (("left", x14[6]), ("right", x14[13])):
            self.data.qpos[self._finger_adr[arm]] = g / 2

    def _apply_ctrl(self, x14: np.ndarray) -> None:
        self.data.ctrl[self._act] = np.concatenate([x14[0:6], x14[7:13], x14[[6, 13]]])

    # ---------------------------------------------------------------- stepping
    def clamp(self, target14) -> np.ndarray:
        """Target -> float (14,) inside the joint limits; ValueError for a wrong shape or non-finite values."""
        t = np.asarray(target14, dtype=float).reshape(-1)
        if t.shape != (14,):
            raise ValueError(f"target must have 14 values [left j1..j6, gripper, right j1..j6, gripper], got shape {np.shape(target14)}")
        if not np.all(np.isfinite(t)):
            raise ValueError("target must be finite")
        return np.clip(t, self.lower, self.upper)

    def step(self, target14) -> tuple[dict, bool, bool, dict]:
        """Advance one control step toward `target14`; (obs, success, done, info)."""
        import mujoco

        if self.task is None:
            raise RuntimeError("call reset(task, seed) before step()")
        target = self.clamp(target14)
        # firmware speed cap: the commanded set-point moves at most max_velocity / control_hz per step
        self._ctrl_target = self._ctrl_target + np.clip(target - self._ctrl_target, -self.max_step, self.max_step)
        self._apply_ctrl(self._ctrl_target)
        mujoco.mj_step(self.model, self.data, nstep=self.substeps)
        self.step_count += 1
        success = self.task.success(self.model, self.data)
        done = success or self.step_count >= self.task.max_steps
        info = {"step": self.step_count, "task": self.task.name, "seed": self.seed, "max_steps": self.task.max_steps}
        return self._observe(), success, done, info

    # ---------------------------------------------------------------- observation
    def state(self) -> np.ndarray:
        """Measured float32 (14,) [left j1..j6, left opening, right j1..j6, right opening]."""
        q = self.data.qpos[self._qadr]
        grip = [float(self.data.qpos[self._finger_adr[a]].sum()) for a in ARMS]
        return np.concatenate([q[:6], [grip[0]], q[6:], [grip[1]]]).astype(np.float32)

    def joint_velocity(self) -> np.ndarray:
        """Measured arm joint velocities (12,) rad/s [left j1..j6, right j1..j6]."""
        return self.data.qvel[self._dadr].copy()

    def render(self) -> dict[str, np.ndarray]:
        """Three camera images {head, left, right}: uint8 (H, W, 3) RGB at image_size."""
        import mujoco

        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.model, *self.image_size)
            self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
            self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        images = {}
        for key, cam in CAMERAS.items():
            self._renderer.update_scene(self.data, camera=cam)
            images[key] = self._renderer.render().copy()
        return images

    def _observe(self) -> dict:
        return {
            "images": self.render() if self.render_enabled else {},
            "state": self.state(),
            "instruction": self.task.instruction,
            "time": float(self.data.time),
            "objects": self.task.object_state(self.model, self.data),
        }

    def success(self) -> bool:
        return bool(self.task.success(self.model, self.data))

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
