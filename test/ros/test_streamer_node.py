"""trajectory_streamer as a separate process over DDS: rate, following, speed cap, e-stop/resume,
bad chunks, stale chunks and feedback. The test process plays the arms (feedback = last command)
and System 1 (a chunk every 0.2 s)."""
import dataclasses
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from streamer_helpers import ros_domain_id, start_streamer, stop_process  # noqa: E402

from video2act.config import load_config  # noqa: E402
from video2act.testing.background_node import BackgroundNode, wait_until  # noqa: E402
from video2act.ros.conversions import sec_to_stamp, stamp_to_sec  # noqa: E402
from video2act.ros.diagnostics import status_values  # noqa: E402
from video2act.runtime.robot import RobotDescription  # noqa: E402

pytestmark = pytest.mark.ros
ROBOT = RobotDescription.from_config()
TOPICS = load_config("robot.yaml")["topics"]
HZ = ROBOT.control_hz
CAP = ROBOT.safe_velocity / HZ
V = 0.3  # rad/s: the chunks move joint 0 of both arms at this speed (soft start goes 0.3 * 1.0 rad/s)


# piper_ros's humble node (agilexrobotics/piper_ros, src/piper/piper/piper_ctrl_single_node.py at 95330bc):
# joint_states_single names (l. 53), joint_callback's by-name mapping with a missing name = 0 (l. 298-301, 328-333),
# gripper = position[6] (l. 305-307), commands dropped until enabled (l. 310), enabling closes the gripper (l. 364).
PIPER_ROS_NAMES = ["joint1", "joint2", "joint3", "joint4", "joint5", "joint6", "gripper"]


