"""Presets: configs load and round-trip, the paper preset builds on the meta device with the expected sizes."""
import dataclasses

import pytest
import torch

from video2act.cli import main as cli_main
from video2act.model import Video2ActConfig, Video2ActPolicy
from video2act.model.configuration_video2act import PRESETS, preset_dict

torch.set_num_threads(1)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_config_round_trips(name, tmp_path):
    config = Video2ActConfig.from_preset(name)
    assert config.preset == name
    assert (config.chunk_size, config.action_dim, config.state_dim) == (64, 14, 14)
    assert config.cameras == (("head", "left", "right") if name in ("paper", "small_three_cameras", "tiny") else ("head",))
    config.to_json(tmp_path / "c.json")
    assert Video2ActConfig.from_json(tmp_path / "c.json") == config


def test_bad_preset_and_fields_raise():
    with pytest.raises(ValueError, match="preset must be one of"):
        Video2ActConfig.from_preset("huge")
    d = Video2ActConfig.from_preset("tiny").to_dict()
    with pytest.raises(ValueError, match="scheduler must be one of"):
        Video2ActConfig.from_dict({**d, "diffusion": {**d["diffusion"], "scheduler": "euler"}})
    with pytest.raises(ValueError, match="divisible"):
        Video2ActConfig.from_dict({**d, "dit": {**d["dit"], "num_heads": 3}})
    with pytest.raises(ValueError, match="unknown Video2ActConfig keys"):
        Video2ActConfig.from_dict({**d, "depth": 3})
    with pytest.raises(ValueError, match="system2_image_condition: false"):
        Video2ActConfig.from_dict({**d, "frozen": ["text_encoder", "system2_conditioning"], "system2_image_condition": True})


def test_preset_overrides_change_only_what_they_name_and_refuse_bad_keys_and_values():
    base = Video2ActConfig.from_preset("tiny").to_dict()
    d = preset_dict("tiny", ["system2.motion_filter=none", "dit.num_layers=3", "use_system2=false"])
    assert (d["system2"]["motion_filter"], d["dit"]["num_layers"], d["use_system2"]) == ("none", 3, False)
    d["system2"]["motion_filter"], d["dit"]["num_layers"], d["use_system2"] = "fft", base["dit"]["num_layers"], True
    assert d == base
    with pytest.raises(ValueError, match="KEY=VALUE"):
        preset_dict("tiny", ["system2.motion_filter"])
    with pytest.raises(ValueError, match="unknown preset key 'system2.motion_filtre'"):
        preset_dict("tiny", ["system2.motion_filtre=none"])
    with pytest.raises(ValueError, match="has no section 'sytem2'"):
        preset_dict("tiny", ["sytem2.motion_filter=none"])
    with pytest.raises(ValueError, match="motion_filter must be one of"):
        preset_dict("tiny", ["system2.motion_filter=lowpass"])


def test_paper_preset_on_meta_has_paper_sizes():
    policy = Video2ActPolicy.from_preset("paper", device="meta")
    assert all(p.is_meta for p in policy.parameters())  # nothing allocated
    table = policy.parameter_table()
    assert 0.8e9 <= table["System 1 DiT"] <= 1.3e9
    assert 0.28e9 <= table["image encoder (siglip)"] <= 0.33e9  # SigLIP ViT-L tower without pooling head
    assert 4.5e9 <= table["text encoder (T5)"] <= 5.0e9  # T5 v1.1 XXL encoder
    assert 7.0e9 <= table["system2.transformer"] <= 8.5e9  # HunyuanVideo 20 dual + 5 single blocks
    assert table["system2.spatial_qformer"] == table["system2.motion_qformer"] > 1e6
    assert table["total"] == sum(v for k, v in table.items() if k != "total")
    c = policy.config
    assert c.image_size == (384, 384) and c.system2.high_res == (512, 768) and c.system2.long_window == 16
    assert len(policy.system2.transformer.transformer_blocks) == 20
    assert len(policy.system2.transformer.single_transformer_blocks) == 5


@pytest.mark.parametrize("name, dit_range", [("small", (0.5e6, 12e6)), ("tiny", (1e4, 3e5))])
def test_cpu_preset_sizes(name, dit_range):
    table = Video2ActPolicy.from_preset(name, device="meta").parameter_table()
    assert dit_range[0] <= table["System 1 DiT"] <= dit_range[1]
    assert table["total"] < (20e6 if name == "small" else 1e6)


def test_model_info_cli_prints_every_part(capsys):
    assert cli_main(["model", "info", "--preset", "tiny"]) == 0
    out = capsys.readouterr().out
    for part in ("image encoder (siglip)", "text encoder (T5)", "system2.vae", "system2.transformer",
                 "system2.spatial_qformer", "system2.motion_qformer", "System 1 DiT", "total"):
        assert part in out
    assert dataclasses.is_dataclass(Video2ActConfig)


def test_bench_model_runs_under_bf16_autocast_and_refuses_a_missing_gpu(capsys):
    """The GPU script's options (scripts/gpu_bench.sh), exercised where they can run: bf16 autocast on the CPU."""
    import torch

    from video2act.bench.model import latency_table

    rows = latency_table("tiny", iters=2, warmup=1, threads=1, dtype="bfloat16")
    assert [r["system"] for r in rows] == ["System 1 (act, 64x14 chunk)", "System 2 (push + compute)"]
    assert all(r["p50_ms"] > 0 for r in rows)
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match="sees no CUDA device"):
            latency_table("tiny", iters=1, device="cuda")
    with pytest.raises(ValueError, match="dtype must be one of"):
        latency_table("tiny", iters=1, dtype="int4")
