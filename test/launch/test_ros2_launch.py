"""The four launch files under the real `ros2 launch` (launch 3.4 / launch_ros 0.26, ROS 2 Jazzy), colcon-built.

Runs where ../shared/ros2-launch (the launch / launch_ros / ros2cli sources and install.sh; installed into
this venv first, idempotent) or a ROS 2 install with `ros2 launch` and colcon is present; skipped with the
reason otherwise. The package is colcon-built into a temporary prefix once per module and every launch runs
as the README's recipe does (`source install/setup.bash; ros2 launch video2act <file> ...`) on this
session's DDS domain, started with SIGINT at its default (a background shell ignores it) and stopped with
SIGINT as a user's Ctrl-C.

No process is left behind: every process of a launch carries a marker in its environment; after the launch
has exited, none with the marker may still run (the test kills any by PID and fails).
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = Path(os.environ.get("ROS2_LAUNCH_BUNDLE", ROOT.parent / "shared" / "ros2-launch"))
VENV = Path(sys.prefix)
MARKER = "VIDEO2ACT_LAUNCH_TEST"

if not os.environ.get("ROS_DOMAIN_ID"):
    os.environ["ROS_DOMAIN_ID"] = str(random.randint(100, 199))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
from video2act.launch.process_group import node_environment  # noqa: E402

os.environ.update(node_environment(dict(os.environ)))  # the probe uses the launched nodes' DDS transports

sys.path.insert(0, str(ROOT / "test" / "ros"))
from bag_streams import HZ, N, Publishers, wait_for  # noqa: E402


def _toolchain() -> tuple[str | None, str]:
    """(how `ros2 launch` is provided, or None, reason). Installs the bundle into this venv when present."""
    if (BUNDLE / "install.sh").is_file():
        done = subprocess.run(["bash", str(BUNDLE / "install.sh"), str(VENV)], capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(f"{BUNDLE}/install.sh failed:\n{done.stdout}\n{done.stderr}")
        return "bundle", f"{BUNDLE} installed into {VENV}"
    if shutil.which("ros2") and shutil.which("colcon") and os.environ.get("ROS_DISTRO"):
        return "ros", f"ROS 2 {os.environ['ROS_DISTRO']} install"
    return None, (f"no real `ros2 launch`: neither {BUNDLE} (launch / launch_ros sources with install.sh) nor a "
                  "sourced ROS 2 install with colcon")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The colcon-built package: (install dir, the shell lines that make `ros2 launch video2act` work)."""
    kind, reason = _toolchain()
    if kind is None:
        pytest.skip(reason)
    ws = tmp_path_factory.mktemp("colcon_ws")
    colcon = str(VENV / "bin" / "colcon") if kind == "bundle" else "colcon"
    build = subprocess.run([colcon, "--log-base", str(ws / "log"), "build", "--paths", str(ROOT),
                            "--build-base", str(ws / "build"), "--install-base", str(ws / "install")],
                           cwd=ws, capture_output=True, text=True, timeout=600,
                           env={**os.environ, "PATH": f"{VENV / 'bin'}:{os.environ['PATH']}"})
    assert build.returncode == 0, f"colcon build failed:\n{build.stdout}\n{build.stderr}"
    setup = [f"source {ws / 'install' / 'setup.bash'}"]
    if kind == "bundle":  # ros2 / grammar.lark / ament index of launch live in the venv
        setup = [f"export PATH={VENV / 'bin'}:$PATH", *setup, f'export AMENT_PREFIX_PATH="$AMENT_PREFIX_PATH:{VENV}"']
    return ws, setup


def _marked_pids(token: str) -> list[int]:
    """PIDs of the processes whose environment carries MARKER=token."""
    needle = f"{MARKER}={token}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    pids.append(int(entry))
        except OSError:  # gone, or not ours
            continue
    return pids


