"""A real rosbag2 (mcap) written with rosbags' writer from synthetic messages -> dataset -> values match."""
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from video2act.config import load_config
from video2act.data.bags import bags_to_dataset, read_bag
from video2act.data.format import Dataset

ROBOT = load_config("robot.yaml")
TS = get_typestore(Stores.ROS2_JAZZY)
T = TS.types
NAMES = [f"joint{i}" for i in range(7)]
CAM_T0 = 100.0  # s: header stamps of the recording
HZ = 30.0


def _header(t: float):
    sec = int(t)
    return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=sec, nanosec=int(round((t - sec) * 1e9))),
                                    frame_id="")


def _image(t: float, rgb: np.ndarray, encoding: str):
    data = rgb[:, :, ::-1] if encoding == "bgr8" else rgb
    h, w = rgb.shape[:2]
    return T["sensor_msgs/msg/Image"](header=_header(t), height=h, width=w, encoding=encoding, is_bigendian=0,
                                      step=w * 3, data=np.ascontiguousarray(data).reshape(-1))


def _joints(t: float, positions: np.ndarray, names=NAMES):
    zeros = np.zeros(0, dtype=np.float64)
    return T["sensor_msgs/msg/JointState"](header=_header(t), name=list(names), position=np.ascontiguousarray(positions, dtype=np.float64),
                                           velocity=zeros, effort=zeros)


def joint_value(kind: str, arm: str, t: float) -> np.ndarray:
    """Linear in time, so interpolation at camera stamps is exact."""
    offset = {"state": 0.0, "action": 0.5}[kind] + {"left": 0.0, "right": 1.0}[arm]
    return offset + 0.1 * np.arange(7) + 2.0 * (t - CAM_T0)


def frame(cam_index: int, k: int) -> np.ndarray:
    img = np.zeros((8, 12, 3), np.uint8)
    img[..., 0] = 10 * k % 256
    img[..., 1] = 40 * cam_index
    img[..., 2] = np.arange(12, dtype=np.uint8)[None] * 5  # asymmetric: a channel swap would show
    return img


def write_bag(path, frames: int = 10, skip_topic: str | None = None):
    """Cameras at 30 Hz (wrist ones 4 ms late, right one bgr8); joints at 100 Hz, reversed joint order."""
    topics = ROBOT["topics"]
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {}
        for topic, msgtype in [*((topics["cameras"][c], "sensor_msgs/msg/Image") for c in ("head", "left", "right")),
                               *((topics[k][a], "sensor_msgs/msg/JointState") for k in ("feedback", "command")
                                 for a in ("left", "right"))]:
            if topic != skip_topic:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=TS)
        for t, topic, msg, msgtype in synthetic_messages(frames):
            if topic in conns:
                writer.write(conns[topic], int(t * 1e9), TS.serialize_cdr(msg, msgtype))


def synthetic_messages(frames: int, first: int = 0) -> list:
    """(stamp, topic, message, type) of frames first..first+frames-1, in time order (see write_bag)."""
    topics = ROBOT["topics"]
    messages = []
    for k in range(first, first + frames):
        t = CAM_T0 + k / HZ
        for i, cam in enumerate(("head", "left", "right")):
            ts = t + (0.004 if i else 0.0)
            messages.append((ts, topics["cameras"][cam], _image(ts, frame(i, k), "bgr8" if cam == "right" else "rgb8"),
                             "sensor_msgs/msg/Image"))
    for j in range(int((frames + 2) / HZ * 100)):
        t = CAM_T0 + first / HZ - 0.02 + j / 100.0
        for kind, key in (("state", "feedback"), ("action", "command")):
            for arm in ("left", "right"):
                msg = _joints(t, joint_value(kind, arm, t)[::-1], NAMES[::-1])
                messages.append((t, topics[key][arm], msg, "sensor_msgs/msg/JointState"))
    return sorted(messages, key=lambda m: m[0])


def test_bag_round_trip(tmp_path):
    write_bag(tmp_path / "bag0", frames=10)
    write_bag(tmp_path / "bag1", frames=7)
    meta = bags_to_dataset([tmp_path / "bag0", tmp_path / "bag1"], tmp_path / "ds", "Pick up both bottles.",
                           task="real", image_size=(8, 12), progress=False)
    assert [e["length"] for e in meta["episodes"]] == [10, 7]
    ds = Dataset(tmp_path / "ds")
    ep = ds.episode(0)
    for k in range(10):
        for i, cam in enumerate(("head", "left", "right")):
            np.testing.assert_array_equal(ep.images[cam][k], frame(i, k))  # nearest wrist frame, bgr8 -> RGB
        t = CAM_T0 + k / HZ
        for kind in ("state", "action"):
            expected = np.concatenate([joint_value(kind, "left", t), joint_value(kind, "right", t)])
            np.testing.assert_allclose(getattr(ep, kind)[k], expected, atol=1e-5)
    assert ep.instruction == "Pick up both bottles." and ds.meta["episodes"][0]["task"] == "real"


