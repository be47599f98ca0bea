"""The graph's QoS profiles, declared once (every node and probe uses these).

- CONTROL: chunks, features, commands, episodes: reliable, a short queue (a late message is still worth
  having; a long queue would only deliver stale plans).
- SENSOR: camera images and arm feedback: ROS 2's sensor-data profile (best effort, keep last 5), as the
  RealSense / Orbbec / Piper drivers publish them.
- LATCHED: state that late joiners must see (robot description, e-stop state): reliable + transient local.
"""
from __future__ import annotations


def _profiles():
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

    control = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    return control, qos_profile_sensor_data, latched


def control():
    return _profiles()[0]


def sensor():
    return _profiles()[1]


def latched():
    return _profiles()[2]
