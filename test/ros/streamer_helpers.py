"""Helpers for the trajectory_streamer multi-process test: a node spinning in a background thread,
and the streamer started as a separate process on an isolated DDS domain."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time


def ros_domain_id() -> int:
    """ROS_DOMAIN_ID from the environment (scripts/test.sh sets one), else a random one in 100..199."""
    return int(os.environ.get("ROS_DOMAIN_ID") or random.randint(100, 199))


class BackgroundNode:
    """An rclpy node in its own Context, spun by a daemon thread; `close()` stops it."""

    def __init__(self, name: str, domain_id: int):
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node

        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = Node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set() and self.context.ok():
            self.executor.spin_once(timeout_sec=0.02)

    def now(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def call(self, client, request, timeout: float = 5.0):
        """Service call answered while the background thread spins; raises TimeoutError."""
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"service {client.srv_name} not available")
        future = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no answer from {client.srv_name}")
            time.sleep(0.01)
        return future.result()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()


def wait_until(predicate, timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def start_streamer(domain_id: int, log_path, params: dict[str, str] | None = None) -> subprocess.Popen:
    """`python -m video2act.ros.trajectory_streamer` with config/streamer.yaml and `-p` overrides."""
    from video2act.config import config_path

    cmd = [sys.executable, "-m", "video2act.ros.trajectory_streamer", "--ros-args",
           "--params-file", str(config_path("streamer.yaml"))]
    for key, value in (params or {}).items():
        cmd += ["-p", f"{key}:={value}"]
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", PYTHONUNBUFFERED="1")
    log = open(log_path, "w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)


def stop_process(proc: subprocess.Popen, timeout: float = 5.0) -> int | None:
    """SIGINT (clean rclpy shutdown), then SIGKILL; the exit code, None if it had to be killed."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None
