"""Video2ActConfig: everything that fixes the architecture of one Video2Act policy (dataclass only, no torch).

A config comes from a preset (`config/presets/<name>.yaml`, the one source of truth for model sizes) or from a
checkpoint's `config.json`. Sub-model configs are kept as plain kwargs dicts of the transformers / diffusers classes
they build (SiglipVisionConfig, T5Config, the System 2 VAE and transformer), so a checkpoint always records every
number needed to rebuild the exact network before its weights are loaded.
"""
from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from video2act.config import config_dir, load_config
from video2act.model.system2 import System2Config

PRESETS = ("paper", "small", "small_three_cameras", "small_object_labels", "small_oracle", "tiny")
SCHEDULERS = ("ddim", "dpm")
PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")
IMAGE_ENCODERS = ("siglip", "keypoints", "objects")
FREEZABLE = ("text_encoder", "system2", "system2_conditioning")


@dataclass
class EncoderConfig:
    """One pretrained-able encoder.

    Args:
        config: kwargs of the encoder class: the transformers config (SiglipVisionConfig for images, T5Config for
            text) for "siglip" / the text encoder, KeypointImageEncoder kwargs for "keypoints", ObjectStateEncoder
            kwargs for "objects"; the network is built from it when `pretrained` is None, and it documents the
            expected architecture otherwise.
        pretrained: local directory or hub id loaded with `from_pretrained` by `Video2ActPolicy.from_preset`
            (None: randomly initialised from `config`). A saved policy checkpoint never needs it again.
        type: image encoders only: "siglip" (paper: SigLIP patch tokens), "keypoints" (small: CNN +
            spatial-softmax keypoint tokens, keypoints.py) or "objects" (sanity ladder: true object poses).
    """

    config: dict
    pretrained: str | None = None
    type: str = "siglip"

    def __post_init__(self):
        if self.type not in IMAGE_ENCODERS:
            raise ValueError(f"encoder type must be one of {list(IMAGE_ENCODERS)}. Got {self.type!r}")


@dataclass
class DiTConfig:
    """System 1 diffusion transformer sizes (see dit.py).

    Args:
        hidden_size: token width; cross-attention context is projected to this width too.
        num_layers: number of diffusers BasicTransformerBlocks (self-attn, cross-attn, feed-forward).
        num_heads: attention heads (hidden_size must be divisible by it).
        ff_inner_dim: feed-forward width (RDT-1B uses hidden_size, i.e. ratio 1).
    """

    hidden_size: int
    num_layers: int
    num_heads: int
    ff_inner_dim: int

    def __post_init__(self):
        if self.hidden_size % self.num_heads:
            raise ValueError(f"dit.hidden_size ({self.hidden_size}) must be divisible by dit.num_heads ({self.num_heads})")


@dataclass
class DiffusionConfig:
    """Noise schedule (training: DDPMScheduler) and sampler (inference).

    Args:
        num_train_timesteps: diffusion steps of the training schedule.
        beta_schedule: diffusers beta schedule name.
        scheduler: sampler used by act(): "ddim" (DDIMScheduler, eta 0) or "dpm" (DPMSolverMultistepScheduler).
        num_inference_steps: denoising steps per act() call.
        prediction_type: what the DiT predicts: "sample" (the clean chunk), "epsilon" or "v_prediction".
        timestep_spacing: diffusers spacing of the sampling steps. "trailing" starts at the last training step,
            i.e. from pure noise, so sampling is unbiased; "leading" starts where the true sample still keeps
            signal the noise does not have, which pulls samples toward the dataset mean.
        clip_sample: bound of the clean-sample estimate in normalised units at every sampling step (None: no
            bound). With "sample" prediction the estimate is the network output itself, so it cannot explode at
            alpha_bar ~ 0 the way an epsilon model's (x - sqrt(1 - a) eps) / sqrt(a) does.
    """

    num_train_timesteps: int = 100
    beta_schedule: str = "squaredcos_cap_v2"
    scheduler: str = "dpm"
    num_inference_steps: int = 5
    prediction_type: str = "sample"
    timestep_spacing: str = "trailing"
    clip_sample: float | None = 5.0

    def __post_init__(self):
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"diffusion.scheduler must be one of {list(SCHEDULERS)}. Got {self.scheduler!r}")
        if self.prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"diffusion.prediction_type must be one of {list(PREDICTION_TYPES)}. Got {self.prediction_type!r}")
        if self.timestep_spacing not in ("leading", "trailing", "linspace"):
            raise ValueError(f"diffusion.timestep_spacing must be leading, trailing or linspace. Got {self.timestep_spacing!r}")
        if self.clip_sample is not None and not self.clip_sample > 0:
            raise ValueError(f"diffusion.clip_sample must be > 0 or null. Got {self.clip_sample}")
        if not 1 <= self.num_inference_steps <= self.num_train_timesteps:
            raise ValueError(
                f"diffusion.num_inference_steps must be in [1, {self.num_train_timesteps}]. Got {self.num_inference_steps}"
            )


