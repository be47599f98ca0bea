"""Import rules of the rooms (CONTRIBUTING.md: a room imports only rooms below it): no ROS in runtime/, model/,
sim/, data/; model/ imports neither runtime/ nor sim/; no room imports a room above it (LEVELS); no node
(ros/*_node.py) imports another node; rosbag files are read and written in two data/ modules only. Every import
counts, also the lazy ones inside functions. Known exceptions are listed below, each with its reason; an exception
that is no longer needed fails too, so the list cannot go stale."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "video2act"
ROS_FREE_ROOMS = ("runtime", "model", "sim", "data")
ROS_PACKAGES = ("rclpy", "rosbag2_py", "builtin_interfaces", "rcl_interfaces", "message_filters", "cv_bridge",
                "launch", "launch_ros", "rosidl_runtime_py", "tf2_ros", "ament_index_python")

# (file relative to src/video2act, imported module) -> why it is allowed
EXCEPTIONS: dict[tuple[str, str], str] = {}
# The rooms from the bottom up: a room imports only rooms below it (config.py and node_params.py, the bottom, are
# read by all). A room's cli.py is the command layer (commands beside their code): it may start anything, lazily.
LEVELS = {"config": 0, "node_params": 0.5, "model": 1, "runtime": 2, "sim": 3, "data": 4, "monitor": 5, "training": 5,
          "ros": 6, "launch": 7, "testing": 7, "bench": 8, "cli": 9, "demo": 9}
UPWARD_EXCEPTIONS: dict[tuple[str, str], str] = {}
# A node imports no other node (what two nodes share lives in a lower module: ros/policy_worker.py, ros/params.py,
# runtime/, model/); (node, node it imports) -> why it is allowed
NODE_EXCEPTIONS = {
    ("ros/teleop_node.py", "video2act.ros.sim_bridge_node"): "teleop_node is sim_bridge_node under another name "
                                                             "(its main() adds -p teleop:=true)",
}
# the pure-Python rosbag2 library: bag files are read in one module and written in one
ROSBAGS_ALLOWED = {"data/bags.py", "data/bag_writer.py"}


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in a file, function bodies included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


def violation(room: str, module: str) -> str | None:
    top = module.split(".")[0]
    if top in ROS_PACKAGES or top.endswith("_msgs") or top.endswith("_srvs"):
        return "ROS"
    if module == "video2act.ros" or module.startswith("video2act.ros."):
        return "an import from ros/ (a higher room)"
    if room == "model" and module.split(".")[:2] in (["video2act", "runtime"], ["video2act", "sim"]):
        return "model/ importing runtime/ or sim/"
    return None


def found() -> dict[tuple[str, str], str]:
    out = {}
    for room in ROS_FREE_ROOMS:
        for path in sorted((SRC / room).rglob("*.py")):
            rel = path.relative_to(SRC).as_posix()
            for line, module in imports(path):
                why = violation(room, module)
                if why:
                    out[(rel, module)] = f"{rel}:{line} imports {module}: {why}"
    return out


def test_the_ros_free_rooms_import_no_ros_and_model_no_runtime_or_sim():
    bad = [text for key, text in found().items() if key not in EXCEPTIONS]
    assert not bad, "imports against the layout rules:\n  " + "\n  ".join(bad)


def test_every_listed_exception_is_still_needed():
    stale = sorted(set(EXCEPTIONS) - set(found()))
    assert not stale, f"exceptions no longer needed, remove them from EXCEPTIONS: {stale}"


def room_of(rel: str) -> str:
    parts = rel.split("/")
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def upward() -> dict[tuple[str, str], str]:
    """(file, room it imports) -> text, for every import of a room at or above the file's own level."""
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        room = room_of(rel)
        if path.name == "cli.py" and "/" in rel:  # a room's commands
            continue
        for line, module in imports(path):
            parts = module.split(".")
            if parts[0] != "video2act" or len(parts) < 2 or parts[1] == room:
                continue
            assert parts[1] in LEVELS, f"{rel}:{line} imports {module}: a room LEVELS does not know"
            if LEVELS[parts[1]] >= LEVELS[room]:
                out[(rel, parts[1])] = f"{rel}:{line} imports {module} ({parts[1]}/ is not below {room}/)"
    return out


def test_no_room_imports_a_room_above_it():
    bad = [text for key, text in upward().items() if key not in UPWARD_EXCEPTIONS]
    assert not bad, "imports of a higher (or same-level) room:\n  " + "\n  ".join(bad)
    stale = sorted(set(UPWARD_EXCEPTIONS) - set(upward()))
    assert not stale, f"exceptions no longer needed, remove them from UPWARD_EXCEPTIONS: {stale}"