class FakeRobotAndPolicy:
    """Arms that track every command exactly (feedback at 50 Hz) and a chunk publisher.

    piper_ros=True plays the piper_ros humble node's rules (above): feedback named joint1..joint6, gripper on
    <ns>/joint_states_single, commands mapped by name and dropped until <ns>/enable_flag, which closes the gripper.
    ros2_control: the arm controller's 6 joints plus the gripper controller's joint7 (= opening / 2)."""

    def __init__(self, bg: BackgroundNode, command_topics=None, command_type=None, clock=None, piper_ros=False,
                 gripper_topics=None):
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import JointState
        from std_srvs.srv import Trigger
        from trajectory_msgs.msg import JointTrajectory

        node = self.node = bg.node
        self.bg = bg
        self.clock = clock or bg.now  # the time the streamer runs on (wall or simulated)
        self.lock = threading.Lock()
        self.pose = {"left": ROBOT.home[:7].copy(), "right": ROBOT.home[7:].copy()}
        self.offset = np.zeros(7)  # added to the left feedback (an arm pushed while e-stopped)
        self.feedback_on = True
        self.commands = {"left": [], "right": []}  # (arrival s, stamp s, (7,) positions)
        self.messages = {"left": [], "right": []}  # the command messages as received
        self.diag = []
        self.piper_ros, self.enabled = piper_ros, {"left": not piper_ros, "right": not piper_ros}
        fb_topics = {a: f"/{a}/joint_states_single" for a in ("left", "right")} if piper_ros else TOPICS["feedback"]
        self.fb_pubs = {a: node.create_publisher(JointState, fb_topics[a], 10) for a in ("left", "right")}
        if piper_ros:
            from std_msgs.msg import Bool

            for arm in ("left", "right"):
                node.create_subscription(Bool, f"/{arm}/enable_flag", lambda m, a=arm: self._on_enable(a, m), 1)
        for arm, topic in (gripper_topics or {}).items():
            node.create_subscription(JointTrajectory, topic, lambda m, a=arm: self._on_gripper(a, m), 10)
        command_topics = command_topics or TOPICS["command"]
        for arm in ("left", "right"):
            node.create_subscription(command_type or JointState, command_topics[arm],
                                     lambda m, a=arm: self._on_command(a, m), 10)
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        self.chunk_pub = node.create_publisher(JointTrajectory, TOPICS["action_chunk"], 10)
        self.estop = node.create_client(Trigger, "/trajectory_streamer/estop")
        self.resume = node.create_client(Trigger, "/trajectory_streamer/resume")
        node.create_timer(0.02, self._publish_feedback)
        self._JointState, self._JointTrajectory = JointState, JointTrajectory

    def _on_enable(self, arm, msg):
        with self.lock:
            self.enabled[arm] = bool(msg.data)
            self.pose[arm][6] = 0.0  # the node's EnableArm + GripperCtrl(0, ...): the gripper closes

    def _on_gripper(self, arm, msg):
        with self.lock:
            self.pose[arm][6] = 2.0 * msg.points[0].positions[0]  # joint7 = opening / 2

    def _on_command(self, arm, msg):
        if hasattr(msg, "points"):  # ros2_control: one-point JointTrajectory (6 arm joints), unstamped
            with self.lock:
                pos = np.array(list(msg.points[0].positions) + [self.pose[arm][6]])
            stamp = self.clock()
        elif self.piper_ros:
            if not self.enabled[arm]:
                return  # dropped until enabled
            by_name = dict(zip(msg.name, msg.position))
            pos = np.array([by_name.get(f"joint{i}", 0.0) for i in range(1, 7)] + [msg.position[6]])
            stamp = stamp_to_sec(msg.header.stamp)
        else:
            pos, stamp = np.array(msg.position), stamp_to_sec(msg.header.stamp)
        with self.lock:
            self.commands[arm].append((self.clock(), stamp, pos))
            self.messages[arm].append(msg)
            self.pose[arm] = pos

    def _on_diag(self, msg):
        for s in msg.status:
            if s.name == "trajectory_streamer":
                self.diag.append(status_values(s))

    def _publish_feedback(self):
        if not self.feedback_on:
            return
        for arm, pub in self.fb_pubs.items():
            msg = self._JointState()
            msg.header.stamp = sec_to_stamp(self.clock())
            msg.name = PIPER_ROS_NAMES if self.piper_ros else list(ROBOT.joint_names_per_arm)
            with self.lock:
                msg.position = (self.pose[arm] + (self.offset if arm == "left" else 0.0)).tolist()
            pub.publish(msg)

    def publish_chunk(self, t_obs, t_start, h=64, names=None, positions=None):
        """A chunk observed at t_obs continuing x0(t) = home + V * (t - t_start) on joint 0 of each arm."""
        from builtin_interfaces.msg import Duration
        from trajectory_msgs.msg import JointTrajectoryPoint

        if positions is None:
            positions = np.tile(ROBOT.home, (h, 1))
            ramp = V * (t_obs - t_start + np.arange(h) / HZ)
            positions[:, 0] += ramp
            positions[:, 7] += ramp
        msg = self._JointTrajectory()
        msg.header.stamp = sec_to_stamp(t_obs)
        msg.joint_names = list(names if names is not None else ROBOT.names14)
        msg.points = [JointTrajectoryPoint(positions=[float(x) for x in q], time_from_start=Duration(nanosec=int(i * 1e9 / HZ)))
                      for i, q in enumerate(positions)]
        self.chunk_pub.publish(msg)

    def since(self, arm, t):
        with self.lock:
            return [c for c in self.commands[arm] if c[0] >= t]


def stream_chunks(fake, t_start, duration, latency=0.05, period=0.2):
    """System 1 stand-in: a fresh chunk every `period` for `duration` seconds."""
    end = time.monotonic() + duration
    while time.monotonic() < end:
        fake.publish_chunk(fake.clock() - latency, t_start)
        time.sleep(period)


def assert_speed_capped(cmds, cap=CAP[:7]):
    pos = np.array([c[2] for c in cmds])
    steps = np.abs(np.diff(pos, axis=0))
    assert np.all(steps <= cap + 1e-9), f"step {steps.max(axis=0)} above cap {cap}"
    return steps


