"""System 2 node: video-diffusion features of the head camera, at its own (slow) pace.

    camera (30 Hz) ──callback──► pending frames (frame_hz spacing, at most max_backlog) ──worker thread──►
        System2Stream.push (encode once per frame) ─► compute(instruction) every 1/rate_hz ─►
        /video2act/features/spatial, /video2act/features/motion  (32FC1, rows = tokens,
                                                                  stamp = newest frame used)
        /video2act/viz/<name>_heatmap                             (rgb8, colour-mapped filtered maps)

Callbacks only convert and queue; the model runs in the policy nodes' worker thread
(ros/policy_worker.PolicyWorker), so a slow System 2 never blocks message handling (and System 1, a separate process, never waits for it). Only the camera
the policy's System 2 uses (`stream_camera`, the head camera) is subscribed: decoding the wrist
images here would cost CPU for nothing. `rate_hz` can be changed while running (set_parameters),
e.g. to slow System 2 to 1 Hz in tests.

    python -m video2act.ros.system2_node --ros-args --params-file config/system2.yaml -p preset:=tiny
"""
from __future__ import annotations

import time
from collections import deque

import numpy as np

from video2act.model.checkpoint import load_policy
from video2act.ros.conversions import ImageFormatError, float_image_msg, image_msg_to_rgb, rgb_to_image_msg, sec_to_stamp, stamp_to_sec
from video2act.ros.policy_worker import PolicyNode
from video2act.runtime.robot import CAMERAS

NODE_NAME = "system2_node"


def check_checkpoint(checkpoint: str, p, windows=None) -> None:
    """CheckpointMismatch (a ValueError: the node does not configure) when this node would run the checkpoint
    otherwise than it was trained (model/checkpoint.py): frames entering the windows at another rate (the long
    window would span another time than the model learned: 16 frames at 10 Hz = 1.6 s), other windows, another
    camera, an instruction it was not trained on."""
    from video2act.model.checkpoint import TrainedWith, check_compatible

    check_compatible(TrainedWith.read(checkpoint), f"{NODE_NAME}'s parameters",
                     {"system2_frame_hz": "-p frame_hz", "system2_camera": "-p stream_camera", "instruction": "-p instruction"},
                     system2_frame_hz=p.frame_hz, system2_camera=p.stream_camera, instruction=p.instruction, windows=windows)


def heatmap_rgb(heat: np.ndarray, width: int) -> np.ndarray:
    """(h, w) float in [0, 1] -> (H, width, 3) uint8 RGB, jet colour map, nearest-neighbour upscaled."""
    import cv2

    heat = np.nan_to_num(np.asarray(heat, dtype=np.float32), nan=0.0)
    grey = (np.clip(heat, 0.0, 1.0) * 255).astype(np.uint8)
    height = max(1, round(width * grey.shape[0] / grey.shape[1]))
    grey = cv2.resize(grey, (width, height), interpolation=cv2.INTER_NEAREST)
    return cv2.applyColorMap(grey, cv2.COLORMAP_JET)[:, :, ::-1]  # BGR -> RGB


