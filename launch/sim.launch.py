"""The same policy graph as real_robot.launch.py against the simulator bridge, on simulated time.

    ros2 launch video2act sim.launch.py task:=handover_block instruction:="hand over the block"
    ros2 launch video2act sim.launch.py preset:=tiny rviz:=true

sim_bridge_node (MuJoCo twin by default) publishes /clock, the three cameras and the arm feedback
on the robot.yaml topics and follows /master/joint_left|right, so System 2, System 1 and the
streamer run unchanged with use_sim_time:=true. No camera_node: the simulator renders the cameras.
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from video2act.config import config_path, load_config
from video2act.ros.process_group import dds_environment


def generate_launch_description():
    arg = LaunchConfiguration
    sim_time = {"use_sim_time": True}
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
        DeclareLaunchArgument("task", default_value="handover_block", description="simulated task (config/sim.yaml tasks)"),
        DeclareLaunchArgument("rviz", default_value="false", description="also start RViz monitoring (monitor.launch.py)"),
        DeclareLaunchArgument("system2_params", default_value=str(config_path("system2.yaml"))),
        DeclareLaunchArgument("system1_params", default_value=str(config_path("system1.yaml"))),
        DeclareLaunchArgument("streamer_params", default_value=str(config_path("streamer.yaml"))),
        Node(package="video2act", executable="sim_bridge_node", name="sim_bridge_node", output="screen",
             parameters=[{"task": ParameterValue(arg("task"), value_type=str)}]),
        Node(package="video2act", executable="system2_node", name="system2_node", output="screen",
             parameters=[arg("system2_params"), policy, sim_time]),
        Node(package="video2act", executable="system1_node", name="system1_node", output="screen",
             parameters=[arg("system1_params"), policy, sim_time]),
        Node(package="video2act", executable="trajectory_streamer", name="trajectory_streamer", output="screen",
             parameters=[arg("streamer_params"), {"sink": "cobot_magic"}, sim_time]),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(os.path.dirname(__file__), "monitor.launch.py")),
            launch_arguments={"use_sim_time": "true"}.items(),
            condition=IfCondition(arg("rviz")),
        ),
    ])
