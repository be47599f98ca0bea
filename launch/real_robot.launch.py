"""The real Cobot Magic: cameras, System 2, System 1 and the trajectory streamer (optionally RViz).

    ros2 launch video2act real_robot.launch.py checkpoint:=/path/to/ckpt instruction:="hand over the block"
    ros2 launch video2act real_robot.launch.py cameras:=external rviz:=true   # camera drivers started elsewhere

Parameters come from config/{camera,system2,system1,streamer}.yaml (override each with
*_params:=FILE); topics, rates and limits from config/robot.yaml. The Piper drivers (Cobot Magic
`/master/joint_*` followers) are started separately, as on the robot's own stack.

Fail-safe: every node is critical: a camera that cannot be opened, a policy node that fails to load or a
streamer that dies ends the whole launch (exit status 1, naming the node), so no command streamer keeps
running without its policy. rviz:=true without rviz2 installed refuses before anything starts.
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import EqualsSubstitution, LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from video2act.config import config_path, load_config
from video2act.ros.launch_guard import critical, dds_profile, preset_choices, require_if

SINKS = ["cobot_magic", "ros2_control", "piper_ros"]  # trajectory_streamer `sink`


def generate_launch_description():
    arg = LaunchConfiguration
    policy = {
        "checkpoint": ParameterValue(arg("checkpoint"), value_type=str),
        "preset": ParameterValue(arg("preset"), value_type=str),
        "instruction": ParameterValue(arg("instruction"), value_type=str),
    }
    camera = Node(package="video2act", executable="camera_node", name="camera_node", output="screen",
                  parameters=[arg("camera_params")], condition=IfCondition(EqualsSubstitution(arg("cameras"), "internal")))
    system2 = Node(package="video2act", executable="system2_node", name="system2_node", output="screen",
                   parameters=[arg("system2_params"), policy])
    system1 = Node(package="video2act", executable="system1_node", name="system1_node", output="screen",
                   parameters=[arg("system1_params"), policy])
    streamer = Node(package="video2act", executable="trajectory_streamer", name="trajectory_streamer", output="screen",
                    parameters=[arg("streamer_params"), {"sink": ParameterValue(arg("sink"), value_type=str)}])
    return LaunchDescription([
        *dds_profile(),
        DeclareLaunchArgument("checkpoint", default_value="", description="policy checkpoint folder (empty: preset with random weights)"),
        DeclareLaunchArgument("preset", default_value="small", choices=preset_choices(),
                              description="model preset without a checkpoint (config/presets)"),
        DeclareLaunchArgument("instruction", default_value=load_config("system1.yaml")["system1_node"]["ros__parameters"]["instruction"],
                              description="language instruction for the episode"),
        DeclareLaunchArgument("cameras", default_value="internal", choices=["internal", "external"],
                              description="internal: start camera_node; external: camera drivers publish the robot.yaml topics"),
        DeclareLaunchArgument("sink", default_value="cobot_magic", choices=SINKS,
                              description="command sink: Cobot Magic /master/joint_* followers, a ros2_control "
                                          "JointTrajectoryController, or piper_ros joint_ctrl_single"),
        DeclareLaunchArgument("rviz", default_value="false", choices=["true", "false"],
                              description="also start RViz monitoring (monitor.launch.py); refused when rviz2 is not installed"),
        DeclareLaunchArgument("camera_params", default_value=str(config_path("camera.yaml")),
                              description="ROS params file of camera_node (devices, backends, encoding)"),
        DeclareLaunchArgument("system2_params", default_value=str(config_path("system2.yaml")),
                              description="ROS params file of system2_node (threads, backlog, heat-maps)"),
        DeclareLaunchArgument("system1_params", default_value=str(config_path("system1.yaml")),
                              description="ROS params file of system1_node (camera sync, staleness limits, seed)"),
        DeclareLaunchArgument("streamer_params", default_value=str(config_path("streamer.yaml")),
                              description="ROS params file of trajectory_streamer (blending, sink topics)"),
        require_if("rviz", "rviz2"),
        camera, system2, system1, streamer,
        *critical(camera, system2, system1, streamer),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(os.path.dirname(__file__), "monitor.launch.py")),
            launch_arguments={"rviz": "true"}.items(),
            condition=IfCondition(arg("rviz")),
        ),
    ])
