"""System 1's decisions without ROS: what the node acts on, when, and why it refuses.

The rclpy node (video2act.ros.system1_node) converts messages and calls:
`on_observation(images, t_obs)` for each synchronised camera set (newest wins: one slot),
`on_feedback(arm, stamp, positions)`, `on_feature(kind, stamp, tokens)` (spatial + motion paired by stamp),
then from its worker `ready()` / `take()` (the planning rate, on the observations' stamps) and
`inputs(obs, now)`, which returns what policy.act needs or None with the reason counted, and
`accept_chunk(chunk, ...)` for the policy's output. Every time is passed in: tests drive it with a fake clock.

Planning rate (`rate_hz`), counted on the observations' capture stamps, not on the worker's clock: an observation
is taken as soon as it arrives (and the worker is free) when its stamp is due, i.e. at least one period after the
last plan was due, less `PLAN_EARLY` of a period for capture jitter (runtime/schedule.py); one that is not due
waits in the slot for a newer one. The schedule keeps its phase (the next plan is due one period after the last
was due) and makes up lateness under half a period, so 15 Hz frames still give 10 plans a second; a later plan
(the worker was busy) starts it afresh from that stamp. With a 10 Hz camera every frame is planned the moment it arrives. Counting on
the worker's clock instead (next plan one period after the last *ran*) kept any delay once it happened: frames at
the same rate as the plans then waited up to a period each, for the rest of the run (camera-to-command p95 90-120
ms in `bench graph`, varying with the phase). Stamps that go backwards (a simulator reset, a replayed bag) restart
the schedule, so a clock jump never stops System 1.

Gates (all measured from stamps, i.e. capture time): images older than max_image_age, features missing or
older than max_feature_age, no arm feedback within state_tolerance of the image stamp -> no plan. Before that,
`check_images` (the node's checkpoint check: image sizes of another aspect ratio than the training images) may
refuse a camera set as it arrives: counted as images_wrong_size, the slot keeps the last good set.

Real-time chunking (guidance "rtc", Black et al. 2025): `guidance(t_obs, state)` says what the chunk being planned
from the observation at t_obs must begin with: while it is computed (the observation-to-arrival delay, measured
by `note_delay`), the streamer still executes the last accepted chunk, so its first d = ceil(delay * control_hz)
steps are that chunk's steps from t_obs on (weight 1: the sampler makes them equal), and the next
`guidance_soft_steps` follow it with weights falling linearly to 0 (RTC's soft mask), so the new plan joins the
executing one instead of jumping at the switch. With no chunk executing (activation, a new episode, a hold after
refusals) the streamer holds the measured pose, so the prefix is that pose: the first plan starts where the arm is.
Where the executing chunk will have gone stale (older than the streamer's chunk_timeout: `chunk_timeout`, default
robot.yaml safety) before this one arrives, the streamer holds its last step: the prefix holds it too. The timeout
must be the streamer's own: a shorter one makes the prefix hold while the streamer still moves on, and the switch
jumps back.
The chunk message carries d (header.frame_id "prefix_steps=<d>", see `chunk_frame_id`), so the streamer knows the
switch at its arrival is a splice.
"""
from __future__ import annotations

import bisect
import math
import re
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from video2act.runtime.feature_cache import FeatureCache
from video2act.runtime.schedule import PhaseSchedule


GUIDANCE_MODES = ("none", "rtc")
# the planning schedule (runtime/schedule.py), in periods: a stamp this early is still due (capture jitter, not a
# faster camera); lateness under this is made up
PLAN_EARLY, PLAN_CATCH_UP = 0.25, 0.5


def chunk_frame_id(prefix_steps: int) -> str:
    """header.frame_id of an action chunk whose first `prefix_steps` steps were guided (rtc); "" for none."""
    return f"prefix_steps={int(prefix_steps)}" if prefix_steps > 0 else ""


def prefix_steps_of(frame_id: str) -> int:
    """The inverse of chunk_frame_id: 0 for any other frame_id."""
    m = re.fullmatch(r"prefix_steps=(\d+)", (frame_id or "").strip())
    return int(m.group(1)) if m else 0


