"""`video2act dataset ...`, `video2act train`, `video2act eval`: demonstrations -> policy -> success rate.

    video2act dataset generate --task pick_dual_bottles --episodes 50 --out data/bottles
    video2act dataset from-bags bags/ep1 bags/ep2 --instruction "Pick up both bottles." --out data/real
    video2act dataset info data/bottles
    video2act dataset cache-latents --dataset data/bottles --preset small
    video2act train --dataset data/bottles --preset small --steps 1200 --batch-size 8 --out runs/bottles
    video2act eval --checkpoint runs/bottles/checkpoints/last --task pick_dual_bottles --episodes 10
"""
from __future__ import annotations

import json
import time

from video2act.cli import image_size_arg


def register(subparsers, bench_subparsers) -> None:
    ds = subparsers.add_parser("dataset", help="demonstration datasets: generate on the twin, convert bags, info")
    ds_sub = ds.add_subparsers(dest="dataset_command", metavar="SUBCOMMAND")

    gen = ds_sub.add_parser("generate", help="scripted-expert episodes rendered on the MuJoCo twin")
    gen.add_argument("--task", required=True, help="twin task (see `video2act sim tasks`)")
    gen.add_argument("--episodes", type=int, required=True, help="successful episodes to keep")
    gen.add_argument("--out", required=True, help="new dataset folder")
    gen.add_argument("--image-size", type=image_size_arg, default=(96, 128), help="HxW of every camera (default 96x128)")
    gen.add_argument("--first-seed", type=int, default=0, help="seeds first-seed, first-seed+1, ... (default 0)")
    gen.add_argument("--keep-failed", action="store_true", help="also keep episodes where the expert failed")
    gen.set_defaults(func=cmd_generate)

    bags = ds_sub.add_parser("from-bags", help="rosbag2 folders (mcap / sqlite3), one episode each, -> dataset")
    bags.add_argument("bags", nargs="+", help="bag folders (with metadata.yaml)")
    bags.add_argument("--out", required=True, help="new dataset folder")
    bags.add_argument("--instruction", required=True, help="language instruction of every episode")
    bags.add_argument("--task", default="", help="task name stored with the episodes")
    bags.add_argument("--image-size", type=image_size_arg, default=(96, 128), help="HxW images are resized to (default 96x128)")
    bags.add_argument("--fps", type=float, help="episode rate (default robot.yaml rates.camera_hz)")
    bags.set_defaults(func=cmd_from_bags)

    info = ds_sub.add_parser("info", help="episodes, lengths, instructions and stats of a dataset")
    info.add_argument("dataset", help="dataset folder")
    info.set_defaults(func=cmd_info)

    cache = ds_sub.add_parser("cache-latents", help="precompute the System 2 VAE latents of the head camera "
                                                    "(train does this itself when they are missing)")
    cache.add_argument("--dataset", required=True, help="dataset folder")
    cache.add_argument("--preset", default="small", help="policy preset whose VAE encodes (default small)")
    cache.add_argument("--seed", type=int, default=0, help="policy init seed (the VAE of a random-init preset)")
    cache.set_defaults(func=cmd_cache)

    train = subparsers.add_parser("train", help="train a policy on a dataset; checkpoints/<step>/ + last, loss.png")
    train.add_argument("--dataset", required=True, help="dataset folder")
    train.add_argument("--preset", default="small", help="model preset (default small)")
    train.add_argument("--steps", type=int, required=True, help="optimizer steps")
    train.add_argument("--batch-size", type=int, default=8, help="samples per step (default 8)")
    train.add_argument("--out", required=True, help="run folder")
    train.add_argument("--lr", type=float, default=5e-4, help="peak AdamW learning rate (default 5e-4)")
    train.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: on a busy 2-core CPU, 2 threads ran 30x slower)")
    train.add_argument("--save-every", type=int, help="checkpoint period in steps (default: at the end only)")
    train.add_argument("--seed", type=int, default=0, help="init and sampling seed (default 0)")
    train.set_defaults(func=cmd_train)

    ev = subparsers.add_parser("eval", help="closed-loop success rate of a checkpoint on the twin (no ROS)")
    ev.add_argument("--checkpoint", required=True, help="checkpoint folder (e.g. RUN/checkpoints/last)")
    ev.add_argument("--task", required=True, help="twin task")
    ev.add_argument("--episodes", type=int, default=10, help="episodes (default 10)")
    ev.add_argument("--first-seed", type=int, default=1000, help="first seed (default 1000: unseen in generate)")
    ev.add_argument("--replan-every", type=int, default=8, help="System 1 re-plans every k control steps (default 8)")
    ev.add_argument("--max-steps", type=int, help="cap on steps per episode (default: the task's limit)")
    ev.add_argument("--video", help="mp4 of the first episode (head | left | right)")
    ev.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ev.set_defaults(func=cmd_eval)


