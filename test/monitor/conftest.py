"""DDS isolation for the monitor's in-process ROS tests: a random ROS_DOMAIN_ID in 100..199 (unless the
environment sets one) and discovery on this host only, set before any rclpy context exists."""
import os
import random

if not os.environ.get("ROS_DOMAIN_ID"):
    os.environ["ROS_DOMAIN_ID"] = str(random.randint(100, 199))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
