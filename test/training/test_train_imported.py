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
