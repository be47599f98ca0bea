"""What System 2's features are worth: the paper's Table 3 ablation on the project's own tasks.

Every row trains the same policy preset on the same demonstrations, with the same seed and steps, and is
evaluated on the same held-out seeds (config/eval.yaml first_seed, asynchronous 1:8 schedule); only System 2
changes:

    no_system2            System 2's tokens left out of System 1's context
    random_system2        the preset's randomly initialised System 2, Sobel + FFT filters
    pretrained_raw        System 2 pretrained on the robot's videos (`video2act system2 pretrain`), no filters
    pretrained_sobel      ... Sobel spatial filter only
    pretrained_fft        ... FFT temporal high-pass only
    pretrained_sobel_fft  ... both filters (the paper's System 2)
    pretrained_sobel_qformers, pretrained_sobel_fft_qformers
                          ... with the Q-formers trained with System 1 (as in the paper) instead of frozen

OUT/<row>/preset.yaml, OUT/<row>/run/ (training run), OUT/<row>/result.json; rows with a result are skipped
(a killed bench resumes). OUT/results.json, OUT/ablation.png and OUT/ablation.md hold the table.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

ROWS = {
    "no_system2": {"pretrained": False, "use_system2": False, "spatial_filter": "sobel", "motion_filter": "fft"},
    "random_system2": {"pretrained": False, "use_system2": True, "spatial_filter": "sobel", "motion_filter": "fft"},
    "pretrained_raw": {"pretrained": True, "use_system2": True, "spatial_filter": "none", "motion_filter": "none"},
    "pretrained_sobel": {"pretrained": True, "use_system2": True, "spatial_filter": "sobel", "motion_filter": "none"},
    "pretrained_fft": {"pretrained": True, "use_system2": True, "spatial_filter": "none", "motion_filter": "fft"},
    "pretrained_sobel_fft": {"pretrained": True, "use_system2": True, "spatial_filter": "sobel", "motion_filter": "fft"},
    "pretrained_sobel_qformers": {"pretrained": True, "use_system2": True, "spatial_filter": "sobel",
                                  "motion_filter": "none", "train_qformers": True},
    "pretrained_sobel_fft_qformers": {"pretrained": True, "use_system2": True, "spatial_filter": "sobel",
                                      "motion_filter": "fft", "train_qformers": True},
}
LABELS = {
    "no_system2": "no System 2 features",
    "random_system2": "random System 2, Sobel + FFT",
    "pretrained_raw": "pretrained System 2, raw",
    "pretrained_sobel": "pretrained, Sobel only",
    "pretrained_fft": "pretrained, FFT only",
    "pretrained_sobel_fft": "pretrained, Sobel + FFT",
    "pretrained_sobel_qformers": "pretrained, Sobel only, Q-formers trained",
    "pretrained_sobel_fft_qformers": "pretrained, Sobel + FFT, Q-formers trained",
}


def row_preset(row: str, preset: str, system2_dir: str | None) -> dict:
    """The preset dict of one ablation row (`preset` for random rows, system2_dir/policy_preset.yaml otherwise)."""
    from video2act.model.configuration_video2act import preset_dict
    from video2act.training.system2_pretrain import POLICY_PRESET_NAME

    spec = ROWS[row]
    if spec["pretrained"]:
        if system2_dir is None:
            raise ValueError(f"row {row} needs a pretrained System 2: pass --system2 DIR (from `video2act system2 pretrain`)")
        path = Path(system2_dir) / POLICY_PRESET_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: is {system2_dir} a `video2act system2 pretrain` output folder?")
        preset = str(path.resolve())
    overrides = [f"use_system2={spec['use_system2']}", f"system2.spatial_filter={spec['spatial_filter']}",
                 f"system2.motion_filter={spec['motion_filter']}"]
    if spec.get("train_qformers"):
        # the maps are cached per frame window from the instruction alone (a no-op for the small preset)
        overrides += ["frozen=[text_encoder, system2_conditioning]", "system2_image_condition=false"]
    return preset_dict(preset, overrides)


def run_ablation(datasets, out, rows=None, preset: str = "small", system2_dir: str | None = None, steps: int = 1500,
                 batch_size: int = 32, lr: float = 1e-3, episodes: int = 50, seed: int = 0, threads: int = 1,
                 progress: bool = True, tasks=None, max_steps: int | None = None) -> list[dict]:
    """Train and evaluate each row (see module docstring); returns one dict per row. tasks: twin tasks to
    evaluate on (default: those the checkpoint was trained on; named ones are evaluated even where the rows'
    datasets were not recorded on them); max_steps: cap per episode (tests)."""
    import yaml

    from video2act.training.evaluate import checkpoint_info, evaluate
    from video2act.training.train import train

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = list(rows or ROWS)
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        raise ValueError(f"unknown ablation rows {unknown}; choose from {list(ROWS)}")
    results = []
    for row in rows:
        folder = out / row
        result_path = folder / "result.json"
        if result_path.is_file():
            results.append(json.loads(result_path.read_text()))
            print(f"[ablation] {row}: measured before, {result_path}", flush=True)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        preset_path = folder / "preset.yaml"
        preset_path.write_text(f"# ablation row {row}: {LABELS[row]}\n"
                               + yaml.safe_dump(row_preset(row, preset, system2_dir), sort_keys=False))
        t0 = time.time()
        run = folder / "run"
        r = train(list(datasets), str(preset_path.resolve()), steps, batch_size, run, lr=lr, threads=threads,
                  seed=seed, progress=progress, resume=(run / "checkpoints" / "last").exists())
        train_s = time.time() - t0
        checkpoint = run / "checkpoints" / "last"
        row_tasks = list(tasks or checkpoint_info(checkpoint).get("tasks") or [])
        if not row_tasks:
            raise ValueError(f"{checkpoint} records no twin task (dataset.json): the ablation evaluates on the twin, "
                             "so its datasets must be generated there (`video2act dataset generate`)")
        success = {t: evaluate(checkpoint, t, episodes, threads=threads, progress=progress, max_steps=max_steps,
                               any_task=tasks is not None)["success_rate"] for t in row_tasks}
        result = {"row": row, "label": LABELS[row], **ROWS[row], "steps": steps, "batch_size": batch_size, "seed": seed,
                  "episodes": episodes, "success": success, "final_loss": r["final_loss"],
                  "train_minutes": round(train_s / 60, 1), "eval_minutes": round((time.time() - t0 - train_s) / 60, 1)}
        result_path.write_text(json.dumps(result, indent=1))
        print(f"[ablation] {row}: " + ", ".join(f"{t} {100 * s:.0f} %" for t, s in success.items()), flush=True)
        results.append(result)
    write_table(results, out)
    return results


def merge_results(folders) -> list[dict]:
    """The measured rows of several ablation folders (e.g. one per training seed), in ROWS order then by seed."""
    results = []
    for folder in folders:
        found = sorted(Path(folder).glob("*/result.json"))
        if not found:
            raise FileNotFoundError(f"{folder} holds no measured ablation row (<row>/result.json)")
        results += [json.loads(p.read_text()) for p in found]
    order = {row: k for k, row in enumerate(ROWS)}
    return sorted(results, key=lambda r: (order.get(r["row"], len(order)), r.get("seed", 0)))


def _cell(runs: list[dict], task: str) -> str:
    """'64 % (32/50)' for one run; '54 % (seed 0: 64 %, seed 1: 44 %)' (the mean, then each seed) for several."""
    measured = [r for r in runs if task in r["success"]]
    if not measured:
        return "-"
    if len(measured) == 1:
        r = measured[0]
        return f"{100 * r['success'][task]:.0f} % ({round(r['success'][task] * r['episodes'])}/{r['episodes']})"
    mean = sum(r["success"][task] for r in measured) / len(measured)
    return f"{100 * mean:.0f} % (" + ", ".join(f"seed {r.get('seed', '?')}: {100 * r['success'][task]:.0f} %" for r in measured) + ")"


def write_table(results: list[dict], out: Path) -> str:
    """results.json, ablation.md (markdown table) and ablation.png (bars per task: the mean over training
    seeds, a dot per seed) from one result per row and seed; returns the markdown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tasks = sorted({t for r in results for t in r["success"]})
    rows: dict[str, list[dict]] = {}
    for r in results:
        rows.setdefault(r["row"], []).append(r)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    head = "| System 2 | " + " | ".join(tasks) + " | final loss |\n|---|" + "---|" * (len(tasks) + 1) + "\n"
    body = "".join(f"| {runs[0]['label']} | " + " | ".join(_cell(runs, t) for t in tasks)
                   + f" | {np.mean([r['final_loss'] for r in runs]):.4f} |\n" for runs in rows.values())
    markdown = head + body
    (out / "ablation.md").write_text(markdown)
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(rows), 3.6))
    width = 0.8 / max(1, len(tasks))
    x = np.arange(len(rows))
    for k, t in enumerate(tasks):
        per_row = [[100 * r["success"][t] for r in runs if t in r["success"]] for runs in rows.values()]
        ax.bar(x + k * width, [np.mean(v) if v else np.nan for v in per_row], width, label=t)
        for i, v in enumerate(per_row):
            if len(v) > 1:
                ax.plot([x[i] + k * width] * len(v), v, "k.", ms=6)
    labels = [runs[0]["label"].replace(", ", "\n") for runs in rows.values()]
    ax.set_xticks(x + width * (len(tasks) - 1) / 2, labels, fontsize=7)
    seeds = sorted({r.get("seed", 0) for r in results})
    ax.set_ylabel(f"success over {results[0]['episodes']} seeds (%)" if results else "success (%)")
    if len(seeds) > 1:
        ax.set_title(f"bars: mean over training seeds {seeds} where measured; dots: each seed", fontsize=8)
    ax.set_ylim(0, 105)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "ablation.png", dpi=100)
    plt.close(fig)
    return markdown