def imported_nodes(path: Path) -> list[tuple[int, str]]:
    """(line, video2act.ros.<x>_node) of every node module a file imports, `from video2act.ros import x_node` too."""
    out = []
    for line, module in imports(path):
        parts = module.split(".")
        if parts[:2] == ["video2act", "ros"] and len(parts) > 2 and parts[2].endswith("_node"):
            out.append((line, ".".join(parts[:3])))
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "video2act.ros":
            out += [(node.lineno, f"video2act.ros.{alias.name}") for alias in node.names if alias.name.endswith("_node")]
    return out


def node_imports() -> dict[tuple[str, str], str]:
    """(node file, node module it imports) -> text, for every import of one ros/*_node.py module by another."""
    out = {}
    for path in sorted((SRC / "ros").glob("*_node.py")):
        rel = path.relative_to(SRC).as_posix()
        for line, module in imported_nodes(path):
            out[(rel, module)] = f"{rel}:{line} imports {module} (another node)"
    return out


def test_no_node_imports_another_node():
    bad = [text for key, text in node_imports().items() if key not in NODE_EXCEPTIONS]
    assert not bad, "a node importing another node (move what they share to a lower module):\n  " + "\n  ".join(bad)
    stale = sorted(set(NODE_EXCEPTIONS) - set(node_imports()))
    assert not stale, f"exceptions no longer needed, remove them from NODE_EXCEPTIONS: {stale}"


@pytest.mark.parametrize("source, expected", [
    ("from video2act.ros.system2_node import load_policy", ["video2act.ros.system2_node"]),
    ("import video2act.ros.system2_node", ["video2act.ros.system2_node"]),
    ("from video2act.ros import qos, sim_bridge_node", ["video2act.ros.sim_bridge_node"]),
    ("from video2act.ros.policy_worker import PolicyNode", []),
])
def test_the_node_rule_catches_what_it_should(tmp_path, source, expected):
    path = tmp_path / "x_node.py"
    path.write_text(f"def f():\n    {source}\n")
    assert [module for _, module in imported_nodes(path)] == expected


def test_rosbag_files_are_touched_in_two_data_modules_only():
    users = set()
    for room in ROS_FREE_ROOMS:
        for path in (SRC / room).rglob("*.py"):
            if any(m.split(".")[0] == "rosbags" for _, m in imports(path)):
                users.add(path.relative_to(SRC).as_posix())
    assert users == ROSBAGS_ALLOWED


@pytest.mark.parametrize("source, room, module, expected", [
    ("import rclpy", "runtime", "rclpy", "ROS"),
    ("from sensor_msgs.msg import Image", "sim", "sensor_msgs.msg", "ROS"),
    ("from video2act.ros.qos import sensor", "data", "video2act.ros.qos", "an import from ros/ (a higher room)"),
    ("from video2act.runtime.robot import RobotDescription", "model", "video2act.runtime.robot", "model/ importing runtime/ or sim/"),
    ("from video2act.sim.model import project_to_head_camera", "model", "video2act.sim.model", "model/ importing runtime/ or sim/"),
    ("from video2act.runtime.robot import RobotDescription", "sim", "video2act.runtime.robot", None),  # sim may
    ("from video2act.model.checkpoint import TrainedWith", "runtime", "video2act.model.checkpoint", None),
])
def test_the_rules_catch_what_they_should(tmp_path, source, room, module, expected):
    """The checker itself: a lazy import inside a function is found, and judged by its room."""
    path = tmp_path / "m.py"
    path.write_text(f"def f():\n    {source}\n")
    (line, got), = imports(path)
    assert (line, got) == (2, module)
    assert violation(room, got) == expected


def test_the_models_default_normalization_is_the_robots_joint_limits():
    """limits_normalization reads config/robot.yaml itself (model/ must not import runtime.robot): it must
    agree with RobotDescription, which reads the same file for the streamer and the safety filter."""
    from video2act.model.modeling_video2act import limits_normalization
    from video2act.runtime.robot import RobotDescription

    robot = RobotDescription.from_config()
    mean, std = limits_normalization(robot.dof)
    np.testing.assert_allclose(mean - std, robot.lower, atol=1e-6)
    np.testing.assert_allclose(mean + std, robot.upper, atol=1e-6)
    with pytest.raises(ValueError, match="14-d state/action, the config says 12"):
        limits_normalization(12)
