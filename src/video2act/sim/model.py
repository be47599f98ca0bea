"""MJCF of the Cobot Magic twin: two AgileX Piper V3 arms of primitive shapes at a table, three cameras.

The kinematic chain is the V3 joint table (video2act.runtime.kinematics.PIPER_V3_JOINTS, from
../shared/design/piper_kinematics.md section 1); joint limits and the home pose come from
config/robot.yaml; mounting, cameras, servo gains and physics options from config/sim.yaml. Task
objects are appended by the task (`build_mjcf(objects_xml=...)`).

Names in the model (prefix `left_` / `right_`): joints `{arm}_joint1..6`, finger joints
`{arm}_finger_a|b`, actuators `{arm}_act1..6` and `{arm}_gripper` (position servo on the tendon
`{arm}_opening` = total opening in m), site `{arm}_tcp` (tool centre point: middle of the finger pads,
z = tool axis, y = finger closing direction), cameras `head`, `left_wrist`, `right_wrist`.

Only the gripper (base and fingers) collides; the arm links are visual, so the experts' paths need
no self-collision checks (the real arms do not collide in these tasks either). Arm bodies carry
gravcomp=1: the Piper firmware compensates gravity, so the servos only track.
"""
from __future__ import annotations

import numpy as np

from video2act.config import load_config
from video2act.runtime.kinematics import FINGERTIP_OFFSET, PIPER_V3_JOINTS, mounts_from_sim, rotation_rpy

ARMS = ("left", "right")
CAMERAS = {"head": "head", "left": "left_wrist", "right": "right_wrist"}  # observation key -> MJCF camera
# V3 link masses (kg), piper_kinematics.md section 2; inertia comes from the primitive geoms.
LINK_MASS = {"link1": 0.71, "link2": 1.17, "link3": 0.5, "link4": 0.38, "link5": 0.383, "link6": 0.457}
FINGER_MASS = 0.025


def _fmt(v) -> str:
    return " ".join(f"{float(x):.6g}" for x in np.ravel(v))


def mat_to_quat(r: np.ndarray) -> np.ndarray:
    """3x3 rotation -> MuJoCo quaternion (w x y z)."""
    import mujoco

    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.ascontiguousarray(r, dtype=float).ravel())
    return q


