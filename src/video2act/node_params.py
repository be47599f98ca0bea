"""Node parameters, declared once: config/params/<node>.yaml (ROS-free; the rclpy side is ros/params.py).

generate_parameter_library's idea without its build step: each node's parameters are declared in one YAML
file, one entry per parameter with its type, default, description and validation. The node declares them
from it (ros/params.py: descriptions and ranges show in `ros2 param describe`), `video2act params`
prints them, the tests read them, and ROS-free code that needs a node's default (the streamer's blending in
evaluation) reads it here. No other table repeats them; deployment values go in the ROS params files
(config/<node>.yaml, `--params-file`), which may only set declared parameters.

    trajectory_streamer:                # the node's name
      rate_hz:
        type: double                    # bool | int | double | string | <one of those>_array
        default_value: {robot: rates.control_hz}   # a literal, or {robot: key path(s)} into config/robot.yaml
                                                   # ({robot: topics.viz_prefix, suffix: /path}: text appended)
        description: command rate (Hz)
        validation: {gt: 0.0}           # one_of, bounds [lo, hi], gt, gt_eq, fixed_size, not_empty, subset_of
        read_only: true                 # default; false: changeable at run time (set_parameters)

    from video2act.node_params import declaration, defaults, read
    declaration("trajectory_streamer")["blend"].default     # "ensemble"
    p = read("trajectory_streamer", {"sink": "piper_ros"})  # frozen dataclass, validated
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

from video2act.config import config_dir, load_config

_SCALARS = {"bool": bool, "int": int, "double": float, "string": str}
TYPES = tuple(_SCALARS) + tuple(f"{t}_array" for t in _SCALARS)
VALIDATIONS = ("one_of", "bounds", "gt", "gt_eq", "fixed_size", "not_empty", "subset_of")


class ParameterValueError(ValueError):
    """A parameter value of the wrong type or outside its declared validation."""


@dataclass(frozen=True)
class Param:
    """One declared parameter (an entry of config/params/<node>.yaml)."""

    name: str
    type: str
    default: Any
    description: str
    validation: dict = field(default_factory=dict)
    read_only: bool = True

    @property
    def element_type(self) -> type:
        return _SCALARS[self.type.removesuffix("_array")]

    @property
    def is_array(self) -> bool:
        return self.type.endswith("_array")

    def convert(self, value: Any) -> Any:
        """`value` as this parameter's type (int -> double allowed); ParameterValueError otherwise."""
        if not self.is_array:
            return _scalar(self.name, value, self.element_type)
        if not isinstance(value, (list, tuple)) and not hasattr(value, "tolist"):
            raise ParameterValueError(f"parameter {self.name!r}: expected a list of {self.type[:-6]}, got {value!r}")
        items = value.tolist() if hasattr(value, "tolist") else list(value)
        return [_scalar(f"{self.name}[{i}]", v, self.element_type) for i, v in enumerate(items)]

    def check(self, value: Any) -> Any:
        """The converted value, validated; ParameterValueError naming the parameter and the rule otherwise."""
        value = self.convert(value)
        for rule, arg in self.validation.items():
            if not _RULES[rule](value, arg):
                raise ParameterValueError(f"parameter {self.name} must {_describe(rule, arg)}. Got {value!r}")
        return value

    def constraint_text(self) -> str:
        """The type and validation in words (ParameterDescriptor.additional_constraints, docs)."""
        rules = [_describe(rule, arg) for rule, arg in self.validation.items()]
        return f"type: {self.type}" + (f"; must {', '.join(rules)}" if rules else "")


def _scalar(name: str, value: Any, typ: type) -> Any:
    if typ is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, typ) and not (typ is int and isinstance(value, bool)):
        return value
    raise ParameterValueError(f"parameter {name!r}: expected {typ.__name__}, got {value!r} ({type(value).__name__})")


def _in_bounds(v, lo_hi) -> bool:
    lo, hi = lo_hi
    return (lo is None or v >= lo) and (hi is None or v <= hi)


_RULES = {
    "one_of": lambda v, arg: v in arg,
    "bounds": lambda v, arg: all(_in_bounds(x, arg) for x in (v if isinstance(v, list) else [v])),
    "gt": lambda v, arg: all(x > arg for x in (v if isinstance(v, list) else [v])),
    "gt_eq": lambda v, arg: all(x >= arg for x in (v if isinstance(v, list) else [v])),
    "fixed_size": lambda v, arg: len(v) == arg,
    "not_empty": lambda v, arg: not arg or bool(v.strip() if isinstance(v, str) else v),
    "subset_of": lambda v, arg: set(v) <= set(arg),
}


def _describe(rule: str, arg) -> str:
    return {"one_of": lambda: f"be one of {list(arg)}", "bounds": lambda: f"lie in [{arg[0]}, {arg[1]}]",
            "gt": lambda: f"be > {arg}", "gt_eq": lambda: f"be >= {arg}", "fixed_size": lambda: f"have {arg} entries",
            "not_empty": lambda: "not be empty", "subset_of": lambda: f"be among {list(arg)}"}[rule]()


def _robot_value(path: str, robot: dict) -> Any:
    value = robot
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(f"robot.yaml has no {path!r} (a parameter default refers to it)")
        value = value[part]
    return value


