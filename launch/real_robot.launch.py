"""The real Cobot Magic: cameras, System 2, System 1 and the trajectory streamer (optionally RViz).

    ros2 launch video2act real_robot.launch.py checkpoint:=/path/to/ckpt instruction:="hand over the block"
    ros2 launch video2act real_robot.launch.py cameras:=external rviz:=true   # camera drivers started elsewhere

Parameters come from config/{camera,system2,system1,streamer}.yaml (override each with
*_params:=FILE); topics, rates and limits from config/robot.yaml. The Piper drivers (Cobot Magic
`/master/joint_*` followers) are started separately, as on the robot's own stack.
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, SetEnvironmentVariable
from launch.conditions import IfCondition, LaunchConfigurationEquals
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from video2act.config import config_path, load_config
from video2act.ros.process_group import dds_environment


def generate_launch_description():
    arg = LaunchConfiguration
    policy = {
        "checkpoint": ParameterValue(arg("checkpoint"), value_type=str),
        "preset": ParameterValue(arg("preset"), value_type=str),
        "instruction": ParameterValue(arg("instruction"), value_type=str),
    }
    # Large shared-memory segments so 640x480 images cross processes intact (config/fastdds_shm.xml).
    profile = dds_environment(dict(os.environ)).get("FASTRTPS_DEFAULT_PROFILES_FILE")
    dds = [SetEnvironmentVariable("FASTRTPS_DEFAULT_PROFILES_FILE", profile)] if profile else []
    return LaunchDescription([
        *dds,
        DeclareLaunchArgument("checkpoint", default_value="", description="policy checkpoint folder (empty: preset with random weights)"),
        DeclareLaunchArgument("preset", default_value="small", description="model preset without a checkpoint: tiny | small | paper"),
        DeclareLaunchArgument("instruction", default_value=load_config("system1.yaml")["system1_node"]["ros__parameters"]["instruction"], description="language instruction for the episode"),
        DeclareLaunchArgument("cameras", default_value="internal", choices=["internal", "external"],
                              description="internal: start camera_node; external: camera drivers publish the robot.yaml topics"),
        DeclareLaunchArgument("sink", default_value="cobot_magic", description="command sink: cobot_magic | ros2_control | piper_ros"),
        DeclareLaunchArgument("rviz", default_value="false", description="also start RViz monitoring (monitor.launch.py)"),
        DeclareLaunchArgument("camera_params", default_value=str(config_path("camera.yaml"))),
        DeclareLaunchArgument("system2_params", default_value=str(config_path("system2.yaml"))),
        DeclareLaunchArgument("system1_params", default_value=str(config_path("system1.yaml"))),
        DeclareLaunchArgument("streamer_params", default_value=str(config_path("streamer.yaml"))),
        Node(package="video2act", executable="camera_node", name="camera_node", output="screen",
             parameters=[arg("camera_params")], condition=LaunchConfigurationEquals("cameras", "internal")),
        Node(package="video2act", executable="system2_node", name="system2_node", output="screen",
             parameters=[arg("system2_params"), policy]),
        Node(package="video2act", executable="system1_node", name="system1_node", output="screen",
             parameters=[arg("system1_params"), policy]),
        Node(package="video2act", executable="trajectory_streamer", name="trajectory_streamer", output="screen",
             parameters=[arg("streamer_params"), {"sink": ParameterValue(arg("sink"), value_type=str)}]),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(os.path.dirname(__file__), "monitor.launch.py")),
            condition=IfCondition(arg("rviz")),
        ),
    ])
