"""Node parameters are declared once (config/params/<node>.yaml, video2act.node_params): every node declares exactly
its file's parameters, the deployment params files set only declared names with valid values, and the code that
needs a node's default (launch files, evaluation, the runtime cores) reads it from there. Nothing to keep in sync."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from video2act import node_params
from video2act.config import config_dir, load_config
from video2act.node_params import Param, ParameterValueError

ROOT = Path(__file__).resolve().parents[1]
# the ROS params file of each node that has one (what the launch files pass with --params-file)
PARAMS_FILES = {"system1.yaml": "system1_node", "system2.yaml": "system2_node", "streamer.yaml": "trajectory_streamer",
                "sim_bridge.yaml": "sim_bridge_node", "camera.yaml": "camera_node",
                "piper_sdk_driver.yaml": "piper_sdk_driver"}


def test_every_declaration_parses_with_valid_defaults_and_descriptions():
    nodes = node_params.declared_nodes()
    assert set(PARAMS_FILES.values()) <= set(nodes)
    for node in nodes:
        decl = node_params.declaration(node)
        assert decl, node
        p = node_params.read(node)  # the defaults pass their own validation
        assert p.as_dict() == node_params.defaults(node)


@pytest.mark.parametrize("name", sorted(PARAMS_FILES))
def test_params_files_set_only_declared_parameters_with_valid_values(name):
    node = PARAMS_FILES[name]
    values = node_params.params_file_values(config_dir() / name, node)
    node_params.read(node, values)  # raises on an undeclared name or an invalid value


def test_every_node_module_declares_from_its_file_and_keeps_no_table():
    """ros/*.py and testing/*.py declare through declare_params(node, "<name>"), with a name that has a declaration file, and no
    module keeps a second table of defaults (param_spec, _param_table, PARAMS)."""
    nodes, seen = set(node_params.declared_nodes()), set()
    for path in sorted([*(ROOT / "src" / "video2act" / "ros").glob("*.py"), *(ROOT / "src" / "video2act" / "testing").glob("*.py")]):
        tree = ast.parse(path.read_text())
        for n in ast.walk(tree):
            if isinstance(n, ast.FunctionDef):
                assert n.name not in ("param_spec", "_param_table", "policy_params"), f"{path.name}: {n.name}"
            if isinstance(n, ast.Assign):
                assert not any(isinstance(t, ast.Name) and t.id == "PARAMS" for t in n.targets), path.name
            if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "declare_params":
                arg = n.args[1]
                name = arg.value if isinstance(arg, ast.Constant) else {"NODE_NAME": _node_name(tree)}.get(getattr(arg, "id", None))
                assert name in nodes, f"{path.name}: declare_params(..., {ast.unparse(arg)}) has no config/params file"
                seen.add(name)
    assert seen == nodes, f"declarations no node reads: {sorted(nodes - seen)}"


def _node_name(tree) -> str | None:
    for n in tree.body:
        if isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "NODE_NAME" for t in n.targets):
            return n.value.value
    return None


def test_robot_yaml_references_resolve_to_its_values():
    robot = load_config("robot.yaml")
    streamer = node_params.defaults("trajectory_streamer")
    assert streamer["rate_hz"] == robot["rates"]["control_hz"]
    assert streamer["feedback_topics"] == [robot["topics"]["feedback"]["left"], robot["topics"]["feedback"]["right"]]
    assert streamer["chunk_timeout"] == robot["safety"]["chunk_timeout"]
    assert node_params.default("monitor_node", "path_topic") == robot["topics"]["viz_prefix"] + "/predicted_path"


def test_validation_rules_name_the_parameter_and_the_rule():
    sink = node_params.declaration("trajectory_streamer")["sink"]
    with pytest.raises(ParameterValueError, match=r"parameter sink must be one of \['cobot_magic', 'ros2_control', 'piper_ros'\]. Got 'x'"):
        sink.check("x")
    p = Param("rate_hz", "double", 1.0, "d", {"gt": 0.0})
    assert p.check(30) == 30.0 and isinstance(p.check(30), float)  # an int where a double is declared
    with pytest.raises(ParameterValueError, match="rate_hz.*expected float"):
        p.check("fast")
    with pytest.raises(ParameterValueError, match="must be > 0.0"):
        p.check(0)
    ints = Param("n", "int_array", [1], "d", {"fixed_size": 2, "bounds": [0, 5]})
    assert ints.check((1, 2)) == [1, 2]
    with pytest.raises(ParameterValueError, match=r"n\[1\].*expected int"):
        ints.check([1, 2.5])
    with pytest.raises(ParameterValueError, match="have 2 entries"):
        ints.check([1])
    with pytest.raises(ParameterValueError, match=r"lie in \[0, 5\]"):
        ints.check([1, 9])
    with pytest.raises(ParameterValueError, match="not be empty"):
        node_params.read("system1_node", {"instruction": "  "})
    with pytest.raises(ParameterValueError, match="has no parameters"):
        node_params.read("system1_node", {"no_such": 1})
    with pytest.raises(ValueError, match="needs type"):
        node_params.parse("n", {"x": {"type": "float", "default_value": 1.0, "description": "d"}}, {})


def test_the_runtime_blends_as_the_streamer_is_declared():
    """ChunkExecutor / StreamerCore without a blend argument blend as the node does (was: ensemble vs crossfade),
    and the declaration offers exactly the executor's modes."""
    from video2act.runtime.chunk_executor import BLEND_MODES, ChunkExecutor
    from video2act.runtime.robot import RobotDescription
    from video2act.runtime.streamer import StreamerCore

    blend = node_params.declaration("trajectory_streamer")["blend"]
    assert set(blend.validation["one_of"]) == set(BLEND_MODES)
    assert ChunkExecutor(1 / 30).blend == blend.default == "ensemble"
    core = StreamerCore(RobotDescription.from_config(), rate_hz=30.0, chunk_dt=1 / 30)
    assert core.executor.blend == blend.default and core.executor.blend_window == node_params.default("trajectory_streamer", "blend_window")


def test_markdown_lists_every_parameter():
    text = node_params.markdown("trajectory_streamer")
    for name in node_params.declaration("trajectory_streamer"):
        assert f"`{name}`" in text