def look_xyaxes(forward, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """MuJoCo camera `xyaxes` (image right, image up) for a camera looking along `forward`."""
    f = np.asarray(forward, float) / np.linalg.norm(forward)
    right = np.cross(f, up)
    right /= np.linalg.norm(right)
    return np.concatenate([right, np.cross(right, f)])


def _link_geoms(link: str, radius: float) -> str:
    """Visual primitives of one link (contype/conaffinity 0), sized from the mesh bounding boxes."""
    m = LINK_MASS.get(link, 0.0)
    vis = f'contype="0" conaffinity="0" mass="{m}" material="arm"'
    if link == "link1":
        return f'<geom type="cylinder" size="{radius} 0.036" pos="0 0 -0.007" {vis}/>'
    if link == "link2":
        return f'<geom type="capsule" fromto="0 0 0 0.285 0 0" size="{radius}" {vis}/>'
    if link == "link3":
        return f'<geom type="capsule" fromto="0 0 0 -0.021984 -0.2 0" size="{radius}" {vis}/>'
    if link == "link4":
        return f'<geom type="sphere" size="{radius}" {vis}/>'
    if link == "link5":
        return f'<geom type="capsule" fromto="0 0 0 0 -0.07 0" size="{radius}" {vis}/>'
    raise ValueError(f"unknown link {link!r}")


def _gripper_xml(arm: str, sim: dict, tcp_z: float) -> str:
    """Flange, gripper base, two coupled fingers, the tcp site and the wrist camera (link6 frame)."""
    g = sim["gripper"]
    half_len, half_w, half_t = g["finger_length"] / 2, g["finger_width"] / 2, g["finger_thickness"] / 2
    pad_z = FINGERTIP_OFFSET - half_len
    fr = _fmt(g["friction"])
    cam = sim["cameras"]["wrist"]
    tilt = float(cam["tilt"])
    cam_xy = _fmt(look_xyaxes((np.sin(tilt), 0.0, np.cos(tilt)), up=(-1.0, 0.0, 0.0)))
    fingers = []
    for name, sign in (("a", -1.0), ("b", 1.0)):
        # finger a opens toward -y (URDF joint7), finger b toward +y (joint8); q >= 0 is each finger's share
        fingers.append(
            f'<body name="{arm}_finger_{name}" gravcomp="1">'
            f'<joint name="{arm}_finger_{name}" type="slide" axis="0 {sign:g} 0" range="0 0.035" damping="2" armature="0.01"/>'
            f'<geom name="{arm}_pad_{name}" type="box" size="{half_w} {half_t} {half_len}" pos="0 {sign * half_t:g} {pad_z:.5g}" '
            f'mass="{FINGER_MASS}" friction="{fr}" condim="4" material="finger"/>'
            f'</body>'
        )
    return (
        f'<geom type="cylinder" size="0.0175 0.002" pos="0 0 -0.002" contype="0" conaffinity="0" mass="0.007" material="arm"/>'
        f'<geom name="{arm}_gripper_base" type="box" size="0.035 0.0725 0.0315" pos="-0.005 0 0.0315" mass="0.45" material="gripper"/>'
        f'<site name="{arm}_tcp" pos="0 0 {tcp_z:.5g}" size="0.005" rgba="1 0 0 0.5" group="4"/>'
        f'<camera name="{arm}_wrist" pos="{_fmt(cam["pos"])}" xyaxes="{cam_xy}" fovy="{cam["fovy"]}"/>'
        + "".join(fingers)
    )


def _arm_xml(arm: str, base_pos, base_yaw: float, robot: dict, sim: dict) -> str:
    """Nested bodies base -> link1..link6 (+gripper) of one arm, from the V3 joint table."""
    lower, upper = robot["robot"]["lower"], robot["robot"]["upper"]
    radius = sim["arm"]["link_radius"]
    base_quat = _fmt(mat_to_quat(rotation_rpy(0.0, 0.0, base_yaw)))
    xml = (
        f'<body name="{arm}_base" pos="{_fmt(base_pos)}" quat="{base_quat}">'
        f'<geom type="cylinder" size="{radius[0]} 0.043" pos="0 0 0.043" contype="0" conaffinity="0" material="arm"/>'
    )
    closing = ""
    revolute = [j for j in PIPER_V3_JOINTS if j[1] == "revolute"]
    for i, (_, _, _, child, xyz, rpy, axis) in enumerate(revolute):
        quat = _fmt(mat_to_quat(rotation_rpy(*rpy)))
        xml += (
            f'<body name="{arm}_{child}" pos="{_fmt(xyz)}" quat="{quat}" gravcomp="1">'
            f'<joint name="{arm}_joint{i + 1}" axis="{_fmt(axis)}" range="{lower[i]} {upper[i]}" '
            f'armature="{sim["arm"]["armature"][i]}" damping="{sim["arm"]["damping"][i]}"/>'
        )
        if child == "link6":
            tcp_z = FINGERTIP_OFFSET - sim["gripper"]["finger_length"] / 2
            xml += _gripper_xml(arm, sim, tcp_z)
        else:
            xml += _link_geoms(child, radius[min(i + 1, len(radius) - 1)])
        closing += "</body>"
    return xml + closing + "</body>"


def _head_camera_xml(sim: dict) -> str:
    cam = sim["cameras"]["head"]
    pos, lookat = np.asarray(cam["pos"], float), np.asarray(cam["lookat"], float)
    return f'<camera name="head" pos="{_fmt(pos)}" xyaxes="{_fmt(look_xyaxes(lookat - pos))}" fovy="{cam["fovy"]}"/>'


def physics_timestep(control_hz: float, sim: dict | None = None) -> tuple[float, int]:
    """(timestep, substeps per control step): the largest dt <= physics.max_timestep dividing 1/control_hz."""
    if control_hz <= 0:
        raise ValueError(f"control_hz must be > 0, got {control_hz}")
    sim = sim or load_config("sim.yaml")
    n = int(np.ceil(1.0 / (control_hz * float(sim["physics"]["max_timestep"])) - 1e-9))
    return 1.0 / (control_hz * n), n


def build_mjcf(objects_xml: str = "", control_hz: float = 30.0, robot: dict | None = None, sim: dict | None = None,
               offscreen: tuple[int, int] = (480, 640), assets_xml: str = "") -> str:
    """The twin's MJCF as a string; `objects_xml` (bodies in the world frame) is inserted in the worldbody,
    `assets_xml` (textures, materials: the randomized scene's, video2act.sim.scene) in the assets;
    `offscreen` (H, W) is the largest image the renderer may produce (the offscreen buffer is exactly that:
    software rendering clears and resolves the whole buffer, whatever the viewport)."""
    robot = robot or load_config("robot.yaml")
    sim = sim or load_config("sim.yaml")
    dt, _ = physics_timestep(control_hz, sim)
    phys, table, arm_cfg, grip, quality = sim["physics"], sim["table"], sim["arm"], sim["gripper"], sim["rendering"]
    top = float(table["height"])
    arms, actuators, tendons, equalities, excludes = "", "", "", "", ""
    grip_max = robot["robot"]["upper"][6]
    for mount in mounts_from_sim(sim):  # the layout the runtime's kinematics uses too
        arm = mount.name
        arms += _arm_xml(arm, mount.xyz, mount.rpy[2], robot, sim)
        for i in range(6):
            lo, hi = robot["robot"]["lower"][i], robot["robot"]["upper"][i]
            f = arm_cfg["force_limit"][i]
            actuators += (
                f'<position name="{arm}_act{i + 1}" joint="{arm}_joint{i + 1}" kp="{arm_cfg["kp"][i]}" kv="{arm_cfg["kv"][i]}" '
                f'ctrlrange="{lo} {hi}" forcerange="{-f} {f}"/>'
            )
        actuators += (
            f'<position name="{arm}_gripper" tendon="{arm}_opening" kp="{grip["kp"]}" kv="{grip["kv"]}" '
            f'ctrlrange="0 {grip_max}" forcerange="{-grip["force_limit"]} {grip["force_limit"]}"/>'
        )
        tendons += (
            f'<fixed name="{arm}_opening"><joint joint="{arm}_finger_a" coef="1"/><joint joint="{arm}_finger_b" coef="1"/></fixed>'
        )
        equalities += f'<joint joint1="{arm}_finger_b" joint2="{arm}_finger_a" polycoef="0 1 0 0 0" solref="0.005 1"/>'
        excludes += f'<exclude body1="{arm}_finger_a" body2="{arm}_finger_b"/>'
    tx, (sx, sy) = float(table["center_x"]), table["size"]
    return f"""<mujoco model="cobot_magic_twin">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{dt:.8f}" integrator="{phys["integrator"]}" cone="{phys["cone"]}" impratio="{phys["impratio"]}"/>
  <visual><quality shadowsize="0" offsamples="0" numslices="{quality["numslices"]}" numstacks="{quality["numstacks"]}" numquads="1"/>
    <global offwidth="{int(offscreen[1])}" offheight="{int(offscreen[0])}"/>
    <headlight ambient="0.45 0.45 0.45" diffuse="0.5 0.5 0.5" specular="0 0 0"/></visual>
  <asset>
    <material name="arm" rgba="0.78 0.78 0.8 1"/><material name="gripper" rgba="0.2 0.2 0.22 1"/>
    <material name="finger" rgba="0.35 0.35 0.38 1"/><material name="table" rgba="0.55 0.42 0.3 1"/>
    <material name="floor" rgba="0.3 0.32 0.35 1"/>{assets_xml}
  </asset>
  <default><geom solref="0.004 1" solimp="0.95 0.99 0.001"/></default>
  <worldbody>
    <light pos="0.3 0 2.5" dir="0 0 -1" directional="true" castshadow="false" diffuse="0.5 0.5 0.5"/>
    <geom name="floor" type="plane" size="3 3 3" material="floor" contype="0" conaffinity="0"/>
    <!-- a plane, drawn as 2x2 quads (3rd size); not a box: a box would enlarge the model extent and with it the
         near clipping plane, which then cuts the fingers out of the wrist cameras -->
    <geom name="table" type="box" size="{sx / 2} {sy / 2} 0.02" pos="{tx} 0 {top - 0.02}" material="table" friction="1 0.02 0.002"/>
    <geom type="box" size="{sx / 2 - 0.05} {sy / 2 - 0.05} {(top - 0.04) / 2}" pos="{tx} 0 {(top - 0.04) / 2}" material="table" contype="0" conaffinity="0"/>
    {_head_camera_xml(sim)}
    {arms}
    {objects_xml}
  </worldbody>
  <tendon>{tendons}</tendon>
  <equality>{equalities}</equality>
  <contact>{excludes}</contact>
  <actuator>{actuators}</actuator>
</mujoco>"""


def project_to_head_camera(points, sim: dict | None = None) -> np.ndarray:
    """World points (..., 3) -> (..., 2) [x, y] in the head image, both in [-1, 1] (x right, y down; pixel
    centres of any image size map alike), from the camera in config/sim.yaml (pos, lookat, fovy), as MuJoCo
    renders it. Points behind the camera give non-finite values. This is the nominal camera: in the randomized
    scene (video2act.sim.scene) the rendered one is jittered off it by <= 1 cm per axis and 2 deg."""
    sim = sim or load_config("sim.yaml")
    cam = sim["cameras"]["head"]
    pos, lookat = np.asarray(cam["pos"], float), np.asarray(cam["lookat"], float)
    axes = look_xyaxes(lookat - pos)
    right, up = axes[:3], axes[3:]
    forward = np.cross(up, right)  # camera looks along -z = up x right
    d = np.asarray(points, float) - pos
    depth = d @ forward
    with np.errstate(divide="ignore", invalid="ignore"):
        focal = 1.0 / np.tan(np.radians(cam["fovy"]) / 2)  # in units of half the image height
        h, w = sim["cameras"]["image_size"]
        x = focal * (d @ right) / depth * (h / w)  # half-width units
        y = -focal * (d @ up) / depth
        out = np.stack([x, y], axis=-1)
    return np.where(depth[..., None] > 0, out, np.nan)
