"""Write test/golden/policies_small.json: what the shipped policy (policies/small) answers to fixed inputs.

test/golden/test_golden_policy.py feeds the shipped policy the same inputs and fails when its answer moves by
more than the tolerances stored here: a change anywhere on the path (encoders, System 2, Q-formers, DiT, sampler,
normalisation, resizing, the tokenizer) that alters what the robot would do shows up there, loudly.

Inputs (all fixed, built by `golden_inputs`): 16 head-camera frames at the trained 96x128 (a grey table, two
coloured blocks, one sliding right; seeded noise), 10 Hz stamps; the robot's home pose; the shipped task's
instruction; System 1 noise seed 0. Outputs: System 2's spatial and motion tokens for those frames, and the 64x14
chunk System 1 plans from the newest frame with the *stored* tokens (so a System 2 change does not show up as a
System 1 one as well).

Re-shipping policies/small on purpose (new weights, a new recipe): rerun this script, look at the printed
differences, and commit the new file together with the new policy:

    .venv/bin/python scripts/update_golden.py            # writes test/golden/policies_small.json
    .venv/bin/python scripts/update_golden.py --check    # only prints how far the policy is from the file
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "test" / "golden" / "policies_small.json"
CHECKPOINT = ROOT / "policies" / "small"
FRAMES, FRAME_HZ, SIZE = 16, 10.0, (96, 128)
INSTRUCTION = "Pick up both bottles with both arms at the same time."
SEED = 0
# Rerunning on one machine reproduces the file to 5e-8 (tokens) / 3e-7 (chunk); these leave room for other CPUs and
# torch builds and still catch a 1 % change of one layer (System 1's action embedding moves the chunk by 1.6e-3 rad,
# a Q-former's input norm the tokens by 1.3e-4)
TOLERANCE = {"features_atol": 1e-5, "chunk_atol_rad": 1e-4}


def weights_sha256(checkpoint: Path = CHECKPOINT) -> str:
    return hashlib.sha256((checkpoint / "model.safetensors").read_bytes()).hexdigest()


def golden_inputs() -> dict:
    """{"frames": (16, 96, 128, 3) uint8, "stamps": (16,), "state": (14,), "instruction", "seed"}."""
    from video2act.runtime.robot import RobotDescription

    rng = np.random.default_rng(20261207)
    h, w = SIZE
    frames = []
    for k in range(FRAMES):
        img = np.full((h, w, 3), 128, np.int16)
        img[60:, :] = (150, 120, 90)  # table
        img[40:56, 30:42] = (200, 40, 40)  # red block, still
        x = 70 + 2 * k
        img[44:58, x:x + 10] = (40, 60, 200)  # blue block sliding right
        img += rng.integers(-8, 9, img.shape, dtype=np.int16)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return {"frames": np.stack(frames), "stamps": np.arange(FRAMES) / FRAME_HZ,
            "state": RobotDescription.from_config().home.astype(np.float32), "instruction": INSTRUCTION, "seed": SEED}


def load_policy(checkpoint: Path = CHECKPOINT):
    import torch

    from video2act.model import Video2ActPolicy

    torch.set_num_threads(1)
    return Video2ActPolicy.from_pretrained(checkpoint).eval()


def system2_features(policy, inputs: dict):
    """SlowFeatures of the shipped System 2 for the golden frames."""
    stream = policy.make_system2_stream()
    for frame, stamp in zip(inputs["frames"], inputs["stamps"]):
        stream.push(frame, float(stamp))
    return stream.compute(inputs["instruction"])


def system1_chunk(policy, inputs: dict, spatial: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """The (64, 14) chunk from the newest golden frame (every camera the policy reads) and the given tokens."""
    from video2act.model import SlowFeatures

    features = SlowFeatures(spatial=np.asarray(spatial, np.float32), motion=np.asarray(motion, np.float32),
                            stamp=float(inputs["stamps"][-1]))
    images = {cam: inputs["frames"][-1] for cam in policy.config.cameras}
    return policy.act(images, inputs["state"], inputs["instruction"], features, seed=inputs["seed"])


def compute(policy=None) -> dict:
    policy = policy or load_policy()
    inputs = golden_inputs()
    feats = system2_features(policy, inputs)
    chunk = system1_chunk(policy, inputs, feats.spatial, feats.motion)
    return {"checkpoint": "policies/small", "weights_sha256": weights_sha256(), "tolerance": TOLERANCE,
            "spatial": feats.spatial.tolist(), "motion": feats.motion.tolist(), "chunk": chunk.tolist()}


def read_golden(path: Path = GOLDEN) -> dict:
    return json.loads(path.read_text())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="print the differences to the stored file; write nothing")
    args = parser.parse_args(argv)
    new = compute()
    if GOLDEN.is_file():
        old = read_golden()
        for key in ("spatial", "motion", "chunk"):
            print(f"{key:8s} max |new - stored| = {np.abs(np.asarray(new[key]) - np.asarray(old[key])).max():.3g}")
        print(f"weights  {'unchanged' if old['weights_sha256'] == new['weights_sha256'] else 'CHANGED'}")
    if args.check:
        return 0
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    rounded = {k: (np.round(np.asarray(v, np.float64), 7).tolist() if k in ("spatial", "motion", "chunk") else v)
               for k, v in new.items()}
    GOLDEN.write_text(json.dumps(rounded, separators=(",", ":")) + "\n")
    print(f"wrote {GOLDEN.relative_to(ROOT)} ({GOLDEN.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