class Launch:
    """One `ros2 launch video2act <file> args...` process, its output in a file."""

    def __init__(self, workspace, file: str, *args: str):
        ws, setup = workspace
        self.token = uuid.uuid4().hex
        self.log = ws / f"{file}.{self.token[:8]}.log"
        env = {**os.environ, MARKER: self.token, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"),
               "ROS_LOG_DIR": str(ws / "roslog"), "PYTHONUNBUFFERED": "1", "RCUTILS_COLORIZED_OUTPUT": "0"}
        env.pop("VIRTUAL_ENV", None)
        script = "\n".join([*setup, f"exec ros2 launch video2act {file} " + " ".join(f"'{a}'" for a in args)])
        with open(self.log, "w") as out:
            # SIGINT at its default: launch stops its nodes on SIGINT only (SIGTERM orphans them)
            self.proc = subprocess.Popen(["bash", "-c", script], env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"ros2 launch still running after {timeout} s:\n{self.output[-4000:]}")

    def interrupt(self, timeout: float = 40.0) -> int:
        """Ctrl-C: SIGINT to `ros2 launch`, which stops its nodes; its exit status."""
        self.proc.send_signal(signal.SIGINT)
        return self.wait(timeout)

    def leftovers(self) -> list[str]:
        """Processes of this launch still running (after it exited); each is killed."""
        found = []
        for pid in _marked_pids(self.token):
            try:
                found.append(f"{pid}: {Path(f'/proc/{pid}/cmdline').read_bytes().replace(bytes(1), b' ').decode()[:200]}")
                os.kill(pid, signal.SIGKILL)
            except OSError:
                continue
        return found

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.leftovers()


@pytest.fixture
def launch(workspace):
    started = []

    def start(file: str, *args: str) -> Launch:
        started.append(Launch(workspace, file, *args))
        return started[-1]

    yield start
    for item in started:
        item.close()


def _exited_clean(run: Launch) -> None:
    time.sleep(0.5)  # a reaped child's /proc entry goes away asynchronously
    left = run.leftovers()
    assert not left, "processes left behind by the launch:\n" + "\n".join(left) + f"\n{run.output[-3000:]}"


def _refused_before_start(run: Launch, message: str) -> None:
    """The launch failed naming `message`, started no process and left nothing behind."""
    assert run.wait(timeout=60) != 0
    assert message in run.output and "process started" not in run.output, run.output[-3000:]
    _exited_clean(run)


class Probe:
    """This test process's rclpy node: counts what the launched graph publishes."""

    def __init__(self, topics: dict):
        import threading

        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("launch_test_probe", context=self.context)
        self.counts = {topic: 0 for topic in topics}
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)  # matches any publisher
        for topic, cls in topics.items():
            self.node.create_subscription(cls, topic, lambda _m, t=topic: self._count(t), qos)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()

    def _count(self, topic: str) -> None:
        self.counts[topic] += 1

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()


def _installed(tool: str) -> bool:
    from video2act.launch.guard import installed

    return installed(tool)


# -- the graph comes up and stops -----------------------------------------------------------------------------

def test_sim_launch_brings_the_graph_up_and_ctrl_c_stops_it(launch):
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory

    from video2act.config import load_config

    topics = load_config("robot.yaml")["topics"]
    commands, chunks = topics["command"]["left"], topics["action_chunk"]
    probe = Probe({commands: JointState, chunks: JointTrajectory})
    try:
        run = launch("sim.launch.py", "preset:=tiny")
        wait_for(lambda: (probe.counts[commands] >= 30 and probe.counts[chunks] >= 3) or run.proc.poll() is not None,
                 "commands and action chunks from the launched graph", timeout=240)
        assert run.proc.poll() is None, f"the launch ended early (rc {run.proc.returncode}):\n{run.output[-4000:]}"
    finally:
        probe.close()
    assert run.interrupt() == 0, run.output[-4000:]
    for node in ("sim_bridge_node", "system2_node", "system1_node", "trajectory_streamer"):
        assert f"[{node}-" in run.output
    assert "LaunchConfigurationEquals" not in run.output  # no deprecation warning
    assert "critical node" not in run.output  # Ctrl-C is not a node failure
    # no instruction given: the policy nodes were told the default task's own (sim_bridge_node's declared task)
    from video2act.node_params import defaults
    from video2act.sim.env import CobotMagicEnv

    bridge = defaults("sim_bridge_node")
    with CobotMagicEnv(render=False) as env:
        instruction = env.reset(bridge["task"], bridge["seed"])["instruction"]
    assert run.output.count(f"'instruction': {instruction!r}") == 2  # System 2 and System 1 log their params
    _exited_clean(run)


# -- a critical node that dies ends the launch ------------------------------------------------------------------

def test_real_robot_without_cameras_ends_with_an_error_naming_the_camera(launch):
    run = launch("real_robot.launch.py", "preset:=tiny")
    rc = run.wait(timeout=120)
    assert rc != 0, run.output[-4000:]
    assert "critical node camera_node exited with code 1" in run.output, run.output[-4000:]
    assert "process started" in run.output  # the policy nodes had started: they were stopped, not orphaned
    _exited_clean(run)