@dataclass
class Guidance:
    """What a chunk planned now must begin with (System1Core.guidance)."""

    prefix: np.ndarray  # (n, 14) absolute targets
    weights: np.ndarray  # (n,) in [0, 1]: 1 for the first `steps`, then falling
    steps: int  # d: steps executed from the old chunk (or the held pose) before this one arrives


class InputError(ValueError):
    """A message System 1 cannot use (shape, non-finite values); counted and dropped."""


class StateBuffer:
    """Short history of one arm's feedback: add(stamp, positions), nearest(t, tolerance)."""

    def __init__(self, maxlen: int = 64):
        self._stamps: deque[float] = deque(maxlen=maxlen)
        self._values: deque[np.ndarray] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def add(self, stamp: float, positions: np.ndarray) -> None:
        with self._lock:
            if self._stamps and stamp < self._stamps[-1]:  # out-of-order sample: history must stay sorted
                return
            self._stamps.append(float(stamp))
            self._values.append(np.asarray(positions, dtype=np.float64))

    def nearest(self, t: float, tolerance: float) -> np.ndarray | None:
        """Sample whose stamp is nearest to t, or None when none is within `tolerance` seconds."""
        with self._lock:
            if not self._stamps:
                return None
            stamps = list(self._stamps)
            k = bisect.bisect_left(stamps, t)
            best = min((j for j in (k - 1, k) if 0 <= j < len(stamps)), key=lambda j: abs(stamps[j] - t))
            if abs(stamps[best] - t) > tolerance:
                return None
            return self._values[best].copy()


@dataclass
class PlanInputs:
    images: dict
    state: np.ndarray  # (14,)
    features: object  # SlowFeatures
    t_obs: float


