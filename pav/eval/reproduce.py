"""`python -m pav reproduce DATA --out DIR`: the paper's experiments on a collection, as markdown tables.

Protocol (a) — Table 1: one unified model per variant (full, no-offset, no-lnf, insta) trained on all
appearances, evaluated on the held-out test frames (unseen poses and expressions).
Protocol (b) — Table 3: one separate model per appearance vs the unified `full` model from (a): training
time, parameter count, model size on disk, and metrics per appearance.
Novel views — when the collection has novel frames with ground truth (`synth --novel-views`): each (a) model
scored per angle on the test frames seen from rotated cameras, one table per variant.
Every model is trained for the same wall-time budget (`--minutes` per model). Checkpoints, a results
JSON and tables.md go to DIR. Reruns reuse a checkpoint only if it finished training with the same model
config, budget, appearances and collection; one interrupted under the same settings is resumed, and any
other is retrained. Ctrl-C or SIGTERM saves the model in training and stops (rerun to continue).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..backends import add_device_argument
from ..checkpoint import load_avatar, read_metadata, train_state_path
from ..cliargs import output_dir, positive_float, positive_int
from ..config import VARIANTS, preset, to_dict
from ..data import read_collection
from ..io import write_bytes, write_json
from ..train.command import EXIT_CODES, TRAIN_DEFAULTS, train
from .evaluate import evaluate
from .novel import evaluate_novel, novel_table, novel_views


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", type=Path, help="collection folder")
    p.add_argument("--out", type=output_dir, required=True, help="folder for checkpoints, results.json, tables.md")
    p.add_argument("--minutes", type=positive_float, default=15.0, help="training budget per model (default 15)")
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--steps", type=positive_int,
                   help="a step budget per model instead of --minutes (comparable across machines and loads)")
    p.add_argument("--steps-b", type=positive_int, help="step budget per single-appearance model in (b) "
                   "(default: --steps)")
    p.add_argument("--minutes-b", type=positive_float, help="budget per single-appearance model in (b) (default: --minutes)")
    p.add_argument("--skip-b", action="store_true", help="skip protocol (b)")
    p.add_argument("--max-frames", type=positive_int, help="evaluate at most this many test frames per model")
    p.add_argument("--weights", type=Path, metavar="DIR",
                   help="folder with the LPIPS/DISTS/FID backbone files (as for eval; see docs/metrics.md)")
    add_device_argument(p)


class Stopped(Exception):
    """Training was stopped by a signal (the model is saved); `code` is the exit code."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def reuse_mismatch(out: Path, data: Path, collection, minutes: float | None, variant: str,
                   appearance: list[str] | None, steps: int | None = None) -> str | None:
    """None if the checkpoint at `out` was trained with exactly these settings (config, budget, appearances,
    collection), else the first difference. Readable only: a damaged file is a difference too."""
    try:
        meta = read_metadata(out)
    except (ValueError, FileNotFoundError) as exc:
        return str(exc)
    info = meta["info"]
    wanted = {"model config": json.loads(json.dumps(to_dict(preset(TRAIN_DEFAULTS["preset"], variant)[0]))),
              "budget": {"steps": steps, "minutes": None if steps else minutes},
              "appearances": appearance or collection.appearance_names,
              "collection": str(Path(data).resolve())}
    found = {"model config": meta["model_config"], "budget": info.get("budget"), "appearances": meta["appearances"],
             "collection": str(Path(info.get("collection", "?")).resolve())}
    for key, value in wanted.items():
        have = found[key]
        if have != value:
            if isinstance(have, dict) and isinstance(value, dict):  # name only the fields that differ
                keys = [k for k in {**have, **value} if have.get(k) != value.get(k)]
                have, value = {k: have.get(k) for k in keys}, {k: value.get(k) for k in keys}
            return f"it has {key} {have}, not {value}"
    return None


def train_or_reuse(data: Path, collection, out: Path, minutes: float | None, variant: str = "full",
                   appearance: list[str] | None = None, steps: int | None = None, device: str = "auto"):
    """The avatar at `out` if it finished training with these settings; else train it (resuming an
    interrupted run with the same settings, starting over otherwise). Raises Stopped on Ctrl-C/SIGTERM."""
    force = False
    if out.exists():
        why = reuse_mismatch(out, data, collection, minutes, variant, appearance, steps)
        if why is None and read_metadata(out)["info"].get("finished"):
            print(f"reusing {out}")
            return load_avatar(out, device=device)
        if why is not None:
            print(f"retraining {out}: {why}")
        force = why is not None or not train_state_path(out).exists()
    args = argparse.Namespace(**(TRAIN_DEFAULTS | {"data": data, "out": out, "steps": steps,
                                                   "minutes": None if steps else minutes,
                                                   "variant": variant, "appearance": appearance,
                                                   "eval_every_s": 0.0, "force": force, "device": device}))
    result = train(args, collection)
    if result.interrupted:
        raise Stopped(EXIT_CODES[result.interrupted])
    return load_avatar(out, device=device)


def model_facts(avatar, path: Path) -> dict:
    return {"parameters": sum(p.numel() for p in avatar.parameters()), "size_mb": round(path.stat().st_size / 2 ** 20, 2),
            "train_minutes": round(avatar.info.get("train_seconds", 0) / 60, 1), "steps": avatar.info.get("steps")}


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except Stopped as stop:
        return stop.code


