"""The shared `main()` of the policy and streamer nodes: one place for start-up and clean exit codes."""
from __future__ import annotations

from typing import Any, Callable


def spin_node(node_name: str, make_adapter: Callable[[Any], Any], args=None) -> int:
    """rclpy.init, create the node, build its adapter with `make_adapter(node)`, spin until shut down.

    Exit codes: 0 on Ctrl-C / SIGTERM / external shutdown, 2 when the adapter rejects its parameters
    or checkpoint (ValueError; the message is logged). The adapter's `shutdown()`, if any, runs last.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=args)
    node = rclpy.create_node(node_name)
    adapter = None
    try:
        adapter = make_adapter(node)
        rclpy.spin(node)  # a single-threaded executor: callbacks hand heavy work to the adapters' workers
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ValueError as e:
        node.get_logger().error(str(e))
        return 2
    finally:
        if hasattr(adapter, "shutdown"):
            adapter.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
