"""The same policy graph as real_robot.launch.py against the simulator bridge, on simulated time.

    ros2 launch video2act sim.launch.py task:=handover_block instruction:="hand over the block"
    ros2 launch video2act sim.launch.py preset:=tiny rviz:=true
    ros2 launch video2act sim.launch.py scene:=randomized
    ros2 launch video2act sim.launch.py backend:=robotwin task:=handover_block   # scripts/robotwin_setup.sh

sim_bridge_node (MuJoCo twin by default, config/sim_bridge.yaml) publishes /clock, the three cameras and
the arm feedback on the robot.yaml topics and follows /master/joint_left|right, so System 2, System 1 and
the streamer run unchanged with use_sim_time:=true. No camera_node: the simulator renders the cameras.
backend:=robotwin runs RoboTwin 2.0 behind the same topics: the bridge under `bridge_python` (an interpreter
with SAPIEN, $ROBOTWIN_PYTHON by default), the tree from $ROBOTWIN_ROOT, and the bridge and both policy nodes
given one instruction (RoboTwin's own for the task and seed unless instruction:= is set).

Fail-safe: every node is critical (one that exits ends the launch, exit status 1, naming it); rviz:=true
without rviz2 installed refuses before anything starts.
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from video2act.config import config_path
from video2act.node_params import defaults
from video2act.launch.guard import critical, node_environment, preset_choices, require_if, sim_instruction, task_choices
from video2act.sim.scene import SCENES


def generate_launch_description():
    arg = LaunchConfiguration
    sim_time = {"use_sim_time": True}
    instruction = ParameterValue(sim_instruction(), value_type=str)
    policy = {
        "checkpoint": ParameterValue(arg("checkpoint"), value_type=str),
        "preset": ParameterValue(arg("preset"), value_type=str),
        "instruction": instruction,
    }
    bridge_defaults = defaults("sim_bridge_node")  # config/params/sim_bridge_node.yaml
    bridge = Node(package="video2act", executable="sim_bridge_node", name="sim_bridge_node", output="screen",
                  prefix=arg("bridge_python"),
                  parameters=[arg("sim_bridge_params"), {"task": ParameterValue(arg("task"), value_type=str),
                                                           "scene": ParameterValue(arg("scene"), value_type=str),
                                                           "backend": ParameterValue(arg("backend"), value_type=str),
                                                           "instruction": instruction}])
    system2 = Node(package="video2act", executable="system2_node", name="system2_node", output="screen",
                   parameters=[arg("system2_params"), policy, sim_time])
    system1 = Node(package="video2act", executable="system1_node", name="system1_node", output="screen",
                   parameters=[arg("system1_params"), policy, sim_time])
    streamer = Node(package="video2act", executable="trajectory_streamer", name="trajectory_streamer", output="screen",
                    parameters=[arg("streamer_params"), {"sink": "cobot_magic"}, sim_time])
    return LaunchDescription([
        *node_environment(),
        DeclareLaunchArgument("checkpoint", default_value="", description="policy checkpoint folder (empty: preset with random weights)"),
        DeclareLaunchArgument("preset", default_value="small", choices=preset_choices(),
                              description="model preset without a checkpoint (config/presets)"),
        DeclareLaunchArgument("instruction", default_value="",
                              description="language instruction for the episode (empty: the task's own, as `video2act sim tasks` prints it)"),
        DeclareLaunchArgument("task", default_value=bridge_defaults["task"], choices=task_choices(),
                              description="simulated task (config/sim.yaml tasks; default: sim_bridge_node's)"),
        DeclareLaunchArgument("scene", default_value=bridge_defaults["scene"], choices=list(SCENES),
                              description="twin scenes: clean or randomized per seed (config/sim.yaml scene_randomization; "
                                          "default: sim_bridge_node's)"),
        DeclareLaunchArgument("backend", default_value=bridge_defaults["backend"], choices=["mujoco", "robotwin"],
                              description="simulator: mujoco (the built-in twin) or robotwin (RoboTwin 2.0 at $ROBOTWIN_ROOT, "
                                          "scripts/robotwin_setup.sh; default: sim_bridge_node's)"),
        DeclareLaunchArgument("bridge_python", default_value=EnvironmentVariable("ROBOTWIN_PYTHON", default_value=""),
                              description="interpreter the bridge runs under (empty: the package's own); backend robotwin "
                                          "needs one with SAPIEN 3 (default $ROBOTWIN_PYTHON, scripts/robotwin_setup.sh)"),
        DeclareLaunchArgument("rviz", default_value="false", choices=["true", "false"],
                              description="also start RViz monitoring (monitor.launch.py); refused when rviz2 is not installed"),
        DeclareLaunchArgument("sim_bridge_params", default_value=str(config_path("sim_bridge.yaml")),
                              description="ROS params file of sim_bridge_node (backend, mode, seed, image size)"),
        DeclareLaunchArgument("system2_params", default_value=str(config_path("system2.yaml")),
                              description="ROS params file of system2_node (threads, backlog, heat-maps)"),
        DeclareLaunchArgument("system1_params", default_value=str(config_path("system1.yaml")),
                              description="ROS params file of system1_node (camera sync, staleness limits, seed)"),
        DeclareLaunchArgument("streamer_params", default_value=str(config_path("streamer.yaml")),
                              description="ROS params file of trajectory_streamer (blending, sink topics)"),
        require_if("rviz", "rviz2"),
        bridge, system2, system1, streamer,
        *critical(bridge, system2, system1, streamer),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(os.path.dirname(__file__), "monitor.launch.py")),
            launch_arguments={"use_sim_time": "true", "rviz": "true"}.items(),
            condition=IfCondition(arg("rviz")),
        ),
    ])
