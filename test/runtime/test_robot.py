import numpy as np
import pytest

from video2act.config import load_config
from video2act.runtime.robot import RobotConfigError, RobotDescription


def test_from_config_matches_robot_yaml():
    cfg = load_config("robot.yaml")
    r = RobotDescription.from_config()
    assert r.dof == 14 and r.dof_per_arm == 7
    assert r.names14[0] == "left_joint0" and r.names14[13] == "right_joint6"
    np.testing.assert_array_equal(r.lower[:7], cfg["robot"]["lower"])
    np.testing.assert_array_equal(r.upper[7:], cfg["robot"]["upper"])
    np.testing.assert_array_equal(r.safe_velocity[7:], cfg["safety"]["max_velocity"])
    np.testing.assert_array_equal(r.home[:7], cfg["robot"]["home"])
    assert r.control_hz == cfg["rates"]["control_hz"]
    assert r.chunk_timeout == cfg["safety"]["chunk_timeout"]


def test_split_join_clip():
    r = RobotDescription.from_config()
    x = np.arange(14.0)
    left, right = r.split(x)
    np.testing.assert_array_equal(left, np.arange(7.0))
    np.testing.assert_array_equal(r.join(left, right), x)
    c = r.clip(np.full(14, 100.0))
    np.testing.assert_array_equal(c, r.command_upper)  # inside the SDK table: test_piper.py
    assert np.all(r.command_upper <= r.upper) and np.all(r.command_lower >= r.lower)
    with pytest.raises(ValueError, match=r"\(14,\)"):
        r.clip(np.zeros(7))
    with pytest.raises(ValueError):
        r.join(np.zeros(6), np.zeros(7))


def test_bad_config_raises(tmp_path):
    cfg = load_config("robot.yaml")
    cfg["robot"]["lower"] = cfg["robot"]["lower"][:5]
    import yaml

    p = tmp_path / "robot.yaml"
    p.write_text(yaml.safe_dump(cfg))
    with pytest.raises(RobotConfigError, match="robot.lower must be 7"):
        RobotDescription.from_config(p)
    cfg = load_config("robot.yaml")
    cfg["safety"]["max_velocity"] = [10.0] * 7
    p = tmp_path / "robot_fast.yaml"  # a new name: load_config caches files by path
    p.write_text(yaml.safe_dump(cfg))
    with pytest.raises(RobotConfigError, match="at most robot.max_velocity"):
        RobotDescription.from_config(p)
