"""Real-time runtime, pure Python + numpy (no ROS): robot description, feature cache, chunk
executor, safety filter and the streamer core the ROS nodes wrap."""
from video2act.runtime.chunk_executor import BLEND_MODES, ChunkError, ChunkExecutor
from video2act.runtime.feature_cache import FeatureCache
from video2act.runtime.rate_stats import RateStats
from video2act.runtime.robot import RobotConfigError, RobotDescription
from video2act.runtime.safety import SafetyFilter
from video2act.runtime.streamer import FeedbackError, StreamerCore

__all__ = ["BLEND_MODES", "ChunkError", "ChunkExecutor", "FeatureCache", "RateStats", "RobotConfigError",
           "RobotDescription", "SafetyFilter", "FeedbackError", "StreamerCore"]
