"""What the launch files share so that they fail safe (imported by launch/*.launch.py only: needs `launch`).

    critical(*actions)       a node (or process) of the list that exits while the launch runs ends the whole
                             launch: the others get SIGINT (then SIGTERM, SIGKILL), `ros2 launch` exits 1 with
                             "critical node <name> exited with code <n> | signal <SIG> while the launch was
                             running: <its last error line> -- stopping every node of this launch"
    require_if(arg, tool)    an optional tool (rviz2, robot_state_publisher, rosbag2) checked before any
                             process starts when the launch argument `arg` asks for it; missing: the launch
                             refuses with what to install, before anything runs (never half a graph)
    installed(tool)          whether a tool is installed (ament index + executable), for fallbacks chosen
                             when the description is generated (robot_state_publisher -> monitor_node's TF,
                             rosbag2 -> `video2act record`)
    preset_choices(), task_choices(), node_environment()

`launch` turns an exception raised while it runs into a shutdown of every process and return code 1: both
guards raise LaunchRefused, placed so that nothing has started yet (require_if is listed before the nodes)
or so that the launch is still running (critical ignores exits during a shutdown, e.g. after Ctrl-C).
"""
from __future__ import annotations

import os
import shutil
from collections import deque
from pathlib import Path

from video2act.config import config_dir, load_config

# tool -> (ament package, executable in lib/<package>/ or None, what to do when it is missing)
TOOLS = {
    "rviz2": ("rviz2", "rviz2", "install it (apt install ros-jazzy-rviz2, with a ROS 2 install) or leave rviz:=false"),
    "robot_state_publisher": ("robot_state_publisher", "robot_state_publisher",
                              "apt install ros-jazzy-robot-state-publisher"),
    "rosbag2": ("ros2bag", None, "apt install ros-jazzy-rosbag2 ros-jazzy-rosbag2-storage-mcap, "
                                 "or record with recorder:=video2act (no rosbag2 needed)"),
    "rosbag2_storage_mcap": ("rosbag2_storage_mcap", None, "apt install ros-jazzy-rosbag2-storage-mcap"),
    "piper_ros": ("piper", "piper_single_ctrl", "build agilexrobotics/piper_ros (humble) in a colcon workspace and "
                  "source it, or use drivers:=piper_sdk (pip install 'video2act[piper]')"),
}


class LaunchRefused(RuntimeError):
    """Raised inside a running launch: launch shuts every process down and `ros2 launch` exits 1."""


def installed(tool: str) -> bool:
    """True when `tool` (a TOOLS key) is in the ament index (and its executable exists); rosbag2 also needs
    the `ros2` command and the mcap storage plugin."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    package, executable, _ = TOOLS[tool]
    try:
        prefix = Path(get_package_prefix(package))
    except (PackageNotFoundError, ValueError, KeyError, OSError):  # OSError: AMENT_PREFIX_PATH unset
        return False
    if executable is not None and not os.access(prefix / "lib" / package / executable, os.X_OK):
        return False
    if tool == "rosbag2":
        return shutil.which("ros2") is not None and installed("rosbag2_storage_mcap")
    return True


def missing_message(tool: str, why: str) -> str:
    return f"{tool} is not installed ({why}); {TOOLS[tool][2]}. Nothing was started."


def _is_true(value: str) -> bool:
    return value.strip().lower() in ("true", "1", "yes", "on")


def require_if(argument: str, tool: str, why: str | None = None, equals: str | None = None):
    """An action, listed before the nodes: when launch argument `argument` is true (or equals `equals`) and
    `tool` is not installed, the launch refuses (exit 1) before any process starts."""
    from launch.actions import OpaqueFunction

    def check(context):
        value = context.launch_configurations.get(argument, "")
        wanted = value == equals if equals is not None else _is_true(value)
        if wanted and not installed(tool):
            raise LaunchRefused(missing_message(tool, why or f"{argument}:={value}"))
        return []

    return OpaqueFunction(function=check)


def _process_name(event) -> str:
    """`camera_node` of launch's process name `camera_node-1`."""
    base, _, number = event.process_name.rpartition("-")
    return base if base and number.isdigit() else event.process_name


def critical(*actions, keep_lines: int = 20) -> list:
    """Event handlers (to list after `actions`) that end the launch when one of `actions` exits on its own.

    The message names the node, its exit code (or signal) and its last error-looking output line; an exit
    while the launch is already shutting down (Ctrl-C, another node's failure) is not reported again.
    """
    import signal

    from launch.actions import RegisterEventHandler
    from launch.event_handlers import OnProcessExit, OnProcessIO

    handlers = []
    for action in actions:
        tail: deque[str] = deque(maxlen=keep_lines)

        def on_output(event, tail=tail):
            tail.extend(line for line in event.text.decode(errors="replace").splitlines() if line.strip())

        def on_exit(event, context, tail=tail):
            if context.is_shutdown:
                return None
            code = event.returncode
            how = f"signal {signal.Signals(-code).name}" if code < 0 and -code in signal.valid_signals() else f"code {code}"
            errors = [ln for ln in tail if any(k in ln.lower() for k in ("error", "exception", "refus", "fatal", "cannot"))]
            last = (errors or list(tail) or ["(no output)"])[-1].strip()
            name = _process_name(event)
            message = (f"critical node {name} exited with {how} while the launch was running: {last} "
                       f"-- stopping every node of this launch")
            raise LaunchRefused(message)

        handlers.append(RegisterEventHandler(OnProcessIO(target_action=action, on_stdout=on_output, on_stderr=on_output)))
        handlers.append(RegisterEventHandler(OnProcessExit(target_action=action, on_exit=on_exit)))
    return handlers