@pytest.mark.slow
def test_streamer_process_end_to_end(tmp_path):
    domain = ros_domain_id()
    bg = BackgroundNode("streamer_test", domain)
    fake = FakeRobotAndPolicy(bg)
    proc = start_streamer(domain, tmp_path / "streamer.log", {"diagnostics_hz": "5.0"})
    try:
        # 1) feedback, no chunk: commands hold the measured (home) pose
        assert wait_until(lambda: len(fake.since("left", 0)) > 10, 20.0), \
            f"no commands; streamer log:\n{(tmp_path / 'streamer.log').read_text()}"
        np.testing.assert_allclose(fake.since("left", 0)[-1][2], ROBOT.home[:7])

        # 2) chunks every 0.2 s: commands follow the ramp at ~rate_hz, never above the speed cap
        t_start = bg.now()
        stream_chunks(fake, t_start, duration=3.0)
        cmds = fake.since("left", t_start + 0.5)
        stamps = np.array([c[1] for c in cmds])
        periods = np.diff(stamps)
        rate = len(periods) / (stamps[-1] - stamps[0])
        print(f"\ncommand rate {rate:.2f} Hz (target {HZ:g}), period p50 {1e3 * np.median(periods):.1f} ms, "
              f"std {1e3 * periods.std():.2f} ms, max {1e3 * periods.max():.1f} ms over {len(periods)} periods")
        assert rate == pytest.approx(HZ, rel=0.15)
        # the process shares 2 loaded cores with the test: one 0.33 s stall was seen in CI, so only a freeze
        # (a gap as long as the robot's chunk timeout) fails here; the streamer's timing is tested on a fake
        # clock (test/runtime/test_streamer_core.py) and measured by `video2act bench graph`
        assert periods.max() < float(load_config("robot.yaml")["safety"]["chunk_timeout"])
        assert_speed_capped(fake.since("left", 0))
        assert_speed_capped(fake.since("right", 0), CAP[7:])
        last = cmds[-1]
        expected = ROBOT.home[0] + V * (last[1] - t_start)
        print(f"tracking error joint 0: {last[2][0] - expected:+.4f} rad")
        assert last[2][0] == pytest.approx(expected, abs=0.03)
        np.testing.assert_allclose(last[2][1:], ROBOT.home[1:7], atol=1e-9)  # only joint 0 moves

        # 3) bad chunks (NaN, wrong joints) are dropped; the node lives on
        bad = np.tile(ROBOT.home, (64, 1))
        bad[3, 2] = np.nan
        fake.publish_chunk(bg.now(), t_start, positions=bad)
        fake.publish_chunk(bg.now(), t_start, names=ROBOT.names14[:7], positions=bad[:, :7])
        assert wait_until(lambda: fake.diag and int(fake.diag[-1]["chunks_dropped"]) >= 2, 3.0), fake.diag[-1:]
        assert proc.poll() is None

        # 4) e-stop: held exactly although fresh chunks keep coming
        from std_srvs.srv import Trigger

        assert bg.call(fake.estop, Trigger.Request()).success
        t_stop = bg.now()
        stream_chunks(fake, t_start, duration=0.8)
        held = fake.since("left", t_stop + 0.1)
        assert len(held) > 15 and all(np.array_equal(h[2], held[0][2]) for h in held)
        assert wait_until(lambda: fake.diag[-1]["estop"] == "true", 2.0)

        # 5) the arm is pushed 0.05 rad while stopped; resume restarts from it at soft-start speed
        with fake.lock:
            fake.offset[0] = -0.05
        time.sleep(0.1)
        t_resume = bg.now()
        assert bg.call(fake.resume, Trigger.Request()).success
        stream_chunks(fake, t_start, duration=1.0)
        after = fake.since("left", t_resume)
        moved = [i for i, c in enumerate(after) if not np.array_equal(c[2], held[0][2])]
        assert moved, "no motion after resume"
        after = after[moved[0]:]  # the first restarted command starts at the pushed (measured) pose
        assert abs(after[0][2][0] - (held[0][2][0] - 0.05)) <= CAP[0] * ROBOT.soft_start_scale + 1e-9
        steps = assert_speed_capped(after)
        assert steps[:10, 0].max() <= CAP[0] * ROBOT.soft_start_scale + 1e-9  # soft restart

        # 6) chunks stop: hold after chunk_timeout
        t_last_chunk = bg.now()
        time.sleep(ROBOT.chunk_timeout + 0.6)
        stale = fake.since("left", t_last_chunk + ROBOT.chunk_timeout + 0.1)
        assert len(stale) > 8 and all(np.array_equal(s[2], stale[0][2]) for s in stale)
        assert wait_until(lambda: fake.diag[-1]["state"] == "holding: no fresh chunk", 2.0)

        # 7) feedback stops: hold, then nothing new moves
        fake.feedback_on = False
        time.sleep(ROBOT.feedback_timeout + 0.3)
        assert wait_until(lambda: fake.diag[-1]["state"] == "holding: no fresh feedback", 2.0)
        print(f"diagnostics: {fake.diag[-1]}")
        assert proc.poll() is None
    finally:
        code = stop_process(proc)
        bg.close()
    assert code == 0, (tmp_path / "streamer.log").read_text()