def _run(args: argparse.Namespace) -> int:
    collection = read_collection(args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    steps_b = args.steps_b or args.steps
    results: dict = {"minutes_per_model": None if args.steps else args.minutes,
                     "minutes_per_model_b": None if steps_b else args.minutes_b or args.minutes,
                     "steps_per_model": args.steps, "steps_per_model_b": steps_b,
                     "protocol_a": {}, "protocol_b": {}}
    for variant in args.variants:
        path = args.out / f"a_{variant}.pav"
        avatar = train_or_reuse(args.data, collection, path, args.minutes, variant, steps=args.steps,
                                device=args.device)
        metrics = evaluate(avatar, collection, "test", max_frames=args.max_frames, weights=args.weights)
        results["protocol_a"][variant] = metrics | model_facts(avatar, path) | {"history": avatar.info.get("history")}
        if novel_views(collection):
            results.setdefault("novel_views", {})[variant] = evaluate_novel(avatar, collection,
                                                                            max_frames=args.max_frames)
        write_json(args.out / "results.json", results)
    if not args.skip_b and "full" in args.variants:
        unified = results["protocol_a"]["full"]
        for name in collection.appearance_names:
            path = args.out / f"b_{name}.pav"
            avatar = train_or_reuse(args.data, collection, path, args.minutes_b or args.minutes, "full", [name],
                                    steps=steps_b, device=args.device)
            metrics = evaluate(avatar, collection, "test", [name], max_frames=args.max_frames,
                               weights=args.weights)
            results["protocol_b"][name] = {"separate": metrics | model_facts(avatar, path),
                                           "unified": unified["per_appearance"].get(name)}
            write_json(args.out / "results.json", results)
    tables = render_tables(results)
    write_bytes(args.out / "tables.md", tables.encode())
    print(tables)
    return 0


def render_tables(results: dict) -> str:
    def fmt(x, digits=2):
        return "n/a" if x is None else f"{x:.{digits}f}"

    def budget(minutes, steps):
        return f"{steps} steps" if steps else f"{minutes} min"

    lines = [f"Training budget: {budget(results['minutes_per_model'], results.get('steps_per_model'))} per model "
             f"in (a), {budget(results['minutes_per_model_b'], results.get('steps_per_model_b'))} per "
             "single-appearance model in (b), on 2 CPU cores.", "",
             "**Table 1 — protocol (a): unified model, held-out test frames**", "",
             "| variant | PSNR ↑ | SSIM ↑ | LPIPS ↓ | DISTS ↓ | FID ↓ | steps | parameters |",
             "|---|---|---|---|---|---|---|---|"]
    for variant, r in results["protocol_a"].items():
        lines.append(f"| {variant} | {fmt(r['psnr'])} | {fmt(r['ssim'], 4)} | {fmt(r['lpips'], 4)} "
                     f"| {fmt(r['dists'], 4)} "
                     f"| {fmt(r['fid'])} | {r['steps']} | {r['parameters']:,} |")
    if results["protocol_a"]:
        reasons = next(iter(results["protocol_a"].values()))["unavailable"]
        lines += [""] + [f"- {m.upper()}: unavailable — {why}" for m, why in reasons.items()]
    if results["protocol_b"]:
        full = results["protocol_a"]["full"]
        sep = list(results["protocol_b"].values())
        n = len(sep)
        total_params = sum(r["separate"]["parameters"] for r in sep)
        total_size = sum(r["separate"]["size_mb"] for r in sep)
        total_time = sum(r["separate"]["train_minutes"] for r in sep)
        # the learned metrics get columns only when every model has them (not null)
        learned = [m for m in ("lpips", "dists")
                   if all(r["separate"].get(m) is not None and (r["unified"] or {}).get(m) is not None for r in sep)]
        means = lambda side: " | ".join(fmt(sum(r[side][m] for r in sep) / n, 4) for m in learned)  # noqa: E731
        extra_head = "".join(f" mean {m.upper()} ↓ |" for m in learned)
        lines += ["", "**Table 3 — protocol (b): one model per appearance vs one unified model**", "",
                  "| | models | training time (min) | parameters | size (MB) | mean PSNR ↑ | mean SSIM ↑ |" + extra_head,
                  "|---|---|---|---|---|---|---|" + "---|" * len(learned),
                  f"| separate | {n} | {total_time:.1f} | {total_params:,} | {total_size:.1f} | "
                  f"{fmt(sum(r['separate']['psnr'] for r in sep) / n)} | {fmt(sum(r['separate']['ssim'] for r in sep) / n, 4)} |"
                  + (f" {means('separate')} |" if learned else ""),
                  f"| unified (full) | 1 | {full['train_minutes']:.1f} | {full['parameters']:,} | {full['size_mb']:.1f} | "
                  f"{fmt(sum(r['unified']['psnr'] for r in sep) / n)} | {fmt(sum(r['unified']['ssim'] for r in sep) / n, 4)} |"
                  + (f" {means('unified')} |" if learned else ""),
                  "", "| appearance | separate PSNR | unified PSNR | separate SSIM | unified SSIM |"
                  + "".join(f" separate {m.upper()} | unified {m.upper()} |" for m in learned),
                  "|---|---|---|---|---|" + "---|---|" * len(learned)]
        for name, r in results["protocol_b"].items():
            lines.append(f"| {name} | {fmt(r['separate']['psnr'])} | {fmt(r['unified']['psnr'])} | "
                         f"{fmt(r['separate']['ssim'], 4)} | {fmt(r['unified']['ssim'], 4)} |"
                         + "".join(f" {fmt(r['separate'][m], 4)} | {fmt(r['unified'][m], 4)} |" for m in learned))
    for variant, r in results.get("novel_views", {}).items():
        lines += ["", f"**Novel views — `{variant}` (a) model, test frames seen from cameras rotated about the head "
                      f"centre ({r['frames']} frames)**", ""] + novel_table(r)
    return "\n".join(lines) + "\n"
