"""Spatial and motion filters against independent numpy references."""

import numpy as np
import pytest
import torch

from video2act.model.filters import motion_filter, spatial_filter

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
SCHARR_X = np.array([[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]], dtype=np.float64)
LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)


def correlate_replicate(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """3x3 cross-correlation with edge replication, written with explicit loops."""
    height, width = image.shape
    out = np.zeros_like(image)
    for row in range(height):
        for col in range(width):
            total = 0.0
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    r = min(max(row + dr, 0), height - 1)
                    c = min(max(col + dc, 0), width - 1)
                    total += kernel[dr + 1, dc + 1] * image[r, c]
            out[row, col] = total
    return out


def numpy_spatial(x: np.ndarray, kind: str) -> np.ndarray:
    out = np.zeros_like(x)
    for index in np.ndindex(*x.shape[:-2]):
        image = x[index]
        if kind == "laplacian":
            out[index] = np.abs(correlate_replicate(image, LAPLACIAN))
        else:
            kx = SOBEL_X if kind == "sobel" else SCHARR_X
            gx, gy = correlate_replicate(image, kx), correlate_replicate(image, kx.T)
            out[index] = np.sqrt(gx**2 + gy**2)
    return out


def numpy_motion(x: np.ndarray, cutoff: float, axis: int) -> np.ndarray:
    """Full complex FFT with a two-sided |f| mask (independent of the rfft path)."""
    spectrum = np.fft.fft(x, axis=axis)
    freqs = np.fft.fftfreq(x.shape[axis])
    keep = (np.abs(freqs) >= cutoff) & (freqs != 0)
    shape = [1] * x.ndim
    shape[axis] = -1
    return np.real(np.fft.ifft(spectrum * keep.reshape(shape), axis=axis))


@pytest.mark.parametrize("kind", ["sobel", "scharr", "laplacian"])
def test_spatial_filter_matches_numpy_reference(kind):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 2, 6, 7))  # (B, C, T, H, W)
    expected = numpy_spatial(x, kind)
    got = spatial_filter(torch.from_numpy(x), kind).numpy()
    assert got.shape == x.shape
    np.testing.assert_allclose(got, expected, atol=1e-10)


def test_sobel_on_linear_ramp_gives_known_magnitude():
    # f(y, x) = a*x + b*y: Sobel gives gx = 8a, gy = 8b at interior pixels.
    a, b = 0.5, -1.5
    rows, cols = np.mgrid[0:9, 0:11]
    ramp = torch.tensor(a * cols + b * rows, dtype=torch.float32).expand(4, 9, 11)  # 4 channels
    magnitude = spatial_filter(ramp, "sobel")
    expected = 8.0 * np.hypot(a, b)
    torch.testing.assert_close(magnitude[:, 1:-1, 1:-1], torch.full((4, 7, 9), expected), atol=1e-5, rtol=0)
    # Scharr's weights sum to 16 per side: gx = 32a.
    scharr = spatial_filter(ramp, "scharr")
    torch.testing.assert_close(scharr[:, 1:-1, 1:-1], torch.full((4, 7, 9), 32.0 * np.hypot(a, b)), atol=1e-4, rtol=0)
    # A linear function has zero Laplacian.
    assert spatial_filter(ramp, "laplacian")[:, 1:-1, 1:-1].abs().max() < 1e-5


def test_spatial_filter_is_per_channel():
    x = torch.zeros(2, 5, 5)
    x[1, 2, 2] = 1.0  # an impulse in channel 1 only
    out = spatial_filter(x)
    assert out[0].abs().max() == 0
    assert out[1].abs().max() > 0


def test_constant_clip_has_zero_motion():
    clip = torch.randn(2, 8, 1, 5, 6).expand(2, 8, 16, 5, 6)  # (B, C, T, h, w), constant in time
    out = motion_filter(clip, cutoff=0.0, dim=2)
    assert out.shape == clip.shape
    assert out.abs().max() < 1e-5


@pytest.mark.parametrize("num_frames", [16, 15])
@pytest.mark.parametrize("cutoff", [0.0, 0.1, 0.3])
def test_motion_filter_matches_numpy_fft(num_frames, cutoff):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, num_frames, 4, 5))
    expected = numpy_motion(x, cutoff, axis=2)
    got = motion_filter(torch.from_numpy(x), cutoff, dim=2).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-10)


def test_motion_filter_separates_slow_and_fast_sinusoids():
    t = torch.arange(16, dtype=torch.float64)
    slow = torch.cos(2 * torch.pi * (1 / 16) * t)  # f = 0.0625 < cutoff
    fast = torch.cos(2 * torch.pi * (4 / 16) * t)  # f = 0.25 > cutoff
    out = motion_filter((3.0 + slow + fast)[None], cutoff=0.1, dim=1)[0]
    torch.testing.assert_close(out, fast, atol=1e-10, rtol=0)


def test_filters_reject_bad_input():
    with pytest.raises(ValueError, match="must be one of"):
        spatial_filter(torch.zeros(3, 4, 4), "canny")
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        spatial_filter(torch.zeros(4))
    with pytest.raises(ValueError, match=r"\[0, 0.5\]"):
        motion_filter(torch.zeros(1, 1, 4, 2, 2), cutoff=0.7)
    with pytest.raises(ValueError, match="floating point"):
        motion_filter(torch.zeros(1, 1, 4, 2, 2, dtype=torch.int64), cutoff=0.1)


def test_none_filters_pass_raw_features_and_bad_names_are_refused():
    from video2act.model.system2 import System2Config

    x = torch.randn(2, 3, 4, 5)
    assert spatial_filter(x, "none") is x
    with pytest.raises(ValueError, match="motion_filter must be one of"):
        System2Config(vae={}, transformer={}, motion_filter="wavelet")
