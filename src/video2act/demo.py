"""`video2act demo`: the whole stack on this machine, on the CPU, in three steps.

1. model   - System 2 and System 1 of a preset (default `small`): latency of each system.
2. twin    - a scripted expert episode on the MuJoCo twin, saved as a video of the three cameras.
3. closed  - the closed loop over ROS 2: sim_bridge_node (twin) + system2_node + system1_node +
             trajectory_streamer as separate processes over DDS. A probe in this process records the
             feature, chunk and command streams, checks every command against the joint and speed limits
             and saves the head camera as a video.

Step 3 runs the policy shipped in the repository (policies/small: the small preset trained by
scripts/train_shipped.sh on the twin's expert demonstrations) on seeds it never saw (config/eval.yaml
first_seed), with the twin rendering at the image size the policy was trained on. `--random-weights`
runs an untrained policy instead (the arms move within the safety limits but do not solve the task).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

import numpy as np

STEPS = ("model", "twin", "closed")


def register(subparsers, bench_subparsers) -> None:
    p = subparsers.add_parser("demo", help="the main demo: model timings, a twin episode, the closed loop over ROS 2",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=("tiny", "small"), default="small", help="policy preset (default: small)")
    p.add_argument("--checkpoint", help="trained policy folder (save_pretrained) for the closed loop "
                                        "(default: the shipped policy, policies/small)")
    p.add_argument("--random-weights", action="store_true", help="closed loop with an untrained --preset policy")
    p.add_argument("--task", default="pick_dual_bottles", help="twin task (default: pick_dual_bottles; see `video2act sim tasks`)")
    p.add_argument("--seed", type=int, help="first task seed (default: config/eval.yaml first_seed, never used "
                                            "for training data)")
    p.add_argument("--seconds", type=float, default=20.0, help="closed-loop duration once chunks flow (default: 20)")
    p.add_argument("--out", default="outputs/demo", help="folder for videos and the summary (default: outputs/demo)")
    p.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS), help="which steps to run (default: all)")
    p.set_defaults(func=run_demo)


def _banner(text: str) -> None:
    print(f"\n=== {text} " + "=" * max(0, 74 - len(text)), flush=True)


def step_model(args) -> dict:
    from video2act.bench.model import latency_table

    _banner(f"1/3 model: System 2 and System 1 of the '{args.preset}' preset on this CPU")
    rows = latency_table(args.preset, iters=10, warmup=2, threads=1)
    print(f"{'system':<30}{'p50 ms':>10}{'p95 ms':>10}{'Hz':>8}")
    for r in rows:
        print(f"{r['system']:<30}{r['p50_ms']:>10.1f}{r['p95_ms']:>10.1f}{r['hz']:>8.1f}")
    return {r["system"]: r for r in rows}


def step_twin(args, out: Path) -> dict:
    import cv2

    from video2act.sim.env import CobotMagicEnv
    from video2act.sim.experts import run_episode

    _banner(f"2/3 twin: scripted expert on '{args.task}' (seed {args.seed}), three cameras")
    path = out / f"expert_{args.task}.mp4"
    size = (240, 320)
    with CobotMagicEnv(image_size=size, render=True) as env:
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), env.control_hz, (3 * size[1], size[0]))

        def frame(obs):
            row = np.concatenate([obs["images"][k] for k in ("head", "left", "right")], axis=1)
            writer.write(cv2.cvtColor(row, cv2.COLOR_RGB2BGR))

        t0 = time.perf_counter()
        ok, steps = run_episode(env, args.task, args.seed, on_step=frame)
        writer.release()
    wall = time.perf_counter() - t0
    print(f"expert {'succeeded' if ok else 'FAILED'} in {steps} steps ({steps / 30:.1f} s simulated, {wall:.1f} s wall)")
    print(f"video: {path}")
    return {"success": bool(ok), "steps": int(steps), "video": str(path)}


class _LoopProbe:
    """A node in this process (a BackgroundNode): records features, chunks, commands and episode state;
    writes the head video."""

    def __init__(self, cfg: dict, video_path: Path, video_hz: float):
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import Image, JointState
        from std_msgs.msg import String
        from trajectory_msgs.msg import JointTrajectory

        from video2act.ros import qos
        from video2act.testing.background_node import BackgroundNode

        topics = cfg["topics"]
        self.features, self.chunks, self.episode, self.diagnostics = [], [], {}, set()
        self.reset_time = float("inf")
        self.resets: list[float] = []  # wall times of the twin resets this probe asked for
        self.commands = {"left": [], "right": []}
        self.video_path, self.video_hz, self._writer = video_path, video_hz, None
        self._bg = BackgroundNode("demo_probe")
        node = self._bg.node
        reliable = qos.probe()
        with self._bg.lock:
            node.create_subscription(Image, topics["features"]["spatial"], lambda m: self.features.append(time.monotonic()), reliable)
            node.create_subscription(JointTrajectory, topics["action_chunk"], lambda m: self.chunks.append(time.monotonic()), reliable)
            for arm in ("left", "right"):
                node.create_subscription(JointState, topics["command"][arm],
                                         lambda m, a=arm: self.commands[a].append((time.monotonic(), np.array(m.position, float))), reliable)
            node.create_subscription(String, topics["sim_episode"], self._on_episode, reliable)
            node.create_subscription(Image, topics["cameras"]["head"], self._on_head, qos.sensor())
            node.create_subscription(DiagnosticArray, "/diagnostics",
                                     lambda m: self.diagnostics.update(s.name for s in m.status), reliable)
            self.reset_pub = node.create_publisher(String, topics["sim_reset"], reliable)

    def reset(self, task: str, seed: int) -> None:
        from std_msgs.msg import String

        self.reset_time = time.monotonic()
        self.resets.append(self.reset_time)
        self.reset_pub.publish(String(data=json.dumps({"task": task, "seed": seed})))

    def chunks_since_reset(self) -> bool:
        return bool(self.chunks) and self.chunks[-1] > self.reset_time

    def _on_episode(self, msg) -> None:
        try:
            self.episode = json.loads(msg.data)
        except ValueError:
            pass

    def _on_head(self, msg) -> None:
        import cv2

        from video2act.runtime.conversions import ImageFormatError, image_msg_to_rgb

        try:
            img = image_msg_to_rgb(msg)
        except ImageFormatError:
            return
        if self._writer is None:
            self._writer = cv2.VideoWriter(str(self.video_path), cv2.VideoWriter_fourcc(*"mp4v"), self.video_hz,
                                           (img.shape[1], img.shape[0]))
        self._writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        self._bg.close()  # the spin thread (which writes the video) has stopped before the release
        if self._writer is not None:
            self._writer.release()


def _wait(predicate, timeout: float, group, log_name: str, what: str, fail: bool = True) -> None:
    """Poll `predicate` until true; a node that exits meanwhile, or (fail=True) a time-out, is an error."""
    deadline = time.monotonic() + timeout
    while not predicate():
        dead = [n for n in group.procs if not group.alive(n)]
        if dead:
            raise RuntimeError(f"{dead[0]} exited; see {log_name}:\n{group.output(dead[0])[-2000:]}")
        if time.monotonic() > deadline:
            if fail:
                raise RuntimeError(f"{what} within {timeout:.0f} s; see {log_name}")
            return
        time.sleep(0.2)


def _rate(times: list, t0: float, t1: float) -> float:
    n = sum(t0 <= t < t1 for t in times)
    return n / (t1 - t0) if t1 > t0 else 0.0


RESTART_WINDOW_S = 1.0  # after a twin reset, the streamer restarts from the teleported arm within this


def command_report(commands: dict, robot, rate_hz: float, t0: float, t1: float, resets=()) -> dict:
    """Command rate, largest per-step change relative to the speed cap, and limit violations, per arm.

    A twin reset teleports the arms; the streamer then restarts from the measured pose (one discontinuous
    step, like a start after e-stop). The largest step within RESTART_WINDOW_S after each reset is that
    restart: it is counted in `restarts` and left out of `max_step_over_cap`; every other step is in it.
    """
    report = {}
    lower, upper = robot.split(robot.lower), robot.split(robot.upper)
    caps = robot.split(robot.safe_velocity / rate_hz)
    for i, arm in enumerate(("left", "right")):
        seq = [(t, q) for t, q in commands[arm] if t0 <= t < t1 and q.shape == (7,)]
        q = np.array([q for _, q in seq]) if seq else np.zeros((0, 7))
        steps = np.abs(np.diff(q, axis=0)) if len(q) > 1 else np.zeros((0, 7))
        ratio = (steps / caps[i]).max(axis=1) if len(steps) else np.zeros(0)
        times = np.array([t for t, _ in seq[1:]])
        restarts = 0
        for r in resets:
            window = np.nonzero((times >= r) & (times < r + RESTART_WINDOW_S))[0]
            if len(window) and ratio[window].max() > 1.0 + 1e-6:
                ratio[window[np.argmax(ratio[window])]] = 0.0
                restarts += 1
        report[arm] = {
            "commands": len(q),
            "rate_hz": len(q) / (t1 - t0),
            "max_step_over_cap": float(ratio.max()) if len(ratio) else 0.0,
            "restarts": restarts,
            "outside_limits": int(((q < lower[i] - 1e-6) | (q > upper[i] + 1e-6)).any(axis=1).sum()),
            "motion_rad": float(np.abs(q[-1] - q[0])[:6].sum()) if len(q) else 0.0,
        }
    return report


def check_closed_loop_checkpoint(checkpoint, task: str, instruction: str, rates: dict):
    """The checkpoint's TrainedWith, after the checks the nodes will make, before any of them starts (a clear
    CheckpointMismatch instead of nodes that never come up): the graph runs at robot.yaml's `rates`, the twin's
    cameras render at the trained image size, the policy is told `task`'s instruction."""
    from video2act.model.checkpoint import TrainedWith, check_compatible
    from video2act.sim.model import CAMERAS

    trained = TrainedWith.read(checkpoint)
    check_compatible(trained, "the demo's closed loop", {"task": "--task"}, control_hz=rates["control_hz"],
                     system2_frame_hz=rates["system2_frame_hz"], cameras=tuple(CAMERAS),
                     instruction=instruction, task=task)
    return trained