def _default(name: str, raw: Any, robot: dict) -> Any:
    if isinstance(raw, dict):
        if "robot" not in raw or set(raw) - {"robot", "suffix"}:
            raise ValueError(f"parameter {name!r}: default_value must be a literal or {{robot: path(s)[, suffix: text]}}, "
                             f"got {raw!r}")
        ref = raw["robot"]
        value = [_robot_value(p, robot) for p in ref] if isinstance(ref, list) else _robot_value(ref, robot)
        return value + raw["suffix"] if "suffix" in raw else value
    return raw


def parse(node: str, entries: dict, robot: dict) -> dict[str, Param]:
    """name -> Param from a node's section of a declaration file (defaults resolved, each checked)."""
    out = {}
    for name, e in entries.items():
        unknown = set(e) - {"type", "default_value", "description", "validation", "read_only"}
        if unknown or e.get("type") not in TYPES or not e.get("description"):
            raise ValueError(f"{node}.{name}: needs type (one of {list(TYPES)}), default_value and description; "
                             f"unknown keys {sorted(unknown)}")
        validation = dict(e.get("validation") or {})
        if set(validation) - set(VALIDATIONS):
            raise ValueError(f"{node}.{name}: unknown validation {sorted(set(validation) - set(VALIDATIONS))}")
        p = Param(name, e["type"], None, e["description"].strip(), validation, bool(e.get("read_only", True)))
        default = p.check(_default(name, e["default_value"], robot))
        out[name] = dataclasses.replace(p, default=default)
    return out


def declared_nodes() -> list[str]:
    """The nodes that have a declaration file."""
    return sorted(p.stem for p in (config_dir() / "params").glob("*.yaml"))


@functools.lru_cache(maxsize=None)
def _declaration(node: str) -> dict[str, Param]:
    data = load_config(f"params/{node}.yaml")
    if set(data) != {node}:
        raise ValueError(f"config/params/{node}.yaml must hold one section, {node}:, got {sorted(data)}")
    return parse(node, data[node], load_config("robot.yaml"))


def declaration(node: str) -> dict[str, Param]:
    """name -> Param of a node, from config/params/<node>.yaml."""
    return dict(_declaration(node))


def defaults(node: str) -> dict[str, Any]:
    """name -> default value of every parameter of a node."""
    return {name: p.default for name, p in _declaration(node).items()}


def default(node: str, name: str) -> Any:
    return _declaration(node)[name].default


@functools.lru_cache(maxsize=None)
def params_class(node: str) -> type:
    """A frozen dataclass with one typed field per parameter of `node`, plus `as_dict()`."""
    fields = [(p.name, list[p.element_type] if p.is_array else p.element_type) for p in _declaration(node).values()]
    return dataclasses.make_dataclass(f"{''.join(w.title() for w in node.split('_'))}Params", fields, frozen=True,
                                      namespace={"as_dict": lambda self: dataclasses.asdict(self)})


def read(node: str, values: dict[str, Any] | None = None):
    """The node's parameters as a frozen dataclass: its defaults, replaced by `values`, each validated.
    An undeclared name raises ParameterValueError."""
    decl = _declaration(node)
    values = values or {}
    unknown = sorted(set(values) - set(decl))
    if unknown:
        raise ParameterValueError(f"{node} has no parameters {unknown} (config/params/{node}.yaml)")
    return params_class(node)(**{name: p.check(values.get(name, p.default)) for name, p in decl.items()})


def params_file_values(path, node: str) -> dict[str, Any]:
    """`node: ros__parameters:` (or `/**`) of a ROS params file ({} when it holds no section for the node)."""
    import yaml

    with open(path) as f:
        data = yaml.safe_load(f) or {}
    for key in (node, "/" + node, "/**"):
        section = data.get(key)
        if isinstance(section, dict) and isinstance(section.get("ros__parameters"), dict):
            return dict(section["ros__parameters"])
    return {}


def markdown(node: str) -> str:
    """A Markdown table of a node's parameters (docs, `video2act params`)."""
    rows = [f"| parameter | type | default | description |", "|---|---|---|---|"]
    for p in _declaration(node).values():
        extra = "; ".join(_describe(r, a) for r, a in p.validation.items())
        dyn = "" if p.read_only else " (changeable at run time)"
        rows.append(f"| `{p.name}` | {p.type} | `{p.default!r}` | {p.description}{dyn}{f' (must {extra})' if extra else ''} |")
    return "\n".join(rows)


def register(subparsers, bench_subparsers) -> None:
    """`video2act params [NODE]`: every declared parameter of a node (or of all nodes) as a Markdown table."""
    p = subparsers.add_parser("params", help="the nodes' parameters as declared (config/params): type, default, "
                                             "description, validation")
    p.add_argument("node", nargs="?", help="one node (default: all): " + ", ".join(declared_nodes()))
    p.set_defaults(func=_cmd_params)


def _cmd_params(args) -> int:
    nodes = [args.node] if args.node else declared_nodes()
    unknown = sorted(set(nodes) - set(declared_nodes()))
    if unknown:
        raise ValueError(f"no declaration for {unknown}; nodes: {declared_nodes()}")
    for node in nodes:
        print(f"## {node} (config/params/{node}.yaml)\n\n{markdown(node)}\n")
    return 0
