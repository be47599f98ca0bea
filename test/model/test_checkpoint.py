"""model/checkpoint.py: what a checkpoint was trained with, read from its folder, and the one compatibility check
(each mismatch named with what was trained and what was offered; old checkpoints keep loading)."""
import json
import shutil
from pathlib import Path

import pytest

from video2act.model.checkpoint import CheckpointMismatch, TrainedWith, check_compatible, mismatches

SHIPPED = Path(__file__).resolve().parents[2] / "policies" / "small"
BOTTLES = "Pick up both bottles with both arms at the same time."


@pytest.fixture(scope="module")
def shipped():
    return TrainedWith.read(SHIPPED)


def test_the_shipped_checkpoint_records_what_it_was_trained_with(shipped):
    from video2act.model.configuration_video2act import Video2ActConfig

    config = Video2ActConfig.from_json(SHIPPED / "config.json")
    assert shipped.control_hz == 30.0 and shipped.system2_frame_hz == 10.0
    assert (shipped.short_window, shipped.long_window) == (config.system2.short_window, config.system2.long_window) == (2, 16)
    assert shipped.image_size == (96, 128)
    assert shipped.cameras == config.cameras == ("head",) and shipped.system2_camera == "head"
    assert shipped.tasks == ("handover_block", "pick_dual_bottles", "place_container_plate", "place_empty_cup")
    assert BOTTLES in shipped.instructions and len(shipped.instructions) == 9  # container: one per colour
    assert shipped.source == str(SHIPPED)


def test_what_the_shipped_checkpoint_was_trained_with_passes(shipped):
    check_compatible(shipped, "test", control_hz=30.0, system2_frame_hz=10.0, windows=(2, 16), image_size=(96, 128),
                     cameras=("head", "left", "right"), system2_camera="head", instruction=BOTTLES,
                     task="place_empty_cup")
    # any size of the same aspect ratio: act() resizes (the robot's 480x640, the sim bridge's 240x320)
    check_compatible(shipped, "test", image_size=(480, 640))
    check_compatible(shipped, "test", image_size=(240, 320))
    check_compatible(shipped, "test", instruction=f"  {BOTTLES} ")  # surrounding blanks do not count
    check_compatible(shipped, "test")  # nothing offered, nothing compared


@pytest.mark.parametrize("offered, field, trained_text, got_text", [
    ({"control_hz": 15.0}, "control_hz", "30 Hz", "15 Hz"),
    ({"system2_frame_hz": 6.0}, "system2_frame_hz", "10 Hz", "6 Hz"),
    ({"windows": (2, 8)}, "windows", "short 2, long 16 frames", "short 2, long 8 frames"),
    ({"image_size": (96, 96)}, "image_size", "96x128 (HxW, aspect 0.750)", "96x96 (HxW, aspect 1.000)"),
    ({"image_size": (128, 96)}, "image_size", "96x128", "128x96"),  # transposed: same pixels, other shape
    ({"cameras": ("left", "right")}, "cameras", "['head']", "['left', 'right'] (missing ['head'])"),
    ({"system2_camera": "left"}, "system2_camera", "'head'", "'left'"),
    ({"instruction": "Hand over the block."}, "instruction", BOTTLES, "'Hand over the block.'"),
    ({"task": "stack_cups"}, "task", "pick_dual_bottles", "'stack_cups'"),  # a task it never saw
])
def test_each_mismatch_is_named_with_what_was_trained_and_what_was_offered(shipped, offered, field, trained_text, got_text):
    with pytest.raises(CheckpointMismatch) as info:
        check_compatible(shipped, "system1_node", **offered)
    assert info.value.fields == [field]
    (line,) = [ln for ln in str(info.value).splitlines() if ln.strip().startswith(f"{field}:")]
    assert trained_text in line.split(", got")[0] and got_text in line.split(", got ")[1], line
    assert str(info.value).startswith(f"checkpoint {SHIPPED} does not match system1_node:")
    assert isinstance(info.value, ValueError)  # the nodes' start-up turns a ValueError into exit code 2


def test_every_mismatch_is_reported_at_once(shipped):
    found = mismatches(shipped, control_hz=20.0, system2_frame_hz=5.0, image_size=(100, 100), instruction="x")
    assert [f for f, _, _ in found] == ["control_hz", "system2_frame_hz", "image_size", "instruction"]
    with pytest.raises(CheckpointMismatch, match=r"(?s)control_hz.*system2_frame_hz.*image_size.*instruction"):
        check_compatible(shipped, "demo", control_hz=20.0, system2_frame_hz=5.0, image_size=(100, 100), instruction="x")


def test_aspect_ratio_tolerance_is_one_percent(shipped):
    assert not mismatches(shipped, image_size=(96, 129))  # 0.8 % off
    assert [f for f, _, _ in mismatches(shipped, image_size=(96, 130))] == ["image_size"]  # 1.5 % off


def copy_checkpoint(tmp_path, info: dict | None) -> Path:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    shutil.copy(SHIPPED / "config.json", folder / "config.json")
    if info is not None:
        (folder / "dataset.json").write_text(json.dumps(info))
    return folder


def test_an_old_dataset_json_keeps_loading_and_checks_what_it_records(tmp_path):
    """dataset.json as training wrote it before control_hz, system2_frame_hz and instructions."""
    old = {"datasets": ["outputs/ds"], "fps": 30.0, "cameras": ["head", "left", "right"], "image_size": [96, 128],
           "tasks": ["pick_dual_bottles", ""], "episodes": 200}
    trained = TrainedWith.read(copy_checkpoint(tmp_path, old))
    assert trained.control_hz == 30.0  # fps stands in for the control rate
    assert trained.system2_frame_hz is None and trained.instructions == ()
    assert trained.tasks == ("pick_dual_bottles",)
    check_compatible(trained, "old", system2_frame_hz=6.0, instruction="anything at all")  # not recorded: not checked
    with pytest.raises(CheckpointMismatch, match="control_hz: trained with 30 Hz, got 10 Hz"):
        check_compatible(trained, "old", control_hz=10.0)


def test_a_checkpoint_without_dataset_json_loads_and_checks_its_config_only(tmp_path):
    trained = TrainedWith.read(copy_checkpoint(tmp_path, None))
    assert (trained.control_hz, trained.system2_frame_hz, trained.image_size) == (None, None, None)
    assert trained.cameras == ("head",) and trained.long_window == 16
    check_compatible(trained, "bare", control_hz=7.0, image_size=(10, 10), task="any")
    with pytest.raises(CheckpointMismatch, match="system2_camera: trained with 'head', got 'left'"):
        check_compatible(trained, "bare", system2_camera="left")


def test_a_folder_that_is_no_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="is not a Video2Act checkpoint: no config.json"):
        TrainedWith.read(tmp_path)


def test_an_in_memory_policy_is_described_by_its_config():
    from video2act.model import Video2ActPolicy

    policy = Video2ActPolicy.from_preset("tiny", seed=0)
    trained = TrainedWith.of_policy(policy)
    assert trained.cameras == policy.config.cameras and trained.long_window == policy.config.system2.long_window
    assert trained.control_hz is None and trained.source == "tiny preset"