def step_closed_loop(args, out: Path) -> dict:
    from video2act.config import load_config
    from video2act.launch.process_group import ProcessGroup, node_environment, graph_specs
    from video2act.runtime.robot import RobotDescription

    _banner(f"3/3 closed loop over ROS 2: twin bridge + System 2 + System 1 + streamer ('{args.task}')")
    cfg = load_config("robot.yaml")
    robot = RobotDescription.from_config()
    env = {"ROS_DOMAIN_ID": os.environ.get("ROS_DOMAIN_ID", str(random.randint(100, 199))),
           "ROS_AUTOMATIC_DISCOVERY_RANGE": os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST"),
           "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    os.environ.update(node_environment({**os.environ, **env}))  # the probe: same domain, same DDS profile
    from video2act.sim.env import CobotMagicEnv

    with CobotMagicEnv(render=False) as twin:  # the policy is told the task's instruction, as an operator would
        instruction = twin.reset(args.task, args.seed)["instruction"]
    policy = {"instruction": instruction, **({"checkpoint": args.checkpoint} if args.checkpoint else {"preset": args.preset})}
    bridge = {"task": args.task, "seed": args.seed, "mode": "realtime"}
    if args.checkpoint:  # the twin renders what the policy was trained on (as `video2act eval` does)
        trained = check_closed_loop_checkpoint(args.checkpoint, args.task, instruction, cfg["rates"])
        if trained.image_size:
            bridge.update(image_height=trained.image_size[0], image_width=trained.image_size[1])
    specs = graph_specs("sim", {"sim_bridge_node": bridge, "system2_node": policy, "system1_node": policy})
    video = out / f"closed_loop_{args.task}_head.mp4"
    probe = _LoopProbe(cfg, video, cfg["rates"]["camera_hz"])
    log = open(out / "closed_loop_nodes.log", "w")
    result: dict = {"video": str(video), "nodes_log": str(log.name)}
    episodes: list[dict] = []
    try:
        with ProcessGroup(env=env, echo=log) as group:
            for spec in specs:
                group.start(spec)
            print(f"started {', '.join(s.name for s in specs)} (ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}); "
                  f"node output in {log.name}", flush=True)
            start = time.monotonic()
            _wait(lambda: {"system1_node", "system2_node"} <= probe.diagnostics, 240.0, group, log.name,
                  "the policy nodes did not come up")
            # The twin ran (holding its start pose) while the models loaded: start a fresh episode now.
            probe.reset(args.task, args.seed)
            _wait(lambda: probe.chunks_since_reset(), 120.0, group, log.name, "no action chunk after the reset")
            t0 = time.monotonic()
            print(f"policy nodes up after {t0 - start:.1f} s; running episodes for {args.seconds:.0f} s", flush=True)
            seed = args.seed
            while True:  # episodes back to back (seeds seed, seed+1, ...) until the time is up
                _wait(lambda: probe.episode.get("seed") == seed and probe.episode.get("done")
                      or time.monotonic() - t0 > args.seconds, args.seconds + 5.0, group, log.name, "", fail=False)
                if not (probe.episode.get("seed") == seed and probe.episode.get("done")):
                    break
                episodes.append({k: probe.episode.get(k) for k in ("task", "seed", "step", "success")})
                print(f"  episode seed {seed}: {'success' if probe.episode['success'] else 'no success'} "
                      f"after {probe.episode['step']} steps", flush=True)
                if time.monotonic() - t0 > args.seconds:
                    break
                seed += 1
                probe.reset(args.task, seed)
                _wait(lambda: probe.episode.get("seed") == seed and not probe.episode.get("done"), 10.0, group,
                      log.name, "the twin did not reset")
            t1 = time.monotonic()
            dead = [n for n in group.procs if not group.alive(n)]
    finally:
        probe.close()
        log.close()
    cmd = command_report(probe.commands, robot, cfg["rates"]["control_hz"], t0, t1, probe.resets)
    result.update({
        "seconds": t1 - t0,
        "system2_feature_hz": _rate(probe.features, t0, t1),
        "system1_chunk_hz": _rate(probe.chunks, t0, t1),
        "commands": cmd,
        "episodes": episodes,
        "crashed_nodes": dead,
    })
    print(f"{'stream':<34}{'rate Hz':>10}")
    print(f"{'System 2 features (spatial)':<34}{result['system2_feature_hz']:>10.2f}")
    print(f"{'System 1 action chunks':<34}{result['system1_chunk_hz']:>10.2f}")
    for arm, r in cmd.items():
        print(f"{'streamer commands, ' + arm + ' arm':<34}{r['rate_hz']:>10.2f}")
    worst = max(r["max_step_over_cap"] for r in cmd.values())
    outside = sum(r["outside_limits"] for r in cmd.values())
    restarts = sum(r["restarts"] for r in cmd.values())
    print(f"safety: largest command step = {worst:.2f} x the speed cap ({restarts} restarts from the arm's pose "
          f"after twin resets left out); {outside} commands outside the joint limits")
    wins = sum(bool(e["success"]) for e in episodes)
    note = "" if args.checkpoint else " (random-weight policy: success is not expected)"
    print(f"episodes: {wins} of {len(episodes)} successful{note}")
    print(f"crashed nodes: {dead or 'none'}")
    print(f"video of the head camera: {video}")
    return result


def run_demo(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MUJOCO_GL", "egl")
    from video2act.config import load_config
    from video2act.training.evaluate import shipped_checkpoint

    if args.seed is None:
        args.seed = int(load_config("eval.yaml")["first_seed"])
    if args.random_weights and args.checkpoint:
        raise SystemExit("--random-weights and --checkpoint exclude each other")
    if not args.random_weights and not args.checkpoint:
        args.checkpoint = str(shipped_checkpoint())
    summary: dict = {"preset": args.preset, "task": args.task, "seed": args.seed, "checkpoint": args.checkpoint}
    if "model" in args.steps:
        summary["model"] = step_model(args)
    if "twin" in args.steps:
        summary["twin"] = step_twin(args, out)
    if "closed" in args.steps:
        summary["closed_loop"] = step_closed_loop(args, out)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    _banner(f"done: summary in {out / 'summary.json'}")
    closed = summary.get("closed_loop")
    if closed and (closed["crashed_nodes"] or closed["system1_chunk_hz"] == 0
                   or any(r["outside_limits"] for r in closed["commands"].values())):
        return 1
    return 0
