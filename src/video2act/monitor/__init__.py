"""The web monitor (`video2act monitor`): what RViz shows, in rerun's web viewer, where RViz is not installed.

core (ROS-free logging to a rerun recording, serves the page), messages (ROS messages by topic -> core; rclpy and
rosbags messages alike), replay (rosbag2 recordings and dataset episodes), browser (headless Chromium
screenshots), cli. The rclpy adapter is ros/web_monitor_node.py.
"""
