"""Declare a node's ROS parameters from one table: name -> (default, description).

The generate_parameter_library idea without the build tool: every parameter of a node is declared
in one place with a description (shown by `ros2 param describe`), values are read once into a
frozen, typed dataclass, and nodes never call `get_parameter` themselves. Defaults for a deployment
live in config/<node>.yaml (ROS params-file format, passed with `--ros-args --params-file`);
`yaml_defaults` reads the same file so the in-code table does not repeat its numbers.

Example::

    from video2act.ros.params import declare_params, yaml_defaults

    SPEC = {
        "rate_hz": (30.0, "command rate (Hz)"),
        "sink": ("cobot_magic", "command sink: cobot_magic | ros2_control | piper_ros"),
        "joint_names": (["joint0", "joint1"], "joint names per arm"),
    }
    defaults = yaml_defaults("streamer.yaml", "trajectory_streamer")  # {} when absent
    p = declare_params(node, SPEC, defaults=defaults)
    p.rate_hz      # float, even when the YAML says `rate_hz: 30`
    p.as_dict()    # {"rate_hz": 30.0, ...} for logging

Types come from the default: bool, int, float, str, or a non-empty list of one of them. Values
are declared with dynamic typing and converted to the default's type on read, so `30` in a YAML
file works for a float parameter; a value that cannot be converted raises ParameterValueError
naming the parameter and the expected type.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from video2act.config import config_path, load_config

_SCALARS = (bool, int, float, str)


class ParameterValueError(ValueError):
    """A parameter value that does not match the type of its declared default."""


def _value_type(name: str, default: Any) -> tuple[type, type | None]:
    """(python type, element type for lists) of a parameter, from its default."""
    if isinstance(default, _SCALARS):
        return type(default), None
    if isinstance(default, (list, tuple)) and default:
        elem = type(default[0])
        if elem not in _SCALARS or not all(type(v) is elem for v in default):
            raise ParameterValueError(f"parameter {name!r}: list default must hold one of bool/int/float/str, got {default!r}")
        return list, elem
    raise ParameterValueError(
        f"parameter {name!r}: default must be bool, int, float, str or a non-empty list of one of them, got {default!r}"
    )


def _convert_scalar(name: str, value: Any, typ: type) -> Any:
    if typ is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, typ) and not (typ is int and isinstance(value, bool)):
        return value
    raise ParameterValueError(f"parameter {name!r}: expected {typ.__name__}, got {value!r} ({type(value).__name__})")


def convert_value(name: str, value: Any, default: Any) -> Any:
    """`value` converted to the type of `default` (int -> float allowed); ParameterValueError otherwise."""
    typ, elem = _value_type(name, default)
    if typ is not list:
        return _convert_scalar(name, value, typ)
    if not isinstance(value, (list, tuple)) and not hasattr(value, "tolist"):
        raise ParameterValueError(f"parameter {name!r}: expected a list of {elem.__name__}, got {value!r}")
    items = value.tolist() if hasattr(value, "tolist") else list(value)
    return [_convert_scalar(f"{name}[{i}]", v, elem) for i, v in enumerate(items)]


def yaml_defaults(config_name: str, node_name: str) -> dict[str, Any]:
    """`node_name: ros__parameters:` of a params file in config/ ({} when the file or node is absent)."""
    try:
        config_path(config_name)
    except FileNotFoundError:
        return {}
    data = load_config(config_name)
    for key in (node_name, "/" + node_name, "/**"):
        section = data.get(key)
        if isinstance(section, dict) and isinstance(section.get("ros__parameters"), dict):
            return dict(section["ros__parameters"])
    return {}


def params_class(spec: dict[str, tuple[Any, str]]) -> type:
    """A frozen dataclass with one typed field per parameter, plus `as_dict()`."""
    fields = []
    for name, (default, _desc) in spec.items():
        typ, elem = _value_type(name, default)
        fields.append((name, list[elem] if typ is list else typ))
    return dataclasses.make_dataclass(
        "NodeParams", fields, frozen=True, namespace={"as_dict": lambda self: dataclasses.asdict(self)}
    )


def declare_params(node, spec: dict[str, tuple[Any, str]], defaults: dict[str, Any] | None = None, read_only: bool = True):
    """Declare every parameter in `spec` on `node` and return their values as a frozen dataclass.

    spec: name -> (default, description); `defaults` (e.g. from `yaml_defaults`) replaces the
    table's default for the names it holds. Values given on the command line or in a
    `--params-file` win over both. read_only=True because nodes read parameters once at start:
    a later `set_parameters` is refused instead of silently ignored.
    """
    from rcl_interfaces.msg import ParameterDescriptor

    defaults = defaults or {}
    unknown = sorted(set(defaults) - set(spec))
    if unknown:
        node.get_logger().warn(f"config defaults for undeclared parameters ignored: {unknown}")
    values = {}
    for name, (table_default, description) in spec.items():
        default = convert_value(name, defaults.get(name, table_default), table_default)
        typ, elem = _value_type(name, table_default)
        type_text = f"{elem.__name__}[]" if typ is list else typ.__name__
        descriptor = ParameterDescriptor(
            name=name, description=description, additional_constraints=f"type: {type_text}",
            read_only=read_only, dynamic_typing=True,
        )
        # a managed node configured again after cleanup keeps its declared parameters
        param = node.get_parameter(name) if node.has_parameter(name) else node.declare_parameter(name, default, descriptor)
        values[name] = convert_value(name, param.value, table_default)
    return params_class(spec)(**values)
