"""LeRobot v3.0 feature statistics: what LeRobot's writer stores per episode and in meta/stats.json.

The rules follow huggingface/lerobot `src/lerobot/datasets/compute_stats.py` (the PyPI reader
`lerobot-dataset` 0.4.4 ships the same file as `ledataset/datasets/compute_stats.py`):

- every feature but strings gets {min, max, mean, std, count, q01, q10, q50, q90, q99};
- vectors (T, D) give (D,)-shaped stats, 1-d columns (T,) give (1,), count is (1,) = the frames;
- images / videos are reduced over frames, height and width per channel, divided by 255 and shaped
  (3, 1, 1); only the frames `sample_indices` picks are read (every frame below 100, then 100 up to
  about 460 frames, then T ** 0.75), frames of 300 px or more are subsampled to about 150 px, and count
  is the number of frames sampled;
- values are promoted to float before squaring (uint8 images and int64 indices included): LeRobot promotes
  to float32 (compute_stats.py `RunningQuantileStats.update`), we to float64, since mean(x ** 2) - mean ** 2
  in float32 loses the std of a joint that moves little around a large angle (3e-4 relative measured on
  synthetic states at 1.57 rad, std 0.03); the stats agree with LeRobot's to that float32 error;
- quantiles come from a 5000-bin histogram between min and max, interpolated within the bin
  (`RunningQuantileStats`); an episode of one frame gets its mean as every quantile;
- meta/stats.json aggregates the episodes: min of mins, max of maxes, count-weighted mean, the parallel
  variance formula for std, count-weighted quantiles, summed count (`aggregate_feature_stats`).
"""
from __future__ import annotations

import numpy as np

QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
QUANTILE_KEYS = tuple(f"q{int(q * 100):02d}" for q in QUANTILES)  # q01 q10 q50 q90 q99
STAT_KEYS = ("min", "max", "mean", "std", "count", *QUANTILE_KEYS)
HISTOGRAM_BINS = 5000


def sample_indices(length: int) -> list[int]:
    """The frames of a `length`-frame episode whose images enter its stats (LeRobot's sample_indices)."""
    wanted = length if length < 100 else max(100, min(int(length ** 0.75), 10_000))
    return np.round(np.linspace(0, length - 1, wanted)).astype(int).tolist()


def _histogram_quantiles(x: np.ndarray) -> list[np.ndarray]:
    """x (N, D) -> per quantile a (D,) estimate from a HISTOGRAM_BINS-bin histogram of each column."""
    lo, hi = x.min(0), x.max(0)
    out = [np.empty(x.shape[1]) for _ in QUANTILES]
    for d in range(x.shape[1]):
        edges = np.linspace(lo[d] - 1e-10, hi[d] + 1e-10, HISTOGRAM_BINS + 1)
        cum = np.cumsum(np.histogram(x[:, d], bins=edges)[0])
        for i, q in enumerate(QUANTILES):
            target = q * len(x)
            j = int(np.searchsorted(cum, target))
            if j == 0:
                out[i][d] = edges[0]
            elif j >= len(cum):
                out[i][d] = edges[-1]
            else:
                in_bin = cum[j] - cum[j - 1]
                out[i][d] = edges[j] if in_bin == 0 else edges[j] + (target - cum[j - 1]) / in_bin * (edges[j + 1] - edges[j])
    return out


def _column_stats(x: np.ndarray, count: int) -> dict:
    """x (N, D) samples -> {stat: (D,)} with count (1,)."""
    x = x.astype(np.float64)
    mean = x.mean(0)
    stats = {"min": x.min(0), "max": x.max(0), "mean": mean}
    if len(x) < 2:
        stats["std"] = x.std(0)
        quantiles = [mean.copy() for _ in QUANTILES]
    else:
        stats["std"] = np.sqrt(np.maximum(0, (x ** 2).mean(0) - mean ** 2))
        quantiles = _histogram_quantiles(x)
    stats.update(zip(QUANTILE_KEYS, quantiles))
    stats["count"] = np.array([count])
    return stats


def vector_stats(values: np.ndarray) -> dict:
    """(T,) or (T, D) values of one episode -> LeRobot's stats of that feature ((1,) or (D,) each)."""
    values = np.asarray(values)
    if values.ndim not in (1, 2) or len(values) == 0:
        raise ValueError(f"a feature's values must be a non-empty (T,) or (T, D) array. Got shape {values.shape}")
    return _column_stats(values.reshape(len(values), -1), len(values))


def image_stats(frames: np.ndarray) -> dict:
    """(T, H, W, 3) uint8 frames of one episode -> per-channel stats in [0, 1], each (3, 1, 1); count = frames sampled."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8. Got {frames.dtype} {frames.shape}")
    sampled = frames[sample_indices(len(frames))]
    h, w = sampled.shape[1:3]
    if max(h, w) >= 300:  # LeRobot's auto_downsample_height_width: every step-th pixel, about 150 px left
        step = int(w / 150) if w > h else int(h / 150)
        sampled = sampled[:, ::step, ::step]
    stats = _column_stats(sampled.reshape(-1, 3), len(sampled))
    return {k: v if k == "count" else (v / 255.0).reshape(3, 1, 1) for k, v in stats.items()}


def aggregate_stats(episodes: list[dict]) -> dict:
    """Per-episode stats [{feature: {stat: array}}, ...] -> the dataset's stats (meta/stats.json)."""
    out = {}
    for key in dict.fromkeys(k for ep in episodes for k in ep):
        items = [ep[key] for ep in episodes if key in ep]
        counts = np.stack([s["count"] for s in items])  # (E, 1)
        total = counts.sum(0)
        means = np.stack([s["mean"] for s in items])
        weights = counts.reshape(counts.shape + (1,) * (means.ndim - counts.ndim))
        mean = (means * weights).sum(0) / total
        variance = ((np.stack([s["std"] for s in items]) ** 2 + (means - mean) ** 2) * weights).sum(0) / total
        agg = {"min": np.min([s["min"] for s in items], 0), "max": np.max([s["max"] for s in items], 0),
               "mean": mean, "std": np.sqrt(variance), "count": total}
        for q in QUANTILE_KEYS:
            if all(q in s for s in items):
                agg[q] = (np.stack([s[q] for s in items]) * weights).sum(0) / total
        out[key] = agg
    return out


def flatten(stats: dict) -> dict:
    """{feature: {stat: array}} -> {"stats/<feature>/<stat>": nested list}: the meta/episodes columns."""
    return {f"stats/{key}/{stat}": np.asarray(value).tolist() for key, s in stats.items() for stat, value in s.items()}


def to_json(stats: dict) -> dict:
    return {key: {stat: np.asarray(value).tolist() for stat, value in s.items()} for key, s in stats.items()}
