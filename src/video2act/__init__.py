"""Video2Act: a dual-system vision-language-action policy and its ROS 2 control stack for the dual-arm AgileX Piper."""

__version__ = "0.1.0"
