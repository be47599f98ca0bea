"""`video2act bench model`: System 1 / System 2 latency of a preset on this machine.

    video2act bench model --preset small       System 1 (act) and System 2 (push + compute) latency
    video2act bench model --iters 50 --threads 2
    video2act bench model --preset paper --device cuda --dtype bfloat16 --compile     (a GPU: scripts/gpu_bench.sh)

On a GPU the weights are random (nothing downloads; the time of a call does not depend on the values), the
calls run under torch.autocast at --dtype, attention is PyTorch SDPA (diffusers' and transformers' default), and
--compile wraps the three heavy networks (System 2's VDM transformer and VAE encoder, System 1's DiT) in
torch.compile. GPU times are taken after torch.cuda.synchronize().
"""
from __future__ import annotations

import argparse
import time

from video2act.model.cli import PRESET_CHOICES

DTYPES = ("float32", "bfloat16", "float16")  # torch dtype names


def register(bench_subparsers) -> None:
    bench = bench_subparsers.add_parser(
        "model", help="System 1 / System 2 latency table (p50, p95, mean, Hz) of a preset on this machine"
    )
    bench.add_argument("--preset", choices=PRESET_CHOICES, default="small", help="model preset (default: small)")
    bench.add_argument("--iters", type=int, default=30, help="timed calls per system (default: 30)")
    bench.add_argument("--warmup", type=int, default=3, help="untimed calls before timing (default: 3)")
    bench.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default: 2)")
    bench.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default: cpu)")
    bench.add_argument("--dtype", choices=DTYPES, default="float32",
                       help="autocast dtype of the calls (default: float32, no autocast)")
    bench.add_argument("--compile", action="store_true",
                       help="torch.compile System 2's VDM transformer / VAE and System 1's DiT (first calls compile)")
    bench.set_defaults(func=run_bench)


def latency_table(preset: str = "small", iters: int = 30, warmup: int = 3, threads: int = 2, device: str = "cpu",
                  dtype: str = "float32", compile: bool = False) -> list[dict]:
    """Time System 1 (one act() call) and System 2 (one head-frame push + compute) of a fresh preset policy.

    Returns one row per system: {"system", "p50_ms", "p95_ms", "mean_ms", "hz"}.
    """
    import contextlib

    import numpy as np
    import torch
    from tqdm import tqdm

    from video2act.config import load_config
    from video2act.model.modeling_video2act import Video2ActPolicy

    torch.set_num_threads(threads)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {device}: torch sees no CUDA device (torch {torch.__version__})")
    with torch.device(dev) if dev.type != "cpu" else contextlib.nullcontext():  # paper size: init on the GPU
        policy = Video2ActPolicy.from_preset(preset, load_pretrained=False).to(dev)
    if compile:
        for owner, name in ((policy.system2, "transformer"), (policy.system2.vae, "encoder"), (policy, "dit")):
            setattr(owner, name, torch.compile(getattr(owner, name)))
    cast = (torch.autocast(dev.type, dtype=getattr(torch, dtype)) if dtype != "float32"
            else contextlib.nullcontext())
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    cams = load_config("robot.yaml")["cameras"]
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (8, cams["height"], cams["width"], 3), dtype=np.uint8)
    stream = policy.make_system2_stream()
    for i in range(policy.config.system2.long_window):
        stream.push(frames[i % len(frames)], i / 30.0)
    instruction = "pick up the block and hand it over"
    state = np.zeros(policy.config.state_dim, dtype=np.float32)
    features = stream.compute(instruction)
    images = {cam: frames[0] for cam in policy.config.cameras}
    step = [policy.config.system2.long_window]

    def system2_call():
        stream.push(frames[step[0] % len(frames)], step[0] / 30.0)
        step[0] += 1
        stream.compute(instruction)

    calls = {
        "System 1 (act, 64x14 chunk)": lambda: policy.act(images, state, instruction, features, seed=0),
        "System 2 (push + compute)": system2_call,
    }
    rows = []
    for name, call in calls.items():
        with torch.inference_mode(), cast:
            for _ in range(warmup):
                call()
            sync()
            times = []
            for _ in tqdm(range(iters), desc=name, leave=False):
                t0 = time.perf_counter()
                call()
                sync()
                times.append((time.perf_counter() - t0) * 1000.0)
        t = np.array(times)
        rows.append({"system": name, "p50_ms": float(np.percentile(t, 50)), "p95_ms": float(np.percentile(t, 95)),
                     "mean_ms": float(t.mean()), "hz": float(1000.0 / t.mean())})
    return rows


def run_bench(args: argparse.Namespace) -> int:
    if args.iters < 1:
        raise SystemExit("--iters must be >= 1")
    rows = latency_table(args.preset, args.iters, args.warmup, args.threads, args.device, args.dtype, args.compile)
    print(f"preset {args.preset}, device {args.device}, {args.dtype}{', compiled' if args.compile else ''}, "
          f"{args.threads} torch threads, {args.iters} calls each")
    print(f"{'system':<30}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}{'Hz':>8}")
    for r in rows:
        print(f"{r['system']:<30}{r['p50_ms']:>10.1f}{r['p95_ms']:>10.1f}{r['mean_ms']:>10.1f}{r['hz']:>8.1f}")
    return 0