@pytest.mark.slow
def test_a_chunk_stamped_in_the_future_over_dds_does_not_freeze_the_arm(tmp_path):
    """One chunk from a node with a wrong clock (+100 s) arrives first: it is refused with a message naming
    the clock, and the correctly stamped chunks after it are followed (it used to hold the arm forever)."""
    domain = ros_domain_id()
    bg = BackgroundNode("streamer_future_test", domain)
    fake = FakeRobotAndPolicy(bg)
    proc = start_streamer(domain, tmp_path / "streamer.log", {"diagnostics_hz": "5.0"})
    try:
        assert wait_until(lambda: len(fake.since("left", 0)) > 5, 20.0), (tmp_path / "streamer.log").read_text()
        t_start = bg.now()
        fake.publish_chunk(bg.now() + 100.0, t_start)
        stream_chunks(fake, t_start, duration=2.0)
        assert wait_until(lambda: fake.diag and "future" in fake.diag[-1]["last_error"], 3.0), fake.diag[-1:]
        last = fake.since("left", t_start)[-1]
        assert last[2][0] > ROBOT.home[0] + 0.2, "the arm did not follow the correct chunks"
        assert_speed_capped(fake.since("left", 0))
        assert proc.poll() is None
    finally:
        code = stop_process(proc)
        bg.close()
    assert code == 0, (tmp_path / "streamer.log").read_text()


class SimClock:
    """Publishes /clock from the test node: `speed` simulated seconds per wall second, 10 ms steps."""

    def __init__(self, bg: BackgroundNode, start: float = 1000.0, speed: float = 1.0):
        from rosgraph_msgs.msg import Clock

        self.t, self.speed, self._msg = start, speed, Clock
        self.running = True
        self.pub = bg.node.create_publisher(Clock, "/clock", 10)
        bg.node.create_timer(0.01, self._tick)

    def _tick(self):
        if self.running:
            self.t += 0.01 * self.speed
            self.pub.publish(self._msg(clock=sec_to_stamp(self.t)))

    def __call__(self) -> float:
        return self.t


