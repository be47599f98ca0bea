"""`video2act train`, `video2act eval` and `video2act system2 ...`: demonstrations -> policy -> success rate.

    video2act train --dataset data/bottles data/cup --preset small --steps 6000 --out runs/two_tasks
    video2act eval --checkpoint runs/two_tasks/checkpoints/last --episodes 50 --out runs/two_tasks/eval
    video2act eval --shipped --episodes 50
    video2act eval --shipped --episodes 50 --scene randomized

    video2act system2 pretrain --dataset DIR [DIR ...] --out DIR      train System 2 on the robot's videos
    video2act system2 features --system2 DIR --dataset DIR --out DIR  spatial / motion maps, pretrained vs random
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from video2act.data.cli import scene_arg
from video2act.training.train import PEAK_LR



def add_policy_choice(parser, checkpoint_help: str = "checkpoint folder") -> None:
    """--checkpoint DIR | --shipped (one required), read back by chosen_checkpoint."""
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--checkpoint", help=checkpoint_help)
    which.add_argument("--shipped", action="store_true", help="the policy shipped in the repository (policies/small)")


def chosen_checkpoint(args):
    from video2act.training.evaluate import shipped_checkpoint

    return shipped_checkpoint() if args.shipped else args.checkpoint

def register(subparsers, bench_subparsers) -> None:
    train = subparsers.add_parser(
        "train", help="train a policy on one or more datasets; checkpoints/<step>/ + last, training.png",
        description="Train a policy (several datasets: one multi-task policy). Frozen parts are cached per dataset; "
                    "checkpoints hold EMA weights; --resume continues an interrupted run from checkpoints/last. "
                    "Runs under accelerate: `accelerate launch --num_processes N -m video2act.cli train ...` "
                    "trains data-parallel.")
    train.add_argument("--dataset", required=True, nargs="+", help="dataset folder(s)")
    train.add_argument("--preset", default="small", help="model preset: a name or a YAML path (default small)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="change one preset entry (dotted key, YAML value; repeatable), e.g. "
                            "--set system2.motion_filter=none; the resulting preset is written to OUT/preset.yaml")
    train.add_argument("--steps", type=int, required=True, help="optimizer steps (in all, also when resuming)")
    train.add_argument("--batch-size", type=int, default=32, help="samples per step and process (default 32)")
    train.add_argument("--out", required=True, help="run folder")
    train.add_argument("--lr", type=float, default=PEAK_LR, help=f"peak AdamW learning rate (default {PEAK_LR:g})")
    train.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: on a busy 2-core CPU, 2 threads ran 30x slower)")
    train.add_argument("--save-every", type=int, help="checkpoint period in steps (default: at the end only)")
    train.add_argument("--eval-every", type=int, help="validation loss (and closed-loop success) period in steps")
    train.add_argument("--eval-episodes", type=int, default=0,
                       help="closed-loop episodes per task at each --eval-every (default 0: validation loss only)")
    train.add_argument("--val-fraction", type=float, default=0.05, help="episodes held out for the validation loss (default 0.05)")
    train.add_argument("--ema-decay", type=float, default=0.999, help="EMA decay of the saved weights (default 0.999)")
    train.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last")
    train.add_argument("--seed", type=int, default=0, help="init and sampling seed (default 0)")
    train.add_argument("--init-from", help="start from this checkpoint's weights except System 2's (fine-tune a "
                                          "trained policy onto the preset's System 2, e.g. a pretrained one, or "
                                          "onto more cameras: the ones it read keep their embeddings)")
    train.set_defaults(func=cmd_train)

    ev = subparsers.add_parser(
        "eval", help="closed-loop success rate of a checkpoint on the twin (no ROS), on the nodes' schedule",
        description="Closed-loop evaluation in simulated time with the nodes' asynchronous schedule (System 2 at "
                    "the System 2 node's rate, robot.yaml rates.system2_hz, or once every --ratio N System 1 calls; "
                    "latencies from config/eval.yaml) through the nodes' cores. Seeds start at config/eval.yaml first_seed (1000: never used to generate data).")
    add_policy_choice(ev, "checkpoint folder (e.g. RUN/checkpoints/last)")
    ev.add_argument("--task", nargs="+", help="twin task(s) (default: every task the checkpoint was trained on)")
    ev.add_argument("--episodes", type=int, default=10, help="episodes per task (default 10)")
    ev.add_argument("--first-seed", type=int, help="first seed (default config/eval.yaml first_seed)")
    ev.add_argument("--ratio", type=ratio_arg, help="slow/fast ratio 1:N: System 2 once every N System 1 calls "
                                                    "instead of the node's rate (default: config/eval.yaml system2, "
                                                    "`nodes`: the node's rate)")
    ev.add_argument("--system1-hz", type=float, help="System 1 re-planning rate (default robot.yaml rates.system1_hz)")
    ev.add_argument("--sync", action="store_true", help="synchronous schedule: System 2 at every re-plan, no latency")
    ev.add_argument("--blend", choices=["crossfade", "ensemble", "replace", "rtc"],
                    help="the streamer's blending (default: the trajectory streamer's); rtc also guides System 1's chunks")
    ev.add_argument("--system1-latency", type=latency_arg, default="config",
                    help="s from observation to a usable chunk, or 'measured' (the call's wall time); default config/eval.yaml")
    ev.add_argument("--system2-latency", type=latency_arg, default="config",
                    help="s from the newest frame to usable features, or 'measured'; default config/eval.yaml")
    ev.add_argument("--per-episode", action="store_true", help="print each episode's refusals, holds and seam metrics")
    ev.add_argument("--max-steps", type=int, help="cap on steps per episode (default: the task's limit)")
    ev.add_argument("--out", help="folder for results.json, success.png and one video per task (first 2 episodes)")
    ev.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ev.add_argument("--any-task", action="store_true",
                    help="evaluate --task even where the checkpoint was not trained on it (e.g. one trained on "
                         "recordings imported from another robot); by default such a task is refused")
    scene_arg(ev)
    ev.set_defaults(func=cmd_eval)

    s2 = subparsers.add_parser("system2", help="System 2 (the video diffusion model): pretraining, feature pictures")
    s2_sub = s2.add_subparsers(dest="system2_command", metavar="SUBCOMMAND")
    s2.set_defaults(func=lambda args: s2.print_help() or 2)

    pre = s2_sub.add_parser(
        "pretrain", help="train a preset's System 2 (VAE + video transformer) on datasets' head-camera videos",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Stage 1 trains the VAE on single frames at both System 2 resolutions (reconstruction + KL), "
                    "stage 2 the video transformer at full depth with HunyuanVideo's flow-matching objective on "
                    "latent clips of the frames System 2 sees, conditioned on the instruction. Writes save_pretrained "
                    "folders, OUT/policy_preset.yaml (train a policy with it: `video2act train --preset "
                    "OUT/policy_preset.yaml`), loss curves, reconstructions and sampled clips (PNG / MP4).\n\n"
                    "Paper preset: --preset paper --init HUNYUAN_DIR --device cuda --vae-steps 0 loads pretrained "
                    "HunyuanVideo weights (a local folder with vae/ and transformer/) and fine-tunes them; untried "
                    "at that size here (no GPU was lent): fp32 AdamW on the 13 B transformer needs sharding / bf16 "
                    "that this command does not set up.")
    pre.add_argument("--dataset", required=True, nargs="+", help="dataset folder(s) with a head camera")
    pre.add_argument("--out", required=True, help="output folder (must be empty unless --force)")
    pre.add_argument("--preset", default="small", help="policy preset whose System 2 is trained (default small)")
    pre.add_argument("--vae-steps", type=int, default=1500, help="VAE steps (default 1500; 0 keeps the VAE as loaded)")
    pre.add_argument("--transformer-steps", type=int, default=1500, help="transformer steps (default 1500)")
    pre.add_argument("--batch-size", type=int, default=32, help="frames (VAE) / clips (transformer) per step (default 32)")
    pre.add_argument("--max-episodes", type=int, help="use at most this many episodes per dataset (default all)")
    pre.add_argument("--init", help="start from pretrained vae/ + transformer/ in this folder (default: the preset's)")
    pre.add_argument("--device", default="cpu", help="torch device (default cpu)")
    pre.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    pre.add_argument("--seed", type=int, default=0, help="seed; also the policy seed whose conditioning is used (default 0)")
    pre.add_argument("--force", action="store_true", help="overwrite a non-empty --out")
    pre.set_defaults(func=cmd_pretrain)

    feat = s2_sub.add_parser(
        "features", help="pictures of System 2's spatial and motion maps over an episode, pretrained vs random",
        description="Runs System 2 over one episode's head-camera frames (at its frame rate) and draws, at a few "
                    "moments, the frame with the filtered-feature maps (spatial: Sobel of the VDM states of the "
                    "newest frame; motion: FFT high-pass over the long window) of a randomly initialised and of a "
                    "pretrained System 2. Also scores how much of each map lies on the task's objects.")
    feat.add_argument("--system2", required=True, help="`video2act system2 pretrain` output folder")
    feat.add_argument("--dataset", required=True, help="dataset folder")
    feat.add_argument("--episode", type=int, default=0, help="episode index (default 0)")
    feat.add_argument("--moments", type=int, default=6, help="columns: moments of the episode (default 6)")
    feat.add_argument("--out", default="outputs/system2_features", help="folder for features.png / features.mp4 / scores.json")
    feat.set_defaults(func=cmd_features)


def cmd_pretrain(args) -> int:
    from video2act.training.system2_pretrain import pretrain

    try:
        info = pretrain(args.dataset, args.out, preset=args.preset, vae_steps=args.vae_steps,
                        transformer_steps=args.transformer_steps, batch_size=args.batch_size, init=args.init,
                        seed=args.seed, threads=args.threads, device=args.device, max_episodes=args.max_episodes,
                        force=args.force)
    except FileExistsError as e:
        raise SystemExit(str(e)) from None
    def num(v):  # a stage run for 0 steps has no losses
        return "-" if v is None else f"{v:.4g}"

    print(f"System 2 pretrained on {info['episodes']} episodes in {info['seconds'] / 60:.1f} min: VAE mse "
          f"{num(info['vae_mse']['first'])} -> {num(info['vae_mse']['last'])}, flow loss "
          + ", ".join(f"{k} {num(v['first'])} -> {num(v['last'])}" for k, v in info["flow_loss"].items()))
    print(f"train a policy with it: video2act train --preset {args.out}/policy_preset.yaml ...")
    return 0


def cmd_features(args) -> int:
    from video2act.training.system2_pictures import feature_pictures

    scores = feature_pictures(args.system2, args.dataset, args.episode, args.out, moments=args.moments)
    for name, s in scores.items():
        print(f"{name:<12} share of map on the objects: spatial {s['spatial']:.2f}, motion {s['motion']:.2f} "
              f"(uniform maps: {s['uniform']:.2f})")
    print(f"pictures in {args.out}")
    return 0


def cmd_train(args) -> int:
    from video2act.training.train import train

    preset = args.preset
    if args.set:  # checked before anything is written; the run folder keeps the preset it trained
        import yaml

        from video2act.model.configuration_video2act import preset_dict

        d = preset_dict(preset, args.set)
        path = Path(args.out) / "preset.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {preset} with " + " ".join(args.set) + "\n" + yaml.safe_dump(d, sort_keys=False))
        preset = str(path)
    r = train(args.dataset, preset, args.steps, args.batch_size, args.out, lr=args.lr, threads=args.threads,
              seed=args.seed, save_every=args.save_every, eval_every=args.eval_every, eval_episodes=args.eval_episodes,
              val_fraction=args.val_fraction, ema_decay=args.ema_decay, resume=args.resume, init_from=args.init_from)
    if not r["main_process"]:
        return 0
    print(f"{r['steps']} steps at {r['steps_per_s']:.2f} steps/s ({r['threads']} threads, {r['processes']} process(es), "
          f"{r['seconds'] / 60:.1f} min); loss {r['first_loss']:.4f} (first 10 %) -> {r['final_loss']:.4f} (last 10 %); "
          f"checkpoint {r['checkpoint']}")
    return 0


def cmd_eval(args) -> int:
    from video2act.training.evaluate import (checkpoint_info, evaluate, format_episodes, plot_success, seam_summary)

    checkpoint = chosen_checkpoint(args)
    tasks = args.task or checkpoint_info(checkpoint).get("tasks")
    if not tasks:
        raise SystemExit(f"{checkpoint} records no tasks (dataset.json): name them with --task")
    out = None
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
    from video2act.model.checkpoint import CheckpointMismatch

    start = time.perf_counter()
    results = {}
    for task in tasks:
        try:
            r = evaluate(checkpoint, task, args.episodes, args.first_seed, args.max_steps,
                         str(out / f"{task}.mp4") if out else None, args.threads, ratio=args.ratio,
                         synchronous=args.sync, system1_hz=args.system1_hz, scene=args.scene, any_task=args.any_task,
                         blend=args.blend, system1_latency=args.system1_latency, system2_latency=args.system2_latency)
        except CheckpointMismatch as e:
            hint = "\n(--any-task evaluates it anyway)" if e.fields == ["task"] else ""
            raise SystemExit(f"error: {e}{hint}") from None
        results[task] = r
        ok = [e["seed"] for e in r["episodes"] if e["success"]]
        print(f"{task}: {len(ok)}/{len(r['episodes'])} ({r['schedule']}, {args.scene} scenes); successful seeds {ok}")
        if args.per_episode:
            print(format_episodes(r))
    print(f"\n{'task':<24s} {'success':>8s} {'refusals/ep':>11s} {'stale-chunk ticks/ep':>20s} {'step switch':>11s} "
          f"{'step within':>11s} {'jerk RMS':>9s}   ({args.scene} scenes, {time.perf_counter() - start:.0f} s, {checkpoint})")
    for task, r in results.items():
        s = r.get("summary") or seam_summary(r["episodes"])
        print(f"{task:<24s} {100 * r['success_rate']:7.0f} % {s['refusals_per_episode']:11.1f} "
              f"{s['stale_chunk_ticks_per_episode']:20.1f} {s['switch_step_mean']:7.4f} rad {s['within_step_mean']:7.4f} rad "
              f"{s['jerk_rms']:9.0f}")
    print(f"schedule: {next(iter(results.values()))['schedule']} (refusals: System 1 not acting on stale inputs; "
          "stale-chunk ticks: the streamer holding; steps in rad, jerk in rad/s^3, arm joints)")
    if out:
        summary = {"checkpoint": str(checkpoint), "scene": args.scene, "results": results}
        (out / "results.json").write_text(json.dumps(summary, indent=1))
        plot_success({t: r["success_rate"] for t, r in results.items()}, args.episodes, out / "success.png")
        print(f"results, success.png and videos in {out}")
    return 0


def latency_arg(text: str):
    """A latency in s, 'measured' (None: the call's wall time) or 'config'."""
    if text in ("measured", "config"):
        return None if text == "measured" else text
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"a latency must be >= 0 s. Got {text}")
    return value


def ratio_arg(text: str) -> int:
    """'1:8' or '8' -> 8."""
    import argparse

    value = text.split(":", 1)[1] if ":" in text else text
    if text.count(":") > 1 or (":" in text and text.split(":")[0].strip() != "1") or not value.strip().isdigit() \
            or int(value) < 1:
        raise argparse.ArgumentTypeError(f"ratio must look like 1:N with N >= 1 (or N). Got {text!r}")
    return int(value)
