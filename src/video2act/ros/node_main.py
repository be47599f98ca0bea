"""The shared `main()` of the policy and streamer nodes: one place for start-up and clean exit codes."""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any, Callable

STOP_WITH_PARENT = "VIDEO2ACT_STOP_WITH_PARENT"  # set by launch/process_group.node_environment for our launches


def stop_with_parent(poll_s: float = 0.5) -> threading.Thread | None:
    """With VIDEO2ACT_STOP_WITH_PARENT=1 (set for the nodes this project launches: launch files, ProcessGroup),
    a thread sends this process SIGTERM when its parent is gone (it was re-parented): rclpy's handler then shuts
    the node down as on Ctrl-C (the streamer holds, a driver disables as configured). `ros2 launch` killed by
    SIGTERM or SIGKILL leaves its children running otherwise. Not set (e.g. a node started by hand under
    nohup), a node outlives its shell as before. A thread polling getppid(), not prctl(PR_SET_PDEATHSIG),
    which fires when the *thread* that forked exits, not the process."""
    if os.environ.get(STOP_WITH_PARENT) != "1":
        return None
    parent = os.getppid()

    def watch():
        while parent != 1 and os.getppid() == parent:  # 1: the launcher died before this node got here
            time.sleep(poll_s)
        try:  # the launcher held our stdout / stderr: writing may fail now (EPIPE), stopping must not
            print(f"[{os.getpid()}] the process that started this node ({parent}) is gone: stopping",
                  file=sys.stderr, flush=True)
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="stop_with_parent", daemon=True)
    thread.start()
    return thread


def spin_node(node_name: str, make_adapter: Callable[[Any], Any], args=None, refused: tuple = (ValueError,),
              refused_code: int = 2) -> int:
    """rclpy.init, create the node, build its adapter with `make_adapter(node)`, spin until shut down: the one
    `main()` of every node (a module-level adapter class over a ROS-free core; main() only spins).

    Exit codes: 0 on Ctrl-C / SIGTERM / external shutdown, `refused_code` (2) when the adapter rejects its
    parameters, checkpoint or device (an exception of `refused`; the message is logged). The adapter's
    `shutdown()`, if any, runs last.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=args)
    stop_with_parent()
    node = rclpy.create_node(node_name)
    adapter = None
    try:
        adapter = make_adapter(node)
        rclpy.spin(node)  # a single-threaded executor: callbacks hand heavy work to the adapters' workers
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except refused as e:
        node.get_logger().error(str(e))
        return refused_code
    except Exception as e:
        # Ctrl-C / SIGTERM shut the context down while a callback was publishing or the executor was building
        # its wait set (RCLError "context is invalid"), or Ctrl-C landed inside a ctypes call (the renderer's:
        # "ArgumentError: argument N: KeyboardInterrupt"): that is a shutdown, not a failure
        if rclpy.ok() and "KeyboardInterrupt" not in str(e):
            raise
    finally:
        if hasattr(adapter, "shutdown"):
            adapter.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def make_lifecycle_node(node_name: str, make_adapter: Callable[[Any], Any]):
    """A ROS 2 managed (lifecycle) node around an adapter, for the nodes that load a model:

        configure   make_adapter(node): parameters, weights, subscriptions, publishers, worker (inactive)
        activate    adapter.set_active(True): the node acts and publishes
        deactivate  adapter.set_active(False): it stops publishing (the streamer then holds the arm)
        cleanup     adapter.shutdown() and every entity it created destroyed: the weights are freed

    A ValueError while configuring (bad parameters, a checkpoint that does not match) fails the transition
    with the message logged. The node keeps `adapter` (None unless configured) and `config_error`.
    """
    import gc

    from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

    class ManagedPolicyNode(LifecycleNode):
        def __init__(self):
            super().__init__(node_name)
            self.adapter = None
            self.config_error: str | None = None
            self._created: dict[str, list] = {}

        def _entities(self) -> dict[str, list]:
            return {"subscription": list(self.subscriptions), "publisher": list(self.publishers),
                    "timer": list(self.timers), "service": list(self.services), "client": list(self.clients)}

        def on_configure(self, state):
            before = self._entities()
            try:
                self.adapter = make_adapter(self)
                self.adapter.set_active(False)
            except ValueError as e:
                self.get_logger().error(str(e))
                self.config_error = str(e)
                self._release(before)
                return TransitionCallbackReturn.FAILURE
            self._created = {k: [e for e in v if e not in before[k]] for k, v in self._entities().items()}
            return TransitionCallbackReturn.SUCCESS

        def on_activate(self, state):
            self.adapter.set_active(True)
            return super().on_activate(state)

        def on_deactivate(self, state):
            self.adapter.set_active(False)
            return super().on_deactivate(state)

        def on_cleanup(self, state):
            self._release()
            return TransitionCallbackReturn.SUCCESS

        def on_shutdown(self, state):
            self._release()
            return TransitionCallbackReturn.SUCCESS

        def _release(self, keep: dict | None = None) -> None:
            if hasattr(self.adapter, "shutdown"):
                self.adapter.shutdown()
            self.adapter = None
            created = self._created if keep is None else \
                {k: [e for e in v if e not in keep[k]] for k, v in self._entities().items()}
            for kind, entities in created.items():
                for entity in entities:
                    getattr(self, f"destroy_{kind}")(entity)
            self._created = {}
            gc.collect()

    return ManagedPolicyNode()


def spin_lifecycle_node(node_name: str, make_adapter: Callable[[Any], Any], args=None) -> int:
    """rclpy.init, a managed node (make_lifecycle_node), spin until shut down.

    With the parameter `autostart` (default true) the node configures and activates itself, so a plain
    `python -m ...` start and the launch files get an acting node; with autostart:=false it waits in
    'unconfigured' for a lifecycle manager (`ros2 lifecycle set /node configure`, then `activate`).
    Exit codes as spin_node: 2 when configuring fails under autostart.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.lifecycle import TransitionCallbackReturn

    rclpy.init(args=args)
    stop_with_parent()
    node = make_lifecycle_node(node_name, make_adapter)
    try:
        autostart = node.declare_parameter("autostart", True).value
        if autostart:
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                return 2
            node.trigger_activate()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():  # see spin_node: an RCLError racing the shutdown is a shutdown
            raise
    finally:
        if node.adapter is not None and hasattr(node.adapter, "shutdown"):
            node.adapter.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