@pytest.mark.slow
@pytest.mark.parametrize("sink, rate_hz, sim_time", [("piper_ros", 200.0, False), ("ros2_control", HZ, True)])
def test_other_sinks_rate_and_sim_time(tmp_path, sink, rate_hz, sim_time):
    """piper_ros at 200 Hz (wall clock); ros2_control at 30 Hz on simulated time (half speed)."""
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory

    domain = ros_domain_id()
    bg = BackgroundNode("streamer_sink_test", domain)
    clock = SimClock(bg, speed=0.5) if sim_time else None
    from video2act.node_params import defaults

    cfg = defaults("trajectory_streamer")
    topics = dict(zip(("left", "right"), cfg[f"{sink}_topics"]))
    grippers = dict(zip(("left", "right"), cfg["ros2_control_gripper_topics"])) if sink == "ros2_control" else None
    fake = FakeRobotAndPolicy(bg, topics, JointTrajectory if sink == "ros2_control" else JointState, clock,
                              piper_ros=sink == "piper_ros", gripper_topics=grippers)
    extra = {"piper_ros_enable": "topic"} if sink == "piper_ros" else {}  # no piper_msgs here: enable_flag
    proc = start_streamer(domain, tmp_path / "streamer.log",
                          {"sink": sink, "rate_hz": str(rate_hz), "use_sim_time": str(sim_time).lower(), **extra})
    try:
        assert wait_until(lambda: len(fake.since("left", 0)) > 10, 20.0), \
            f"no commands; streamer log:\n{(tmp_path / 'streamer.log').read_text()}"
        t_start = fake.clock()
        stream_chunks(fake, t_start, duration=2.0 / (clock.speed if clock else 1.0), latency=0.05)
        cmds = fake.since("left", t_start + 0.5)
        times = np.array([c[0] for c in cmds])  # arrival on the streamer's clock
        rate = (len(times) - 1) / (times[-1] - times[0])
        steps = assert_speed_capped(fake.since("left", 0), ROBOT.safe_velocity[:7] / rate_hz)
        print(f"\n{sink}: {rate:.1f} commands per {'simulated' if sim_time else 'wall'} second "
              f"(target {rate_hz:g} Hz), joint-0 step p50 {np.median(steps[-20:, 0]):.5f} rad (chunk: {V / rate_hz:.5f})")
        own = fake.diag[-1]  # the streamer's own timer statistics
        print(f"streamer timer: {own['rate_hz']} Hz, period std {own['period_jitter_ms']} ms, max {own['max_period_ms']} ms")
        # 2 cores to ourselves: 199 Hz; with ~10 busy processes on them a Python timer at 200 Hz fell to
        # 87-108 Hz, so the lower bound only proves the configured rate took effect (default: 30 Hz)
        low = 0.85 if rate_hz <= 30 else 0.35
        assert low * rate_hz <= float(own["rate_hz"]) <= 1.05 * rate_hz
        assert low * rate_hz <= rate <= 1.05 * rate_hz
        if float(own["rate_hz"]) >= 0.9 * rate_hz:  # with ticks lost to a loaded machine the cap, not V, sets the step
            np.testing.assert_allclose(np.median(steps[-20:, 0]), V / rate_hz, rtol=0.1)  # interpolated, not stair-stepped
        msg = fake.messages["left"][-1]
        if sink == "piper_ros":
            assert list(msg.name) == PIPER_ROS_NAMES and len(msg.position) == len(msg.velocity) == len(msg.effort) == 7
            assert msg.velocity[6] == cfg["piper_speed_percent"] and msg.effort[6] == cfg["piper_gripper_effort"]
            # enabling closed the gripper (0 m); the first command after enable started there, not at home
            first = fake.since("left", 0)[0][2]
            assert first[6] == 0.0 and fake.enabled["left"] and fake.enabled["right"]
            assert "arms enabled through piper_ros (topic)" in (tmp_path / "streamer.log").read_text()
        else:
            assert list(msg.joint_names) == [f"joint{i}" for i in range(1, 7)] and len(msg.points) == 1
            assert msg.points[0].time_from_start.nanosec == int(round(1e9 / rate_hz))
            assert abs(cmds[-1][0] - clock()) < 0.5  # stamps and timers follow /clock, not the wall
            clock.running = False  # simulated time stops: so do the commands
            time.sleep(0.3)
            n = len(fake.since("left", 0))
            time.sleep(0.5)
            assert len(fake.since("left", 0)) == n
        assert proc.poll() is None
    finally:
        code = stop_process(proc)
        bg.close()
    assert code == 0, (tmp_path / "streamer.log").read_text()


def test_declare_params_types_descriptions_and_read_only():
    from rclpy.context import Context
    from rclpy.node import Node
    from rclpy.parameter import Parameter

    from video2act.node_params import declaration
    from video2act.ros.params import declare_params
    from video2act.ros.trajectory_streamer import NODE_NAME

    ctx = Context()
    rclpy.init(context=ctx, args=["--ros-args", "-p", "rate_hz:=200", "-p", "blend:=crossfade"], domain_id=ros_domain_id())
    try:
        node = Node(NODE_NAME, context=ctx)
        spec = declaration(NODE_NAME)
        p = declare_params(node, NODE_NAME)
        assert p.rate_hz == 200.0 and isinstance(p.rate_hz, float)  # integer on the command line
        assert p.blend == "crossfade"  # command line wins over the declared default
        assert p.piper_speed_percent == spec["piper_speed_percent"].default
        assert p.cobot_magic_topics == [TOPICS["command"]["left"], TOPICS["command"]["right"]]  # robot.yaml default
        assert p.chunk_timeout == ROBOT.chunk_timeout
        desc = node.describe_parameter("blend")
        assert desc.description == spec["blend"].description and desc.read_only
        assert "must be one of ['crossfade'" in desc.additional_constraints
        speed = node.describe_parameter("piper_speed_percent").floating_point_range[0]  # bounds: the descriptor's range
        assert (speed.from_value, speed.to_value) == (1.0, 100.0)
        result = node.set_parameters([Parameter("rate_hz", value=10.0)])[0]
        assert not result.successful  # read once at start: refused rather than silently ignored
        with pytest.raises(dataclasses.FrozenInstanceError):
            p.rate_hz = 1.0
        node.destroy_node()
    finally:
        ctx.try_shutdown()
