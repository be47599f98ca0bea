"""`video2act system2 pretrain` on the tiny preset: it learns, its output loads into a policy through the preset it
writes, a policy trained on it carries the pretrained System 2 in its checkpoint; the ablation's rows and table."""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from data_helpers import write_dataset  # noqa: E402

from video2act.cli import main  # noqa: E402
from video2act.model.modeling_video2act import Video2ActPolicy  # noqa: E402
from video2act.training.ablation import ROWS, row_preset, write_table  # noqa: E402
from video2act.training.system2_pretrain import pretrain  # noqa: E402
from video2act.training.train import train  # noqa: E402


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("s2pre")
    write_dataset(root / "ds", lengths=(14, 12), image_size=(32, 48))
    info = pretrain([root / "ds"], root / "s2", preset="tiny", vae_steps=30, transformer_steps=20, batch_size=4,
                    vae_lr=3e-3, progress=False)
    return root, info


def test_pretrain_learns_and_writes_what_a_person_and_the_policy_need(pretrained):
    root, info = pretrained
    out = root / "s2"
    for name in ("vae/config.json", "transformer/config.json", "text_encoder/config.json", "conditioning.safetensors",
                 "policy_preset.yaml", "pretrain.json", "losses.png", "reconstruction.png", "samples.png", "samples.mp4"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert info["episodes"] == 2 and info["frame_stride"] == 3
    assert info["vae_mse"]["last"] < 0.5 * info["vae_mse"]["first"]  # the VAE learned to reconstruct the frames
    assert set(info["flow_loss"]) == {"spatial", "motion"}
    # latents are scaled to unit variance for the transformer
    assert info["scaling_factor"] == pytest.approx(json.loads((out / "vae" / "config.json").read_text())["scaling_factor"])
    assert info["scaling_factor"] != pytest.approx(0.476986)  # not HunyuanVideo's factor: measured on these frames
    # the full-depth transformer is saved (output head included): what a further fine-tune starts from
    assert "proj_out.weight" in load_file(str(out / "transformer" / "diffusion_pytorch_model.safetensors"))


def test_policy_preset_loads_the_pretrained_system2_and_its_conditioning(pretrained):
    root, info = pretrained
    out = root / "s2"
    policy = Video2ActPolicy.from_preset(str(out / "policy_preset.yaml"), seed=5)  # another seed: same conditioning
    random = Video2ActPolicy.from_preset("tiny", seed=5)
    assert policy.config.preset == "tiny"
    vae = load_file(str(out / "vae" / "diffusion_pytorch_model.safetensors"))
    for name, value in policy.system2.vae.encoder.state_dict().items():
        torch.testing.assert_close(value, vae[f"encoder.{name}"])
    assert policy.system2.vae.config.scaling_factor == pytest.approx(info["scaling_factor"])
    cond = load_file(str(out / "conditioning.safetensors"))
    torch.testing.assert_close(policy.s2_text_proj.weight, cond["s2_text_proj.weight"])
    assert not torch.allclose(random.s2_text_proj.weight, cond["s2_text_proj.weight"])  # seed 5 would differ
    # the features differ from a random System 2's on the same frames
    frames = np.random.default_rng(0).integers(0, 255, (12, 32, 48, 3), dtype=np.uint8)
    feats = []
    for p in (policy, random):
        stream = p.make_system2_stream()
        for k, f in enumerate(frames):
            stream.push(f, k / 10)
        feats.append(stream.compute("Pick up both bottles.").spatial)
    assert not np.allclose(*feats)


def test_policy_trained_on_it_carries_system2_in_its_checkpoint(pretrained, tmp_path):
    root, _ = pretrained
    moved = tmp_path / "s2"
    shutil.copytree(root / "s2", moved)  # the folder moves as a whole: its preset's paths are relative to it
    preset = moved / "policy_preset.yaml"
    r = train(root / "ds", str(preset), steps=2, batch_size=2, out=tmp_path / "run", threads=1, progress=False,
              val_fraction=0.0)
    expected = load_file(str(moved / "vae" / "diffusion_pytorch_model.safetensors"))["encoder.conv_in.conv.weight"]
    shutil.rmtree(moved)  # the checkpoint must not need the pretrain folder any more
    policy = Video2ActPolicy.from_pretrained(r["checkpoint"])
    torch.testing.assert_close(policy.system2.vae.encoder.conv_in.conv.weight, expected)
    assert policy.config.system2.pretrained_path is None


def test_train_cli_set_changes_the_preset_and_keeps_it_in_the_run(pretrained, tmp_path):
    root, _ = pretrained
    args = ["train", "--dataset", str(root / "ds"), "--preset", str(root / "s2" / "policy_preset.yaml"), "--steps", "1",
            "--batch-size", "2", "--val-fraction", "0"]
    with pytest.raises(ValueError, match="unknown preset key"):
        main(args + ["--out", str(tmp_path / "bad"), "--set", "system2.motion=none"])
    assert not (tmp_path / "bad").exists()  # nothing written for a refused override
    assert main(args + ["--out", str(tmp_path / "run"), "--set", "system2.motion_filter=none"]) == 0
    written = Video2ActPolicy.from_preset(str(tmp_path / "run" / "preset.yaml"))
    assert written.config.system2.pretrained_path == str((root / "s2").resolve())  # usable from the run folder
    policy = Video2ActPolicy.from_pretrained(tmp_path / "run" / "checkpoints" / "last")
    assert (policy.config.system2.motion_filter, policy.config.system2.spatial_filter) == ("none", "sobel")
    vae = load_file(str(root / "s2" / "vae" / "diffusion_pytorch_model.safetensors"))
    torch.testing.assert_close(policy.system2.vae.encoder.conv_in.conv.weight, vae["encoder.conv_in.conv.weight"])


def test_pretrain_cli_refuses_a_non_empty_folder(pretrained, capsys):
    root, _ = pretrained
    with pytest.raises(SystemExit, match="not empty.*--force"):
        main(["system2", "pretrain", "--dataset", str(root / "ds"), "--out", str(root / "s2"), "--preset", "tiny"])


def test_feature_pictures_of_random_and_pretrained(pretrained, tmp_path):
    root, _ = pretrained
    assert main(["system2", "features", "--system2", str(root / "s2"), "--dataset", str(root / "ds"),
                 "--moments", "2", "--out", str(tmp_path / "pic")]) == 0
    import cv2

    image = cv2.imread(str(tmp_path / "pic" / "features.png"))
    assert image.shape[0] > 5 * 96  # frame row + random / pretrained x spatial / motion rows
    scores = json.loads((tmp_path / "pic" / "scores.json").read_text())
    assert len(scores["steps"]) == 2 and scores["steps"][0] == 9  # first step with a full long window (3 x stride 3)


def test_ablation_rows_change_only_system2(pretrained):
    root, _ = pretrained
    with pytest.raises(ValueError, match="--system2"):
        row_preset("pretrained_sobel", "tiny", None)
    rows = {name: row_preset(name, "tiny", str(root / "s2")) for name in ROWS}
    assert rows["no_system2"]["use_system2"] is False and rows["no_system2"]["system2"]["pretrained_path"] is None
    assert rows["pretrained_raw"]["system2"]["spatial_filter"] == "none"
    assert rows["pretrained_raw"]["system2"]["motion_filter"] == "none"
    assert rows["pretrained_sobel_fft"]["system2"]["pretrained_path"] == str((root / "s2").resolve())
    assert rows["pretrained_sobel_fft_qformers"]["frozen"] == ["text_encoder", "system2_conditioning"]
    assert rows["pretrained_sobel_fft"]["frozen"] == rows["no_system2"]["frozen"]  # the preset's own
    for name, d in rows.items():  # System 1 is identical in every row
        assert d["dit"] == rows["no_system2"]["dit"] and d["image_encoder"] == rows["no_system2"]["image_encoder"], name


def test_ablation_table(tmp_path):
    results = [{"row": "no_system2", "label": "no System 2 features", "episodes": 50, "final_loss": 0.05,
                "success": {"place_empty_cup": 0.62}},
               {"row": "pretrained_sobel_fft", "label": "pretrained, Sobel + FFT", "episodes": 50, "final_loss": 0.04,
                "success": {"place_empty_cup": 0.7}}]
    md = write_table(results, tmp_path)
    assert "| no System 2 features | 62 % (31/50) | 0.0500 |" in md
    assert "| pretrained, Sobel + FFT | 70 % (35/50) | 0.0400 |" in md
    assert (tmp_path / "ablation.png").is_file() and json.loads((tmp_path / "results.json").read_text()) == results


def test_ablation_merges_training_seeds_into_one_table(tmp_path):
    from video2act.training.ablation import merge_results

    def result(folder, row, seed, success):
        (tmp_path / folder / row).mkdir(parents=True)
        r = {"row": row, "label": row.replace("_", " "), "seed": seed, "episodes": 50, "final_loss": 0.3,
             "success": {"place_empty_cup": success}}
        (tmp_path / folder / row / "result.json").write_text(json.dumps(r))

    result("seed0", "pretrained_sobel", 0, 0.64)
    result("seed0", "no_system2", 0, 0.6)
    result("seed1", "pretrained_sobel", 1, 0.44)
    results = merge_results([tmp_path / "seed0", tmp_path / "seed1"])
    assert [(r["row"], r["seed"]) for r in results] == [("no_system2", 0), ("pretrained_sobel", 0), ("pretrained_sobel", 1)]
    md = write_table(results, tmp_path / "merged")
    assert "| no system2 | 60 % (30/50) | 0.3000 |" in md
    assert "| pretrained sobel | 54 % (seed 0: 64 %, seed 1: 44 %) | 0.3000 |" in md
    assert (tmp_path / "merged" / "ablation.png").is_file()
    with pytest.raises(FileNotFoundError, match="no measured ablation row"):
        merge_results([tmp_path / "merged"])
    assert main(["bench", "ablation", "--merge", str(tmp_path / "seed0"), "--out", str(tmp_path / "m2")]) == 0
    assert "| no system2 | 60 % (30/50)" in (tmp_path / "m2" / "ablation.md").read_text()


def test_use_system2_false_leaves_the_tokens_out():
    on = Video2ActPolicy.from_preset("tiny", seed=0)
    off_config = on.config
    off_config_dict = off_config.to_dict() | {"use_system2": False}
    from video2act.model.configuration_video2act import Video2ActConfig

    off = Video2ActPolicy(Video2ActConfig.from_dict(off_config_dict))
    s2 = on.config.system2
    pixels = torch.zeros(1, len(on.config.cameras), 3, *on.config.image_size)
    text, mask = on.encode_instructions(["x"])
    spatial, motion = torch.zeros(1, s2.num_spatial_tokens, s2.token_dim), torch.zeros(1, s2.num_motion_tokens, s2.token_dim)
    n_on = on.system1_context(pixels, text, mask, spatial, motion)[0].shape[1]
    n_off = off.system1_context(pixels, text, mask, spatial, motion)[0].shape[1]
    assert n_on - n_off == s2.num_spatial_tokens + s2.num_motion_tokens


def test_the_shipped_pretrained_system2_loads_and_knows_the_twin():
    """policies/system2_small loads through its preset, and its VAE reconstructs a freshly rendered twin frame
    (a seed no dataset used) far better than the small preset's random VAE."""
    from diffusers import AutoencoderKLHunyuanVideo

    from video2act.model.system2 import _frame_to_tensor
    from video2act.sim.env import CobotMagicEnv

    folder = Path(__file__).resolve().parents[2] / "policies" / "system2_small"
    policy = Video2ActPolicy.from_preset(str(folder / "policy_preset.yaml"))
    info = json.loads((folder / "pretrain.json").read_text())
    assert policy.config.preset == "small" and policy.config.system2.pretrained_path == str(folder)
    assert policy.system2.vae.config.scaling_factor == pytest.approx(info["scaling_factor"])
    with CobotMagicEnv(image_size=(96, 128)) as twin:
        frame = twin.reset("place_empty_cup", 4242)["images"]["head"]
    errors = {}
    for name, vae in (("pretrained", AutoencoderKLHunyuanVideo.from_pretrained(str(folder / "vae"))),
                      ("random", AutoencoderKLHunyuanVideo(**Video2ActPolicy.from_preset("small").config.system2.full_vae_config()))):
        video = _frame_to_tensor(frame, policy.config.system2.high_res)[None, :, None]  # (1, 3, 1, H, W)
        with torch.no_grad():
            recon = vae.decode(vae.encode(video).latent_dist.mode()).sample
        errors[name] = float(((recon - video) ** 2).mean())
    assert errors["pretrained"] < 0.01 < errors["random"], errors  # measured: 0.0017 vs 0.21


def test_run_ablation_trains_evaluates_and_resumes(pretrained, tmp_path):
    from video2act.training.ablation import run_ablation

    root, _ = pretrained
    kw = dict(rows=["no_system2", "pretrained_sobel_fft"], preset="tiny", system2_dir=str(root / "s2"), steps=2,
              batch_size=2, episodes=1, progress=False, tasks=["pick_dual_bottles"], max_steps=4)
    results = run_ablation([root / "ds"], tmp_path / "abl", **kw)
    assert [r["row"] for r in results] == ["no_system2", "pretrained_sobel_fft"]
    assert all(set(r["success"]) == {"pick_dual_bottles"} and r["steps"] == 2 for r in results)
    pre = Video2ActPolicy.from_pretrained(tmp_path / "abl" / "pretrained_sobel_fft" / "run" / "checkpoints" / "last")
    assert pre.config.system2.spatial_filter == "sobel" and pre.config.use_system2
    vae = load_file(str(root / "s2" / "vae" / "diffusion_pytorch_model.safetensors"))
    torch.testing.assert_close(pre.system2.vae.encoder.conv_in.conv.weight, vae["encoder.conv_in.conv.weight"])
    assert "| no System 2 features |" in (tmp_path / "abl" / "ablation.md").read_text()
    stamp = (tmp_path / "abl" / "no_system2" / "result.json").stat().st_mtime_ns
    assert run_ablation([root / "ds"], tmp_path / "abl", **kw) == results  # measured rows are not run again
    assert (tmp_path / "abl" / "no_system2" / "result.json").stat().st_mtime_ns == stamp


def test_init_from_fine_tunes_a_trained_policy_onto_the_pretrained_system2(pretrained, tmp_path):
    root, _ = pretrained
    first = train(root / "ds", "tiny", steps=2, batch_size=2, out=tmp_path / "a", threads=1, progress=False,
                  val_fraction=0.0)
    start = load_file(str(Path(first["checkpoint"]) / "model.safetensors"))
    norm_file = Path(first["checkpoint"]) / "normalization.json"
    trained_with = {k: [v + 0.05 for v in vals] if k.endswith("mean") else vals
                    for k, vals in json.loads(norm_file.read_text()).items()}  # as if trained on other data
    norm_file.write_text(json.dumps(trained_with))
    r = train(root / "ds", str(root / "s2" / "policy_preset.yaml"), steps=1, batch_size=2, out=tmp_path / "b",
              threads=1, progress=False, val_fraction=0.0, lr=1e-12, ema_decay=0.0, init_from=first["checkpoint"])
    tuned = load_file(str(Path(r["checkpoint"]) / "model.safetensors"))
    vae = load_file(str(root / "s2" / "vae" / "diffusion_pytorch_model.safetensors"))
    dit = [k for k in start if k.startswith("dit.")]
    for k in dit:  # System 1 carried over (lr ~0: one step changes nothing)
        torch.testing.assert_close(tuned[k], start[k])
    torch.testing.assert_close(tuned["system2.vae.encoder.conv_in.conv.weight"], vae["encoder.conv_in.conv.weight"])
    assert json.loads((Path(r["checkpoint"]) / "dataset.json").read_text())["init_from"] == str(first["checkpoint"])
    tuned_norm = json.loads((Path(r["checkpoint"]) / "normalization.json").read_text())
    for k, vals in trained_with.items():  # the statistics the weights were trained to, not the new data's
        np.testing.assert_allclose(tuned_norm[k], vals, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="does not match preset"):
        train(root / "ds", "small", steps=1, batch_size=2, out=tmp_path / "c", threads=1, progress=False,
              val_fraction=0.0, init_from=first["checkpoint"])


def test_init_from_widens_a_head_camera_policy_to_the_wrist_cameras(pretrained, tmp_path):
    import yaml

    root, _ = pretrained
    head_only = yaml.safe_load((Path("config/presets/tiny.yaml")).read_text()) | {"cameras": ["head"]}
    (tmp_path / "head.yaml").write_text(yaml.safe_dump(head_only))
    first = train(root / "ds", str(tmp_path / "head.yaml"), steps=2, batch_size=2, out=tmp_path / "a", threads=1,
                  progress=False, val_fraction=0.0)
    start = load_file(str(Path(first["checkpoint"]) / "model.safetensors"))
    r = train(root / "ds", "tiny", steps=1, batch_size=2, out=tmp_path / "b", threads=1, progress=False,
              val_fraction=0.0, lr=1e-12, ema_decay=0.0, init_from=first["checkpoint"])
    tuned = load_file(str(Path(r["checkpoint"]) / "model.safetensors"))
    assert tuned["context_type"].shape[0] == start["context_type"].shape[0] + 2  # + left, right
    torch.testing.assert_close(tuned["context_type"][0], start["context_type"][0])  # head kept
    torch.testing.assert_close(tuned["context_type"][-3:], start["context_type"][-3:])  # text, spatial, motion kept
    assert not torch.allclose(tuned["context_type"][1], start["context_type"][1])  # a fresh row for the left wrist
    for k in (k for k in start if k.startswith("dit.")):
        torch.testing.assert_close(tuned[k], start[k])
