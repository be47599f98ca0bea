"""A node this project launches stops when its launcher is gone (ros/node_main.stop_with_parent).

Upstream `ros2 launch` orphans its nodes on SIGTERM (launch/launch_service.py, `_on_sigterm`: "using SIGTERM can
result in orphaned processes"); so does any launcher killed with SIGKILL. Here the launcher is a Python process
that starts the trajectory streamer as ProcessGroup / the launch files do (node_environment), waits until the node
is up and dies without cleaning up."""
import os
import subprocess
import sys
import textwrap
import time

import pytest

from video2act.launch.process_group import node_environment

LAUNCHER = textwrap.dedent("""
    import os, subprocess, sys, time
    log = open(sys.argv[1], "w")
    child = subprocess.Popen([sys.executable, "-m", "video2act.ros.trajectory_streamer"], stdout=log,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=os.environ.copy())
    deadline = time.monotonic() + 120
    while "streaming to" not in open(sys.argv[1]).read():  # the node is up (its start-up log line)
        if child.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"the node did not come up: {open(sys.argv[1]).read()[-2000:]}")
        time.sleep(0.1)
    print(child.pid, flush=True)
    os._exit(0)  # no cleanup: as a SIGKILL'd or SIGTERM'd launcher leaves its children
""")


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.ros
def test_a_node_whose_launcher_died_stops_by_itself(tmp_path):
    log = tmp_path / "node.log"
    env = node_environment({**os.environ, "PYTHONUNBUFFERED": "1", "RCUTILS_COLORIZED_OUTPUT": "0"})
    assert env["VIDEO2ACT_STOP_WITH_PARENT"] == "1"
    out = subprocess.run([sys.executable, "-c", LAUNCHER, str(log)], env=env, capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    pid = int(out.stdout.split()[-1])
    deadline = time.monotonic() + 30  # a bounded wait for an event, not a timing assertion
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _running(pid):
        os.kill(pid, 9)
        pytest.fail(f"the node outlived its launcher:\n{log.read_text()[-3000:]}")
    assert "is gone: stopping" in log.read_text()


def test_only_the_launched_nodes_watch_their_parent(monkeypatch):
    from video2act.ros.node_main import STOP_WITH_PARENT, stop_with_parent

    monkeypatch.delenv(STOP_WITH_PARENT, raising=False)
    assert stop_with_parent() is None  # a node started by hand (e.g. under nohup) outlives its shell
    monkeypatch.setenv(STOP_WITH_PARENT, "1")
    watcher = stop_with_parent(poll_s=0.05)
    assert watcher is not None and watcher.daemon and watcher.is_alive()  # this test's parent is alive: it waits
