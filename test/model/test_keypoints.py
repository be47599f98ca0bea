"""The small preset's image pathway: spatial soft-argmax places what the filters find, the encoder learns to
localise a small object from pixels, augmentation only in training, the oracle encoder's interface."""
import numpy as np
import pytest
import torch

from video2act.model import Video2ActPolicy
from video2act.model.keypoints import KeypointImageEncoder, ObjectStateEncoder, SpatialSoftmax

torch.set_num_threads(1)


def test_spatial_softmax_returns_the_peak_position():
    maps = torch.full((1, 2, 24, 32), -10.0)
    maps[0, 0, 6, 24] = 10.0  # row 6 of 24, column 24 of 32
    maps[0, 1, 23, 0] = 10.0
    xy = SpatialSoftmax(2)(maps)[0]
    np.testing.assert_allclose(xy[0].detach().numpy(), [-1 + 2 * 24 / 31, -1 + 2 * 6 / 23], atol=1e-4)
    np.testing.assert_allclose(xy[1].detach().numpy(), [-1.0, 1.0], atol=1e-4)


def _dots(n, rng, h=48, w=64):
    """Grey images with one 3x3 red dot; its centre in [-1, 1] coordinates."""
    img = torch.full((n, 3, h, w), -0.2)
    rows, cols = rng.integers(4, h - 4, n), rng.integers(4, w - 4, n)
    for i, (r, c) in enumerate(zip(rows, cols)):
        img[i, :, r - 1:r + 2, c - 1:c + 2] = torch.tensor([0.9, -0.8, -0.8])[:, None, None]
    return img, torch.tensor(np.stack([-1 + 2 * cols / (w - 1), -1 + 2 * rows / (h - 1)], 1), dtype=torch.float32)


