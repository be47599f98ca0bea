"""`video2act eval` decides as the nodes decide: the closed loop run with the cores the three node adapters built
from their declared parameters (System2Node, System1Node, TrajectoryStreamer, in-process rclpy, not spun) gives
the same refusals, holds, plans and commands as the loop with the cores evaluation builds (runtime/closed_loop
make_cores), for the same inputs, on a schedule that refuses (System 2 at 1:16) and with real-time chunking."""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

if not os.environ.get("ROS_DOMAIN_ID"):
    os.environ["ROS_DOMAIN_ID"] = str(random.randint(100, 199))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"


@pytest.fixture(scope="module")
def tiny_policy():
    import torch

    from video2act.model import Video2ActPolicy

    torch.set_num_threads(1)
    return Video2ActPolicy.from_preset("tiny", seed=0).eval()


def node_cores(args, policy):
    """The cores of the three node adapters, built by the nodes from their parameters (`args` as on a launch)."""
    from video2act.ros.system1_node import System1Node
    from video2act.ros.system2_node import System2Node
    from video2act.ros.trajectory_streamer import TrajectoryStreamer
    from video2act.runtime.closed_loop import Cores

    ctx = rclpy.context.Context()
    rclpy.init(context=ctx, args=["--ros-args", *args])
    nodes = [rclpy.create_node(n, context=ctx) for n in ("system2_node", "system1_node", "trajectory_streamer")]
    s2 = System2Node(nodes[0], policy=policy)
    s1 = System1Node(nodes[1], policy=policy)
    st = TrajectoryStreamer(nodes[2])
    for adapter in (s2, s1):
        adapter.worker.shutdown()  # the loop drives the cores; no worker thread may take observations

    def close():
        for n in nodes:
            n.destroy_node()
        rclpy.shutdown(context=ctx)

    return Cores(s2.core, s1.core, st.core, s1.robot), close


@pytest.mark.parametrize("blend,system2_hz", [("crossfade", 10.0 / 16), ("rtc", None)])
def test_eval_and_the_nodes_cores_refuse_hold_and_command_alike(tiny_policy, blend, system2_hz):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
    from closed_loop_fakes import FakeEnv, FakeStream, features, ramp_act

    from video2act.runtime.closed_loop import LoopConfig, run_episode

    s2 = tiny_policy.config.system2
    shapes = {"spatial": (s2.num_spatial_tokens, s2.token_dim), "motion": (s2.num_motion_tokens, s2.token_dim)}
    args = ["-p", f"blend:={blend}", "-p", f"guidance:={'rtc' if blend == 'rtc' else 'none'}",
            "-p", "instruction:=test"]
    cores, close = node_cores(args, tiny_policy)
    try:
        cfg = LoopConfig.from_config(blend=blend, system2_hz=system2_hz)
        if system2_hz is not None:
            cores.system2.set_rate(system2_hz)  # the node's run-time parameter (set_parameters rate_hz)
        runs = []
        for c in (None, cores):
            runs.append(run_episode(FakeEnv(150), "t", 0, FakeStream(shapes=shapes), ramp_act, cfg, shapes, features,
                                    record=True, cores=c))
    finally:
        close()
    ev, nodes = runs
    assert ev.refusals == nodes.refusals and ev.holds == nodes.holds
    assert [e for e in ev.events] == [e for e in nodes.events]
    assert all((a is None and b is None) or np.array_equal(a, b) for a, b in zip(ev.commands, nodes.commands))
    if system2_hz is not None:  # 1:16 is refused and held on the robot, and so in evaluation
        assert ev.refusals["features_missing_or_stale"] > 3 and ev.holds["stale_chunk_ticks"] > 6
    else:
        assert {d for _, kind, d in ev.events if kind == "plan"} == {3}  # rtc: 0.1 s of 30 Hz steps guided