class System2Node(PolicyNode):
    """rclpy adapter around the policy's System2Stream (see the module docstring). Inactive (lifecycle), it keeps
    its windows filled but computes nothing."""

    def __init__(self, node, *, policy=None):
        from rcl_interfaces.msg import SetParametersResult
        from video2act.ros import qos
        from sensor_msgs.msg import Image

        from video2act.ros.params import declare_params
        from video2act.ros.policy_worker import PolicyWorker, Samples
        from video2act.runtime.rate_stats import RateStats

        self.node = node
        self.p = declare_params(node, NODE_NAME)  # config/params/system2_node.yaml, validated there
        self._result_type = SetParametersResult
        from video2act.runtime.system2_core import System2Core

        self.core = System2Core(self.p.frame_hz, self._check_rate(self.p.rate_hz))
        if self.p.checkpoint:  # before the weights load: a mismatch fails fast
            check_checkpoint(self.p.checkpoint, self.p)
        self.policy = policy if policy is not None else load_policy(self.p.checkpoint, self.p.preset, self.p.torch_threads)
        self.stream = self.policy.make_system2_stream()
        if self.p.checkpoint:
            check_checkpoint(self.p.checkpoint, self.p, windows=(self.stream.high.window, self.stream.low.window))
        self._pending: deque = deque(maxlen=max(1, self.p.max_backlog))
        # the core counts the out-of-order frames it drops before the queue (frames_out_of_order) and those the
        # stream's windows refuse (frames_out_of_order_in_windows: they restart), and the windows it primes
        self.counts = {"frames_received": 0, "frames_queued": 0, "frames_dropped_bad": 0, "frames_skipped_backlog": 0,
                       "features_published": 0, "compute_errors": 0}
        self._publish_rate = RateStats(50)
        self._latencies = Samples(50)
        # lifecycle: features are computed and published only while the worker is active
        self.worker = PolicyWorker(node, "system2_worker", "System 2 call", has_work=lambda: bool(self._pending),
                                   take=self._take_frames, step=self._step, counts=self.counts, error_key="compute_errors",
                                   start=False)
        self._cv = self.worker.cv
        self._last_feature_stamp: float | None = None

        reliable = qos.control()
        self.spatial_pub = node.create_publisher(Image, self.p.spatial_topic, reliable)
        self.motion_pub = node.create_publisher(Image, self.p.motion_topic, reliable)
        # created here, not lazily in the worker: creating entities while the executor waits is a race in rclpy
        self._heatmap_pubs = {name: node.create_publisher(Image, f"{self.p.viz_prefix}/{name}_heatmap", reliable)
                              for name in self.p.heatmap_names}
        topic = self.p.camera_topics[CAMERAS.index(self.p.stream_camera)]
        self.camera_sub = node.create_subscription(Image, topic, self._on_image, qos.sensor())
        # Windows start primed with their first frame in every slot (as training pads them), at start and at every
        # new episode (System2Core.feed): otherwise the motion window would span the previous episode for 1.6 s.
        self.subscribe_episodes(node, self.p.episode_topic)
        self.start_diagnostics(node, NODE_NAME, self.p.diagnostics_hz)
        node.add_on_set_parameters_callback(self._on_set_parameters)
        self.worker.start()
        node.get_logger().info(f"System 2 on {topic} at <= {self.p.rate_hz} Hz, params {self.p.as_dict()}")

    @staticmethod
    def _check_rate(hz: float) -> float:
        if not (hz > 0 and np.isfinite(hz)):
            raise ValueError(f"rate_hz must be a positive number, got {hz!r}")
        return float(hz)

    def _on_set_parameters(self, params):
        for prm in params:
            if prm.name != "rate_hz":
                return self._result_type(successful=False, reason=f"{prm.name} is fixed at start; only rate_hz changes")
            try:
                self.core.set_rate(self._check_rate(float(prm.value)))
            except (TypeError, ValueError) as e:
                return self._result_type(successful=False, reason=str(e))
            self.node.get_logger().info(f"System 2 rate now <= {prm.value} Hz")
        return self._result_type(successful=True)

    def now(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    # -- callbacks: convert and queue only --------------------------------------------------------
    def _on_image(self, msg) -> None:
        self.counts["frames_received"] += 1
        try:
            rgb = image_msg_to_rgb(msg)
        except ImageFormatError as e:
            self.counts["frames_dropped_bad"] += 1
            self.node.get_logger().warn(f"dropped camera image: {e}", throttle_duration_sec=2.0)
            return
        from video2act.runtime.system2_core import RESTART, SKIP

        stamp = stamp_to_sec(msg.header.stamp)
        decision = self.core.offer(stamp)  # frame spacing, out-of-order frames, clock jumps (runtime/system2_core)
        if decision == SKIP:
            return
        with self._cv:
            if decision == RESTART:
                self.node.get_logger().warn(f"the clock went back to {stamp:.3f} s: restarting System 2's windows")
                self._pending.clear()
                self._pending.append(None)  # marker: the worker starts new windows before the next frame
            if len(self._pending) == self._pending.maxlen:
                self.counts["frames_skipped_backlog"] += 1
            self._pending.append((np.array(rgb), stamp))
            self.counts["frames_queued"] += 1
            self._cv.notify()

    def start_episode(self) -> None:
        """A new episode (step 0 of another task / seed) restarts the windows from its first frame."""
        self._pending.clear()
        self._pending.append(None)  # marker: the worker starts new windows before the next frame

    # -- worker: encode, compute, publish ---------------------------------------------------------
    def _take_frames(self) -> list | None:
        with self._cv:
            frames = list(self._pending)
            self._pending.clear()
        return frames or None

    def _step(self, frames: list) -> None:
        newest = None
        for frame in frames:
            if frame is None:
                self.core.restart_windows()
            else:
                self._push(*frame)
                newest = frame[1]
        # the call schedule runs on the newest frame's stamp (as the frames' does): on the worker's clock, the
        # delivery and wake-up jitter pushed a call past the made-up lateness now and then (5.93-5.97 Hz at 6 Hz)
        if newest is None or not self.stream.ready() or not self.worker.active or not self.core.due(newest):
            return
        self.core.computed(newest)
        t0 = time.perf_counter()
        features = self.stream.compute(self.p.instruction)
        self._latencies.add(time.perf_counter() - t0)
        self._publish(features)

    def _push(self, rgb: np.ndarray, stamp: float) -> None:
        """Into the windows through the core (runtime/system2_core.System2Core.feed): new windows are primed with
        this frame; a frame older than the windows hold (a clock jump) restarts them, counted."""
        refused = self.core.counts["frames_out_of_order_in_windows"]
        self.core.feed(self.stream, rgb, stamp)
        if self.core.counts["frames_out_of_order_in_windows"] > refused:
            self.node.get_logger().warn(f"restarted System 2 windows at a frame stamped {stamp:.3f} s (older than "
                                        "the windows held)", throttle_duration_sec=2.0)

    def _publish(self, features) -> None:
        stamp = sec_to_stamp(features.stamp)
        self.spatial_pub.publish(float_image_msg(features.spatial, stamp=stamp, frame_id="spatial_tokens"))
        self.motion_pub.publish(float_image_msg(features.motion, stamp=stamp, frame_id="motion_tokens"))
        self.counts["features_published"] += 1
        self._publish_rate.tick(time.monotonic())
        self._last_feature_stamp = float(features.stamp)
        for name, heat in (features.heatmaps or {}).items():
            pub = self._heatmap_pubs.get(name)
            if pub is None:
                continue  # a map not listed in heatmap_names
            pub.publish(rgb_to_image_msg(heatmap_rgb(heat, self.p.heatmap_width), stamp=stamp, frame_id=f"{name}_heatmap"))

    def diagnostic_values(self) -> dict:
        """What /diagnostics reports: rates, compute time, feature age, and the node's and the core's counters."""
        from video2act.ros.policy_worker import merge_counts

        age = self.now() - self._last_feature_stamp if self._last_feature_stamp is not None else float("inf")
        return {
            "rate_hz": self._publish_rate.rate(),
            "target_rate_hz": 1.0 / self.core.period,
            "compute_ms_p50": self._latencies.percentile(50, 1e3),
            "compute_ms_max": self._latencies.max(1e3),
            "feature_age_s": age,
            **merge_counts(self.counts, self.core.counts),
        }

    def health(self) -> tuple[bool, str]:
        """OK once features were published and no call failed."""
        healthy = self.counts["features_published"] > 0 and self.counts["compute_errors"] == 0
        return healthy, "publishing features" if healthy else "no features yet or errors"


def main(args=None) -> int:
    from video2act.ros.node_main import spin_lifecycle_node

    return spin_lifecycle_node(NODE_NAME, System2Node, args)


if __name__ == "__main__":
    raise SystemExit(main())
