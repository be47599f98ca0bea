"""Start ROS 2 nodes as separate processes, the way a launch file would, and stop them cleanly.

Used by `video2act nodes ...` and by the multi-process tests. Each node runs as
`python -m <module> --ros-args --params-file config/<file>.yaml -p k:=v ...`,
i.e. with the same config files the launch files pass, and the Fast DDS profile in
config/fastdds_shm.xml unless FASTRTPS_DEFAULT_PROFILES_FILE is set. Output lines are prefixed with the node
name (and kept, last `keep_lines`, for tests). Processes get their own session so that a Ctrl-C in
the terminal reaches only this launcher, which then stops the nodes in reverse start order:
SIGINT (rclpy shuts down cleanly), then SIGTERM, then SIGKILL after time-outs.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, TextIO

from video2act.config import config_dir
from video2act.ros.node_main import STOP_WITH_PARENT  # the node side: ros/node_main.stop_with_parent

DDS_PROFILE = "fastdds_shm.xml"  # large shared-memory segment for camera images (see the file)




def node_environment(env: dict[str, str]) -> dict[str, str]:
    """The environment of the node processes this project starts (launch files, ProcessGroup): env plus
    FASTRTPS_DEFAULT_PROFILES_FILE = config/fastdds_shm.xml unless a profile is already chosen, and
    VIDEO2ACT_STOP_WITH_PARENT=1: a node whose launcher is gone stops (`ros2 launch` orphans its nodes on SIGTERM,
    launch_service.py "using SIGTERM can result in orphaned processes"; a killed test or demo would too)."""
    out = {**env, STOP_WITH_PARENT: env.get(STOP_WITH_PARENT, "1")}
    profile = config_dir() / DDS_PROFILE
    if "FASTRTPS_DEFAULT_PROFILES_FILE" not in env and profile.is_file():
        out["FASTRTPS_DEFAULT_PROFILES_FILE"] = str(profile)
    return out


def format_param(value: Any) -> str:
    """A parameter value as `-p name:=<value>` text (YAML, which is how rcl parses it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_param(v) for v in value) + "]"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"  # quoted: '' stays a string, '1' is not an int
    return repr(value)


@dataclass
class NodeSpec:
    """One node process: ROS node `name`, its module (video2act.ros.<node>; test doubles: video2act.testing.*),
    params file, overrides."""

    name: str
    module: str
    params_file: str | None = None  # file name in config/ (None: no params file)
    params: dict[str, Any] = field(default_factory=dict)

    def argv(self) -> list[str]:
        args = [sys.executable, "-m", self.module, "--ros-args"]
        if self.params_file:
            path = config_dir() / self.params_file
            if path.is_file():
                args += ["--params-file", str(path)]
        for key, value in self.params.items():
            args += ["-p", f"{key}:={format_param(value)}"]
        return args


