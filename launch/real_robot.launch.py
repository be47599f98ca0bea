"""The real Cobot Magic: cameras, System 2, System 1 and the trajectory streamer (optionally RViz).

    ros2 launch video2act real_robot.launch.py checkpoint:=/path/to/ckpt instruction:="hand over the block"
    ros2 launch video2act real_robot.launch.py cameras:=external rviz:=true   # camera drivers started elsewhere

    ros2 launch video2act real_robot.launch.py drivers:=piper_sdk can_left:=can_left can_right:=can_right
    ros2 launch video2act real_robot.launch.py drivers:=piper_ros          # AgileX's piper_ros humble node per arm
    ros2 launch video2act real_robot.launch.py drivers:=piper_sdk can_interface:=virtual cameras:=external  # dry run

Parameters come from config/{camera,system2,system1,streamer,piper_sdk_driver}.yaml (override each with
*_params:=FILE); topics, rates and limits from config/robot.yaml. drivers:= picks the arm drivers, one node per
arm in /left and /right with can_port from can_left / can_right:
  piper_sdk  video2act's piper_sdk_driver (streamer sink cobot_magic: /master/joint_* -> driver -> /puppet/joint_*)
  piper_ros  piper_ros's piper_single_ctrl (gripper_val_mutiple 1, auto_enable false: the streamer enables the
             arms through enable_srv; streamer sink piper_ros)
  none       started elsewhere (the streamer's sink:= as given)

Fail-safe: every node is critical (a driver that exits, e.g. an arm that does not enable, ends it too): a camera that cannot be opened, a policy node that fails to load or a
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
from video2act.node_params import declaration, defaults
from video2act.launch.guard import critical, node_environment, preset_choices, require_if, sink_for_drivers

SINK = declaration("trajectory_streamer")["sink"]  # config/params/trajectory_streamer.yaml
DRIVERS = ["piper_sdk", "piper_ros", "none"]
ARMS = load_config("robot.yaml")["robot"]["arms"]


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
                    parameters=[arg("streamer_params"), {"sink": ParameterValue(sink_for_drivers(), value_type=str)}])
    is_driver = lambda name: IfCondition(EqualsSubstitution(arg("drivers"), name))  # noqa: E731
    can = {"left": arg("can_left"), "right": arg("can_right")}  # one CAN port per arm
    sdk_drivers = [Node(package="video2act", executable="piper_sdk_driver", name="piper_sdk_driver", namespace=a,
                        exec_name=f"piper_sdk_driver_{a}", output="screen", condition=is_driver("piper_sdk"),
                        parameters=[arg("driver_params"), {"arm": a, "can_port": ParameterValue(can[a], value_type=str),
                                                           "can_interface": ParameterValue(arg("can_interface"), value_type=str)}])
                   for a in ARMS]
    ros_drivers = [Node(package="piper", executable="piper_single_ctrl", name="piper_ctrl_single_node", namespace=a,
                        exec_name=f"piper_ros_{a}", output="screen", condition=is_driver("piper_ros"),
                        parameters=[{"can_port": ParameterValue(can[a], value_type=str), "auto_enable": False,
                                     "gripper_exist": True, "gripper_val_mutiple": 1}])
                   for a in ARMS]
    return LaunchDescription([
        *node_environment(),
        DeclareLaunchArgument("checkpoint", default_value="", description="policy checkpoint folder (empty: preset with random weights)"),
        DeclareLaunchArgument("preset", default_value="small", choices=preset_choices(),
                              description="model preset without a checkpoint (config/presets)"),
        DeclareLaunchArgument("instruction", default_value=defaults("system1_node")["instruction"],
                              description="language instruction for the episode"),
        DeclareLaunchArgument("cameras", default_value="internal", choices=["internal", "external"],
                              description="internal: start camera_node; external: camera drivers publish the robot.yaml topics"),
        DeclareLaunchArgument("sink", default_value=SINK.default, choices=list(SINK.validation["one_of"]),
                              description="command sink with drivers:=none: Cobot Magic /master/joint_* followers, "
                                          "piper_ros's ros2_control controllers, or piper_ros joint_ctrl_single"),
        DeclareLaunchArgument("drivers", default_value="none", choices=DRIVERS,
                              description="arm drivers to start, one per arm: piper_sdk (video2act), piper_ros (AgileX), none"),
        DeclareLaunchArgument("can_left", default_value="can_left", description="CAN port of the left arm"),
        DeclareLaunchArgument("can_right", default_value="can_right", description="CAN port of the right arm"),
        DeclareLaunchArgument("can_interface", default_value="socketcan", choices=["socketcan", "virtual"],
                              description="drivers:=piper_sdk: python-can interface (virtual: simulated arms, no hardware)"),
        DeclareLaunchArgument("driver_params", default_value=str(config_path("piper_sdk_driver.yaml")),
                              description="ROS params file of piper_sdk_driver"),
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
        require_if("drivers", "piper_ros", equals="piper_ros"),
        camera, system2, system1, streamer, *sdk_drivers, *ros_drivers,
        *critical(camera, system2, system1, streamer, *sdk_drivers, *ros_drivers),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(os.path.dirname(__file__), "monitor.launch.py")),
            launch_arguments={"rviz": "true"}.items(),
            condition=IfCondition(arg("rviz")),
        ),
    ])
