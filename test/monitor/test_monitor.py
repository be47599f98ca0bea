"""The web monitor: ROS-free core, message routing, bag / dataset replay, the rclpy adapter, and the page
itself in headless Chromium (a screenshot must show the logged camera image)."""
import socket
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from data_helpers import write_dataset  # noqa: E402

rr = pytest.importorskip("rerun")

from video2act.config import load_config  # noqa: E402
from video2act.monitor.core import MonitorCore  # noqa: E402
from video2act.monitor.messages import MessageRouter, monitor_topics  # noqa: E402
from video2act.monitor.replay import replay_bag, replay_episode  # noqa: E402

ROBOT = load_config("robot.yaml")
TOPICS = ROBOT["topics"]
MAGENTA, GREEN = (255, 0, 255), (0, 255, 0)


def core_in_memory() -> MonitorCore:
    rec = rr.RecordingStream("video2act_monitor_test")
    memory = rec.memory_recording()  # a sink: nothing is served, nothing piles up unsent
    core = MonitorCore(recording=rec)
    core.memory = memory  # kept alive with the core
    return core


class FakeCore:
    """Records what the router calls."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        return lambda *args, **kwargs: self.calls.append((name, *args))


def stamp(t: float):
    return SimpleNamespace(stamp=SimpleNamespace(sec=int(t), nanosec=int(round((t - int(t)) * 1e9))))


def image_msg(rgb, t=1.5, encoding="rgb8"):
    h, w = rgb.shape[:2]
    return SimpleNamespace(header=stamp(t), height=h, width=w, encoding=encoding, step=w * 3,
                           data=np.ascontiguousarray(rgb).tobytes())


def test_router_feeds_the_core_by_topic_and_drops_bad_messages():
    core = FakeCore()
    router = MessageRouter(core)
    img = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    assert router.on_message(TOPICS["cameras"]["left"], image_msg(img), 9.0)
    assert router.on_message(TOPICS["cameras"]["right"], image_msg(img[:, :, ::-1], encoding="bgr8"), 9.0)
    names = [f"joint{i}" for i in range(7)]
    q = 0.1 * np.arange(7)
    # reversed joint order in the message: the core gets joint0..joint6
    assert router.on_message(TOPICS["feedback"]["right"],
                             SimpleNamespace(header=stamp(0), name=names[::-1], position=list(q[::-1])), 7.0)
    assert router.on_message(TOPICS["command"]["left"], SimpleNamespace(header=stamp(2.0), name=[], position=list(q)), 9.0)
    chunk = SimpleNamespace(header=stamp(3.0), points=[SimpleNamespace(positions=[0.0] * 14)] * 4)
    assert router.on_message(TOPICS["action_chunk"], chunk, 9.0)
    status = SimpleNamespace(name="trajectory_streamer", level=b"\x01", message="estop",
                             values=[SimpleNamespace(key="estop", value="true")])
    assert router.on_message("/diagnostics", SimpleNamespace(header=stamp(4.0), status=[status]), 9.0)
    assert router.on_message(f"{TOPICS['viz_prefix']}/motion_heatmap", image_msg(img, 5.0), 9.0)
    kinds = [c[0] for c in core.calls]
    assert kinds == ["camera", "camera", "feedback", "command", "chunk", "diagnostics", "heatmap"]
    assert core.calls[0][1] == "left" and core.calls[0][3] == 1.5
    np.testing.assert_array_equal(core.calls[1][2], img)  # bgr8 comes back as RGB
    assert core.calls[2][1] == "right" and core.calls[2][3] == 7.0  # zero stamp: the receive time
    np.testing.assert_allclose(core.calls[2][2], q)
    assert core.calls[4][1].shape == (4, 14)
    assert core.calls[5][1] == [("trajectory_streamer", 1, "estop", {"estop": "true"})]
    bad = SimpleNamespace(header=stamp(1), height=4, width=6, encoding="yuv422", step=12, data=b"")
    assert not router.on_message(TOPICS["cameras"]["head"], bad, 1.0)
    assert not router.on_message(TOPICS["feedback"]["left"], SimpleNamespace(header=stamp(1), name=[], position=[0.0] * 5), 1.0)
    assert not router.on_message("/not/monitored", SimpleNamespace(), 1.0)
    assert router.dropped == 3 and "not monitored" in router.last_error
    assert set(monitor_topics()) >= {TOPICS["cameras"]["head"], TOPICS["feedback"]["left"], "/diagnostics"}


def test_core_logs_streams_tracks_the_estop_and_refuses_bad_values():
    core = core_in_memory()
    core.camera("head", np.zeros((8, 12, 3), np.uint8), 1.0)
    core.heatmap("spatial", np.random.default_rng(0).random((4, 6)), 1.0)  # float map: colour-mapped here
    home = np.array(ROBOT["robot"]["home"])
    core.feedback("left", home, 1.0)
    core.command("left", home, 1.0)
    core.chunk(np.tile(np.concatenate([home, home]), (5, 1)), 1.0)
    assert core.estop is None
    core.diagnostics([("trajectory_streamer", 1, "estop", {"estop": "true", "state": "estop"})], 2.0)
    assert core.estop is True
    core.diagnostics([("system2_node", 0, "ok", {"rate_hz": "6"}), ("trajectory_streamer", 0, "streaming",
                                                                    {"estop": "false"})], 3.0)
    assert core.estop is False
    assert core.counts == {"camera": 1, "heatmap": 1, "feedback": 1, "command": 1, "chunk": 1, "diagnostics": 2}
    with pytest.raises(ValueError, match="7 finite positions"):
        core.feedback("right", [0.0] * 6, 1.0)
    with pytest.raises(ValueError, match=r"\(H, 14\)"):
        core.chunk(np.zeros((3, 7)), 1.0)


def test_replays_of_a_bag_and_of_a_dataset_episode(tmp_path):
    from test_bags import write_bag

    write_bag(tmp_path / "bag", frames=6)
    core = FakeCore()
    r = replay_bag(core, tmp_path / "bag", rate=0)
    kinds = [c[0] for c in core.calls]
    assert r["dropped"] == 0 and r["messages"] == len(core.calls) and kinds.count("camera") == 18
    assert kinds.count("feedback") == kinds.count("command") > 0
    stamps = [c[-1] for c in core.calls]
    assert min(np.diff(stamps)) > -0.05  # bag order (receive time) ~ stamp order: never more than 50 ms back

    write_dataset(tmp_path / "ds", lengths=(5,))
    core = FakeCore()
    assert replay_episode(core, tmp_path / "ds", 0, rate=0, chunk_size=3) == 5
    kinds = [c[0] for c in core.calls]
    assert kinds.count("camera") == 15 and kinds.count("feedback") == 10 and kinds.count("chunk") == 5
    last_chunk = [c for c in core.calls if c[0] == "chunk"][-1]
    assert last_chunk[1].shape == (3, 14) and last_chunk[2] == pytest.approx(4 / 30)


@pytest.mark.ros
def test_ros_adapter_routes_topics_to_the_core():
    rclpy = pytest.importorskip("rclpy")
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image, JointState

    from video2act.ros import qos
    from video2act.ros.web_monitor_node import WebMonitorNode

    ctx = Context()
    rclpy.init(context=ctx)
    try:
        node = rclpy.create_node("web_monitor_test", context=ctx)
        probe = rclpy.create_node("web_monitor_probe", context=ctx)
        core = FakeCore()
        monitor = WebMonitorNode(node, core=core, serve=False)
        assert monitor.url is None and len(monitor.subs) == len(monitor_topics())
        cam_pub = probe.create_publisher(Image, TOPICS["cameras"]["head"], qos.control())
        fb_pub = probe.create_publisher(JointState, TOPICS["feedback"]["left"], qos.sensor())
        executor = SingleThreadedExecutor(context=ctx)
        executor.add_node(node)
        executor.add_node(probe)
        img = Image(height=2, width=3, encoding="rgb8", step=9, data=bytes(range(18)))
        js = JointState(name=[f"joint{i}" for i in range(7)], position=[0.1] * 7)
        deadline = time.monotonic() + 20
        while {c[0] for c in core.calls} != {"camera", "feedback"} and time.monotonic() < deadline:
            cam_pub.publish(img)
            fb_pub.publish(js)
            executor.spin_once(timeout_sec=0.1)
        assert {c[0] for c in core.calls} == {"camera", "feedback"}
        cam = next(c for c in core.calls if c[0] == "camera")
        assert cam[1] == "head" and cam[2].shape == (2, 3, 3) and cam[2][1, 2].tolist() == [15, 16, 17]
        executor.shutdown()
    finally:
        rclpy.try_shutdown(context=ctx)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _share(rgb, color, tol=30) -> float:
    return float((np.abs(rgb.astype(int) - color).max(-1) < tol).mean())


class RosFeed:
    """The page's data through real ROS topics: a probe node publishes what the robot's nodes publish, the
    web monitor's rclpy adapter (in this process, its own context) hands it to the core."""

    def __init__(self, core):
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import Image, JointState
        from trajectory_msgs.msg import JointTrajectory

        from video2act.ros import qos
        from video2act.ros.web_monitor_node import WebMonitorNode

        self.rclpy, self.ctx = rclpy, Context()
        rclpy.init(context=self.ctx)
        self.node = rclpy.create_node("web_monitor_node", context=self.ctx)
        self.probe = rclpy.create_node("web_monitor_probe", context=self.ctx)
        self.monitor = WebMonitorNode(self.node, core=core, serve=False)
        pub = self.probe.create_publisher
        self.cams = {c: pub(Image, TOPICS["cameras"][c], qos.sensor()) for c in ("head", "left", "right")}
        self.heat = pub(Image, f"{TOPICS['viz_prefix']}/spatial_heatmap", qos.control())
        self.joints = {(k, a): pub(JointState, TOPICS[k][a], qos.control()) for k in ("feedback", "command")
                       for a in ("left", "right")}
        self.chunk = pub(JointTrajectory, TOPICS["action_chunk"], qos.control())
        self.diag = pub(DiagnosticArray, "/diagnostics", qos.control())
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self.spinner = threading.Thread(target=self.executor.spin, daemon=True)
        self.spinner.start()

    def publish(self, t, img, heat_rgb, q, chunk, diagnostics):
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import JointState
        from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

        from video2act.ros.conversions import rgb_to_image_msg, sec_to_stamp
        from video2act.ros.diagnostics import make_status

        stamp = sec_to_stamp(1000.0 + t)
        for pub in self.cams.values():
            pub.publish(rgb_to_image_msg(img, stamp=stamp))
        self.heat.publish(rgb_to_image_msg(heat_rgb, stamp=stamp))
        for (kind, _arm), pub in self.joints.items():
            msg = JointState(name=[f"joint{i}" for i in range(7)], position=[float(v) for v in q + 0.02 * (kind == "command")])
            msg.header.stamp = stamp
            pub.publish(msg)
        traj = JointTrajectory(points=[JointTrajectoryPoint(positions=[float(v) for v in row]) for row in chunk])
        traj.header.stamp = stamp
        self.chunk.publish(traj)
        if diagnostics:
            msg = DiagnosticArray(status=[make_status("trajectory_streamer", {"state": "streaming", "estop": False},
                                                      message="streaming")])
            msg.header.stamp = stamp
            self.diag.publish(msg)

    def close(self):
        self.executor.shutdown()
        self.rclpy.try_shutdown(context=self.ctx)


