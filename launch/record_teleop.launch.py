"""Teleoperation recording: the cameras plus a recorder of config/bag_topics.yaml into one rosbag2 (mcap) folder.

    ros2 launch video2act record_teleop.launch.py bag:=episodes/ep_000 instruction:="hand over the block"
    ros2 launch video2act record_teleop.launch.py cameras:=external   # camera drivers started elsewhere
    video2act dataset from-bags episodes/ep_000 ...                    # then: bags -> training set

On Cobot Magic the operator moves the master arms; their drivers publish /master/joint_left|right
(the actions) and the puppet arms' /puppet/joint_left|right (the state). Topic names are resolved
from config/robot.yaml, so the bag holds exactly what the nodes and the dataset converter use.

recorder:=auto (default) records with `ros2 bag record -s mcap` where rosbag2 is installed and with
`video2act record` (rclpy + the rosbags library: the same mcap bag folder, plus the instruction and the
episode boundaries) where it is not; recorder:=ros2bag without rosbag2 refuses before anything starts.
camera_node and the recorder are critical: one that exits ends the launch (exit 1, naming it); Ctrl-C
closes the bag.
"""
import sys

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, LogInfo
from launch.conditions import IfCondition
from launch.substitutions import EqualsSubstitution, LaunchConfiguration
from launch_ros.actions import Node

from video2act.config import config_path, recorded_topics
from video2act.node_params import defaults
from video2act.launch.guard import critical, node_environment, recorder_is, require_if


def generate_launch_description():
    arg = LaunchConfiguration
    camera = Node(package="video2act", executable="camera_node", name="camera_node", output="screen",
                  parameters=[arg("camera_params")], condition=IfCondition(EqualsSubstitution(arg("cameras"), "internal")))
    ros2bag = ExecuteProcess(name="ros2_bag_record", output="screen", condition=recorder_is("ros2bag"),
                             cmd=["ros2", "bag", "record", "-s", "mcap", "-o", arg("bag"), *recorded_topics()])
    fallback = ExecuteProcess(name="video2act_record", output="screen", condition=recorder_is("video2act"),
                              cmd=[sys.executable, "-m", "video2act.cli", "record", "-o", arg("bag"),
                                   "--instruction", arg("instruction"), "--task", arg("task")])
    return LaunchDescription([
        *node_environment(),
        DeclareLaunchArgument("bag", default_value="teleop_bag", description="output bag directory (must not exist)"),
        DeclareLaunchArgument("cameras", default_value="internal", choices=["internal", "external"],
                              description="internal: start camera_node; external: camera drivers publish the robot.yaml topics"),
        DeclareLaunchArgument("recorder", default_value="auto", choices=["auto", "ros2bag", "video2act"],
                              description="auto: `ros2 bag record` where rosbag2 is installed, else `video2act record`; "
                                          "ros2bag: refuse when it is missing; video2act: always `video2act record`"),
        DeclareLaunchArgument("instruction", default_value=defaults("system1_node")["instruction"],
                              description="language instruction of the episode (stored in the bag by `video2act record`)"),
        DeclareLaunchArgument("task", default_value="", description="task name stored in the bag by `video2act record` (optional)"),
        DeclareLaunchArgument("camera_params", default_value=str(config_path("camera.yaml")),
                              description="ROS params file of camera_node (devices, backends, encoding)"),
        require_if("recorder", "rosbag2", equals="ros2bag"),
        LogInfo(msg="rosbag2 is not installed: recording with `video2act record` (same mcap bag folder)",
                condition=recorder_is("video2act", only_fallback=True)),
        camera, ros2bag, fallback,
        *critical(camera, ros2bag, fallback),
    ])