def test_encoder_learns_to_localise_a_small_object():
    """A 3-px dot anywhere in a 48x64 image, placed to a few px after 200 small steps (guessing the centre
    is off by ~12 px)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    enc = KeypointImageEncoder((48, 64), channels=(8, 16, 16), num_keypoints=4, hidden_size=16, shift=0)
    head = torch.nn.Linear(8, 2)
    opt = torch.optim.Adam([*enc.parameters(), *head.parameters()], lr=3e-3)
    for _ in range(200):
        img, target = _dots(16, rng)
        loss = torch.nn.functional.mse_loss(head(enc.keypoints(img).flatten(1)), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    enc.eval()
    img, target = _dots(64, np.random.default_rng(1))
    with torch.no_grad():
        px = torch.tensor([31.5, 23.5])
        err_px = ((head(enc.keypoints(img).flatten(1)) - target).abs() * px).mean()
    guess_px = ((target - target.mean(0)).abs() * px).mean()
    assert float(err_px) < 3.5 and float(err_px) < 0.3 * float(guess_px), (float(err_px), float(guess_px))


def test_augmentation_only_in_training_and_shapes():
    enc = KeypointImageEncoder((24, 32), channels=(4, 8, 8), num_keypoints=3, hidden_size=8, shift=2)
    x = torch.rand(2, 3, 24, 32) * 2 - 1
    enc.eval()
    assert enc(x).shape == (2, 3, 8) and torch.equal(enc(x), enc(x))
    enc.train()
    torch.manual_seed(0)
    shifted = enc.augment(x)
    assert shifted.shape == x.shape and not torch.equal(shifted, x) and shifted.abs().max() <= 1.0


def test_color_jitter_casts_each_channel_apart_and_only_when_asked():
    grey = torch.zeros(64, 3, 24, 32)  # mid grey: every channel equal, inside [-1, 1] under any cast
    plain = KeypointImageEncoder((24, 32), channels=(4, 8, 8), num_keypoints=3, hidden_size=8)
    cast = KeypointImageEncoder((24, 32), channels=(4, 8, 8), num_keypoints=3, hidden_size=8, color_jitter=0.15)
    torch.manual_seed(0)
    out = plain.augment(grey)
    assert torch.allclose(out[:, 0], out[:, 1]) and torch.allclose(out[:, 1], out[:, 2])  # gain / bias: no hue
    torch.manual_seed(0)
    out = cast.augment(grey)
    spread = (out.amax(1) - out.amin(1)).flatten(1).amax(1)  # per image: largest channel difference
    # grey 0.5 in [0, 1]; gain 0.9-1.1 and bias +-0.1 give (0.45-0.55) * (0.85-1.15) per channel: at most ~0.2
    # apart in [-1, 1] units, and well above 0 for most draws
    assert float(spread.max()) <= 2 * 0.55 * 0.3 + 1e-5 and float(spread.median()) > 0.03


def test_object_oracle_policy_needs_object_poses():
    policy = Video2ActPolicy.from_preset("small_oracle", seed=0)
    assert isinstance(policy.encoders.image_encoder, ObjectStateEncoder)
    pixels = torch.zeros(1, 1, 3, 96, 128)
    with pytest.raises(ValueError, match="object poses"):
        policy.image_tokens(pixels)
    assert policy.image_tokens(pixels, torch.zeros(1, 16)).shape == (1, 1, 4, 128)


@pytest.mark.parametrize("name, cameras, trainable", [
    ("small", ("head",), set()),  # the shipped recipe: System 2 frozen whole, its tokens cached
    ("small_three_cameras", ("head", "left", "right"), {"spatial_qformer", "motion_qformer"}),
])
def test_label_free_presets_read_their_cameras_at_their_aspect_ratio_and_train_what_they_say(name, cameras, trainable):
    policy = Video2ActPolicy.from_preset(name, seed=0)
    assert policy.config.image_size == (96, 128) and policy.config.cameras == cameras
    assert policy.config.object_aux_weight == 0.0 and policy.config.keyframe_aux_weight > 0  # no simulator labels
    assert policy.config.keypoint_targets == "keyframes"
    pixels = policy.preprocess_images({cam: np.zeros((240, 320, 3), np.uint8) for cam in policy.config.cameras})
    assert pixels.shape == (1, len(cameras), 3, 96, 128)
    trainable_s2 = {n.split(".")[1] for n, p in policy.named_parameters() if p.requires_grad and n.startswith("system2.")}
    assert trainable_s2 == trainable  # the VDM and its conditioning stay frozen in both
    assert not any(p.requires_grad for p in policy.encoders.text_encoder.parameters())


@torch.no_grad()
def test_heatmap_loss_prefers_maps_that_peak_at_the_targets():
    enc = KeypointImageEncoder((24, 32), channels=(4, 8, 8), num_keypoints=3, hidden_size=8)
    targets = torch.tensor([[[0.5, -0.5], [-1.0, 1.0]]])  # (1, S=2, 2) in [-1, 1]
    valid = torch.tensor([[True, True]])
    right = torch.full((1, 3, 12, 16), -20.0)
    right[0, 0, 3, 11] = 20.0  # x = -1 + 2*11/15 ~ 0.47, y = -1 + 2*3/11 ~ -0.45
    right[0, 1, 11, 0] = 20.0
    wrong = right.flip(-1)
    assert float(enc.heatmap_loss(right, targets, valid)) < float(enc.heatmap_loss(wrong, targets, valid)) - 5
    # an invalid slot (no such body in this task) does not count
    only_first = torch.tensor([[True, False]])
    assert float(enc.heatmap_loss(right, targets, only_first)) == pytest.approx(
        float(enc.heatmap_loss(right[:, :1], targets[:, :1], only_first[:, :1])), rel=1e-5)


def test_head_camera_projection_lands_on_the_rendered_object():
    from video2act.sim.env import CobotMagicEnv
    from video2act.sim.model import project_to_head_camera

    with CobotMagicEnv(image_size=(96, 128)) as env:
        obs = env.reset("place_empty_cup", 3)
    img = obs["images"]["head"].astype(int)
    cup, coaster = project_to_head_camera(obs["objects"][:8].reshape(2, 4)[:, :3])
    px = lambda xy: (int(round((xy[1] + 1) / 2 * 96 - 0.5)), int(round((xy[0] + 1) / 2 * 128 - 0.5)))  # noqa: E731
    assert img[px(cup)].min() > 150  # the white cup
    r, g, b = img[px(coaster)]
    assert r > g > b and r < 140  # the dark brown coaster (the table is lighter)
