"""The worker thread a policy node (system1_node, system2_node) runs its model in, and its diagnostics helpers.

    callbacks (executor thread)                      PolicyWorker thread
      convert, queue under worker.cv,       ──►     wait until has_work() (or stop; 0.5 s at most)
      worker.cv.notify()                             take()      -> one unit of work, or None (nothing to do)
                                                     step(work)  -> model + publish; an exception is counted in
                                                                    counts[error_key] and logged (throttled),
                                                                    never kills the thread; while the context is
                                                                    shutting down it ends the loop instead

Callbacks never run the model, so a slow model never blocks message handling. `set_active` is the lifecycle
switch (activate / deactivate: the node's step looks at `worker.active` and computes or publishes only while set);
`sleep(s)` waits unless stopped (a rate limit inside take()); `shutdown()` stops and joins the thread.

`PolicyNode` is what both node adapters share around their worker: the lifecycle switch, shutdown, and
/diagnostics at diagnostics_hz (OK or WARN by the node's own `health()`). `Samples` keeps the last values of a
timing or an age for percentile diagnostics; `merge_counts` joins counter tables for /diagnostics, adding counters
of one name instead of letting one hide the other.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable, Mapping

import numpy as np


class PolicyWorker:
    """One daemon thread running `take` / `step` whenever `has_work` (see the module docstring).

    Args:
        node: the rclpy node (its logger; its context tells a failure from a shutdown).
        name: thread name, e.g. "system2_worker".
        what: the step in log lines, e.g. "System 2 call" -> "System 2 call failed: ValueError: ...".
        has_work: cheap predicate, evaluated under `cv`.
        take: () -> work or None, called without `cv` held (take it where shared state is touched).
        step: work -> None.
        counts: the node's counter table; step failures add to counts[error_key].
        start: start the thread now (False: call `start()`).
    """

    def __init__(self, node, name: str, what: str, has_work: Callable[[], bool], take: Callable[[], Any],
                 step: Callable[[Any], None], counts: dict, error_key: str, start: bool = True):
        self.node, self.what = node, what
        self._has_work, self._take, self._step = has_work, take, step
        self.counts, self.error_key = counts, error_key
        self.counts.setdefault(error_key, 0)
        self.cv = threading.Condition()
        self._active = threading.Event()
        self._active.set()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        if start:
            self.start()

    def start(self) -> None:
        self.thread.start()

    @property
    def active(self) -> bool:
        return self._active.is_set()

    def set_active(self, active: bool) -> None:
        """Lifecycle activate / deactivate."""
        (self._active.set if active else self._active.clear)()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def notify(self) -> None:
        """Wake the worker (call with `cv` held or not)."""
        with self.cv:
            self.cv.notify()

    def sleep(self, seconds: float) -> bool:
        """Wait `seconds` unless shut down first; True when shut down."""
        return self._stop.wait(seconds) if seconds > 0 else self._stop.is_set()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self.cv:
                self.cv.wait_for(lambda: self._has_work() or self._stop.is_set(), timeout=0.5)
            if self._stop.is_set():
                break
            try:
                work = self._take()
                if work is not None:
                    self._step(work)
            except Exception as e:  # noqa: BLE001 - a failed step must not kill the worker; it is counted
                if not self.node.context.ok():  # shutting down: the publishers are gone
                    break
                self.counts[self.error_key] += 1
                self.node.get_logger().error(f"{self.what} failed: {type(e).__name__}: {e}", throttle_duration_sec=2.0)

    def shutdown(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self.cv:
            self.cv.notify_all()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout=timeout)


class PolicyNode:
    """Base of the policy-node adapters (System1Node, System2Node): what they do alike around their PolicyWorker.

    A subclass sets `self.worker` (a PolicyWorker), calls `start_diagnostics(node, name, hz)` once its state
    exists, and defines `diagnostic_values()` (the /diagnostics values) and `health()` -> (healthy, message):
    the status is OK when healthy, else WARN, with the message either way. With `subscribe_episodes(node, topic)`
    (the simulator bridge's /sim/episode) its `start_episode()` runs, under `worker.cv`, once per new episode.
    """

    worker: PolicyWorker
    _episode_key = None

    def subscribe_episodes(self, node, topic: str) -> None:
        """Follow the episodes published on `topic` ("" or None: none)."""
        if topic:
            from std_msgs.msg import String

            from video2act.ros import qos

            self.episode_sub = node.create_subscription(String, topic, self._on_episode, qos.control())

    def _on_episode(self, msg) -> None:
        from video2act.runtime.conversions import new_episode

        key = new_episode(msg.data, self._episode_key)
        if key is not None:
            self._episode_key = key
            with self.worker.cv:
                self.start_episode()

    def start_episode(self) -> None:
        """A new episode (step 0 of another task / seed) began: forget the last scene."""
        raise NotImplementedError

    def start_diagnostics(self, node, name: str, hz: float) -> None:
        """/diagnostics for `name`, published every 1 / hz s (a timer on the executor)."""
        from video2act.ros.diagnostics import DiagnosticsPublisher

        self.diag = DiagnosticsPublisher(node, name=name)
        self.diag_timer = node.create_timer(1.0 / hz, self._publish_diagnostics)

    def diagnostic_values(self) -> dict:
        raise NotImplementedError

    def health(self) -> tuple[bool, str]:
        """(healthy, message) for /diagnostics."""
        raise NotImplementedError

    def _publish_diagnostics(self) -> None:
        from video2act.ros.diagnostics import OK, WARN

        healthy, message = self.health()
        self.diag.publish(self.diagnostic_values(), level=OK if healthy else WARN, message=message)

    def set_active(self, active: bool) -> None:
        """Lifecycle activate / deactivate: an inactive node keeps taking its inputs but publishes nothing."""
        self.worker.set_active(active)

    def shutdown(self) -> None:
        self.worker.shutdown()


class Samples:
    """The last `maxlen` values of one quantity (a latency, an age) for percentile diagnostics."""

    def __init__(self, maxlen: int = 50):
        self._values: deque[float] = deque(maxlen=maxlen)

    def add(self, value: float) -> None:
        self._values.append(float(value))

    def __len__(self) -> int:
        return len(self._values)

    def percentile(self, q: float, scale: float = 1.0) -> float | None:
        """The q-th percentile times `scale` (1e3: s -> ms); None before the first value."""
        return float(np.percentile(np.asarray(self._values), q) * scale) if self._values else None

    def max(self, scale: float = 1.0) -> float | None:
        return float(max(self._values) * scale) if self._values else None


def merge_counts(*tables: Mapping[str, int]) -> dict[str, int]:
    """Counter tables joined for /diagnostics: a name in several tables is their sum, so none hides another."""
    out: dict[str, int] = {}
    for table in tables:
        for key, value in table.items():
            out[key] = out.get(key, 0) + int(value)
    return out
