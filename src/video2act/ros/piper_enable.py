"""The piper_ros sink's enable step over ROS: the driver's own interface drives runtime.piper.EnableGate.

    service: <ns>/enable_srv (piper_msgs/srv/Enable, enable_request: true), the answer checked: the humble node
             retries EnableArm(7) for up to 5 s and answers whether all six motors report enabled. piper_msgs is
             built with piper_ros, so it is importable wherever that driver runs.
    topic:   <ns>/enable_flag (std_msgs/Bool true), published once the driver subscribes. The node gives no
             answer on this interface, so only the driver's subscription is checked.
"""
from __future__ import annotations


class PiperRosEnabler:
    def __init__(self, node, arms, namespaces, mode: str, now: float, timeout: float):
        from video2act.runtime.piper import EnableGate

        self.node, self.mode = node, mode
        self.gate = EnableGate(arms, start=now, timeout=timeout)
        self._requested: set[str] = set()
        self._logged = False
        ns = {a: n.rstrip("/") for a, n in zip(arms, namespaces)}
        if mode == "service":
            try:
                from piper_msgs.srv import Enable
            except ImportError:
                raise ValueError("piper_ros_enable:=service needs piper_msgs (source the piper_ros workspace), or set "
                                 "piper_ros_enable:=topic (enable_flag, no answer) or none (arms enabled elsewhere)") from None
            self._request = Enable.Request(enable_request=True)
            self.ends = {a: node.create_client(Enable, f"{ns[a]}/enable_srv") for a in arms}
        else:
            from std_msgs.msg import Bool

            from video2act.ros import qos

            self._flag = Bool(data=True)
            self.ends = {a: node.create_publisher(Bool, f"{ns[a]}/enable_flag", qos.control()) for a in arms}

    def step(self, now: float) -> bool:
        """Send what is due; True once both arms are enabled and settled."""
        for arm, end in self.ends.items():
            if arm in self._requested or self.gate.state[arm] != "requesting":
                continue
            if self.mode == "service" and end.service_is_ready():
                self._requested.add(arm)
                end.call_async(self._request).add_done_callback(lambda f, a=arm: self._answered(a, f))
            elif self.mode == "topic" and end.get_subscription_count() > 0:
                self._requested.add(arm)
                end.publish(self._flag)
                self.gate.on_result(arm, True, now)
        self.gate.check_timeout(now)
        if self.gate.failed and not self._logged:
            self._logged = True
            self.node.get_logger().error(f"{self.gate.failed}: holding, no command is sent")
        if self.gate.done and not self._logged:
            self._logged = True
            self.node.get_logger().info(f"arms enabled through piper_ros ({self.mode}); streaming from the measured pose")
        return self.gate.done

    def _answered(self, arm: str, future) -> None:
        now = self.node.get_clock().now().nanoseconds * 1e-9
        try:
            ok = bool(future.result().enable_response)
        except Exception as e:  # noqa: BLE001 - a failed call is a refusal with its reason
            self.gate.on_result(arm, False, now, f"enable_srv call failed: {e}")
            return
        self.gate.on_result(arm, ok, now)
