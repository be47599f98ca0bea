"""The policy nodes' shared worker (ros/policy_worker.py): steps run off the callbacks, a failing step is counted
and the thread lives on, the lifecycle switch, shutdown; percentile diagnostics; counters joined without one
hiding another (System 2's node and core both count out-of-order frames); what both node adapters share
(PolicyNode: health -> OK / WARN, episodes, lifecycle, shutdown)."""
from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from video2act.ros.policy_worker import PolicyNode, PolicyWorker, Samples, merge_counts


class FakeNode:
    """What the worker needs of an rclpy node: a logger and a context."""

    def __init__(self):
        self.errors: list[str] = []
        self.ok = True
        node = self

        class Logger:
            def error(self, text, **_):
                node.errors.append(text)

        class Context:
            def ok(self):
                return node.ok

        self._logger, self.context = Logger(), Context()

    def get_logger(self):
        return self._logger


def wait_until(predicate, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def make_worker(node, queue, done, fail_on=()):
    counts = {}

    def take():
        with worker.cv:
            return queue.pop(0) if queue else None

    def step(item):
        if item in fail_on:
            raise RuntimeError(f"bad item {item}")
        done.append((item, threading.current_thread().name))

    worker = PolicyWorker(node, "test_worker", "test step", has_work=lambda: bool(queue), take=take, step=step,
                          counts=counts, error_key="step_errors")
    return worker, counts


def test_steps_run_in_the_worker_thread_and_a_failing_step_is_counted_not_fatal():
    node, queue, done = FakeNode(), [], []
    worker, counts = make_worker(node, queue, done, fail_on=(2,))
    try:
        assert counts == {"step_errors": 0}
        for item in (1, 2, 3):
            with worker.cv:
                queue.append(item)
                worker.cv.notify()
        assert wait_until(lambda: len(done) == 2), done
        assert done == [(1, "test_worker"), (3, "test_worker")]  # item 2 failed; the thread went on
        assert counts["step_errors"] == 1 and node.errors == ["test step failed: RuntimeError: bad item 2"]
        assert worker.thread.is_alive()
    finally:
        worker.shutdown()
    assert not worker.thread.is_alive()


def test_a_failure_while_the_context_shuts_down_ends_the_worker_uncounted():
    node, queue, done = FakeNode(), [], []
    worker, counts = make_worker(node, queue, done, fail_on=(1,))
    node.ok = False
    with worker.cv:
        queue.append(1)
        worker.cv.notify()
    assert wait_until(lambda: not worker.thread.is_alive())
    assert counts["step_errors"] == 0 and node.errors == []


def test_lifecycle_switch_and_a_rate_wait_cut_short_by_shutdown():
    node, queue, done = FakeNode(), [], []
    worker, _ = make_worker(node, queue, done)
    assert worker.active
    worker.set_active(False)
    assert not worker.active
    worker.set_active(True)
    assert worker.active
    t0 = time.monotonic()
    threading.Timer(0.2, worker.shutdown).start()
    assert worker.sleep(10.0) is True  # woken by the shutdown, not after 10 s
    assert time.monotonic() - t0 < 5.0 and worker.stopping
    assert worker.sleep(0.0) is True
    assert wait_until(lambda: not worker.thread.is_alive())  # the shutdown joins it


def test_samples_give_percentiles_in_the_unit_asked_for():
    s = Samples(maxlen=4)
    assert s.percentile(50) is None and s.max() is None and len(s) == 0
    for v in (0.010, 0.020, 0.030, 0.040, 0.050):  # the first falls out of the 4-deep window
        s.add(v)
    assert len(s) == 4
    assert s.percentile(50, 1e3) == pytest.approx(35.0)
    assert s.percentile(95) == pytest.approx(0.0485)
    assert s.max(1e3) == pytest.approx(50.0)


def test_merge_counts_adds_a_counter_several_tables_hold():
    node = {"frames_received": 5, "frames_out_of_order": 2}
    core = {"frames_out_of_order": 3, "window_restarts": 1}
    assert merge_counts(node, core) == {"frames_received": 5, "frames_out_of_order": 5, "window_restarts": 1}
    assert node == {"frames_received": 5, "frames_out_of_order": 2}  # the tables themselves are left alone


def test_a_policy_node_reports_its_own_health_starts_episodes_once_and_shuts_its_worker_down():
    from video2act.ros.diagnostics import OK, WARN

    class Diag:
        def __init__(self):
            self.published = []

        def publish(self, values, level, message):
            self.published.append((values, level, message))

    class Adapter(PolicyNode):
        def __init__(self, worker):
            self.worker, self.diag, self.healthy = worker, Diag(), False

        def diagnostic_values(self):
            return {"calls": 1}

        def health(self):
            return self.healthy, "fine" if self.healthy else "not yet"

        def start_episode(self):
            assert self.worker.cv._is_owned()  # under the worker's condition
            self.episodes += 1

    worker, _ = make_worker(FakeNode(), [], [])
    adapter = Adapter(worker)
    adapter._publish_diagnostics()
    adapter.healthy = True
    adapter._publish_diagnostics()
    assert adapter.diag.published == [({"calls": 1}, WARN, "not yet"), ({"calls": 1}, OK, "fine")]
    adapter.episodes = 0
    for task, seed, step in (("a", 1, 0), ("a", 1, 0), ("a", 1, 5), ("a", 2, 0), ("b", 2, 0)):  # step 0 of a new one
        adapter._on_episode(SimpleNamespace(data=json.dumps({"task": task, "seed": seed, "step": step})))
    assert adapter.episodes == 3
    adapter.set_active(False)
    assert not worker.active
    adapter.shutdown()
    assert not worker.thread.is_alive()


rclpy = pytest.importorskip("rclpy")


@pytest.fixture()
def ros_node():
    ctx = rclpy.context.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("system2_worker_probe", context=ctx)
    yield node
    node.destroy_node()
    rclpy.shutdown(context=ctx)


@pytest.fixture(scope="module")
def tiny_policy():
    import torch

    from video2act.model import Video2ActPolicy

    torch.set_num_threads(1)
    return Video2ActPolicy.from_preset("tiny", seed=0).eval()


def head_image(stamp: float):
    from video2act.ros.conversions import rgb_to_image_msg, sec_to_stamp

    rgb = np.random.default_rng(int(stamp * 1000)).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    return rgb_to_image_msg(rgb, stamp=sec_to_stamp(stamp), frame_id="camera_f")


def test_system2_diagnostics_show_both_out_of_order_counts(ros_node, tiny_policy):
    """The core drops a frame a little out of order before the queue; the stream's windows refuse one older than
    they hold (and restart). Both are counted and both reach /diagnostics."""
    from video2act.ros.system2_node import System2Node

    adapter = System2Node(ros_node, policy=tiny_policy)
    adapter.worker.shutdown()  # drive it by hand: nothing consumes the queue
    for stamp in (10.0, 10.2, 10.15, 10.4):  # 10.15: behind 10.2 by less than restart_after -> dropped by the core
        adapter._on_image(head_image(stamp))
    assert adapter.core.counts["frames_out_of_order"] == 1 and adapter.counts["frames_queued"] == 3
    rgb = np.zeros((48, 64, 3), np.uint8)
    adapter._push(rgb, 20.0)
    adapter._push(rgb, 19.5)  # older than the windows hold: counted, windows restarted from this frame
    assert adapter.core.counts["frames_out_of_order_in_windows"] == 1
    assert adapter.stream.high.newest_stamp == 19.5
    values = adapter.diagnostic_values()
    assert values["frames_out_of_order"] == 1 and values["frames_out_of_order_in_windows"] == 1
    assert values["frames_queued"] == 3 and values["frames_spaced_out"] == 0 and values["compute_ms_p50"] is None


def test_system2_worker_publishes_while_active_and_stops_on_shutdown(ros_node, tiny_policy):
    from video2act.ros.system2_node import System2Node

    adapter = System2Node(ros_node, policy=tiny_policy)
    try:
        t = 100.0
        for _ in range(4):
            adapter._on_image(head_image(t))
            t += 0.1
        assert wait_until(lambda: adapter.counts["features_published"] >= 1, 60.0), adapter.diagnostic_values()
        assert adapter.diagnostic_values()["compute_ms_p50"] > 0
        adapter.set_active(False)  # deactivated: windows keep filling, nothing is computed
        time.sleep(0.3)  # a step already under way finishes
        published = adapter.counts["features_published"]
        for _ in range(4):
            adapter._on_image(head_image(t))
            t += 0.2
        assert wait_until(lambda: not adapter._pending, 30.0)
        time.sleep(0.3)
        assert adapter.counts["features_published"] == published and adapter.counts["compute_errors"] == 0
    finally:
        adapter.shutdown()
    assert not adapter.worker.thread.is_alive()


def test_system1_worker_plans_from_an_observation_and_counts_a_failing_act(ros_node, tiny_policy):
    from video2act.ros.system1_node import System1Node

    adapter = System1Node(ros_node, policy=tiny_policy)
    try:
        robot, c = adapter.robot, tiny_policy.config.system2

        def observe():
            time.sleep(adapter.core.period)  # stamps a planning period apart (System1Core plans on stamps)
            now = adapter.now()
            for arm, q in enumerate(robot.split(robot.home)):
                adapter.core.on_feedback(arm, now, q)
            for kind, n in (("spatial", c.num_spatial_tokens), ("motion", c.num_motion_tokens)):
                adapter.core.on_feature(kind, now, np.zeros((n, c.token_dim), np.float32), now=now)
            images = [head_image(now) for _ in range(3)]
            adapter._on_observation(*images)

        observe()
        assert wait_until(lambda: adapter.counts["chunks_published"] == 1, 60.0), adapter.diagnostic_values()
        values = adapter.diagnostic_values()
        assert values["act_ms_p50"] > 0 and values["act_ms_p95"] >= values["act_ms_p50"]
        assert values["observation_age_at_publish_s_p50"] >= 0 and values["act_errors"] == 0

        real_act = tiny_policy.act
        tiny_policy.act = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom"))
        try:
            observe()
            assert wait_until(lambda: adapter.counts["act_errors"] == 1, 30.0), adapter.diagnostic_values()
        finally:
            tiny_policy.act = real_act
        observe()  # the worker lived on
        assert wait_until(lambda: adapter.counts["chunks_published"] == 2, 60.0), adapter.diagnostic_values()

        adapter.set_active(False)
        observe()
        assert wait_until(lambda: not adapter.core.has_observation(), 30.0)
        time.sleep(0.3)
        assert adapter.counts["chunks_published"] == 2  # inactive: nothing published
    finally:
        adapter.shutdown()
    assert not adapter.worker.thread.is_alive()
