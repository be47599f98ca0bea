"""Forward kinematics of the AgileX Piper V3 arm and of the dual-arm (Cobot Magic) layout.

The chain is the V3 URDF joint table of ../shared/design/piper_kinematics.md section 1 (firmware
>= S-V1.6-3); joint limits and speeds are not repeated here: they come from config/robot.yaml.
Frames follow the URDF: `base_link` on the mounting surface, j1 axis at z = 0.123; `link6` is the
flange; `gripper_base` coincides with it; the finger joints (and the fingertip plane) sit 0.1358 m
further along the flange z axis (the tool axis).

Example::

    from video2act.runtime.kinematics import fk, DualArmKinematics

    flange = fk([0, 1.57, -1.3485, 0, 0, 0])             # 4x4, base frame; flange ~ (0.380, 0, 0.381)
    tip = fk([0, 1.57, -1.3485, 0, 0, 0], "fingertip")
    dual = DualArmKinematics.from_config()                # base poses from config/sim.yaml
    left_xyz, right_xyz = dual.fingertip_paths(chunk)     # chunk (H, 14) -> two (H, 3) in the world frame

Pure numpy; no ROS.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# (name, type, parent, child, origin xyz, origin rpy, axis); V3 URDF, piper_kinematics.md section 1.
# Finger joints take half the gripper opening each (joint8 moves along -z: its value is negative).
PIPER_V3_JOINTS = (
    ("joint1", "revolute", "base_link", "link1", (0.0, 0.0, 0.123), (0.0, 0.0, 0.0), (0, 0, 1)),
    ("joint2", "revolute", "link1", "link2", (0.0, 0.0, 0.0), (1.5708, -0.1359, -3.1416), (0, 0, 1)),
    ("joint3", "revolute", "link2", "link3", (0.28503, 0.0, 0.0), (0.0, 0.0, -1.7939), (0, 0, 1)),
    ("joint4", "revolute", "link3", "link4", (-0.021984, -0.25075, 0.0), (1.5708, 0.0, 0.0), (0, 0, 1)),
    ("joint5", "revolute", "link4", "link5", (0.0, 0.0, 0.0), (-1.5708, 0.0, 0.0), (0, 0, 1)),
    ("joint6", "revolute", "link5", "link6", (8.8259e-5, -0.091, 0.0), (1.5708, 0.0, 0.0), (0, 0, 1)),
    ("joint6_to_gripper_base", "fixed", "link6", "gripper_base", (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), None),
    ("joint7", "prismatic", "gripper_base", "link7", (0.0, 0.0, 0.1358), (1.5708, 0.0, 0.0), (0, 0, 1)),
    ("joint8", "prismatic", "gripper_base", "link8", (0.0, 0.0, 0.1358), (1.5708, 0.0, -3.1416), (0, 0, -1)),
)
ARM_JOINTS = tuple(j[0] for j in PIPER_V3_JOINTS[:6])  # joint1..joint6
FINGER_JOINTS = ("joint7", "joint8")
FINGERTIP_OFFSET = 0.1358  # m along the flange z axis: the plane of the finger joint origins
JOINT_EFFORT = {"arm": 100.0, "finger": 10.0}  # URDF effort limits (N m, N)
ARM_DOF = 6


def rotation_rpy(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """3x3 rotation of URDF fixed-axis roll-pitch-yaw: R = Rz(yaw) @ Ry(pitch) @ Rx(roll)."""
    cr, sr, cp, sp, cy, sy = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    return np.array([
        [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
        [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
        [-sp, cp * sr, cp * cr],
    ])


def transform(xyz=(0.0, 0.0, 0.0), rpy=(0.0, 0.0, 0.0)) -> np.ndarray:
    """4x4 homogeneous transform from a translation and URDF roll-pitch-yaw."""
    t = np.eye(4)
    t[:3, :3] = rotation_rpy(*rpy)
    t[:3, 3] = xyz
    return t


def quaternion_xyzw(r: np.ndarray) -> np.ndarray:
    """Unit quaternion (x, y, z, w) of a 3x3 rotation matrix (Shepperd's method: stable for every angle)."""
    r = np.asarray(r, dtype=float)
    trace = np.trace(r)
    if trace > max(r[0, 0], r[1, 1], r[2, 2]):
        w = np.sqrt(1.0 + trace) / 2
        q = [(r[2, 1] - r[1, 2]) / (4 * w), (r[0, 2] - r[2, 0]) / (4 * w), (r[1, 0] - r[0, 1]) / (4 * w), w]
    else:
        i = int(np.argmax(np.diag(r)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = np.sqrt(1.0 + r[i, i] - r[j, j] - r[k, k]) * 2  # 4 * q_i
        q = [0.0, 0.0, 0.0, (r[k, j] - r[j, k]) / s]
        q[i], q[j], q[k] = s / 4, (r[j, i] + r[i, j]) / s, (r[k, i] + r[i, k]) / s
    q = np.array(q)
    return q / np.linalg.norm(q)


def _axis_motion(joint_type: str, axis, q: float) -> np.ndarray:
    """4x4 motion of a joint about/along its unit axis by q."""
    m = np.eye(4)
    if joint_type == "fixed":
        return m
    a = np.asarray(axis, dtype=float)
    if joint_type == "prismatic":
        m[:3, 3] = a * q
        return m
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])  # Rodrigues
    m[:3, :3] = np.eye(3) + np.sin(q) * k + (1 - np.cos(q)) * (k @ k)
    return m


_ORIGINS = {j[0]: transform(j[4], j[5]) for j in PIPER_V3_JOINTS}


def _check_q(q, n: int, what: str) -> np.ndarray:
    q = np.asarray(q, dtype=float).reshape(-1)
    if q.shape != (n,) or not np.all(np.isfinite(q)):
        raise ValueError(f"{what} must be {n} finite values, got {np.asarray(q).tolist()!r}")
    return q


def link_poses(q6, gripper_opening: float = 0.0) -> dict[str, np.ndarray]:
    """Pose (4x4, arm base frame) of every link of one arm: base_link, link1..link6, gripper_base, link7, link8.

    q6: 6 joint angles (rad); gripper_opening: total opening (m), split evenly over the two fingers.
    """
    q = _check_q(q6, ARM_DOF, "q6")
    values = dict(zip(ARM_JOINTS, q))
    values["joint7"] = gripper_opening / 2
    values["joint8"] = -gripper_opening / 2
    poses = {"base_link": np.eye(4)}
    for name, jtype, parent, child, _xyz, _rpy, axis in PIPER_V3_JOINTS:
        poses[child] = poses[parent] @ _ORIGINS[name] @ _axis_motion(jtype, axis, values.get(name, 0.0))
    return poses


def fk(q6, point: str = "flange") -> np.ndarray:
    """4x4 pose of the flange (link6) or the fingertip plane ('fingertip') in the arm base frame."""
    if point not in ("flange", "fingertip"):
        raise ValueError(f"point must be one of ['flange', 'fingertip'], got {point!r}")
    q = _check_q(q6, ARM_DOF, "q6")
    pose = np.eye(4)
    for name, jtype, _parent, _child, _xyz, _rpy, axis in PIPER_V3_JOINTS[:ARM_DOF]:
        pose = pose @ _ORIGINS[name] @ _axis_motion(jtype, axis, q[ARM_JOINTS.index(name)])
    if point == "fingertip":
        pose = pose @ transform((0.0, 0.0, FINGERTIP_OFFSET))
    return pose


@dataclass(frozen=True)
class ArmMount:
    """Where one arm's base_link sits in the world frame."""

    name: str
    xyz: tuple[float, float, float]
    rpy: tuple[float, float, float]

    @property
    def pose(self) -> np.ndarray:
        return transform(self.xyz, self.rpy)


def mounts_from_sim(sim: dict) -> list[ArmMount]:
    """Arm base poses from config/sim.yaml: side by side on the table top (z = table.height), `base_separation`
    apart in y (left at +y), at x = `base_x`, both turned by `base_yaw` about z. World: x forward, y left, z up."""
    try:
        mount, top = sim["mounting"], float(sim["table"]["height"])
        half, x, yaw = float(mount["base_separation"]) / 2, float(mount["base_x"]), float(mount["base_yaw"])
    except (KeyError, TypeError) as e:
        raise ValueError(f"sim.yaml needs mounting.{{base_separation, base_x, base_yaw}} and table.height: missing {e}") from e
    return [ArmMount("left", (x, half, top), (0.0, 0.0, yaw)), ArmMount("right", (x, -half, top), (0.0, 0.0, yaw))]


class DualArmKinematics:
    """FK of both arms in the world frame, for the 14-d layout [left j1..j6, left gripper, right j1..j6, right gripper]."""

    def __init__(self, mounts: list[ArmMount], world_frame: str = "world"):
        if [m.name for m in mounts] != ["left", "right"]:
            raise ValueError(f"mounts must be [left, right], got {[m.name for m in mounts]}")
        self.mounts = mounts
        self.world_frame = world_frame

    @classmethod
    def from_config(cls, sim: dict | None = None) -> "DualArmKinematics":
        """Base poses from config/sim.yaml (the twin and the real robot share the layout), see `mounts_from_sim`."""
        from video2act.config import load_config

        return cls(mounts_from_sim(sim if sim is not None else load_config("sim.yaml")))

    def fingertip_positions(self, state14) -> tuple[np.ndarray, np.ndarray]:
        """(left xyz (3,), right xyz (3,)) of the fingertip planes in the world frame for one 14-d state."""
        s = _check_q(state14, 14, "state14")
        out = []
        for i, mount in enumerate(self.mounts):
            out.append((mount.pose @ fk(s[7 * i: 7 * i + 6], "fingertip"))[:3, 3])
        return out[0], out[1]

    def fingertip_paths(self, chunk) -> tuple[np.ndarray, np.ndarray]:
        """Action chunk (H, 14) -> fingertip paths (left (H, 3), right (H, 3)) in the world frame."""
        c = np.asarray(chunk, dtype=float)
        if c.ndim != 2 or c.shape[1] != 14:
            raise ValueError(f"chunk must have shape (H, 14), got {c.shape}")
        pairs = [self.fingertip_positions(row) for row in c]
        return np.array([p[0] for p in pairs]).reshape(-1, 3), np.array([p[1] for p in pairs]).reshape(-1, 3)