def test_bag_resamples_to_fps_and_resizes(tmp_path):
    write_bag(tmp_path / "bag", frames=12)
    ep = read_bag(tmp_path / "bag", ROBOT, image_size=(4, 6), fps=15.0, instruction="x")
    assert len(ep) == 6 and ep.images["head"].shape == (6, 4, 6, 3)  # every other 30 Hz frame
    t = CAM_T0 + 2 / HZ  # the second kept frame
    np.testing.assert_allclose(ep.state[1, :7], joint_value("state", "left", t), atol=1e-5)


def test_missing_topic_names_it_and_lists_the_bag(tmp_path):
    missing = ROBOT["topics"]["command"]["right"]
    write_bag(tmp_path / "bag", frames=3, skip_topic=missing)
    with pytest.raises(ValueError, match=f"lacks the required topic {missing}") as err:
        read_bag(tmp_path / "bag", ROBOT, image_size=(8, 12), fps=30.0, instruction="x")
    assert ROBOT["topics"]["feedback"]["left"] in str(err.value)  # the listing of what the bag has
    assert "sensor_msgs/msg/JointState" in str(err.value)


def test_a_video2act_record_bag_splits_at_its_episode_markers(tmp_path):
    """BagWriter (what `video2act record` writes): markers start episodes, each with its own instruction; a
    marker with nothing after it (Ctrl-C right after) adds no episode; the caller's instruction is not needed."""
    from video2act.data.bag_writer import BagWriter

    with BagWriter(tmp_path / "bag") as bag:
        for topic, msgtype in [*((ROBOT["topics"]["cameras"][c], "sensor_msgs/msg/Image") for c in ("head", "left", "right")),
                               *((ROBOT["topics"][k][a], "sensor_msgs/msg/JointState") for k in ("feedback", "command")
                                 for a in ("left", "right"))]:
            bag.add_topic(topic, msgtype)
        boundary = CAM_T0 + 10 / HZ - 0.015  # between the two episodes' streams
        for first, instruction in ((0, "Pick up both bottles."), (10, "Place the empty cup on the coaster.")):
            bag.start_episode(int((CAM_T0 - 0.05 if first == 0 else boundary) * 1e9), instruction, task=f"task{first}")
            for t, topic, msg, msgtype in synthetic_messages(10, first):
                if (t < boundary) == (first == 0):
                    bag.write(topic, int(t * 1e9), bytes(TS.serialize_cdr(msg, msgtype)))
        bag.start_episode(int((CAM_T0 + 1.0) * 1e9), "nothing follows")
    meta = bags_to_dataset([tmp_path / "bag"], tmp_path / "ds", image_size=(8, 12), progress=False)
    assert [e["length"] for e in meta["episodes"]] == [10, 10]
    ds = Dataset(tmp_path / "ds")
    first, second = ds.episode(0), ds.episode(1)
    assert (first.instruction, second.instruction) == ("Pick up both bottles.", "Place the empty cup on the coaster.")
    assert ds.meta["episodes"][1]["task"] == "task10"
    np.testing.assert_array_equal(second.images["head"][0], frame(0, 10))
    np.testing.assert_allclose(second.state[0, :7], joint_value("state", "left", CAM_T0 + 10 / HZ), atol=1e-5)
    with pytest.raises(ValueError, match="holds 2 episodes"):
        read_bag(tmp_path / "bag", ROBOT, image_size=(8, 12), fps=30.0, instruction="x")


def test_a_bag_without_instruction_is_refused_clearly_and_leaves_no_folder(tmp_path, capsys):
    from video2act.cli import main

    write_bag(tmp_path / "bag")  # a `ros2 bag record` bag: no episode markers, so no instruction in it
    out = tmp_path / "ds"
    assert main(["dataset", "from-bags", str(tmp_path / "bag"), "--out", str(out)]) == 2
    assert "records no instruction; give one (--instruction)" in capsys.readouterr().err
    assert not out.exists()  # nothing half-written: the same command with --instruction just works
    assert main(["dataset", "from-bags", str(tmp_path / "bag"), "--out", str(out), "--instruction", "x"]) == 0
