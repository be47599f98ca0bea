"""System 1 node: action chunks from synchronised cameras + arm state + the newest System 2 features.

    3 cameras ──ApproximateTimeSync──► newest observation ─┐
    /puppet/joint_left|right ──StateBuffer (nearest stamp)─┤──worker thread, <= rate_hz──► policy.act
    /video2act/features/{spatial,motion} ──FeatureCache────┘        ─► /video2act/action_chunk
                                                                        (JointTrajectory, 14 joints, H points,
                                                                         time_from_start = i / control_hz,
                                                                         stamp = observation time)

Never waits for System 2: each planning step takes whatever features are newest. It refuses to act
(and counts why) when the images are older than `max_image_age`, the features older than
`max_feature_age` (both measured from their stamps, i.e. capture time), or no arm feedback lies
within `state_tolerance` of the image stamp. Bad messages (image encoding/size, non-finite or
mis-shaped features) and non-finite chunks are logged (throttled), counted in /diagnostics and
dropped. The observation time is the head camera's stamp. Every decision lives in
video2act.runtime.system1_core.System1Core (tested without ROS); this node converts and publishes, planning
in the policy nodes' worker thread (ros/policy_worker.PolicyWorker).

    python -m video2act.ros.system1_node --ros-args --params-file config/system1.yaml -p preset:=tiny
"""
from __future__ import annotations

import time

import numpy as np

from video2act.model.checkpoint import load_policy
from video2act.model.system2_stream import SlowFeatures
from video2act.ros.conversions import ImageFormatError, float_image_to_numpy, image_msg_to_rgb, stamp_to_sec
from video2act.ros.policy_worker import PolicyNode
from video2act.runtime.robot import CAMERAS
from video2act.runtime.system1_core import InputError, chunk_frame_id

NODE_NAME = "system1_node"


def check_checkpoint(checkpoint: str, p):
    """CheckpointMismatch (a ValueError: the node does not configure) when this node would run the checkpoint
    otherwise than it was trained (model/checkpoint.py): chunk points spaced at another control rate, a camera it
    reads not among this node's, an instruction it was not trained on. Returns the check of each camera set's image
    sizes (another aspect ratio than the training images), which System1Core runs as the images arrive."""
    from video2act.model.checkpoint import TrainedWith, check_compatible

    trained = TrainedWith.read(checkpoint)
    check_compatible(trained, f"{NODE_NAME}'s parameters", {"control_hz": "-p control_hz", "instruction": "-p instruction"},
                     control_hz=p.control_hz, cameras=CAMERAS, instruction=p.instruction)

    def check_images(sizes: dict) -> None:
        for camera, size in sizes.items():
            check_compatible(trained, f"{NODE_NAME}'s camera '{camera}'", image_size=size)

    return check_images