def preset_choices() -> list[str]:
    """Model presets: config/presets/<name>.yaml (the one source of truth for the names)."""
    return sorted(p.stem for p in (config_dir() / "presets").glob("*.yaml"))


def task_choices() -> list[str]:
    """Simulated tasks: the `tasks` of config/sim.yaml."""
    return sorted(load_config("sim.yaml")["tasks"])


def node_environment() -> list:
    """SetEnvironmentVariable actions for the launched nodes (process_group.node_environment): the Fast DDS
    profile (config/fastdds_shm.xml: large shared-memory segments so 640x480 images cross processes intact)
    unless one is already chosen, and VIDEO2ACT_STOP_WITH_PARENT (a SIGTERM to `ros2 launch` leaves no node
    running: each stops when it sees its launcher gone)."""
    from launch.actions import SetEnvironmentVariable

    from video2act.launch.process_group import node_environment as env_for_nodes

    env = env_for_nodes(dict(os.environ))
    names = [n for n in ("FASTRTPS_DEFAULT_PROFILES_FILE", "VIDEO2ACT_STOP_WITH_PARENT") if n in env]
    return [SetEnvironmentVariable(n, env[n]) for n in names]


def recorder_is(name: str, only_fallback: bool = False):
    """Condition on the launch argument `recorder` (auto | ros2bag | video2act): true when `name` records.
    auto picks ros2bag where rosbag2 is installed, else video2act; only_fallback: video2act chosen by auto."""
    from launch.condition import Condition

    def predicate(context) -> bool:
        value = context.launch_configurations.get("recorder", "auto")
        chosen = value if value != "auto" else ("ros2bag" if installed("rosbag2") else "video2act")
        return chosen == name and (not only_fallback or value == "auto")

    return Condition(predicate=predicate)


def sim_instruction(task: str = "task", instruction: str = "instruction", bridge_params: str = "sim_bridge_params"):
    """A substitution for the policy nodes' instruction in sim.launch.py: the launch argument `instruction`
    when set, else the simulated task's own instruction for the bridge's seed (what `video2act sim tasks`
    prints), so `task:=...` alone gives the policy the right instruction. With backend robotwin (the launch
    argument `backend`, else the params file's) it is RoboTwin's own instruction for the task and seed, drawn from
    the tree's description/ templates as the bridge draws it (video2act.sim.robotwin.episode_instruction; the
    tree: the params file's robotwin_root, else $ROBOTWIN_ROOT); without a tree the argument is required (a clear
    launch error, not the twin's wording for another simulator's scene)."""
    from launch.substitution import Substitution

    class TaskInstruction(Substitution):
        def describe(self) -> str:
            return f"TaskInstruction({task}, {instruction})"

        def perform(self, context) -> str:
            configs = context.launch_configurations
            text = configs.get(instruction, "").strip()
            if text:
                return text
            from launch.substitutions.substitution_failure import SubstitutionFailure

            from video2act.sim.env import CobotMagicEnv

            from video2act.node_params import defaults, params_file_values

            params = defaults("sim_bridge_node") | params_file_values(configs[bridge_params], "sim_bridge_node")
            backend = configs.get("backend") or params.get("backend", "mujoco")
            if backend == "robotwin":
                from video2act.sim.robotwin import RoboTwinConfig, RoboTwinUnavailable, episode_instruction

                try:
                    root = RoboTwinConfig(root=params.get("robotwin_root", "")).resolved_root()
                    return episode_instruction(root, configs[task], int(params.get("seed", 0)))
                except (RoboTwinUnavailable, ValueError) as e:
                    raise SubstitutionFailure(f"backend robotwin ({configs[bridge_params]}) words the task's "
                                              f"instruction itself: give it as {instruction}:='...' ({e})") from e
            if backend != "mujoco":
                raise SubstitutionFailure(f"backend {backend} ({configs[bridge_params]}) words the task's "
                                          f"instruction itself: give it as {instruction}:='...'")
            env = CobotMagicEnv(render=False)
            try:
                return env.reset(configs[task], int(params["seed"]))["instruction"]
            finally:
                env.close()

    return TaskInstruction()


def sink_for_drivers(drivers: str = "drivers", sink: str = "sink"):
    """The streamer's sink: piper_ros for drivers:=piper_ros, cobot_magic (the piper_sdk_driver's topics) for
    drivers:=piper_sdk, else the launch argument `sink`."""
    from launch.substitution import Substitution

    class SinkForDrivers(Substitution):
        def describe(self) -> str:
            return f"SinkForDrivers({drivers}, {sink})"

        def perform(self, context) -> str:
            configs = context.launch_configurations
            return {"piper_ros": "piper_ros", "piper_sdk": "cobot_magic"}.get(configs.get(drivers, "none"),
                                                                              configs.get(sink, "cobot_magic"))

    return SinkForDrivers()