def cmd_generate(args) -> int:
    from video2act.data.generate import generate_dataset

    start = time.perf_counter()
    r = generate_dataset(args.task, args.episodes, args.out, args.image_size, args.first_seed, args.keep_failed)
    print(f"kept {r['kept']} episodes ({r['steps']} steps) in {time.perf_counter() - start:.1f} s; "
          f"expert failed on {r['failed']} seeds {r['failed_seeds']}" + (" (kept)" if args.keep_failed else " (skipped)"))
    return 0 if r["kept"] >= args.episodes else 1


def cmd_from_bags(args) -> int:
    from video2act.data.bags import bags_to_dataset

    meta = bags_to_dataset(args.bags, args.out, args.instruction, args.task, args.image_size, args.fps)
    print(f"wrote {len(meta['episodes'])} episodes ({sum(e['length'] for e in meta['episodes'])} steps) to {args.out}")
    return 0


def cmd_info(args) -> int:
    from video2act.data.format import Dataset

    ds = Dataset(args.dataset)
    lengths = ds.lengths
    print(f"{ds.root}: {len(ds)} episodes, {sum(lengths)} steps (min {min(lengths)}, max {max(lengths)}), "
          f"{ds.fps:g} fps, cameras {ds.cameras}, images {ds.image_size[0]}x{ds.image_size[1]}")
    for instruction in sorted({e["instruction"] for e in ds.meta["episodes"]}):
        print(f"  instruction: {instruction}")
    for name in ("state", "action"):
        s = ds.meta["stats"][name]
        print(f"  {name} mean {json.dumps([round(v, 3) for v in s['mean']])}")
        print(f"  {name} std  {json.dumps([round(v, 3) for v in s['std']])}")
    return 0


def cmd_cache(args) -> int:
    from video2act.data.format import Dataset
    from video2act.data.latents import cache_latents
    from video2act.model.modeling_video2act import Video2ActPolicy

    folder = cache_latents(Dataset(args.dataset), Video2ActPolicy.from_preset(args.preset, seed=args.seed))
    print(f"latents in {folder}")
    return 0


def cmd_train(args) -> int:
    from video2act.training.train import train

    r = train(args.dataset, args.preset, args.steps, args.batch_size, args.out, lr=args.lr, threads=args.threads,
              seed=args.seed, save_every=args.save_every)
    print(f"{r['steps']} steps at {r['steps_per_s']:.2f} steps/s ({r['threads']} threads); loss "
          f"{r['first_loss']:.4f} (first 10 %) -> {r['final_loss']:.4f} (last 10 %); checkpoint {r['checkpoint']}")
    return 0


def cmd_eval(args) -> int:
    from video2act.training.evaluate import evaluate

    start = time.perf_counter()
    r = evaluate(args.checkpoint, args.task, args.episodes, args.first_seed, args.replan_every, args.max_steps,
                 args.video, args.threads)
    print(f"{'seed':>6s} {'success':>8s} {'steps':>6s} {'replans':>8s}")
    for e in r["episodes"]:
        print(f"{e['seed']:6d} {str(e['success']):>8s} {e['steps']:6d} {e['replans']:8d}")
    n = len(r["episodes"])
    print(f"success {sum(e['success'] for e in r['episodes'])}/{n} = {100 * r['success_rate']:.0f} % "
          f"({args.task}, {time.perf_counter() - start:.0f} s)")
    return 0
