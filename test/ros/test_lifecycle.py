"""The policy nodes are ROS 2 managed (lifecycle) nodes: configure loads, activate acts, deactivate stops
publishing, cleanup frees everything the adapter created; a bad configuration fails the transition."""
import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402

from video2act.ros.node_main import make_lifecycle_node  # noqa: E402


class FakeAdapter:
    """Creates entities like a policy node adapter (a subscription, a publisher, a timer)."""

    instances = []

    def __init__(self, node, fail: bool = False):
        from std_msgs.msg import String

        if fail:
            raise ValueError("checkpoint was trained with System 2 frames at 10 Hz")
        self.sub = node.create_subscription(String, "in", lambda m: None, 1)
        self.pub = node.create_publisher(String, "out", 1)
        self.timer = node.create_timer(10.0, lambda: None)
        self.active, self.closed = None, False
        FakeAdapter.instances.append(self)

    def set_active(self, active: bool) -> None:
        self.active = active

    def shutdown(self) -> None:
        self.closed = True


@pytest.fixture()
def context():
    ctx = rclpy.context.Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)


def test_transitions_drive_the_adapter(context, monkeypatch):
    import rclpy.node

    monkeypatch.setattr(rclpy.node, "get_default_context", lambda: context, raising=False)
    node = make_lifecycle_node("lifecycle_probe", FakeAdapter)
    try:
        base = (len(list(node.subscriptions)), len(list(node.publishers)), len(list(node.timers)))
        assert node.adapter is None  # unconfigured: nothing loaded
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        adapter = node.adapter
        assert adapter.active is False and len(list(node.timers)) == base[2] + 1
        node.trigger_activate()
        assert adapter.active is True
        node.trigger_deactivate()
        assert adapter.active is False
        node.trigger_cleanup()
        assert adapter.closed and node.adapter is None
        assert (len(list(node.subscriptions)), len(list(node.publishers)), len(list(node.timers))) == base
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS  # configurable again
        node.trigger_shutdown()
        assert node.adapter is None and FakeAdapter.instances[-1].closed
    finally:
        node.destroy_node()


def test_a_bad_configuration_fails_the_transition(context, monkeypatch):
    import rclpy.node

    monkeypatch.setattr(rclpy.node, "get_default_context", lambda: context, raising=False)
    node = make_lifecycle_node("lifecycle_probe_bad", lambda n: FakeAdapter(n, fail=True))
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert node.adapter is None and "10 Hz" in node.config_error
    finally:
        node.destroy_node()
