"""`video2act bench graph`: the node graph measured on this machine, as separate processes over DDS (camera-to-
command latency, command jitter, System 1 rate with System 2 normal vs slowed, vs a synchronous baseline).

Phases (synthetic robot + System 2 + System 1 + streamer, one probe node in this process):

1. normal: System 2 at its configured rate, `window` seconds;
2. slowed: System 2 set to 1 Hz (set_parameters), `window` seconds;
3. synchronous baseline (graph stopped, in this process, same preset and thread count): System 2
   (push the new frame + compute) run inline before System 1 (act) on the same observation, i.e.
   what one process doing both per step would achieve. Compared with System 1's chunk rate in the graph.

Definitions (all times on this host's clock; ROS time = wall time, no sim time):
- camera-to-command latency: for each chunk, from its header stamp (the capture stamp of the head
  image that fed it) to the arrival at the probe of the first command published after the chunk
  arrived at the probe. It covers DDS transport, camera sync, System 1 inference, the streamer's
  wait for its next tick and one more transport; it assumes the streamer uses a chunk on its first
  tick after receipt (it does: chunks are merged on receipt) and says nothing of how far the command moved.
- observation-to-chunk latency: chunk arrival at the probe minus the chunk's stamp.
- command jitter: std and max of the interval between consecutive left-arm commands, both as
  received by the probe and as stamped by the streamer (its timer).
"""
from __future__ import annotations

import argparse
import os
import random
import time

import numpy as np

from video2act.ros.cli import add_policy_args, parse_overrides


def register(bench_subparsers) -> None:
    bench = bench_subparsers.add_parser("graph", help="graph benchmark: camera-to-command latency, command jitter, "
                                        "System 1 rate with System 2 normal vs slowed, vs a synchronous baseline")
    add_policy_args(bench)
    bench.set_defaults(preset="tiny", instruction="hand the block over", width=320, height=240)
    bench.add_argument("--window", type=float, default=15.0, help="seconds measured per phase (default: 15)")
    bench.add_argument("--start-timeout", type=float, default=180.0, help="seconds to wait for the first chunks (default: 180)")
    bench.add_argument("--sync-iters", type=int, default=20, help="calls timed for the synchronous baseline (default: 20)")
    bench.set_defaults(func=run_bench_graph)


def run_bench_graph(args: argparse.Namespace) -> int:
    overrides = parse_overrides(args, "graph")
    # System 1 accepts features up to 2.5 s old here, so the 1 Hz phase measures scheduling, not the staleness limit
    overrides["system1_node"].setdefault("max_feature_age", 2.5)
    print_report(run_graph_benchmark(args, overrides))
    return 0


