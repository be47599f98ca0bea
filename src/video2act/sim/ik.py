"""Inverse kinematics on the twin: damped least squares on the MuJoCo Jacobian of an arm's `{arm}_tcp` site.

Works on its own MjData (the live simulation is never touched). Poses are (position (3,), rotation
3x3) in the world frame; the tool axis is the tcp site's z, the finger closing direction its y.
"""
from __future__ import annotations

import numpy as np


def top_down_rotation(yaw: float) -> np.ndarray:
    """Tool pointing straight down, fingers closing along (cos yaw, sin yaw, 0). Columns = site x, y, z."""
    y = np.array([np.cos(yaw), np.sin(yaw), 0.0])
    z = np.array([0.0, 0.0, -1.0])
    return np.column_stack([np.cross(y, z), y, z])


def rotation_error(current: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotation vector (3,) taking `current` to `target` (world frame)."""
    import mujoco

    qc, qt, qerr = np.zeros(4), np.zeros(4), np.zeros(4)
    mujoco.mju_mat2Quat(qc, current.ravel())
    mujoco.mju_mat2Quat(qt, target.ravel())
    mujoco.mju_negQuat(qc, qc)
    mujoco.mju_mulQuat(qerr, qt, qc)
    if qerr[0] < 0:
        qerr = -qerr
    vel = np.zeros(3)
    mujoco.mju_quat2Vel(vel, qerr, 1.0)
    return vel


class ArmIK:
    """DLS IK for the 6 arm joints of one arm (`left` | `right`)."""

    def __init__(self, model, arm: str, damping: float = 0.02, rot_weight: float = 0.5):
        import mujoco

        self.model, self.arm = model, arm
        self.data = mujoco.MjData(model)
        self.site = model.site(f"{arm}_tcp").id
        joints = [model.joint(f"{arm}_joint{i}") for i in range(1, 7)]
        self.qadr = np.array([model.jnt_qposadr[j.id] for j in joints])
        self.dadr = np.array([model.jnt_dofadr[j.id] for j in joints])
        self.lower = np.array([model.jnt_range[j.id][0] for j in joints])
        self.upper = np.array([model.jnt_range[j.id][1] for j in joints])
        self.damping, self.rot_weight = damping, rot_weight
        self._jacp, self._jacr = np.zeros((3, model.nv)), np.zeros((3, model.nv))

    def fk(self, q6) -> tuple[np.ndarray, np.ndarray]:
        """(tcp position (3,), rotation 3x3) for arm joints q6."""
        import mujoco

        self.data.qpos[self.qadr] = q6
        mujoco.mj_kinematics(self.model, self.data)
        return self.data.site_xpos[self.site].copy(), self.data.site_xmat[self.site].reshape(3, 3).copy()

    def solve(self, q_init, pos, rot, iters: int = 30, tol: float = 1e-4) -> tuple[np.ndarray, float]:
        """Joints (6,) reaching (pos, rot) from q_init, within the joint limits; also the final error norm."""
        import mujoco

        q = np.array(q_init, dtype=float)
        err_norm = np.inf
        w = np.array([1.0] * 3 + [self.rot_weight] * 3)
        for _ in range(iters):
            p, r = self.fk(q)
            err = np.concatenate([pos - p, rotation_error(r, rot)]) * w
            err_norm = float(np.linalg.norm(err))
            if err_norm < tol:
                break
            mujoco.mj_comPos(self.model, self.data)
            mujoco.mj_jacSite(self.model, self.data, self._jacp, self._jacr, self.site)
            jac = np.vstack([self._jacp[:, self.dadr], self._jacr[:, self.dadr]]) * w[:, None]
            dq = jac.T @ np.linalg.solve(jac @ jac.T + self.damping ** 2 * np.eye(6), err)
            q = np.clip(q + dq, self.lower, self.upper)
        return q, err_norm