class System1Node(PolicyNode):
    """rclpy adapter around policy.act (see the module docstring). Inactive (lifecycle), it keeps its inputs fresh
    but publishes no chunk."""

    def __init__(self, node, *, policy=None):
        from video2act.ros import qos
        from sensor_msgs.msg import Image, JointState
        from trajectory_msgs.msg import JointTrajectory

        from video2act.ros.params import declare_params
        from video2act.ros.policy_worker import PolicyWorker, Samples
        from video2act.ros.sync import make_image_sync
        from video2act.runtime.rate_stats import RateStats
        from video2act.runtime.robot import RobotDescription
        from video2act.runtime.system1_core import System1Core

        self.node = node
        self.p = declare_params(node, NODE_NAME)  # config/params/system1_node.yaml, validated there
        self.robot = RobotDescription.from_config()
        check_images = check_checkpoint(self.p.checkpoint, self.p) if self.p.checkpoint else None  # before loading
        self.policy = policy if policy is not None else load_policy(self.p.checkpoint, self.p.preset, self.p.torch_threads)
        s2 = self.policy.config.system2
        shapes = {"spatial": (s2.num_spatial_tokens, s2.token_dim), "motion": (s2.num_motion_tokens, s2.token_dim)}
        self.core = System1Core(self.robot, shapes, self.p.max_image_age, self.p.max_feature_age, self.p.state_tolerance,
                                self.p.rate_hz, SlowFeatures, check_images=check_images, guidance=self.p.guidance,
                                control_hz=self.p.control_hz, guidance_delay=self.p.guidance_delay,
                                guidance_soft_steps=self.p.guidance_soft_steps, chunk_timeout=self.p.chunk_timeout)
        self.counts = self.core.counts
        self._stamp_msgs: dict[float, object] = {}  # observation stamp (s) -> its builtin_interfaces stamp
        # lifecycle: plans are published only while the worker is active
        self.worker = PolicyWorker(node, "system1_worker", "System 1 step", has_work=self.core.ready,
                                   take=self._take_observation, step=self._plan, counts=self.counts,
                                   error_key="act_errors", start=False)
        self._cv = self.worker.cv
        self._chunk_rate = RateStats(50)
        self._act_latency = Samples(50)
        self._obs_age = Samples(50)
        self._feature_age_used = Samples(50)

        reliable = qos.control()
        self.chunk_pub = node.create_publisher(JointTrajectory, self.p.action_chunk_topic, reliable)
        self._traj_type = JointTrajectory
        self._sync = make_image_sync(node, Image, list(self.p.camera_topics), qos.sensor(),
                                     self.p.sync_queue_size, self.p.sync_slop, self._on_observation)
        self.feedback_subs = [node.create_subscription(JointState, t, (lambda m, a=a: self._on_feedback(a, m)),
                                                       qos.sensor())
                              for a, t in enumerate(self.p.feedback_topics)]
        self.feature_subs = [node.create_subscription(Image, t, (lambda m, k=k: self._on_feature(k, m)), reliable)
                             for k, t in (("spatial", self.p.spatial_topic), ("motion", self.p.motion_topic))]
        self.subscribe_episodes(node, self.p.episode_topic)  # features of the last scene are not acted on
        self.start_diagnostics(node, NODE_NAME, self.p.diagnostics_hz)
        self.worker.start()
        node.get_logger().info(f"System 1 at <= {self.p.rate_hz} Hz, params {self.p.as_dict()}")

    def now(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def _warn(self, text: str) -> None:
        self.node.get_logger().warn(text, throttle_duration_sec=2.0)

    # -- callbacks: store only ------------------------------------------------------------------
    def _on_observation(self, head, left, right) -> None:
        """A synchronised camera triple: checked here (cheap: rgb8 is a view) so every bad image is counted."""
        try:
            images = {name: image_msg_to_rgb(msg) for name, msg in zip(CAMERAS, (head, left, right))}
        except ImageFormatError as e:
            self.counts["images_dropped_bad"] += 1
            self._warn(f"dropped camera triple: {e}")
            return
        t_obs = stamp_to_sec(head.header.stamp)
        with self._cv:
            try:
                self.core.on_observation(images, t_obs)
            except InputError as e:  # the checkpoint was trained on images of another aspect ratio
                self._warn(f"dropped camera triple: {e}")
                return
            self._stamp_msgs = {t_obs: head.header.stamp}
            self._cv.notify()

    def start_episode(self) -> None:
        """A new episode (step 0 of another task / seed): drop the features and observation of the last scene."""
        self.core.new_episode()

    def _on_feedback(self, arm: int, msg) -> None:
        try:
            self.core.on_feedback(arm, stamp_to_sec(msg.header.stamp), msg.position)
        except InputError as e:
            self._warn(f"dropped {e}")

    def _on_feature(self, kind: str, msg) -> None:
        try:
            self.core.on_feature(kind, stamp_to_sec(msg.header.stamp), float_image_to_numpy(msg), now=self.now())
        except ImageFormatError as e:
            self.counts["features_dropped_bad"] += 1
            self._warn(f"dropped {kind} features: {e}")
        except InputError as e:
            self._warn(f"dropped {e}")

    # -- worker: plan -----------------------------------------------------------------------------
    def _take_observation(self):
        """(observation, its stamp message) when the planning rate allows (System1Core.take: at most rate_hz on
        the observations' stamps), or None."""
        with self._cv:
            obs = self.core.take()
            stamp_msg = self._stamp_msgs.get(obs[1]) if obs is not None else None
        return None if obs is None else (obs, stamp_msg)

    def _plan(self, work) -> None:
        obs, stamp_msg = work
        now = self.now()
        if not self.worker.active:
            return
        inputs = self.core.inputs(obs, now)
        if inputs is None:
            self._warn(f"{self.core.last_refusal}: not acting")
            return
        t0 = time.perf_counter()
        guide = self.core.guidance(inputs.t_obs, inputs.state)  # None unless guidance rtc
        chunk = self.policy.act(inputs.images, inputs.state, self.p.instruction, inputs.features,
                                prefix=None if guide is None else guide.prefix,
                                prefix_weights=None if guide is None else guide.weights,
                                seed=None if self.p.seed < 0 else self.p.seed)
        self._act_latency.add(time.perf_counter() - t0)
        chunk = self.core.accept_chunk(chunk, t_obs=inputs.t_obs)
        if chunk is None:
            self._warn(self.core.last_refusal)
            return
        self.chunk_pub.publish(self._trajectory(chunk, stamp_msg, 0 if guide is None else guide.steps))
        self.core.note_delay(self.now() - inputs.t_obs)  # observation to publish: the next prefix's length
        self._chunk_rate.tick(time.monotonic())
        self._obs_age.add(self.now() - inputs.t_obs)
        self._feature_age_used.add(now - inputs.features.stamp)

    def _trajectory(self, chunk: np.ndarray, stamp, prefix_steps: int = 0):
        """(H, 14) absolute joint targets -> JointTrajectory, point i due i / control_hz after `stamp`."""
        from builtin_interfaces.msg import Duration
        from trajectory_msgs.msg import JointTrajectoryPoint

        msg = self._traj_type()
        msg.header.stamp = stamp
        msg.header.frame_id = chunk_frame_id(prefix_steps)  # guided prefix length (rtc), "" for none
        msg.joint_names = list(self.robot.names14)
        points = []
        for i, q in enumerate(chunk):
            ns = int(round(i * 1e9 / self.p.control_hz))
            points.append(JointTrajectoryPoint(positions=q.tolist(), time_from_start=Duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)))
        msg.points = points
        return msg

    def diagnostic_values(self) -> dict:
        """What /diagnostics reports: chunk rate, act time, input ages, the core's counters."""
        return {
            "chunk_rate_hz": self._chunk_rate.rate(),
            "act_ms_p50": self._act_latency.percentile(50, 1e3),
            "act_ms_p95": self._act_latency.percentile(95, 1e3),
            "observation_age_at_publish_s_p50": self._obs_age.percentile(50),
            "feature_age_used_s_p50": self._feature_age_used.percentile(50),
            "feature_age_s": self.core.features.age(self.now()),
            "sync_matched": getattr(self._sync[1], "matched", None),
            **self.counts,
        }

    def health(self) -> tuple[bool, str]:
        """OK while chunks are planned on fresh features."""
        acting = self._chunk_rate.count > 0 and self.core.features.get(self.now()) is not None
        return acting, "planning" if acting else "not acting: inputs missing or stale"


def main(args=None) -> int:
    from video2act.ros.node_main import spin_lifecycle_node

    return spin_lifecycle_node(NODE_NAME, System1Node, args)


if __name__ == "__main__":
    raise SystemExit(main())
