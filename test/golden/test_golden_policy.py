"""Golden output of the shipped policy (policies/small): fixed inputs -> the stored System 2 tokens and System 1
chunk, within the stored tolerances (test/golden/policies_small.json, written by scripts/update_golden.py; its
docstring says what the inputs are and what to do when policies/small is re-shipped on purpose)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
RERUN = "if the change is deliberate, rerun `.venv/bin/python scripts/update_golden.py` and commit the new file"


def _script():
    spec = importlib.util.spec_from_file_location("update_golden", ROOT / "scripts" / "update_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


golden = _script()


@pytest.fixture(scope="module")
def stored():
    return golden.read_golden()


@pytest.fixture(scope="module")
def policy():
    return golden.load_policy()


@pytest.fixture(scope="module")
def inputs():
    return golden.golden_inputs()


def assert_close(name: str, got, want, atol: float) -> None:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{name}: shape {got.shape}, the golden file has {want.shape}; {RERUN}"
    diff = np.abs(got - want)
    worst = np.unravel_index(int(diff.argmax()), diff.shape)
    assert diff.max() <= atol, (
        f"the shipped policy's {name} changed: max |got - golden| = {diff.max():.3g} at {tuple(map(int, worst))} "
        f"(got {got[worst]:.6g}, golden {want[worst]:.6g}; tolerance {atol:g}); {int((diff > atol).sum())} of "
        f"{diff.size} values outside. A change altered what the robot would do; {RERUN}")


def test_the_golden_file_belongs_to_the_shipped_weights(stored):
    assert stored["weights_sha256"] == golden.weights_sha256(), f"policies/small/model.safetensors is not the one the golden file was made from; {RERUN}"


def test_the_golden_inputs_are_what_the_docstring_says(inputs):
    frames = inputs["frames"]
    assert frames.shape == (16, 96, 128, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames, golden.golden_inputs()["frames"])  # seeded: identical every time
    assert not np.array_equal(frames[0], frames[-1])  # the blue block moves: System 2's motion stream has work
    np.testing.assert_allclose(np.diff(inputs["stamps"]), 0.1)


def test_system2_tokens_match_the_golden_file(policy, inputs, stored):
    feats = golden.system2_features(policy, inputs)
    atol = stored["tolerance"]["features_atol"]
    assert_close("System 2 spatial tokens", feats.spatial, stored["spatial"], atol)
    assert_close("System 2 motion tokens", feats.motion, stored["motion"], atol)


def test_system1_chunk_matches_the_golden_file(policy, inputs, stored):
    chunk = golden.system1_chunk(policy, inputs, stored["spatial"], stored["motion"])
    assert chunk.shape == (64, 14)
    assert_close("System 1 chunk (rad / m)", chunk, stored["chunk"], stored["tolerance"]["chunk_atol_rad"])
