"""Each node's parameter table and its config/ params file agree: a number changed in one place cannot
silently differ from the other (the YAML wins at run time, the table is what --help and a missing file give)."""
import importlib

import pytest

from video2act.config import load_config
from video2act.ros.params import yaml_defaults

NODES = [("system1_node", "param_spec", "system1.yaml", "system1_node"),
         ("system2_node", "param_spec", "system2.yaml", "system2_node"),
         ("trajectory_streamer", "param_spec", "streamer.yaml", "trajectory_streamer"),
         ("sim_bridge_node", "param_spec", "sim_bridge.yaml", "sim_bridge_node"),
         ("camera_node", "_param_table", "camera.yaml", "camera_node"),
         ("piper_sdk_driver", "param_spec", "piper_sdk_driver.yaml", "piper_sdk_driver")]
# the instruction has no sensible table default (a robot must be told what to do): the YAML's is the example
NO_TABLE_DEFAULT = {"instruction"}


@pytest.mark.parametrize("module,table,config,node", NODES, ids=[n[0] for n in NODES])
def test_param_table_matches_the_params_file(module, table, config, node):
    spec = getattr(importlib.import_module(f"video2act.ros.{module}"), table)(load_config("robot.yaml"))
    values = yaml_defaults(config, node)
    assert values, f"config/{config} has no {node}: ros__parameters section"
    assert not set(values) - set(spec), f"config/{config} sets undeclared parameters {sorted(set(values) - set(spec))}"
    for name, value in values.items():
        if name in NO_TABLE_DEFAULT:
            continue
        default = spec[name][0]
        same = default == value or (isinstance(default, float) and isinstance(value, (int, float)) and float(value) == default)
        assert same, f"{module}.{name}: table default {default!r}, config/{config} {value!r}"
