"""The README's demo, end to end (short): tiny-preset model timings, a twin episode, the shipped policy in the
closed loop over ROS 2."""
import json
import os
import random
import subprocess
import sys

import cv2
import pytest


@pytest.mark.slow
@pytest.mark.ros
def test_demo_runs_the_closed_loop_within_limits(tmp_path):
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"),
           "ROS_DOMAIN_ID": os.environ.get("ROS_DOMAIN_ID", str(random.randint(100, 199))),
           "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    out = subprocess.run([sys.executable, "-m", "video2act.cli", "demo", "--preset", "tiny", "--seconds", "8",
                          "--out", str(tmp_path)], env=env, capture_output=True, text=True, timeout=500)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())

    assert set(summary["model"]) == {"System 1 (act, 64x14 chunk)", "System 2 (push + compute)"}
    assert all(row["p50_ms"] > 0 for row in summary["model"].values())

    twin = summary["twin"]
    assert twin["success"] and 0 < twin["steps"] < 200
    frames = cv2.VideoCapture(twin["video"]).get(cv2.CAP_PROP_FRAME_COUNT)
    assert frames == twin["steps"] + 1 or frames == twin["steps"], frames  # one frame per control step

    loop = summary["closed_loop"]
    assert loop["crashed_nodes"] == []
    assert loop["system2_feature_hz"] > 0.5 and loop["system1_chunk_hz"] > 0.5
    assert len(loop["episodes"]) >= 1 and all(e["task"] == "pick_dual_bottles" for e in loop["episodes"])
    assert summary["checkpoint"].endswith("policies/small") and summary["seed"] == 1000  # held-out seeds
    for arm in ("left", "right"):
        cmd = loop["commands"][arm]
        assert 20.0 < cmd["rate_hz"] < 40.0, cmd
        assert cmd["outside_limits"] == 0, cmd
        assert cmd["max_step_over_cap"] <= 1.0 + 1e-6, cmd
    assert cv2.VideoCapture(loop["video"]).get(cv2.CAP_PROP_FRAME_COUNT) > 30
    assert "episodes:" in out.stdout and "safety: largest command step" in out.stdout


def test_command_report_leaves_out_only_the_restart_after_a_reset():
    import numpy as np

    from video2act.demo import command_report
    from video2act.runtime.robot import RobotDescription

    robot = RobotDescription.from_config()
    caps = robot.split(robot.safe_velocity / 30.0)[0]  # (7,) per-step caps of one arm
    q = [np.full(7, 0.0)]
    for k in range(1, 60):
        step = 10 * caps if k in (20, 45) else 0.9 * caps  # a restart at 20 (after the reset at 0.65 s), a jump at 45
        q.append(q[-1] + step)
    cmds = {arm: [(k / 30.0, v) for k, v in enumerate(q)] for arm in ("left", "right")}
    report = command_report(cmds, robot, 30.0, 0.0, 2.0, resets=[0.65])
    assert report["left"]["restarts"] == 1
    assert report["left"]["max_step_over_cap"] == pytest.approx(10.0)  # the jump at 45 is still caught
    assert command_report(cmds, robot, 30.0, 0.0, 2.0)["left"]["restarts"] == 0


def test_the_closed_loop_refuses_a_checkpoint_the_nodes_would_refuse_before_starting_them():
    from video2act.config import load_config
    from video2act.demo import check_closed_loop_checkpoint
    from video2act.model.checkpoint import CheckpointMismatch
    from video2act.training.evaluate import shipped_checkpoint

    rates = load_config("robot.yaml")["rates"]
    bottles = "Pick up both bottles with both arms at the same time."
    trained = check_closed_loop_checkpoint(shipped_checkpoint(), "pick_dual_bottles", bottles, rates)
    assert trained.image_size == (96, 128)  # what the twin bridge is told to render
    with pytest.raises(CheckpointMismatch, match=r"the demo's closed loop:\n  instruction: trained with one of "
                                                 r"\['Pick up both bottles.*got 'Wipe the table.'"):
        check_closed_loop_checkpoint(shipped_checkpoint(), "pick_dual_bottles", "Wipe the table.", rates)
    with pytest.raises(CheckpointMismatch, match="system2_frame_hz: trained with 10 Hz, got 5 Hz"):
        check_closed_loop_checkpoint(shipped_checkpoint(), "pick_dual_bottles", bottles, {**rates, "system2_frame_hz": 5.0})