@dataclass
class Video2ActConfig:
    """The whole policy: System 1 (encoders + DiT) and System 2 (VDM feature extractor + Q-formers).

    Args:
        preset: name of the preset this config came from (checked by `from_pretrained(expected_preset=...)`).
        image_encoder: SigLIP vision encoder; System 1 images are resized to its `image_size` (square).
        text_encoder: T5 encoder; `tokenizer` "byt5" builds transformers' ByT5Tokenizer (no vocab file, nothing
            downloads), "pretrained" loads the tokenizer next to the pretrained text encoder.
        max_text_tokens: instructions are truncated / padded to this many tokens.
        dit: System 1 sizes.
        diffusion: noise schedule and sampler.
        system2: System 2 config (system2.py).
        chunk_size: actions per chunk (H).
        action_dim, state_dim: 14-d layout [left j1..j6, left gripper, right j1..j6, right gripper].
        cameras: camera names System 1 reads; System 2 uses the first one (the head camera).
        frozen: parts that are not trained ("text_encoder"; "system2": its Q-formers and conditioning
            projections; "system2_conditioning": the conditioning projections only, the Q-formers train with
            System 1 as in the paper; the VDM itself is always frozen). Frozen parts are computed once per
            dataset in training (text tokens per instruction; System 2 tokens per frame window, or with
            system2_conditioning its filtered maps, the Q-formers' input).
        system2_image_condition: feed the head camera's image-encoder tokens into System 2's conditioning (the
            paper feeds SigLIP embeddings); off when the image encoder is trained, so System 2 stays cacheable.
        use_system2: False leaves System 2's tokens out of System 1's context (the ablation's "no System 2" row;
            System 2 is still built, so checkpoints keep one layout).
        object_aux_weight: weight of the keypoint supervision: where a dataset has the true object poses (the
            twin's), the head camera's first keypoint maps are trained to peak at the objects' projections
            (keypoints.KeypointImageEncoder.heatmap_loss). Training only; acting reads images alone. A label
            no real dataset has: an option for the twin, never the shipped recipe.
        keyframe_aux_weight: the same supervision from what every dataset records: the head camera's first
            four maps learn to peak where each arm next grasps / releases, found from the gripper commands and
            the fingertips' forward kinematics (data.keyframes). Training only.
    """

    preset: str
    image_encoder: EncoderConfig
    text_encoder: EncoderConfig
    dit: DiTConfig
    diffusion: DiffusionConfig
    system2: System2Config
    tokenizer: str = "byt5"
    max_text_tokens: int = 32
    chunk_size: int = 64
    action_dim: int = 14
    state_dim: int = 14
    cameras: tuple = ("head", "left", "right")
    frozen: tuple = ()
    system2_image_condition: bool = True
    object_aux_weight: float = 0.0
    keyframe_aux_weight: float = 0.0
    use_system2: bool = True
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.cameras = tuple(self.cameras)
        self.frozen = tuple(self.frozen)
        unknown = sorted(set(self.frozen) - set(FREEZABLE))
        if unknown:
            raise ValueError(f"frozen may name {list(FREEZABLE)}. Got {unknown}")
        if "system2_conditioning" in self.frozen and "text_encoder" not in self.frozen:
            raise ValueError("frozen 'system2_conditioning' needs 'text_encoder' frozen too: System 2 is conditioned "
                             "on the text encoder, and its filtered maps are cached only for fixed conditioning")
        if self.system2_image_condition and self.system2_cache is not None:
            raise ValueError(f"frozen {list(self.frozen)} caches System 2's features per frame window from the "
                             "instruction alone: set system2_image_condition: false (or leave System 2 unfrozen)")
        if self.system2_image_condition and self.image_encoder.type != "siglip":
            raise ValueError("system2_image_condition needs the 'siglip' image encoder (System 2 is conditioned on "
                             f"its patch tokens). Got image_encoder.type {self.image_encoder.type!r}")
        if self.tokenizer not in ("byt5", "pretrained"):
            raise ValueError(f"tokenizer must be one of ['byt5', 'pretrained']. Got {self.tokenizer!r}")
        if self.object_aux_weight > 0 and self.keyframe_aux_weight > 0:
            raise ValueError("object_aux_weight and keyframe_aux_weight supervise the same keypoint maps: set one")
        if (self.object_aux_weight > 0 or self.keyframe_aux_weight > 0) and self.image_encoder.type != "keypoints":
            raise ValueError("object_aux_weight / keyframe_aux_weight need the 'keypoints' image encoder (they "
                             f"supervise keypoint maps). Got image_encoder.type {self.image_encoder.type!r}")
        if len(self.cameras) == 0 or len(set(self.cameras)) != len(self.cameras):
            raise ValueError(f"cameras must be a non-empty list of distinct names. Got {list(self.cameras)}")

    # ---- derived numbers (so they cannot drift from the encoder configs) ----
    @property
    def image_size(self) -> tuple[int, int]:
        """System 1 input (H, W): act() resizes every camera image to this (SigLIP: square; keypoints: H, W)."""
        s = self.image_encoder.config.get("image_size", 32)
        return (int(s[0]), int(s[1])) if isinstance(s, (list, tuple)) else (int(s), int(s))

    @property
    def image_dim(self) -> int:
        return int(self.image_encoder.config["hidden_size"])

    @property
    def text_dim(self) -> int:
        return int(self.text_encoder.config["d_model"])

    @property
    def system2_cache(self) -> str | None:
        """What training caches of System 2 per frame window: "tokens" (all of it frozen), "maps" (the Q-formers
        train on cached filtered maps) or None (conditioning trained: latents only, the VDM runs every step)."""
        if "system2" in self.frozen:
            return "tokens"
        return "maps" if "system2_conditioning" in self.frozen else None

    @property
    def keypoint_targets(self) -> str | None:
        """What supervises the head camera's first keypoint maps in training (data.windows): "objects" (the
        twin's object poses), "keyframes" (the recorded grasp / release points) or None."""
        if self.object_aux_weight > 0:
            return "objects"
        return "keyframes" if self.keyframe_aux_weight > 0 else None

    @property
    def head_camera(self) -> str:
        return self.cameras[0]

    # ---- (de)serialisation ----
    def to_dict(self) -> dict:
        d = {f.name: copy.deepcopy(getattr(self, f.name)) for f in dataclasses.fields(self)}
        for key in ("image_encoder", "text_encoder", "dit", "diffusion"):
            d[key] = dataclasses.asdict(d[key])
        d["system2"] = self.system2.to_dict()
        d["cameras"] = list(self.cameras)
        d["frozen"] = list(self.frozen)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Video2ActConfig":
        d = copy.deepcopy(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown Video2ActConfig keys {sorted(unknown)}; expected a subset of {sorted(known)}")
        missing = {"preset", "image_encoder", "text_encoder", "dit", "diffusion", "system2"} - set(d)
        if missing:
            raise ValueError(f"Video2ActConfig is missing keys {sorted(missing)}")
        d["image_encoder"] = EncoderConfig(**d["image_encoder"])
        d["text_encoder"] = EncoderConfig(**d["text_encoder"])
        d["dit"] = DiTConfig(**d["dit"])
        d["diffusion"] = DiffusionConfig(**d.get("diffusion") or {})
        d["system2"] = System2Config.from_dict(d["system2"])
        return cls(**d)

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def from_json(cls, path: str | Path) -> "Video2ActConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))

    @classmethod
    def from_preset(cls, name: str) -> "Video2ActConfig":
        """The config of a named preset (config/presets/<name>.yaml) or of a YAML file path."""
        path = Path(name)
        if not path.suffix:
            if name not in PRESETS:
                raise ValueError(f"preset must be one of {list(PRESETS)} (or a .yaml path). Got {name!r}")
            path = config_dir() / "presets" / f"{name}.yaml"
        d = load_config(str(path))
        d.setdefault("preset", path.stem)
        # pretrained paths relative to the YAML file (a `system2 pretrain` folder moves as a whole); a path that
        # is not there stays as written (an absolute path, a hub id)
        for section, key in (("system2", "pretrained_path"), ("text_encoder", "pretrained"), ("image_encoder", "pretrained")):
            value = (d.get(section) or {}).get(key)
            if isinstance(value, str) and not Path(value).is_absolute() and (path.parent / value).exists():
                d[section][key] = str((path.parent / value).resolve())
        return cls.from_dict(d)


def preset_dict(name: str, overrides=()) -> dict:
    """A preset's config dict (pretrained paths resolved, so it can be written anywhere) with KEY=VALUE overrides:
    dotted keys that the preset already has, YAML values (`system2.motion_filter=none`, `dit.num_layers=6`).
    The result is checked by building the config, so a bad key or value fails here, before anything trains."""
    import yaml

    d = Video2ActConfig.from_preset(name).to_dict()
    for item in overrides:
        key, sep, value = str(item).partition("=")
        if not sep or not key:
            raise ValueError(f"a preset override is KEY=VALUE (e.g. system2.motion_filter=none). Got {item!r}")
        *parents, leaf = key.split(".")
        node = d
        for depth, part in enumerate(parents):
            if not isinstance(node.get(part), dict):
                where = ".".join(parents[:depth]) or "the top level"
                raise ValueError(f"unknown preset key {key!r}: {where} has no section {part!r} "
                                 f"(sections: {sorted(k for k, v in node.items() if isinstance(v, dict))})")
            node = node[part]
        if leaf not in node:
            raise ValueError(f"unknown preset key {key!r}; {'.'.join(parents) or 'the top level'} has {sorted(node)}")
        node[leaf] = yaml.safe_load(value)
    Video2ActConfig.from_dict(d)
    return d
