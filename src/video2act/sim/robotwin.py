"""RoboTwin 2.0 backend: the same reset/step/state surface as CobotMagicEnv over a RoboTwin task.

RoboTwin contract (../shared/design/FACTS.md): a task object per task (module `envs.<task>`, class
`<task>`), `setup_demo(seed=..., **kwargs)`, `get_obs()` -> obs["observation"][head_camera |
left_camera | right_camera]["rgb"] (uint8 HxWx3) and obs["joint_action"]["vector"] (14,), grippers in
[0, 1]; `take_action(a14, action_type="qpos")` blocks until the step is done (lock-step);
`check_success()`; `close_env()`. This adapter converts grippers [0, 1] <-> opening in metres
(robot.yaml upper gripper limit = 1.0), resizes images to the project's size and counts steps.
RoboTwin needs Python 3.10, CUDA, Vulkan and SAPIEN: it is imported only when this backend starts.
"""
from __future__ import annotations

import importlib

import numpy as np

from video2act.config import load_config

CAMERA_KEYS = {"head": "head_camera", "left": "left_camera", "right": "right_camera"}
INSTALL_HINT = (
    "RoboTwin is not importable. Install RoboTwin 2.0 (https://github.com/RoboTwin-Platform/RoboTwin: "
    "Python 3.10, CUDA, Vulkan, `bash script/_install.sh`, `bash script/_download_assets.sh`) and start from "
    "its repository root or add it to PYTHONPATH; or use backend:=mujoco (the built-in twin)."
)


class RoboTwinUnavailable(ImportError):
    """RoboTwin (or one of its dependencies) cannot be imported."""


def import_robotwin_task(task: str):
    """A fresh RoboTwin task object `envs.<task>.<task>()`; RoboTwinUnavailable with install steps otherwise."""
    try:
        module = importlib.import_module(f"envs.{task}")
    except ImportError as e:
        raise RoboTwinUnavailable(f"{INSTALL_HINT} (import of envs.{task} failed: {e})") from e
    return getattr(module, task)()


class RoboTwinEnv:
    """RoboTwin task behind CobotMagicEnv's surface: reset(task, seed), step(target14), state(), render()."""

    def __init__(self, image_size=(240, 320), task_factory=import_robotwin_task, setup_kwargs: dict | None = None):
        self.image_size = tuple(int(v) for v in image_size)
        self.factory = task_factory
        self.setup_kwargs = dict(setup_kwargs or {})
        robot = load_config("robot.yaml")["robot"]
        self.gripper_max = float(robot["upper"][6])
        self.lower = np.array(robot["lower"] * 2, float)
        self.upper = np.array(robot["upper"] * 2, float)
        self.control_hz = float(load_config("robot.yaml")["rates"]["control_hz"])
        self.max_steps_by_task = {k: int(v["max_steps"]) for k, v in load_config("sim.yaml")["tasks"].items()}
        self.task_env = None
        self.task_name, self.seed, self.step_count = "", 0, 0
        self.instruction = ""
        self._obs = None

    def reset(self, task: str, seed: int) -> dict:
        self.close()
        self.task_env = self.factory(task)
        self.task_env.setup_demo(seed=int(seed), **self.setup_kwargs)
        self.task_name, self.seed, self.step_count = task, int(seed), 0
        instr = getattr(self.task_env, "get_instruction", None)
        self.instruction = str(instr()) if callable(instr) else task.replace("_", " ")
        self._obs = self.task_env.get_obs()
        return self._observe()

    def to_robotwin(self, x14) -> np.ndarray:
        """Project action (grippers in m) -> RoboTwin qpos action (grippers in [0, 1])."""
        a = np.clip(np.asarray(x14, float).reshape(14), self.lower, self.upper)
        a[[6, 13]] /= self.gripper_max
        return a

    def from_robotwin(self, vector) -> np.ndarray:
        """RoboTwin joint vector (grippers in [0, 1]) -> project state float32 (14,) (grippers in m)."""
        v = np.asarray(vector, float).reshape(-1)
        if v.shape != (14,):
            raise ValueError(f"RoboTwin joint_action vector must have 14 values, got {v.shape}")
        v = v.copy()
        v[[6, 13]] = np.clip(v[[6, 13]], 0.0, 1.0) * self.gripper_max
        return v.astype(np.float32)

    def step(self, target14):
        t = np.asarray(target14, float).reshape(-1)
        if t.shape != (14,) or not np.all(np.isfinite(t)):
            raise ValueError(f"target must be 14 finite values, got shape {t.shape}")
        self.task_env.take_action(self.to_robotwin(t), action_type="qpos")  # blocks: lock-step
        self.step_count += 1
        self._obs = self.task_env.get_obs()
        success = bool(self.task_env.check_success())
        done = success or self.step_count >= self.max_steps_by_task.get(self.task_name, 500)
        return self._observe(), success, done, {"step": self.step_count, "task": self.task_name, "seed": self.seed}

    def state(self) -> np.ndarray:
        return self.from_robotwin(self._obs["joint_action"]["vector"])

    def render(self) -> dict[str, np.ndarray]:
        import cv2

        h, w = self.image_size
        images = {}
        for key, cam in CAMERA_KEYS.items():
            img = np.asarray(self._obs["observation"][cam]["rgb"], dtype=np.uint8)
            images[key] = img if img.shape[:2] == (h, w) else cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        return images

    def _observe(self) -> dict:
        return {"images": self.render(), "state": self.state(), "instruction": self.instruction,
                "time": self.step_count / self.control_hz}

    def close(self) -> None:
        if self.task_env is not None and hasattr(self.task_env, "close_env"):
            self.task_env.close_env()
        self.task_env = None