class ProcessGroup:
    """A set of named node processes with prefixed output; a context manager that stops them all."""

    def __init__(self, env: dict[str, str] | None = None, echo: TextIO | None = sys.stdout, keep_lines: int = 4000):
        self.env = {**node_environment({**os.environ, **(env or {})}), "PYTHONUNBUFFERED": "1", "RCUTILS_COLORIZED_OUTPUT": "0"}
        self.echo = echo
        self.specs: dict[str, NodeSpec] = {}
        self.procs: dict[str, subprocess.Popen] = {}
        self.lines: dict[str, deque[str]] = {}
        self._keep = keep_lines
        self._echo_lock = threading.Lock()

    def start(self, spec: NodeSpec) -> subprocess.Popen:
        if spec.name in self.procs and self.procs[spec.name].poll() is None:
            raise ValueError(f"node {spec.name!r} is already running")
        proc = subprocess.Popen(spec.argv(), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, bufsize=1, start_new_session=True)
        self.specs[spec.name], self.procs[spec.name] = spec, proc
        self.lines.setdefault(spec.name, deque(maxlen=self._keep))
        threading.Thread(target=self._pump, args=(spec.name, proc), daemon=True).start()
        return proc

    def _pump(self, name: str, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            line = line.rstrip("\n")
            self.lines[name].append(line)
            if self.echo is not None:
                with self._echo_lock:
                    print(f"[{name}] {line}", file=self.echo, flush=True)

    def alive(self, name: str) -> bool:
        return name in self.procs and self.procs[name].poll() is None

    def output(self, name: str) -> str:
        return "\n".join(self.lines.get(name, ()))

    def kill(self, name: str) -> None:
        """SIGKILL one node (a crash, for fault tests) and reap it."""
        proc = self.procs[name]
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)

    def stop(self, name: str, timeout: float = 5.0) -> int | None:
        """SIGINT, then SIGTERM, then SIGKILL; returns the exit code."""
        proc = self.procs.get(name)
        if proc is None:
            return None
        for sig, wait_s in ((signal.SIGINT, timeout), (signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
            if proc.poll() is not None:
                break
            proc.send_signal(sig)
            try:
                proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                continue
        return proc.poll()

    def restart(self, name: str, **param_overrides: Any) -> subprocess.Popen:
        """Stop `name` if running and start it again (with changed parameters, if given)."""
        spec = self.specs[name]
        self.stop(name)
        new = NodeSpec(spec.name, spec.module, spec.params_file, {**spec.params, **param_overrides})
        return self.start(new)

    def stop_all(self, timeout: float = 5.0) -> dict[str, int | None]:
        """Stop every node, last started first (consumers before producers)."""
        return {name: self.stop(name, timeout) for name in reversed(list(self.procs))}

    def wait_any(self, poll_s: float = 0.2) -> str:
        """Block until one node exits; returns its name."""
        while True:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    return name
            time.sleep(poll_s)

    def __enter__(self) -> "ProcessGroup":
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()


# The node sets `video2act nodes <graph>` starts, as the launch files do (real_robot / sim.launch.py).
# Cameras + arms: `graph` = synthetic robot process, `sim` = MuJoCo twin bridge (publishes /clock:
# the other nodes run on simulated time), `real` = camera driver node (Piper drivers run outside).
GRAPHS: dict[str, list[tuple[str, str, str | None]]] = {
    "graph": [("synthetic_robot", "video2act.testing.synthetic_robot_node", None)],
    "sim": [("sim_bridge_node", "video2act.ros.sim_bridge_node", "sim_bridge.yaml")],
    "real": [("camera_node", "video2act.ros.camera_node", "camera.yaml")],
}
POLICY_NODES: list[tuple[str, str, str | None]] = [
    ("system2_node", "video2act.ros.system2_node", "system2.yaml"),
    ("system1_node", "video2act.ros.system1_node", "system1.yaml"),
    ("trajectory_streamer", "video2act.ros.trajectory_streamer", "streamer.yaml"),
]
SIM_TIME = {"sim": {"use_sim_time": True}}


def graph_specs(graph: str, overrides: dict[str, dict[str, Any]] | None = None) -> list[NodeSpec]:
    """NodeSpecs of one graph in start order; overrides: node name -> {param: value}."""
    if graph not in GRAPHS:
        raise ValueError(f"graph must be one of {sorted(GRAPHS)}, got {graph!r}")
    overrides = overrides or {}
    unknown = set(overrides) - {n for n, _, _ in GRAPHS[graph] + POLICY_NODES}
    if unknown:
        raise ValueError(f"parameter overrides for nodes not in the {graph!r} graph: {sorted(unknown)}")
    specs = [NodeSpec(name, module, pfile, dict(overrides.get(name, {}))) for name, module, pfile in GRAPHS[graph]]
    return specs + [NodeSpec(name, module, pfile, {**SIM_TIME.get(graph, {}), **overrides.get(name, {})})
                    for name, module, pfile in POLICY_NODES]
