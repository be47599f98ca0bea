"""The nodes' cores in simulated time: System2Core -> System1Core -> StreamerCore, one control tick at a time.

`video2act eval`, its synchronous baseline, the blend / latency bench and the sim-time tests run an episode here
instead of writing their own schedule, so what they count is what the robot does: System 1 refuses stale images,
features or feedback (System1Core.inputs) and the streamer holds the pose on a stale chunk (StreamerCore.tick),
exactly as on the robot; both are reported per episode.

Per control tick k (t = k / control_hz), in this order:

    1. outputs whose (given or measured) latency has passed are delivered: System 2's features to System 1
       (System1Core.on_feature, stamped with the newest frame they used), System 1's chunks to the streamer
       (StreamerCore.on_chunk at their arrival time, with the guided prefix length under blend rtc)
    2. both arms' feedback (stamped t) to System 1 and the streamer; the camera set (stamped t) to System 1's
       observation slot; the head frame to System2Core.on_frame (frame spacing, priming, restarts)
    3. System 2 (one worker, as the node): when due (rate) and idle, compute on the windows; busy for its latency
    4. System 1 (one worker): when its rate allows and idle, take the newest observation, gate it, act (guided
       onto the executing chunk under rtc); busy for its latency, so a 0.4 s System 1 plans every 0.4 s
    5. the streamer ticks; its command (or, before the first feedback, the state) drives the plant

Synchronous (the authors' release, for comparison): every System 1 plan first recomputes System 2 on the same
frames and both are used at once (no latency). Latency None = measured: the wall time of the call itself.

The plant and the models are passed in (duck-typed): `env` with reset(task, seed) -> obs and step(command) ->
(obs, success, done, info), obs = {"images": {camera: rgb}, "state": (14,), "instruction": str};
`stream` (model.system2_stream.System2Stream: prime / push / ready / compute(instruction) -> features with
.spatial, .motion, .stamp); `act(images, state, instruction, features, seed, guidance)` -> (H, 14) chunk.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from video2act.runtime.system2_core import System2Core


@dataclass
class LoopConfig:
    """Rates, latencies and the cores' settings of one simulated-time run.

    Args:
        control_hz: plant / streamer tick rate; chunk steps are 1 / control_hz apart.
        system1_hz: System 1 plans at most this often.
        system2_hz: System 2 computes at most this often.
        system1_latency, system2_latency: s from the observation to the output being usable; None = measured.
        synchronous: System 2 recomputed before every plan, no latency (the authors' release).
        frame_hz: frames enter System 2's windows at this rate.
        blend, ensemble_k, blend_window: the streamer's blending (rtc also makes System 1 guide its chunks).
        max_image_age, max_feature_age, state_tolerance: System 1's gates (s).
        chunk_timeout, feedback_timeout: the streamer's holds (s; None = robot.yaml safety).
        guidance_soft_steps: rtc's soft-mask length after the hard prefix.
    """

    control_hz: float = 30.0
    system1_hz: float = 10.0
    system2_hz: float = 6.0
    system1_latency: float | None = 0.1
    system2_latency: float | None = 0.1
    synchronous: bool = False
    frame_hz: float = 10.0
    blend: str = "ensemble"
    ensemble_k: float = 0.01
    blend_window: float = 0.1
    max_image_age: float = 0.3
    max_feature_age: float = 1.0
    state_tolerance: float = 0.1
    chunk_timeout: float | None = None
    feedback_timeout: float | None = None
    guidance_soft_steps: int = 8

    @classmethod
    def from_config(cls, **overrides) -> "LoopConfig":
        """The nodes' defaults: robot.yaml rates, system1_node's gates and trajectory_streamer's blending as
        declared (config/params/<node>.yaml)."""
        from video2act.config import load_config
        from video2act.node_params import defaults
        from video2act.runtime.system2_core import configured_rates

        rates = load_config("robot.yaml")["rates"]
        s1, st = defaults("system1_node"), defaults("trajectory_streamer")
        frame_hz, system2_hz = configured_rates()
        values = dict(control_hz=float(rates["control_hz"]), system1_hz=float(rates["system1_hz"]),
                      system2_hz=system2_hz, frame_hz=frame_hz, blend=st["blend"], ensemble_k=float(st["ensemble_k"]),
                      blend_window=float(st["blend_window"]), max_image_age=float(s1["max_image_age"]),
                      max_feature_age=float(s1["max_feature_age"]), state_tolerance=float(s1["state_tolerance"]))
        if "guidance_soft_steps" in s1:
            values["guidance_soft_steps"] = int(s1["guidance_soft_steps"])
        values.update({k: v for k, v in overrides.items() if v is not None or k.endswith("latency")})
        return cls(**values)


@dataclass
class Cores:
    """The three cores of one run, built as the nodes build them."""

    system2: System2Core
    system1: object  # System1Core
    streamer: object  # StreamerCore
    robot: object


def make_cores(cfg: LoopConfig, feature_shapes: dict, make_features, robot=None) -> Cores:
    from video2act.runtime.robot import RobotDescription
    from video2act.runtime.streamer import StreamerCore
    from video2act.runtime.system1_core import System1Core

    robot = robot or RobotDescription.from_config()
    s1 = System1Core(robot, feature_shapes, cfg.max_image_age, cfg.max_feature_age, cfg.state_tolerance,
                     cfg.system1_hz, make_features, guidance="rtc" if cfg.blend == "rtc" else "none",
                     control_hz=cfg.control_hz,
                     guidance_delay=cfg.system1_latency if cfg.system1_latency is not None else 1.0 / cfg.system1_hz,
                     guidance_soft_steps=cfg.guidance_soft_steps, chunk_timeout=cfg.chunk_timeout)
    st = StreamerCore(robot, cfg.control_hz, 1.0 / cfg.control_hz, blend=cfg.blend, ensemble_k=cfg.ensemble_k,
                      blend_window=cfg.blend_window, chunk_timeout=cfg.chunk_timeout,
                      feedback_timeout=cfg.feedback_timeout)
    return Cores(System2Core(cfg.frame_hz, cfg.system2_hz), s1, st, robot)


@dataclass
class EpisodeLog:
    """What one episode did: outcome, calls, refusals, holds, seams; `commands` (T, 14) when recorded."""

    success: bool = False
    steps: int = 0
    system1_calls: int = 0
    system2_calls: int = 0
    feature_ages: list = field(default_factory=list)
    refusals: dict = field(default_factory=dict)
    holds: dict = field(default_factory=dict)
    seams: dict = field(default_factory=dict)
    commands: list = field(default_factory=list)
    events: list = field(default_factory=list)  # (t, kind, detail): features / plan / refusal / chunk arrivals

    def as_dict(self) -> dict:
        return {"success": bool(self.success), "steps": self.steps, "system1_calls": self.system1_calls,
                "system2_calls": self.system2_calls,
                "mean_feature_age": float(np.mean(self.feature_ages)) if self.feature_ages else math.nan,
                "refusals": dict(self.refusals), "holds": dict(self.holds), "seams": dict(self.seams)}


REFUSALS = ("images_stale", "features_missing_or_stale", "state_missing")


def run_episode(env, task: str, seed: int, stream, act, cfg: LoopConfig, feature_shapes: dict, make_features,
                head_camera: str = "head", max_steps: int | None = None, frames: list | None = None,
                record: bool = False, act_seed=None, on_tick=None, cores: Cores | None = None,
                first_obs: dict | None = None) -> EpisodeLog:
    """One closed-loop episode (see the module docstring). act_seed(k) -> the noise seed of a plan at tick k
    (default seed * 100_003 + k). frames collects (head | left | right) images; record keeps the commands and
    events; on_tick(k, t, obs, command) is called after each tick. cores: fresh cores to run (default made from
    cfg as the nodes make theirs; a test passes the nodes' own). first_obs: the env was reset already, to this."""
    hz = cfg.control_hz
    cores = cores or make_cores(cfg, feature_shapes, make_features)
    s2, s1, st, robot = cores.system2, cores.system1, cores.streamer, cores.robot
    log = EpisodeLog()
    obs = env.reset(task, seed) if first_obs is None else first_obs
    s2.new_episode()
    limit = env.task.max_steps if max_steps is None else min(int(max_steps), env.task.max_steps)
    act_seed = act_seed or (lambda k: seed * 100_003 + k)
    features_due: list[tuple[float, object]] = []  # (usable at, features)
    chunks_due: list[tuple[float, float, np.ndarray, int]] = []  # (arrival, t_obs, chunk, prefix steps)
    s1_free = s2_free = -math.inf
    instruction = obs["instruction"]
    k, success = 0, False

    def timed(fn, latency):
        tic = time.perf_counter()
        out = fn()
        return out, (time.perf_counter() - tic) if latency is None else float(latency)

    def deliver_features(features, now):
        for kind in ("spatial", "motion"):
            s1.on_feature(kind, features.stamp, getattr(features, kind), now=now)

    for k in range(limit):
        t = k / hz
        # 1. deliveries
        while features_due and features_due[0][0] <= t + 1e-9:
            _, f = features_due.pop(0)
            deliver_features(f, t)
        while chunks_due and chunks_due[0][0] <= t + 1e-9:
            arrival, t_obs, chunk, d = chunks_due.pop(0)
            st.on_chunk([], chunk, t0=t_obs, now=arrival, prefix_steps=d)
            if record:
                log.events.append((arrival, "chunk", t_obs))
        # 2. inputs
        left, right = robot.split(obs["state"])
        for i, (arm, q) in enumerate(zip(robot.arms, (left, right))):
            s1.on_feedback(i, t, q)
            st.on_feedback(arm, [], q, t)
        s1.on_observation(obs["images"], t)
        s2.on_frame(stream, obs["images"][head_camera], t)
        # 3. System 2
        if not cfg.synchronous and t >= s2_free - 1e-9 and s2.due(t + 1e-9) and stream.ready():
            s2.computed(t)
            f, lat = timed(lambda: stream.compute(instruction), cfg.system2_latency)
            log.system2_calls += 1
            features_due.append((t + lat, f))
            features_due.sort(key=lambda e: e[0])
            s2_free = t + lat
            if record:
                log.events.append((t, "system2", f.stamp))
        # 4. System 1
        if t >= s1_free - 1e-9 and s1.ready():
            observation = s1.take()
            if cfg.synchronous and stream.ready():
                f = stream.compute(instruction)
                log.system2_calls += 1
                deliver_features(f, t)
            inputs = s1.inputs(observation, t)
            if inputs is None:
                if record:
                    log.events.append((t, "refusal", s1.last_refusal))
            else:
                g = s1.guidance(inputs.t_obs, inputs.state)
                chunk, lat = timed(lambda: act(inputs.images, inputs.state, instruction, inputs.features,
                                               act_seed(k), g), 0.0 if cfg.synchronous else cfg.system1_latency)
                log.system1_calls += 1
                log.feature_ages.append(t - inputs.features.stamp)
                chunk = s1.accept_chunk(chunk, t_obs=inputs.t_obs)
                if chunk is not None:
                    s1.note_delay(lat)
                    chunks_due.append((t + lat, inputs.t_obs, chunk, 0 if g is None else g.steps))
                    if lat <= 1e-12:  # no latency: usable this tick
                        arrival, t_obs, c, d = chunks_due.pop()
                        st.on_chunk([], c, t0=t_obs, now=arrival, prefix_steps=d)
                s1_free = t + lat
                if record:
                    log.events.append((t, "plan", g.steps if g is not None else 0))
        # 5. streamer -> plant
        command = st.tick(t)
        if record:
            log.commands.append(None if command is None else np.asarray(command, dtype=float))
        if frames is not None:
            frames.append(np.concatenate([obs["images"][c] for c in ("head", "left", "right")], axis=1))
        if on_tick is not None:
            on_tick(k, t, obs, command)
        obs, success, done, _ = env.step(obs["state"] if command is None else command)
        if success or done:
            break
    log.success, log.steps = bool(success), k + 1
    log.refusals = {name: int(s1.counts[name]) for name in REFUSALS}
    log.holds = {"stale_chunk_ticks": int(st.counters["stale_chunk_ticks"]),
                 "stale_feedback_ticks": int(st.counters["stale_feedback_ticks"]),
                 "hold_ticks": int(st.seams.holds)}
    log.seams = st.seams.summary()
    return log