def test_a_streamer_killed_mid_run_stops_the_policy_nodes(launch):
    run = launch("real_robot.launch.py", "preset:=tiny", "cameras:=external")
    wait_for(lambda: "streaming to" in run.output or run.proc.poll() is not None, "the streamer to run", timeout=120)
    assert run.proc.poll() is None, run.output[-4000:]
    (streamer,) = [pid for pid in _marked_pids(run.token)
                   if b"trajectory_streamer" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    os.kill(streamer, signal.SIGKILL)
    assert run.wait(timeout=120) != 0, run.output[-4000:]
    assert "critical node trajectory_streamer exited with signal SIGKILL" in run.output, run.output[-4000:]
    _exited_clean(run)


def test_record_teleop_camera_failure_closes_the_bag_and_ends_the_launch(launch, workspace):
    if _installed("rosbag2"):
        pytest.skip("rosbag2 is installed: the fallback recorder is not used here")
    bag = workspace[0] / f"bag_{uuid.uuid4().hex[:6]}"
    run = launch("record_teleop.launch.py", f"bag:={bag}")
    assert run.wait(timeout=120) != 0, run.output[-4000:]
    assert "critical node camera_node exited" in run.output
    # the recorder got SIGINT: a closed bag (metadata.yaml), or none when it had not created it yet
    assert not bag.exists() or (bag / "metadata.yaml").is_file(), run.output[-4000:]
    _exited_clean(run)


# -- missing optional tools and bad arguments: refused before anything starts -----------------------------------

@pytest.mark.parametrize("file, args", [("sim.launch.py", ["rviz:=true", "preset:=tiny"]),
                                        ("real_robot.launch.py", ["rviz:=true", "cameras:=external"]),
                                        ("monitor.launch.py", [])], ids=["sim", "real_robot", "monitor"])
def test_rviz_without_rviz2_is_refused_before_anything_starts(launch, file, args):
    if _installed("rviz2"):
        pytest.skip("rviz2 is installed here")
    _refused_before_start(launch(file, *args), "rviz2 is not installed")


def test_record_teleop_ros2bag_without_rosbag2_is_refused(launch):
    if _installed("rosbag2"):
        pytest.skip("rosbag2 is installed here")
    _refused_before_start(launch("record_teleop.launch.py", "recorder:=ros2bag", "cameras:=external"),
                          "rosbag2 is not installed")


def test_an_unknown_preset_is_refused_by_the_launch(launch):
    run = launch("sim.launch.py", "preset:=huge")
    assert run.wait(timeout=60) != 0
    assert "huge" in run.output and "Valid options are" in run.output, run.output[-3000:]
    assert "process started" not in run.output
    _exited_clean(run)


# -- fallbacks that work ----------------------------------------------------------------------------------------

def test_monitor_without_rviz_relays_the_robot_state(launch):
    from sensor_msgs.msg import JointState

    from video2act.config import load_config

    feedback = load_config("robot.yaml")["topics"]["feedback"]["left"]
    probe = Probe({"/joint_states": JointState})
    try:
        pub = probe.node.create_publisher(JointState, feedback, 10)
        run = launch("monitor.launch.py", "rviz:=false")
        msg = JointState(name=[f"joint{j}" for j in range(7)], position=[0.0] * 6 + [0.03])

        def relayed():
            pub.publish(msg)
            return probe.counts["/joint_states"] > 0 or run.proc.poll() is not None

        wait_for(relayed, "monitor_node to relay /puppet/joint_left to /joint_states", timeout=90)
        assert run.proc.poll() is None, run.output[-3000:]
    finally:
        probe.close()
    assert "/tf:" in run.output or "no /tf" in run.output  # the TF source chosen is said
    assert run.interrupt() == 0, run.output[-3000:]
    _exited_clean(run)


def test_sigterm_to_ros2_launch_leaves_no_node_running(launch):
    """Upstream launch orphans its processes on SIGTERM (launch_service.py `_on_sigterm`); the nodes see their
    launcher gone and stop (ros/node_main.stop_with_parent, VIDEO2ACT_STOP_WITH_PARENT from the launch files)."""
    run = launch("monitor.launch.py", "rviz:=false")
    wait_for(lambda: "monitor_node" in run.output and "/tf" in run.output or run.proc.poll() is not None,
             "monitor.launch.py to start monitor_node", timeout=90)
    assert run.proc.poll() is None, run.output[-3000:]
    run.proc.send_signal(signal.SIGTERM)
    run.wait(40)  # launch exits without stopping its nodes
    deadline = time.monotonic() + 30  # a bounded wait for the nodes to notice, not a timing assertion
    while _marked_pids(run.token) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = run.leftovers()
    assert not left, "processes left running after SIGTERM to ros2 launch:\n" + "\n".join(left) + run.output[-3000:]


def test_record_teleop_records_through_the_available_recorder(launch, workspace):
    from video2act.data.bags import bags_to_dataset
    from video2act.data.format import Dataset

    bag = workspace[0] / f"bag_{uuid.uuid4().hex[:6]}"
    run = launch("record_teleop.launch.py", "cameras:=external", f"bag:={bag}", "instruction:=hand over the block")
    source = Publishers()
    try:
        wait_for(lambda: all(p.get_subscription_count() > 0 for p in source.all) or run.proc.poll() is not None,
                 "the recorder to subscribe to the seven streams", timeout=90)
        assert run.proc.poll() is None, run.output[-3000:]
        for k in range(N):
            source.publish(k)
            time.sleep(1 / HZ)
        source.wait_acked()
    finally:
        source.close()
    assert run.interrupt() == 0, run.output[-3000:]
    if not _installed("rosbag2"):
        assert "recording with `video2act record`" in run.output
    _exited_clean(run)
    meta = bags_to_dataset([bag], workspace[0] / f"ds_{bag.name}", instruction="hand over the block",
                           image_size=(24, 32), progress=False)
    episode = Dataset(workspace[0] / f"ds_{bag.name}").load_all()[0]
    assert len(meta["episodes"]) == 1 and len(episode) >= N - 2
    assert episode.instruction == "hand over the block"


# -- the Piper drivers --------------------------------------------------------------------------------------------

def test_real_robot_with_piper_sdk_drivers_enables_streams_and_a_killed_driver_ends_it(launch):
    """drivers:=piper_sdk on the virtual bus (a simulated arm per driver): both drivers enable their arm, the
    streamer streams to them (/master/joint_*) and their feedback comes back (/puppet/joint_*); a driver killed
    mid-run ends the launch with rc 1, naming it."""
    from sensor_msgs.msg import JointState

    from video2act.config import load_config

    topics = load_config("robot.yaml")["topics"]
    probe = Probe({topics["command"]["left"]: JointState, topics["command"]["right"]: JointState,
                   topics["feedback"]["left"]: JointState, topics["feedback"]["right"]: JointState})
    try:
        run = launch("real_robot.launch.py", "preset:=tiny", "cameras:=external", "drivers:=piper_sdk",
                     "can_interface:=virtual", "can_left:=vcan_left", "can_right:=vcan_right")
        wait_for(lambda: all(n >= 30 for n in probe.counts.values()) or run.proc.poll() is not None,
                 "commands to and feedback from both drivers", timeout=240)
        # what ended the launch early comes first in the output (the shutdown's tracebacks follow it)
        first = [ln for ln in run.output.splitlines() if "[ERROR]" in ln or "[WARN]" in ln or "finished" in ln][:12]
        assert run.proc.poll() is None, "\n".join(first) + "\n...\n" + run.output[-3000:]
    finally:
        probe.close()
    for arm in ("left", "right"):
        assert f"arm {arm} on vcan_{arm} enabled" in run.output, run.output[-4000:]
    assert "streaming to cobot_magic" in run.output
    (driver,) = [pid for pid in _marked_pids(run.token)
                 if b"piper_sdk_driver" in Path(f"/proc/{pid}/cmdline").read_bytes()
                 and b"__ns:=/right" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    os.kill(driver, signal.SIGKILL)
    assert run.wait(timeout=120) == 1, run.output[-4000:]
    assert "critical node piper_sdk_driver_right exited with signal SIGKILL" in run.output, run.output[-4000:]
    _exited_clean(run)


def test_real_robot_with_piper_ros_drivers_needs_piper_ros(launch):
    if _installed("piper_ros"):
        pytest.skip("piper_ros is installed here")
    _refused_before_start(launch("real_robot.launch.py", "drivers:=piper_ros", "cameras:=external"),
                          "piper_ros is not installed")
