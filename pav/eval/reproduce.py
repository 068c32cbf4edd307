"""`python -m pav reproduce DATA --out DIR`: the paper's experiments on a collection, as markdown tables.

Protocol (a) — Table 1: one unified model per variant (full, no-offset, no-lnf, insta) trained on all
appearances, evaluated on the held-out test frames (unseen poses and expressions).
Protocol (b) — Table 3: one separate model per appearance vs the unified `full` model from (a): training
time, parameter count, model size on disk, and metrics per appearance.
Novel views — when the collection has novel frames with ground truth (`synth --novel-views`): each (a) model
scored per angle on the test frames seen from rotated cameras, one table per variant.
Every model is trained for the same wall-time budget (`--minutes` per model). Checkpoints, a results
JSON and tables.md go to DIR; reruns reuse finished checkpoints (delete them to retrain).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..checkpoint import load_avatar
from ..config import VARIANTS
from ..data import read_collection
from ..io import write_bytes, write_json
from ..train.command import TRAIN_DEFAULTS, train
from .evaluate import evaluate
from .novel import evaluate_novel, novel_table, novel_views


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", type=Path, help="collection folder")
    p.add_argument("--out", type=Path, required=True, help="folder for checkpoints, results.json, tables.md")
    p.add_argument("--minutes", type=float, default=15.0, help="training budget per model (default 15)")
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--minutes-b", type=float, help="budget per single-appearance model in (b) (default: --minutes)")
    p.add_argument("--skip-b", action="store_true", help="skip protocol (b)")
    p.add_argument("--max-frames", type=int, help="evaluate at most this many test frames per model")


def train_or_reuse(data: Path, collection, out: Path, minutes: float, variant: str = "full",
                   appearance: list[str] | None = None):
    if not out.exists():
        args = argparse.Namespace(**(TRAIN_DEFAULTS | {"data": data, "out": out, "minutes": minutes,
                                                       "variant": variant, "appearance": appearance,
                                                       "eval_every_s": 0.0}))
        train(args, collection)
    return load_avatar(out)


def model_facts(avatar, path: Path) -> dict:
    return {"parameters": sum(p.numel() for p in avatar.parameters()), "size_mb": round(path.stat().st_size / 2 ** 20, 2),
            "train_minutes": round(avatar.info.get("train_seconds", 0) / 60, 1), "steps": avatar.info.get("steps")}


def run(args: argparse.Namespace) -> int:
    collection = read_collection(args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {"minutes_per_model": args.minutes, "minutes_per_model_b": args.minutes_b or args.minutes,
                     "protocol_a": {}, "protocol_b": {}}
    for variant in args.variants:
        path = args.out / f"a_{variant}.pav"
        avatar = train_or_reuse(args.data, collection, path, args.minutes, variant)
        metrics = evaluate(avatar, collection, "test", max_frames=args.max_frames)
        results["protocol_a"][variant] = metrics | model_facts(avatar, path) | {"history": avatar.info.get("history")}
        if novel_views(collection):
            results.setdefault("novel_views", {})[variant] = evaluate_novel(avatar, collection,
                                                                            max_frames=args.max_frames)
        write_json(args.out / "results.json", results)
    if not args.skip_b and "full" in args.variants:
        unified = results["protocol_a"]["full"]
        for name in collection.appearance_names:
            path = args.out / f"b_{name}.pav"
            avatar = train_or_reuse(args.data, collection, path, args.minutes_b or args.minutes, "full", [name])
            metrics = evaluate(avatar, collection, "test", [name], max_frames=args.max_frames)
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

    lines = [f"Training budget: {results['minutes_per_model']} min per model in (a), "
             f"{results['minutes_per_model_b']} min per single-appearance model in (b), on 2 CPU cores.", "",
             "**Table 1 — protocol (a): unified model, held-out test frames**", "",
             "| variant | PSNR ↑ | SSIM ↑ | LPIPS ↓ | DISTS ↓ | FID ↓ | steps | parameters |",
             "|---|---|---|---|---|---|---|---|"]
    for variant, r in results["protocol_a"].items():
        lines.append(f"| {variant} | {fmt(r['psnr'])} | {fmt(r['ssim'], 4)} | {fmt(r['lpips'])} | {fmt(r['dists'])} "
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
        lines += ["", "**Table 3 — protocol (b): one model per appearance vs one unified model**", "",
                  "| | models | training time (min) | parameters | size (MB) | mean PSNR ↑ | mean SSIM ↑ |",
                  "|---|---|---|---|---|---|---|",
                  f"| separate | {n} | {total_time:.1f} | {total_params:,} | {total_size:.1f} | "
                  f"{fmt(sum(r['separate']['psnr'] for r in sep) / n)} | {fmt(sum(r['separate']['ssim'] for r in sep) / n, 4)} |",
                  f"| unified (full) | 1 | {full['train_minutes']:.1f} | {full['parameters']:,} | {full['size_mb']:.1f} | "
                  f"{fmt(sum(r['unified']['psnr'] for r in sep) / n)} | {fmt(sum(r['unified']['ssim'] for r in sep) / n, 4)} |",
                  "", "| appearance | separate PSNR | unified PSNR | separate SSIM | unified SSIM |", "|---|---|---|---|---|"]
        for name, r in results["protocol_b"].items():
            lines.append(f"| {name} | {fmt(r['separate']['psnr'])} | {fmt(r['unified']['psnr'])} | "
                         f"{fmt(r['separate']['ssim'], 4)} | {fmt(r['unified']['ssim'], 4)} |")
    for variant, r in results.get("novel_views", {}).items():
        lines += ["", f"**Novel views — `{variant}` (a) model, test frames seen from cameras rotated about the head "
                      f"centre ({r['frames']} frames)**", ""] + novel_table(r)
    return "\n".join(lines) + "\n"
