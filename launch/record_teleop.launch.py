"""Teleoperation recording: the cameras plus `ros2 bag record -s mcap` of config/bag_topics.yaml.

    ros2 launch video2act record_teleop.launch.py bag:=episodes/ep_000
    ros2 launch video2act record_teleop.launch.py cameras:=external   # camera drivers started elsewhere
    video2act dataset from-bags episodes/ ...                          # then: bags -> training set

On Cobot Magic the operator moves the master arms; their drivers publish /master/joint_left|right
(the actions) and the puppet arms' /puppet/joint_left|right (the state). Topic names are resolved
from config/robot.yaml, so the bag holds exactly what the nodes and the dataset converter use.
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, SetEnvironmentVariable
from launch.conditions import LaunchConfigurationEquals
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from video2act.config import config_path, recorded_topics
from video2act.ros.process_group import dds_environment


def generate_launch_description():
    arg = LaunchConfiguration
    # Large shared-memory segments so 640x480 images cross processes intact (config/fastdds_shm.xml).
    profile = dds_environment(dict(os.environ)).get("FASTRTPS_DEFAULT_PROFILES_FILE")
    dds = [SetEnvironmentVariable("FASTRTPS_DEFAULT_PROFILES_FILE", profile)] if profile else []
    return LaunchDescription([
        *dds,
        DeclareLaunchArgument("bag", default_value="teleop_bag", description="output bag directory (must not exist)"),
        DeclareLaunchArgument("cameras", default_value="internal", choices=["internal", "external"],
                              description="internal: start camera_node; external: camera drivers publish the robot.yaml topics"),
        DeclareLaunchArgument("camera_params", default_value=str(config_path("camera.yaml"))),
        Node(package="video2act", executable="camera_node", name="camera_node", output="screen",
             parameters=[arg("camera_params")], condition=LaunchConfigurationEquals("cameras", "internal")),
        ExecuteProcess(cmd=["ros2", "bag", "record", "-s", "mcap", "-o", arg("bag"), *recorded_topics()], output="screen"),
    ])
