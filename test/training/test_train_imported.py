"""`video2act train` and `video2act eval` on datasets imported from Cobot Magic HDF5, in both layouts."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from data_helpers import synthetic_episode  # noqa: E402

from video2act.cli import main  # noqa: E402
from video2act.data.format import Dataset  # noqa: E402

pytest.importorskip("h5py")
pytest.importorskip("av")


@pytest.mark.parametrize("layout", ["lerobot", "npz"])
def test_train_and_eval_on_a_dataset_imported_from_hdf5(tmp_path, layout, capsys):
    from video2act.data.hdf5 import write_hdf5_episode

    for i, n in enumerate((8, 6)):
        write_hdf5_episode(tmp_path / f"episode_{i}.hdf5", synthetic_episode(n, seed=i, image_size=(48, 64)), compress=i == 1)
    ds = tmp_path / "ds"
    assert main(["dataset", "from-hdf5", str(tmp_path), "--instruction", "Pick up both bottles.", "--task",
                 "pick_dual_bottles", "--image-size", "32x48", "--to", layout, "--out", str(ds)]) == 0
    assert Dataset(ds).layout == layout and Dataset(ds).lengths == [8, 6]
    run = tmp_path / "run"
    assert main(["train", "--dataset", str(ds), "--preset", "tiny", "--steps", "3", "--batch-size", "2",
                 "--val-fraction", "0", "--out", str(run)]) == 0
    info = json.loads((run / "checkpoints" / "last" / "dataset.json").read_text())
    assert info["tasks"] == ["pick_dual_bottles"] and info["image_size"] == [32, 48] and info["episodes"] == 2
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(run / "checkpoints" / "last"), "--episodes", "1", "--max-steps", "4",
                 "--out", str(tmp_path / "eval")]) == 0
    assert "pick_dual_bottles: 0/1" in capsys.readouterr().out
    results = json.loads((tmp_path / "eval" / "results.json").read_text())["results"]["pick_dual_bottles"]
    assert results["episodes"][0]["steps"] == 4


def test_a_policy_learns_to_localise_from_hdf5_recordings_that_carry_no_labels(tmp_path):
    """Real twin demonstrations stored as a lab stores them (HDF5: images, joints, actions; no object poses),
    imported, then trained with the keyframe supervision (where the arms grasp next, from the joints alone):
    nothing in the pipeline needs a simulator label, and the keypoint maps learn to find the targets."""
    import numpy as np
    import torch
    import yaml

    from video2act.data.generate import record_expert_episode
    from video2act.data.hdf5 import write_hdf5_episode
    from video2act.model.configuration_video2act import preset_dict
    from video2act.sim.env import CobotMagicEnv
    from video2act.training.train import train

    env = CobotMagicEnv(image_size=(48, 64), control_hz=30.0, render=True)
    try:
        for seed in range(2):
            episode, success = record_expert_episode(env, "pick_dual_bottles", seed)
            assert success
            write_hdf5_episode(tmp_path / f"episode_{seed}.hdf5", episode)
    finally:
        env.close()
    ds = tmp_path / "ds"
    assert main(["dataset", "from-hdf5", str(tmp_path), "--instruction", "Pick up both bottles.", "--task",
                 "pick_dual_bottles", "--image-size", "24x32", "--to", "npz", "--out", str(ds)]) == 0
    assert all(Dataset(ds).episode(i).objects is None for i in range(2))  # nothing but what a robot records
    preset = preset_dict("tiny")
    preset.update(image_encoder={"type": "keypoints", "pretrained": None,
                                 "config": {"image_size": [24, 32], "channels": [8, 8, 8], "num_keypoints": 4,
                                            "hidden_size": 32, "shift": 0}},
                  system2_image_condition=False, keyframe_aux_weight=1.0, object_aux_weight=0.0)
    (tmp_path / "kp.yaml").write_text(yaml.safe_dump(preset))
    torch.manual_seed(0)
    result = train(ds, str(tmp_path / "kp.yaml"), steps=40, batch_size=8, out=tmp_path / "run", lr=3e-3,
                   threads=1, progress=False, val_fraction=0.0)
    ce = np.asarray(result["keypoint_ce"])
    assert len(ce) == 40 and np.isfinite(ce).all()
    assert ce[-10:].mean() < ce[:10].mean() - 0.2, ce  # the maps move toward where the grippers close