@pytest.mark.slow
def test_the_page_shows_live_camera_images_in_headless_chromium(tmp_path):
    """Live data from ROS topics (straight into the core where rclpy is missing) -> the page in Chromium."""
    from video2act.monitor import browser
    from video2act.monitor.core import colormap

    _, _, reason = browser.find_chromium()
    if reason:
        pytest.skip(reason)
    core = MonitorCore()
    url = core.serve(web_port=_free_port(), grpc_port=_free_port())
    try:
        ros = RosFeed(core)
    except ImportError:
        ros = None
    stop = threading.Event()

    def feed():  # live: a new frame (and joints, path, diagnostics) every 0.1 s while the page loads
        home = np.array(ROBOT["robot"]["home"])
        k = 0
        while not stop.is_set():
            t = 0.1 * k
            img = np.zeros((96, 128, 3), np.uint8)
            img[:, :64], img[:, 64:] = MAGENTA, GREEN
            heat = colormap(np.outer(np.hanning(6), np.hanning(8)) * (1 + k % 3))
            q = home + 0.2 * np.sin(t)
            chunk = np.tile(np.concatenate([q, q]), (16, 1)) + np.linspace(0, 0.3, 16)[:, None]
            if ros is not None:
                ros.publish(t, img, heat, q, chunk, diagnostics=k % 10 == 0)
            else:
                for cam in ("head", "left", "right"):
                    core.camera(cam, img, t)
                core.heatmap("spatial", heat, t)
                for arm in ("left", "right"):
                    core.feedback(arm, q, t)
                    core.command(arm, q + 0.02, t)
                core.chunk(chunk, t)
                if k % 10 == 0:
                    core.diagnostics([("trajectory_streamer", 0, "streaming", {"estop": "false"})], t)
            k += 1
            stop.wait(0.1)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    page = None
    try:
        page = browser.open_page(url)
        # the three camera views show the half-magenta, half-green frames: ~5 % of the page each colour
        rgb, waited = browser.wait_for(page, lambda im: _share(im, MAGENTA) > 0.02 and _share(im, GREEN) > 0.02,
                                       timeout=150)
        import cv2

        cv2.imwrite(str(tmp_path / "monitor.png"), rgb[:, :, ::-1])
        assert waited is not None, (f"no camera image on the page after 150 s (magenta {_share(rgb, MAGENTA):.4f}, "
                                    f"green {_share(rgb, GREEN):.4f}); screenshot {tmp_path / 'monitor.png'}")
        # three views side by side: magenta in three separate column bands of the top half
        cols = (np.abs(rgb[: rgb.shape[0] // 2].astype(int) - MAGENTA).max(-1) < 30).any(0)
        assert np.count_nonzero(np.diff(np.r_[0, cols.astype(int)]) == 1) >= 3
        if ros is not None:  # every kind of message went through the adapter, none dropped
            assert ros.monitor.router.dropped == 0, ros.monitor.router.last_error
            assert all(core.counts[k] > 0 for k in core.counts) and core.estop is False
        print(f"camera image on the page after {waited:.1f} s ({'ROS topics' if ros else 'core calls'})")
    finally:
        stop.set()
        feeder.join(5)
        if page is not None:
            page.quit()
        if ros is not None:
            ros.close()


def test_dataset_replay_through_a_policy_shows_its_heatmaps_and_plans(tmp_path):
    import torch

    from video2act.model.modeling_video2act import Video2ActPolicy

    torch.set_num_threads(1)
    write_dataset(tmp_path / "ds", lengths=(7,))
    core = FakeCore()
    policy = Video2ActPolicy.from_preset("tiny", seed=0).eval()
    assert replay_episode(core, tmp_path / "ds", 0, rate=0, policy=policy, system2_every=3, system1_every=3) == 7
    heatmaps = [c for c in core.calls if c[0] == "heatmap"]
    chunks = [c for c in core.calls if c[0] == "chunk"]
    assert heatmaps and {c[1] for c in heatmaps} <= {"spatial", "motion"} and heatmaps[0][2].ndim == 2
    assert [round(c[2] * 30) for c in chunks] == [0, 3, 6]  # System 1 every 3 steps
    assert chunks[0][1].shape == (policy.config.chunk_size, 14) and np.isfinite(chunks[0][1]).all()
    status = [c for c in core.calls if c[0] == "diagnostics"][-1][1][0]
    assert status[0] == "monitor replay" and status[3]["step"] == 6 and "system2_ms" in status[3]
