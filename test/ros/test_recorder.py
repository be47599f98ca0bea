"""`video2act record` round trip: real rclpy publishers over DDS -> the recorder process -> a rosbag2 (mcap)
folder -> `video2act dataset from-bags` -> episodes whose frames, joints and instructions are what was published.

Two episodes in one bag (the boundary from the recorder's ~/next_episode service); the bag is then checked
as a rosbag2 folder (metadata.yaml, one .mcap file, message types) and converted by the CLI.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from bag_streams import HZ, T0, H, N, W, Publishers, joint_value, wait_for

from video2act.config import load_config

ROBOT = load_config("robot.yaml")


@pytest.fixture
def recorder_process(tmp_path):
    procs = []

    def start(*args):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen([sys.executable, "-m", "video2act.cli", "record", *args], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_record_two_episodes_then_from_bags(tmp_path, recorder_process):
    from video2act.cli import main as cli
    from video2act.data.format import Dataset

    bag = tmp_path / "teleop_bag"
    proc = recorder_process("-o", str(bag), "--instruction", "hand over the block", "--task", "handover_block")
    source = Publishers()
    try:
        # the recorder subscribes as the topics appear: publish once it matched every stream
        wait_for(lambda: all(p.get_subscription_count() > 0 for p in source.all) or proc.poll() is not None,
              "the recorder to subscribe to the seven streams")
        assert proc.poll() is None, proc.stdout.read()
        for k in range(N):
            source.publish(k)
            time.sleep(1 / HZ)
        source.wait_acked()
        assert "episode 1" in source.next_episode()
        for k in range(N, 2 * N):
            source.publish(k)
            time.sleep(1 / HZ)
        source.wait_acked()
    finally:
        source.close()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "wrote" in out

    meta = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["storage_identifier"] == "mcap"
    assert [f for f in os.listdir(bag) if f.endswith(".mcap")] == meta["relative_file_paths"]
    types = {t["topic_metadata"]["name"]: t["topic_metadata"]["type"] for t in meta["topics_with_message_count"]}
    counts = {t["topic_metadata"]["name"]: t["message_count"] for t in meta["topics_with_message_count"]}
    assert types[ROBOT["topics"]["cameras"]["head"]] == "sensor_msgs/msg/Image"
    assert types[ROBOT["topics"]["feedback"]["left"]] == "sensor_msgs/msg/JointState"
    assert counts[ROBOT["topics"]["cameras"]["head"]] == 2 * N  # reliable: every message recorded
    assert counts["/video2act/episode"] == 2
    assert meta["custom_data"]["video2act.instruction"] == "hand over the block"

    ds_dir = tmp_path / "ds"
    assert cli(["dataset", "from-bags", str(bag), "--out", str(ds_dir), "--image-size", f"{H}x{W}"]) == 0
    ds = Dataset(ds_dir)
    episodes = ds.load_all()
    assert len(episodes) == 2
    indices = [ep.images["head"][:, 0, 0, 0].astype(int).tolist() for ep in episodes]
    # a split by receive time: the first episode's frames, then the second's, none lost between them
    # (at most a frame at each edge is trimmed where a joint stream of that episode starts a tick later)
    assert indices[0] == list(range(indices[0][0], indices[0][-1] + 1)) and indices[0][0] <= 1
    assert indices[1] == list(range(indices[1][0], indices[1][-1] + 1)) and indices[1][-1] >= 2 * N - 2
    assert indices[0][-1] < indices[1][0] <= indices[0][-1] + 2
    assert N - 4 <= len(indices[0]) <= N
    for ep, idx in zip(episodes, indices):
        assert ep.instruction == "hand over the block" and ep.task == "handover_block"
        t = T0 + np.asarray(idx) / HZ
        want = np.concatenate([np.stack([joint_value("state", arm, s) for s in t]) for arm in ("left", "right")], axis=1)
        np.testing.assert_allclose(ep.state, want, atol=1e-5)
        np.testing.assert_array_equal(ep.images["left"][:, 0, 0, 0], np.asarray(idx, dtype=np.uint8))


def test_record_refuses_an_existing_bag(tmp_path, recorder_process):
    (tmp_path / "bag").mkdir()
    proc = recorder_process("-o", str(tmp_path / "bag"), "--instruction", "x")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "exists already" in out


def test_episode_labels_follow_the_simulators_announcements():
    """No ROS: the episode already running when recording starts keeps episode 0 when it was announced as
    started; announced with another instruction / task, it is relabelled from then on (a new marker), never
    stored under the command line's stale label; each new (task, seed) starts an episode."""
    import json

    from video2act.ros.recorder import EpisodeLabels

    def ann(task, seed, step=0, instruction="Pick up both bottles."):
        return json.dumps({"task": task, "seed": seed, "step": step, "instruction": instruction})

    same = EpisodeLabels("Pick up both bottles.", "pick_dual_bottles")
    assert same.announcement(ann("pick_dual_bottles", 1000)) is None  # the running episode, labelled alike
    assert same.announcement(ann("pick_dual_bottles", 1000, step=5)) is None  # a later step of it
    assert same.announcement(ann("place_empty_cup", 1001, instruction="Place the cup.")) == ("Place the cup.", "place_empty_cup")

    stale = EpisodeLabels("hand over the block", "")  # launched with a default instruction and no task
    assert stale.announcement(ann("pick_dual_bottles", 1000)) == ("Pick up both bottles.", "pick_dual_bottles")
    assert (stale.instruction, stale.task) == ("Pick up both bottles.", "pick_dual_bottles")
    assert stale.announcement("not json") is None and stale.announcement(ann("pick_dual_bottles", 1000)) is None
