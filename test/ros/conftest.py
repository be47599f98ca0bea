"""Shared fixtures for the multi-process ROS 2 tests (real DDS, nodes as separate processes).

Isolation: a random ROS_DOMAIN_ID in 100..199 (unless the environment sets one) and discovery on
this host only, and the Fast DDS profile `video2act nodes` uses, set before any rclpy context exists. `graph_factory` starts node processes through
video2act.launch.process_group (what `video2act nodes` uses) together with a probe: this test
process's own rclpy node, spun by a background thread, recording what the graph publishes
(graph_helpers.Recorder). Every process is killed at teardown.
"""
from __future__ import annotations

import os
import random

import pytest

if not os.environ.get("ROS_DOMAIN_ID"):
    os.environ["ROS_DOMAIN_ID"] = str(random.randint(100, 199))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
# the probe uses the same DDS transports as the node processes (large shared-memory segment)
from video2act.launch.process_group import node_environment  # noqa: E402

os.environ.update(node_environment(dict(os.environ)))


@pytest.fixture(scope="module")
def graph_factory(request):
    """Start a graph once per module: factory(overrides) -> Graph; all processes killed at teardown."""
    from graph_helpers import Graph, Recorder

    from video2act.config import load_config
    from video2act.launch.process_group import ProcessGroup, graph_specs
    from video2act.runtime.robot import RobotDescription

    robot_cfg = load_config("robot.yaml")
    robot = RobotDescription.from_config()
    groups, recorders = [], []

    def factory(overrides: dict, nodes: tuple[str, ...] | None = None) -> Graph:
        recorder = Recorder(robot_cfg)
        recorders.append(recorder)
        group = ProcessGroup(echo=None)
        groups.append(group)
        specs = {s.name: s for s in graph_specs("graph", overrides)}
        for name, spec in specs.items():
            if nodes is None or name in nodes:
                group.start(spec)
        return Graph(group, specs, recorder, robot, robot_cfg)

    yield factory
    for group in groups:
        for name in list(group.procs):
            group.kill(name)
    for recorder in recorders:
        recorder.close()