class _Probe:
    """Records chunk (arrival, stamp), command (arrival, stamp) and feature arrival times (a BackgroundNode)."""

    def __init__(self, topics: dict):
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image, JointState
        from trajectory_msgs.msg import JointTrajectory

        from video2act.testing.background_node import BackgroundNode
        from video2act.ros.conversions import stamp_to_sec

        self._bg = BackgroundNode("graph_bench_probe")
        node = self._bg.node
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.chunks, self.commands, self.features = [], [], []
        with self._bg.lock:
            node.create_subscription(JointTrajectory, topics["action_chunk"],
                                     lambda m: self.chunks.append((time.time(), stamp_to_sec(m.header.stamp))), qos)
            node.create_subscription(JointState, topics["command"]["left"],
                                     lambda m: self.commands.append((time.time(), stamp_to_sec(m.header.stamp))), qos)
            node.create_subscription(Image, topics["features"]["spatial"],
                                     lambda m: self.features.append((time.time(), stamp_to_sec(m.header.stamp))), qos)

    def set_rate(self, node_name: str, hz: float) -> None:
        """Set `rate_hz` of another node; TimeoutError if its service does not answer, RuntimeError if refused."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        with self._bg.lock:
            client = self._bg.node.create_client(SetParameters, f"/{node_name}/set_parameters")
        request = SetParameters.Request(parameters=[Parameter("rate_hz", value=hz).to_parameter_msg()])
        if not self._bg.call(client, request, timeout=10.0).results[0].successful:
            raise RuntimeError(f"could not set {node_name} rate_hz={hz}")

    def close(self) -> None:
        self._bg.close()


def event_rate(times) -> float:
    """Events per second over the intervals between the first and last one: a count over the window would be off by
    up to one event in either direction (1/15 Hz in a 15 s window), depending on where the window falls."""
    times = np.sort(np.asarray(times, dtype=float))
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) >= 2 and times[-1] > times[0] else 0.0


def phase_stats(probe: _Probe, t0: float, t1: float) -> dict:
    """Latencies, jitter and rates of the records that arrived in [t0, t1)."""
    chunks = [c for c in probe.chunks if t0 <= c[0] < t1]
    features = [f for f in probe.features if t0 <= f[0] < t1]
    cmds = np.array([c for c in probe.commands if t0 <= c[0] < t1 + 1.0])
    latency = []
    for arrival, stamp in chunks:
        later = cmds[cmds[:, 0] > arrival, 0] if cmds.size else []
        if len(later):
            latency.append(later[0] - stamp)
    in_window = cmds[cmds[:, 0] < t1] if cmds.size else np.zeros((0, 2))
    recv_dt, stamp_dt = np.diff(in_window[:, 0]), np.diff(in_window[:, 1])
    return {
        "s1_chunk_hz": event_rate([c[0] for c in chunks]),
        "s2_feature_hz": event_rate([f[0] for f in features]),
        "s2_gap_ms": (np.diff([f[1] for f in features]).max() * 1e3, np.diff([f[0] for f in features]).max() * 1e3)
        if len(features) >= 2 else None,
        "cam_to_cmd_ms": np.percentile(latency, [50, 95]) * 1e3 if latency else None,
        "obs_to_chunk_ms": np.percentile([a - s for a, s in chunks], [50, 95]) * 1e3 if chunks else None,
        "cmd_hz": event_rate(in_window[:, 0]),
        "cmd_interval_recv_ms": (recv_dt.std() * 1e3, recv_dt.max() * 1e3) if recv_dt.size else None,
        "cmd_interval_stamp_ms": (stamp_dt.std() * 1e3, stamp_dt.max() * 1e3) if stamp_dt.size else None,
    }


def synchronous_baseline(preset: str, checkpoint: str | None, instruction: str, width: int, height: int,
                         iters: int, threads: int) -> dict:
    """Per-step time of System 2 (push + compute) inline before System 1 (act), and of act alone (s)."""
    from tqdm import tqdm

    from video2act.model.checkpoint import load_policy
    from video2act.runtime.system2_core import System2Core, configured_rates

    policy = load_policy(checkpoint, preset, threads)

    stream = policy.make_system2_stream()
    frame_hz = configured_rates()[0]
    core = System2Core(frame_hz, 1e6)  # the node's windows: primed by the first frame, then one frame per 1 / frame_hz
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (4, height, width, 3), dtype=np.uint8)
    state = np.zeros(policy.config.state_dim)
    core.on_frame(stream, frames[0], 0.0)
    t = 1.0 / frame_hz
    inline, act_only = [], []
    for i in tqdm(range(iters), desc="synchronous baseline", leave=False):
        images = {cam: frames[(i + k) % 4] for k, cam in enumerate(policy.config.cameras)}
        t0 = time.perf_counter()
        core.on_frame(stream, images[policy.config.cameras[0]], t)
        features = stream.compute(instruction)
        t1 = time.perf_counter()
        policy.act(images, state, instruction, features)
        t2 = time.perf_counter()
        inline.append(t2 - t0)
        act_only.append(t2 - t1)
        t += 1.0 / frame_hz
    return {"inline_s": float(np.median(inline)), "act_s": float(np.median(act_only))}


def run_graph_benchmark(args: argparse.Namespace, overrides: dict) -> dict:
    """Start the graph, measure the two phases, stop it, run the synchronous baseline."""
    from video2act.config import load_config
    from video2act.launch.process_group import ProcessGroup, node_environment, graph_specs

    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(100, 199)))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.update(node_environment(dict(os.environ)))
    cfg = load_config("robot.yaml")
    probe = _Probe(cfg["topics"])
    specs = graph_specs("graph", overrides)
    results: dict = {"config": {k: getattr(args, k) for k in ("preset", "checkpoint", "width", "height", "window")}}
    try:
        with ProcessGroup(echo=None) as group:
            for spec in specs:
                group.start(spec)
            print(f"starting {len(specs)} node processes (domain {os.environ['ROS_DOMAIN_ID']}) ...", flush=True)
            deadline = time.monotonic() + args.start_timeout
            while len(probe.chunks) < 5:
                dead = [n for n in group.procs if not group.alive(n)]
                if dead or time.monotonic() > deadline:
                    raise RuntimeError(f"graph did not start (exited: {dead}):\n" +
                                       "\n".join(f"[{n}] {l}" for n in group.procs for l in list(group.lines[n])[-5:]))
                time.sleep(0.5)
            time.sleep(2.0)  # settle
            for phase, rate in (("normal", None), ("slowed", 1.0)):
                if rate is not None:
                    probe.set_rate("system2_node", rate)
                    time.sleep(2.0)
                print(f"measuring {phase} phase for {args.window:g} s ...", flush=True)
                t0 = time.time()
                time.sleep(args.window)
                results[phase] = phase_stats(probe, t0, time.time())
    finally:
        probe.close()
    threads = int(overrides.get("system1_node", {}).get("torch_threads", 1))
    results["sync"] = synchronous_baseline(args.preset, args.checkpoint, args.instruction, args.width, args.height,
                                           args.sync_iters, threads)
    return results


def _pair(v, fmt: str = "{:.1f}") -> str:
    return "n/a" if v is None else " / ".join(fmt.format(x) for x in v)


def print_report(r: dict) -> None:
    c = r["config"]
    print(f"\ngraph benchmark: preset {c['checkpoint'] or c['preset']}, cameras {c['width']}x{c['height']} @ 30 Hz, "
          f"{c['window']:g} s per phase, {os.cpu_count()} CPU cores, no GPU use")
    print(f"{'':44}{'System 2 normal':>18}{'System 2 at 1 Hz':>18}")
    rows = [
        ("System 2 feature rate (Hz)", lambda p: f"{p['s2_feature_hz']:.2f}"),
        ("System 2 longest gap, stamps / received (ms)", lambda p: _pair(p["s2_gap_ms"])),
        ("System 1 chunk rate (Hz)", lambda p: f"{p['s1_chunk_hz']:.2f}"),
        ("camera-to-command p50 / p95 (ms)", lambda p: _pair(p["cam_to_cmd_ms"])),
        ("observation-to-chunk p50 / p95 (ms)", lambda p: _pair(p["obs_to_chunk_ms"])),
        ("command rate (Hz)", lambda p: f"{p['cmd_hz']:.2f}"),
        ("cmd interval std / max, received (ms)", lambda p: _pair(p["cmd_interval_recv_ms"])),
        ("cmd interval std / max, stamped (ms)", lambda p: _pair(p["cmd_interval_stamp_ms"])),
    ]
    for label, fmt in rows:
        print(f"{label:<44}{fmt(r['normal']):>18}{fmt(r['slowed']):>18}")
    s = r["sync"]
    print("\nsynchronous baseline (System 2 push+compute inline before System 1 act, same process, graph stopped):")
    print(f"  inline step {s['inline_s'] * 1e3:.1f} ms -> {1 / s['inline_s']:.2f} Hz;  act alone {s['act_s'] * 1e3:.1f} ms "
          f"-> {1 / s['act_s']:.2f} Hz upper bound for an asynchronous System 1")
    print(f"  asynchronous graph: System 1 at {r['normal']['s1_chunk_hz']:.2f} Hz while System 2 ran at "
          f"{r['normal']['s2_feature_hz']:.2f} Hz in its own process")
