"""Time synchronisation of the camera streams and the arm feedback.

System 1 acts on one observation: three camera images taken at (about) the same time plus the arm
state at that time. Cameras are matched with message_filters' ApproximateTimeSynchronizer when the
ROS 2 `message_filters` package is importable; otherwise `ApproximateTimeSync` below does the same
job with the same semantics:

- one queue per input, holding at most `queue_size` messages keyed by header stamp (oldest dropped);
- when a message arrives, look for one message per other input whose stamp is within `slop` seconds
  of it, trying the closest stamps first; the first combination whose max - min stamp spread is
  below `slop` is emitted (callback with one message per input, in input order) and removed.

The arm feedback (two JointState topics at 30-200 Hz) is not matched message-by-message: `StateBuffer`
keeps a short history per arm and returns the sample nearest to the image stamp, refusing samples
farther away than a tolerance (stale feedback must not pass as current state).
"""
from __future__ import annotations

import itertools
import threading
from typing import Any, Callable, Sequence

from video2act.ros.conversions import stamp_to_sec
from video2act.runtime.system1_core import StateBuffer  # noqa: F401 - moved to runtime, kept importable here

try:  # ROS 2 message_filters (not available from the PyPI wheels)
    import message_filters as _message_filters  # type: ignore
except Exception:  # noqa: BLE001 - any import problem means: use the fallback below
    _message_filters = None


class ApproximateTimeSync:
    """Approximate-time matcher over `num_inputs` streams (no ROS; see the module docstring).

    add(index, stamp_s, msg) may emit callback(*msgs) synchronously. Thread-safe.
    """

    def __init__(self, num_inputs: int, queue_size: int, slop: float, callback: Callable[..., Any]):
        if num_inputs < 1 or queue_size < 1 or slop < 0:
            raise ValueError(f"need num_inputs >= 1, queue_size >= 1, slop >= 0; got {num_inputs}, {queue_size}, {slop}")
        self.queue_size, self.slop, self.callback = queue_size, slop, callback
        self._queues: list[dict[float, Any]] = [{} for _ in range(num_inputs)]
        self._lock = threading.Lock()
        self.matched = 0

    def add(self, index: int, stamp: float, msg: Any) -> None:
        with self._lock:
            found = self._add_locked(index, float(stamp), msg)
        if found is not None:
            self.callback(*found)

    def _add_locked(self, index: int, stamp: float, msg: Any):
        queue = self._queues[index]
        queue[stamp] = msg
        while len(queue) > self.queue_size:
            del queue[min(queue)]
        # Candidate stamps per other input within slop of the new one, closest first.
        candidates = []
        for i, q in enumerate(self._queues):
            if i == index:
                candidates.append([stamp])
                continue
            near = sorted((s for s in q if abs(s - stamp) <= self.slop), key=lambda s: abs(s - stamp))
            if not near:
                return None
            candidates.append(near)
        for combo in itertools.product(*candidates):
            if max(combo) - min(combo) <= self.slop:
                msgs = tuple(self._queues[i].pop(s) for i, s in enumerate(combo))
                self.matched += 1
                return msgs
        return None


def make_image_sync(node, msg_type, topics: Sequence[str], qos, queue_size: int, slop: float,
                    callback: Callable[..., Any], callback_group=None):
    """Subscribe `topics` and call callback(*msgs) for approximately simultaneous messages.

    Uses message_filters when importable, else ApproximateTimeSync over plain subscriptions.
    Returns the object that keeps the subscriptions alive (store it on the node).
    """
    if _message_filters is not None:
        subs = [_message_filters.Subscriber(node, msg_type, t, qos_profile=qos, callback_group=callback_group)
                for t in topics]
        sync = _message_filters.ApproximateTimeSynchronizer(subs, queue_size, slop)
        sync.registerCallback(callback)
        return (subs, sync)
    sync = ApproximateTimeSync(len(topics), queue_size, slop, callback)
    subs = [node.create_subscription(msg_type, t, (lambda m, i=i: sync.add(i, stamp_to_sec(m.header.stamp), m)),
                                     qos, callback_group=callback_group)
            for i, t in enumerate(topics)]
    return (subs, sync)