class System1Core:
    """Observation slot, feature pairing, staleness gates, planning rate and counters of System 1.

    Args:
        robot: RobotDescription (14-d layout, dof per arm).
        feature_shapes: {"spatial": (Ns, D), "motion": (Nm, D)} the policy expects.
        max_image_age, max_feature_age, state_tolerance: gates in seconds (see the module docstring).
        rate_hz: plans at most this often.
        make_features: (spatial, motion, stamp) -> the policy's feature object (SlowFeatures).
        check_images: {camera: (H, W)} -> None, raising ValueError for a camera set the policy must not act on
            (None: every size is taken).
        guidance: "none" or "rtc" (real-time chunking, see the module docstring); control_hz: the chunks' step
            rate; guidance_delay: the observation-to-arrival delay (s) assumed until one is measured;
            guidance_soft_steps: steps after the hard prefix whose guidance weight falls to 0; chunk_timeout: the
            streamer's (s; None = robot.chunk_timeout, robot.yaml safety).
    """

    def __init__(self, robot, feature_shapes: dict, max_image_age: float, max_feature_age: float,
                 state_tolerance: float, rate_hz: float, make_features, check_images=None, guidance: str = "none",
                 control_hz: float = 30.0, guidance_delay: float = 0.1, guidance_soft_steps: int = 8,
                 chunk_timeout: float | None = None):
        if not rate_hz > 0:
            raise ValueError(f"rate_hz must be positive, got {rate_hz}")
        self.robot = robot
        self.feature_shapes = {k: tuple(v) for k, v in feature_shapes.items()}
        self.max_image_age, self.state_tolerance = float(max_image_age), float(state_tolerance)
        self.period = 1.0 / float(rate_hz)
        self.features = FeatureCache(max_feature_age)
        self.states = [StateBuffer(), StateBuffer()]
        self._make_features = make_features
        self._check_images = check_images
        self._partial: dict[float, dict[str, np.ndarray]] = {}
        self._slot = None
        self._lock = threading.Lock()
        self._plans = PhaseSchedule(self.period, PLAN_EARLY * self.period, PLAN_CATCH_UP * self.period)  # on stamps
        if guidance not in GUIDANCE_MODES:
            raise ValueError(f"guidance must be one of {list(GUIDANCE_MODES)}. Got {guidance!r}")
        if not (control_hz > 0 and guidance_delay >= 0 and guidance_soft_steps >= 0):
            raise ValueError("control_hz must be positive, guidance_delay and guidance_soft_steps >= 0")
        self.chunk_timeout = getattr(robot, "chunk_timeout", None) if chunk_timeout is None else float(chunk_timeout)
        if self.chunk_timeout is not None and not self.chunk_timeout > 0:
            raise ValueError(f"chunk_timeout must be positive, got {chunk_timeout!r}")
        self.guidance_mode, self.control_hz = guidance, float(control_hz)
        self.guidance_soft_steps = int(guidance_soft_steps)
        self._delays: deque[float] = deque([float(guidance_delay)], maxlen=10)
        self._measured_delay = False
        self._executing: tuple[float, np.ndarray] | None = None  # (t_obs, (H, 14)) of the last accepted chunk
        self.last_refusal = ""
        self.counts = {"observations": 0, "observations_superseded": 0, "images_dropped_bad": 0, "images_stale": 0,
                       "images_wrong_size": 0, "features_missing_or_stale": 0, "features_dropped_bad": 0, "state_missing": 0,
                       "feedback_dropped_bad": 0, "chunks_published": 0, "chunks_nonfinite": 0, "act_errors": 0}

    # -- inputs -----------------------------------------------------------------------------------
    def on_observation(self, images: dict, t_obs: float) -> None:
        """The newest camera set replaces an older one not yet planned from (counted as superseded). A set that
        check_images refuses raises InputError (counted as images_wrong_size, the reason in last_refusal)."""
        if self._check_images is not None:
            try:
                self._check_images({name: tuple(np.shape(img)[:2]) for name, img in images.items()})
            except ValueError as e:
                self._refuse("images_wrong_size", str(e))
                raise InputError(str(e)) from None
        with self._lock:
            if self._slot is not None:
                self.counts["observations_superseded"] += 1
            self._slot = (images, float(t_obs))
            self.counts["observations"] += 1

    def on_feedback(self, arm: int, stamp: float, positions) -> None:
        pos = np.asarray(positions, dtype=np.float64).reshape(-1)
        if pos.shape != (self.robot.dof_per_arm,) or not np.all(np.isfinite(pos)):
            self.counts["feedback_dropped_bad"] += 1
            raise InputError(f"arm feedback with {pos.size} positions (finite: {bool(np.all(np.isfinite(pos)))})")
        self.states[arm].add(float(stamp), pos)

    def on_feature(self, kind: str, stamp: float, tokens, now: float | None = None) -> None:
        """Pair spatial and motion tokens by stamp; a complete, finite pair updates the cache. With the
        receiver's clock `now`, a pair stamped in its future is refused (FeatureCache: clock faults)."""
        tokens = np.asarray(tokens)
        if kind not in self.feature_shapes:
            self.counts["features_dropped_bad"] += 1
            raise InputError(f"unknown feature kind {kind!r}; expected {sorted(self.feature_shapes)}")
        if tokens.shape != self.feature_shapes[kind]:
            self.counts["features_dropped_bad"] += 1
            raise InputError(f"{kind} features have shape {tokens.shape}, the policy expects {self.feature_shapes[kind]}")
        if not np.all(np.isfinite(tokens)):
            self.counts["features_dropped_bad"] += 1
            raise InputError(f"{kind} features contain non-finite values")
        pair = self._partial.setdefault(float(stamp), {})
        pair[kind] = tokens
        if len(pair) == len(self.feature_shapes):
            if not self.features.update(self._make_features(pair["spatial"], pair["motion"], float(stamp)), float(stamp), now):
                self.last_refusal = f"features stamped {float(stamp):.3f} s: in the future of the clock or out of order"
            for s in [s for s in self._partial if s <= stamp]:
                del self._partial[s]
        while len(self._partial) > 8:  # a partner that never came
            del self._partial[min(self._partial)]

    def new_episode(self) -> None:
        """A new scene: the features and the pending observation of the last one are not acted on."""
        self.features.clear()
        self._partial.clear()
        self._executing = None
        with self._lock:
            self._slot = None
            self._plans.reset()

    # -- planning ---------------------------------------------------------------------------------
    def take(self):
        """The newest (images, t_obs) not yet planned from if its stamp is due (the planning rate, see the module
        docstring), else None; taking it empties the slot and schedules the next plan."""
        with self._lock:
            if self._slot is None or not self._plans.due(self._slot[1]):
                return None
            obs, self._slot = self._slot, None
            self._plans.mark(obs[1])
        return obs

    def ready(self) -> bool:
        """An observation waits whose stamp is due: take() returns it."""
        with self._lock:
            return self._slot is not None and self._plans.due(self._slot[1])

    def has_observation(self) -> bool:
        """An observation waits, due or not."""
        return self._slot is not None

    def inputs(self, obs, now: float) -> PlanInputs | None:
        """What policy.act needs for `obs` at `now`, or None (the reason counted and kept in last_refusal)."""
        images, t_obs = obs
        if now - t_obs > self.max_image_age:
            return self._refuse("images_stale", f"images are {now - t_obs:.3f} s old (limit {self.max_image_age} s)")
        features = self.features.get(now)
        if features is None:
            return self._refuse("features_missing_or_stale", f"System 2 features missing or {self.features.age(now):.3f} s "
                                                             f"old (limit {self.features.max_age} s)")
        arms = [buf.nearest(t_obs, self.state_tolerance) for buf in self.states]
        if any(a is None for a in arms):
            return self._refuse("state_missing", f"no arm feedback within {self.state_tolerance} s of the images")
        return PlanInputs(images, self.robot.join(arms[0], arms[1]), features, t_obs)

    # -- real-time chunking ---------------------------------------------------------------------
    def note_delay(self, seconds: float) -> None:
        """A measured observation-to-arrival delay (s): the node's publish time minus t_obs."""
        if not self._measured_delay:
            self._delays.clear()
            self._measured_delay = True
        self._delays.append(max(0.0, float(seconds)))

    def delay(self) -> float:
        """The delay guidance plans for: the largest of the last 10 measured (a late chunk would jump)."""
        return max(self._delays)

    def guidance(self, t_obs: float, state: np.ndarray) -> Guidance | None:
        """What the chunk planned from t_obs must begin with (guidance rtc), None without guidance."""
        if self.guidance_mode == "none":
            return None
        dt = 1.0 / self.control_hz
        d = max(1, int(math.ceil(self.delay() * self.control_hz - 1e-9)))
        n = d + self.guidance_soft_steps
        held = np.repeat(np.asarray(state, dtype=np.float64)[None], n, axis=0)
        prefix = held
        if self._executing is not None:
            t0, actions = self._executing
            k0 = int(round((float(t_obs) - t0) / dt))
            timeout = self.chunk_timeout
            last = len(actions) - 1 if timeout is None else min(len(actions) - 1, int(math.floor(timeout / dt + 1e-9)))
            if 0 <= k0 <= last:  # it still runs at t_obs: continue it
                # held (stale) before this plan arrives: its last streamed step, held on; else its steps (the soft
                # part past the arrival only says "keep going as planned")
                stop = last if k0 + d - 1 > last else len(actions) - 1
                prefix = actions[np.minimum(np.arange(k0, k0 + n), stop)]
        soft = np.linspace(1.0, 0.0, self.guidance_soft_steps + 2)[1:-1]
        return Guidance(prefix=prefix.copy(), weights=np.concatenate([np.ones(d), soft]), steps=d)

    def accept_chunk(self, chunk, t_obs: float | None = None) -> np.ndarray | None:
        """(H, 14) finite chunk as float64, or None (counted) for a wrong shape / non-finite values. With t_obs
        (its observation time) it becomes the executing chunk later plans are guided onto (guidance rtc)."""
        chunk = np.asarray(chunk, dtype=np.float64)
        if chunk.ndim != 2 or chunk.shape[1] != self.robot.dof or not np.all(np.isfinite(chunk)):
            self._refuse("chunks_nonfinite", f"dropped a chunk of shape {chunk.shape} "
                                             f"(finite: {bool(np.all(np.isfinite(chunk)))})")
            return None
        self.counts["chunks_published"] += 1
        if t_obs is not None:
            self._executing = (float(t_obs), chunk)
        return chunk

    def _refuse(self, counter: str, reason: str) -> None:
        self.counts[counter] += 1
        self.last_refusal = reason
        return None
