"""`python -m pav bench [--json OUT]`: speed and memory on this machine, in one run.

Measures (torch threads = 2 unless --threads):
- viewer rendering of the demo avatar (or --checkpoint): median ms per frame at 96², 128², 256² for the
  interactive-preview setting (fewer samples per ray) and the final-quality setting; rays/s, samples/s;
  and the preview 128² / final 256² frames again without `pav.allocator.tune_allocator` (its gain);
- preview fidelity: PSNR of 128² renders with 6, 8, 12 and 24 samples per ray against a 64-sample render
  of the same view (the figures quoted for PREVIEW_SAMPLES_PER_RAY in pav/config.py);
- the field: samples/s forward and forward+backward, and the MLPs' achieved FLOP/s over a plain torch
  matmul's FLOP/s measured in the same run (efficiency);
- geometry: nearest-triangle queries/s, rasterizer ms per frame (pav.geometry.bench), and every
  installed nearest-triangle backend on the same queries, with the one chosen and why (pav.backends);
- the hash grid alone (pav.nerf.bench_hashgrid), for the cpu and paper presets' grids;
- training: steps/s and samples/s on a synthetic collection (--data, or a small one generated here).
Not measured, printed as what it is: the time the checkpoint's training took to reach a 26 / 28 dB test
probe, read from its stored history (for the demo: its training run of 2026-11-24).
- peak memory (max RSS) of the training and viewer measurements, each in its own child process;
- the device (`--device`, default auto) and the backends chosen, with the reasons; rendering and training
  run on that device (field, geometry and hash-grid rows stay on the CPU); on the CPU also data-parallel
  training: 2 gloo processes × 1 thread against 1 process × 2 threads (pav.train.bench_distributed);
- checkpoint size and parameter count.
Speed targets live here, not in timed tests.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from .backends import add_device_argument, resolve_device
from .cliargs import int_range, output_file
from .config import PREVIEW_SAMPLES_PER_RAY
from .timing import time_calls

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo" / "avatar.pav"
DEMO_TRAINED = "2026-11-24"
"""when the demo checkpoint was trained (its commit; the checkpoint stores no date)."""
RENDER_SIZES = (96, 128, 256, 512)
RENDER_SETTINGS = {(mode, size) for size in (96, 128, 256) for mode in ("preview", "final")} | {("final", 512)}
GOALS = {"render preview 128²": ("≤", 40.0, "ms"), "render preview 256²": ("≤", 100.0, "ms"),
         "render final 256²": ("≤", 1000.0, "ms"), "render final 512²": ("≤", 3000.0, "ms"),
         "training": ("≥", 7.0, "steps/s"), "training peak memory": ("≤", 4096.0, "MB")}
"""Speed targets (issue 17's goals with 2 torch threads), printed beside the figures with met / not met."""
FIDELITY_SAMPLES = (6, 8, 12, 24)
FIDELITY_REFERENCE_SAMPLES = 64


def _median_ms(fn, repeats: int) -> float:
    return 1000 * time_calls(fn, repeats).median


def bench_render(checkpoint: str | Path, repeats: int = 5, device: str = "cpu") -> dict:
    """Viewer rendering: median ms per frame, preview and final settings, 3 sizes."""
    from .checkpoint import load_avatar
    from .export import orbit_camera

    checkpoint = Path(checkpoint)
    avatar = load_avatar(checkpoint, device=device)
    e, p = _rest(avatar)
    out = {}
    for size in RENDER_SIZES:
        cam = orbit_camera(avatar, size, yaw=20.0, pitch=5.0)
        rays = int(avatar.render(cam, e, p, 0).alpha.gt(0).sum())
        for mode, samples in (("preview", PREVIEW_SAMPLES_PER_RAY), ("final", None)):
            if (mode, size) not in RENDER_SETTINGS:
                continue
            ms = _render_ms(avatar, cam, samples, repeats if size < 512 else max(1, repeats // 2))
            k = samples or avatar.config.samples_per_ray
            out[f"{mode}_{size}"] = {"ms": round(ms, 1), "fps": round(1000 / ms, 2),
                                     "rays_per_s": round(rays / ms * 1000), "samples_per_s": round(rays * k / ms * 1000)}
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # before the
    out["preview_psnr_db"] = preview_fidelity(avatar)  # 64-sample reference render, which the viewer never makes
    out["parameters"] = sum(q.numel() for q in avatar.parameters())
    out["checkpoint_mb"] = round(checkpoint.stat().st_size / 2 ** 20, 2)
    out["checkpoint_history"] = checkpoint_history(avatar, checkpoint)
    return out


def preview_fidelity(avatar, size: int = 128, samples=FIDELITY_SAMPLES,
                     reference: int = FIDELITY_REFERENCE_SAMPLES) -> dict:
    """{samples per ray: PSNR (dB, whole image)} of renders at rest (appearance 0, the bench's 128² view)
    against a `reference`-sample render of the same view."""
    from .eval.metrics import psnr
    from .export import orbit_camera

    cam = orbit_camera(avatar, size, yaw=20.0, pitch=5.0)
    e, p = _rest(avatar)
    with torch.no_grad():
        ref = avatar.render(cam, e, p, 0, samples_per_ray=reference).rgb
        return {k: round(psnr(avatar.render(cam, e, p, 0, samples_per_ray=k).rgb, ref), 2) for k in samples}


def checkpoint_history(avatar, checkpoint: Path) -> dict:
    """Minutes to the first 26 / 28 dB test probe in the checkpoint's stored training history (not measured
    here), with where the figures come from."""
    history = avatar.info.get("history") or []
    out = {}
    for target in (26, 28):
        hit = next((h for h in history if h.get("test_psnr") is not None and h["test_psnr"] >= target), None)
        out[f"minutes_to_{target}db"] = None if hit is None else round(hit["seconds"] / 60, 1)
    out["best_probe_psnr"] = max((h["test_psnr"] for h in history if h.get("test_psnr")), default=None)
    if Path(checkpoint).resolve() == DEMO.resolve():
        out["source"] = f"the demo checkpoint's training history ({DEMO_TRAINED})"
    else:
        from datetime import date

        written = date.fromtimestamp(Path(checkpoint).stat().st_mtime).isoformat()
        out["source"] = f"{Path(checkpoint).name}'s training history (file written {written})"
    return out


def bench_field(batch: int = 1 << 16, repeats: int = 5) -> dict:
    """Field samples/s and the MLP part's FLOP/s relative to a plain matmul's."""
    from .config import ModelConfig
    from .nerf.field import CanonicalField
    from .nerf.hashgrid import HashGrid

    cfg = ModelConfig()
    grid = HashGrid(cfg.hashgrid)
    field = CanonicalField(cfg.field, grid, grid.n_output_dims, 52, cfg.texture_channels, use_offset=True)
    x = torch.rand(batch, 3)
    d = torch.nn.functional.normalize(torch.randn(batch, 3), dim=-1)
    e, g = torch.randn(8, 52), torch.randint(8, (batch,))
    z = torch.randn(batch, cfg.texture_channels)

    def forward():
        with torch.no_grad():
            field(x, d, e, g, z)

    def forward_backward():
        field.zero_grad(set_to_none=True)
        out = field(x, d, e, g, z)
        (out.sigma.sum() + out.rgb.sum()).backward()

    fwd_ms, fb_ms = _median_ms(forward, repeats), _median_ms(forward_backward, repeats)
    mlp_flops = 2 * sum(m.in_features * m.out_features for m in field.modules() if isinstance(m, torch.nn.Linear)
                        and m is not field.mlp_d.condition and (field.mlp_o is None or m is not field.mlp_o.condition))
    with torch.no_grad():
        enc = grid(x)
    mlp_ms = _median_ms(lambda: field.mlp_d(enc, e, g), repeats)  # one MLP alone, for the efficiency ratio
    d_flops = 2 * sum(m.in_features * m.out_features for m in (field.mlp_d.first, *field.mlp_d.hidden, field.mlp_d.last))
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    mm_ms = _median_ms(lambda: a @ b, repeats)
    mm_flops = 2 * 2048 ** 3 / (mm_ms / 1000)
    mlp_flops_s = d_flops * batch / (mlp_ms / 1000)
    return {"batch": batch, "forward_samples_per_s": round(batch / fwd_ms * 1000),
            "forward_backward_samples_per_s": round(batch / fb_ms * 1000),
            "mlp_flops_per_sample": mlp_flops, "mlp_d_gflops": round(mlp_flops_s / 1e9, 1),
            "matmul_gflops": round(mm_flops / 1e9, 1), "mlp_efficiency": round(mlp_flops_s / mm_flops, 3)}


def bench_train(data: str | Path, steps: int = 20, device: str = "cpu") -> dict:
    """Training steps/s and samples/s (after 3 warm-up steps) on a collection."""
    from .config import preset
    from .data import load_split, read_collection
    from .head import load_head_model
    from .nerf.avatar import Avatar
    from .train import Trainer

    collection = read_collection(data)
    model_cfg, train_cfg = preset("cpu")
    avatar = Avatar(model_cfg, load_head_model(collection.manifest.head_model.spec),
                    torch.tensor(collection.manifest.shape), collection.appearance_names).to(device)
    trainer = Trainer(avatar, load_split(collection, "train"), train_cfg)
    for _ in range(3):
        trainer.step()
    stats = [trainer.step() for _ in range(steps)]
    seconds = sum(s.seconds for s in stats)
    return {"steps_per_s": round(steps / seconds, 2), "rays_per_step": train_cfg.rays_per_step,
            "field_samples_per_s": round(sum(s.samples for s in stats) / seconds),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def bench_render_one(checkpoint: str | Path, size: int, samples: int | None, repeats: int = 5) -> dict:
    """Median ms of one render setting (for the allocator comparison)."""
    from .checkpoint import load_avatar
    from .export import orbit_camera

    avatar = load_avatar(Path(checkpoint), device="cpu")
    return {"ms": round(_render_ms(avatar, orbit_camera(avatar, size, yaw=20.0, pitch=5.0), samples, repeats), 1)}


def _rest(avatar) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero expression (E,) and pose (J, 3) on the avatar's device: the head at rest."""
    return (torch.zeros(avatar.head.n_expression, device=avatar.device),
            torch.zeros(avatar.head.n_joints, 3, device=avatar.device))


def _render_ms(avatar, camera, samples: int | None, repeats: int) -> float:
    """Median ms of rendering the avatar at rest (appearance 0) through `camera` with `samples` per ray."""
    e, p = _rest(avatar)
    sync = torch.cuda.synchronize if avatar.device.type == "cuda" else (lambda: None)
    return _median_ms(lambda: (avatar.render(camera, e, p, 0, samples_per_ray=samples), sync()), repeats)


def _in_child(function: str, *args, tune: bool = True) -> dict:
    """Run bench `function(*args)` in a fresh interpreter (its own peak memory), with the allocator tuned as
    the CLI and the app have it (`tune`); returns its dict."""
    code = (f"import json, torch; torch.set_num_threads({torch.get_num_threads()}); "
            + ("from pav.allocator import tune_allocator; tune_allocator(); " if tune else "")
            + f"from pav.bench import {function}; print(json.dumps({function}(*{args!r})))")
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    if done.returncode != 0:
        raise RuntimeError(f"bench {function} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_ddp_cpu(data: str, preset_name: str, steps: int) -> dict:
    from .train.bench_distributed import bench_ddp_cpu as run_ab

    return run_ab(data, preset_name, steps)


def chosen_backends(device: str) -> dict:
    """The backends this device gets, each {name, reason} (printed by bench, stored in its JSON)."""
    from .backends import choose_hashgrid_backend, cuda, hashgrid_cpu_backend, nearest_backend, raster_backend

    grid = choose_hashgrid_backend() if device.startswith("cuda") else hashgrid_cpu_backend()
    near = nearest_backend(device)
    return {"device": {"name": device, "reason": cuda().reason},
            "hashgrid": {"name": grid.name, "reason": grid.reason},
            "raster": raster_backend(device)._asdict(),
            "nearest_triangle": {"name": near.name, "reason": near.reason}}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", type=output_file(), help="also write the results here")
    p.add_argument("--checkpoint", type=Path, default=DEMO, help="avatar to render (default: the demo avatar)")
    p.add_argument("--data", type=Path, help="collection for the training measurement (default: a small synthetic one)")
    p.add_argument("--threads", type=int_range(1, 1024), default=2, help="torch threads (default 2)")
    p.add_argument("--quick", action="store_true", help="fewer repeats")
    add_device_argument(p)


def hashgrid_configs() -> dict:
    """The hash grids timed by bench: the cpu and paper presets' own, and the paper grid with T = 2^14."""
    from .config import preset
    from .nerf.hashgrid import HashGridConfig

    return {"cpu": preset("cpu")[0].hashgrid, "paper": preset("paper")[0].hashgrid,
            "paper_T14": HashGridConfig(log2_hashmap_size=14)}


def run(args: argparse.Namespace) -> int:
    from . import backends
    from .geometry.bench import bench_geometry, bench_nearest
    from .nerf.bench_hashgrid import bench_hashgrid

    torch.set_num_threads(args.threads)
    if not args.checkpoint.exists():
        raise FileNotFoundError(f"checkpoint not found: {args.checkpoint} (pass --checkpoint)")
    from .checkpoint import read_metadata
    from .data import read_collection

    read_metadata(args.checkpoint)  # a foreign or damaged file, or a bad --data, fails now, not minutes later
    if args.data is not None:
        read_collection(args.data)
    repeats = 2 if args.quick else 5
    device = str(resolve_device(args.device))
    results = {"threads": args.threads, "torch": torch.__version__, "device": device,
               "backends": chosen_backends(device)}
    chosen = "; ".join(f"{k}: {v['name']} ({v['reason']})" for k, v in results["backends"].items())
    print(f"device {device}; {chosen}", file=sys.stderr)
    print("rendering …", file=sys.stderr)
    results["render"] = _in_child("bench_render", str(args.checkpoint), repeats, device)
    results["render_untuned_allocator"] = {
        "final_256": _in_child("bench_render_one", str(args.checkpoint), 256, None, repeats, tune=False),
        "preview_128": _in_child("bench_render_one", str(args.checkpoint), 128, PREVIEW_SAMPLES_PER_RAY, repeats,
                                 tune=False)}
    print("field …", file=sys.stderr)
    results["field"] = bench_field(repeats=repeats)
    print("geometry …", file=sys.stderr)
    results["geometry"] = bench_geometry(repeats=repeats, threads=args.threads)
    results["nearest"] = bench_nearest(repeats=repeats, threads=args.threads)
    results["nearest_choice"] = {device: backends.nearest_backend(device)._asdict()
                                 for device in ["cpu"] + (["cuda"] if backends.cuda().available else [])}
    print("hash grid …", file=sys.stderr)
    results["hashgrid"] = bench_hashgrid(hashgrid_configs(), repeats=repeats, threads=args.threads)
    print("training …", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            from .data.synth.config import SynthConfig
            from .data.synth.generate import generate

            data = Path(tmp) / "bench-data"
            # training only: no novel views
            generate(SynthConfig(appearances=2, frames=20, size=128, seed=0, novel_view_frames=0), data)
        results["train"] = _in_child("bench_train", str(data), 10 if args.quick else 20, device)
        if device == "cpu":
            print("data-parallel training (2 gloo processes × 1 thread vs 1 process × 2 threads) …",
                  file=sys.stderr)
            results["train_ddp_cpu"] = _in_child("bench_ddp_cpu", str(data), "cpu", 5 if args.quick else 10)
    print(format_table(results))
    if args.json:
        from .io import write_json

        write_json(args.json, results)
    return 0


def goal(name: str, value: float) -> str:
    """The target of figure `name` and whether `value` meets it ('' when the figure has none)."""
    if name not in GOALS:
        return ""
    op, bound, unit = GOALS[name]
    met = value <= bound if op == "≤" else value >= bound
    return f"{op} {bound:g} {unit} ({'met' if met else 'not met'})"


def normalised(value: float, unit: str, gflops: float | None) -> str:
    """A time as the matmul work this machine does meanwhile (ms × GFLOP/s → GFLOP), a rate per TFLOP of it
    (steps/s ÷ GFLOP/s): comparable between machines of different speeds."""
    if not gflops:
        return ""
    return f"{value * gflops / 1000:.1f} GFLOP" if unit == "ms" else f"{value / gflops * 1000:.1f} {unit[:-2]}/TFLOP"


def format_table(r: dict) -> str:
    gflops = r.get("field", {}).get("matmul_gflops")
    rows = [("what", "measured", "target", f"× matmul ({gflops} GFLOP/s)")]
    for size in RENDER_SIZES:
        for mode in ("preview", "final"):
            x = r["render"].get(f"{mode}_{size}")
            if x is None:
                continue
            name = f"render {mode} {size}²"
            rows.append((name, f"{x['ms']} ms ({x['fps']} fps, {x['samples_per_s'] / 1e6:.2f} M samples/s)",
                         goal(name, x["ms"]), normalised(x["ms"], "ms", gflops)))
    untuned = r.get("render_untuned_allocator")
    if untuned:
        rows.append(("render without allocator tuning", f"final 256² {untuned['final_256']['ms']} ms, preview 128² "
                     f"{untuned['preview_128']['ms']} ms", ""))
    f = r["field"]
    rows += [("field forward", f"{f['forward_samples_per_s'] / 1e6:.2f} M samples/s", ""),
             ("field forward+backward", f"{f['forward_backward_samples_per_s'] / 1e6:.2f} M samples/s", ""),
             ("MLP efficiency", f"{f['mlp_d_gflops']} / {f['matmul_gflops']} GFLOP/s = {f['mlp_efficiency']:.2f}", "")]
    g = r["geometry"]
    for key, value in g.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append((f"geometry {key}", f"{value:,.3g}" if isinstance(value, float) else f"{value:,}", ""))
    n = r.get("nearest")
    if n:
        rates = ", ".join(f"{k} {v / 1e6:.2f}" for k, v in sorted(n["queries_per_s"].items(), key=lambda kv: -kv[1]))
        rows.append((f"nearest triangle per backend ({n['points'] // 1000}k queries)", f"{rates} M queries/s", ""))
    for device, choice in r.get("nearest_choice", {}).items():
        rows.append((f"nearest-triangle backend on {device}", f"{choice['name']}: {choice['reason']}", ""))
    fidelity = r["render"].get("preview_psnr_db")
    if fidelity:
        rows.append((f"preview fidelity 128² vs {FIDELITY_REFERENCE_SAMPLES} samples/ray",
                     ", ".join(f"{k}: {v} dB" for k, v in fidelity.items()), ""))
    for name, h in r["hashgrid"]["configs"].items():
        rows.append((f"hash grid {name} ({h['params']:,} params)",
                     f"{h['forward_samples_per_s'] / 1e6:.2f} M/s fwd, {h['forward_backward_samples_per_s'] / 1e6:.2f} M/s fwd+bwd", ""))
    t = r["train"]
    chosen = "; ".join(f"{k} {v['name']}" for k, v in r.get("backends", {}).items())
    rows += [(f"device {r.get('device', 'cpu')}", chosen, "")]
    ddp = r.get("train_ddp_cpu")
    if ddp:
        for key, label in (("one_process_2_threads", "1 process × 2 threads"),
                           ("two_processes_1_thread", "2 gloo processes × 1 thread")):
            x = ddp[key]
            rows.append((f"training {label}", f"{x['steps_per_s']} steps/s, {x['samples_per_s'] / 1e6:.2f} M samples/s", ""))
    rows += [("training", f"{t['steps_per_s']} steps/s, {t['field_samples_per_s'] / 1e6:.2f} M samples/s",
              goal("training", t["steps_per_s"]), normalised(t["steps_per_s"], "steps/s", gflops)),
             ("training peak memory", f"{t['peak_rss_mb']} MB", goal("training peak memory", t["peak_rss_mb"])),
             ("viewer peak memory", f"{r['render']['peak_rss_mb']} MB", ""),
             ("checkpoint", f"{r['render']['checkpoint_mb']} MB, {r['render']['parameters']:,} parameters", "")]
    rows = [row + ("",) * (4 - len(row)) for row in rows]
    width = max(len(row[0]) for row in rows)
    w2 = max(len(row[1]) for row in rows)
    w3 = max(len(row[2]) for row in rows)
    h = r["render"]["checkpoint_history"]
    note = (f"Not measured by this run, read from {h['source']}: its training reached a 26 dB test probe at "
            f"{h['minutes_to_26db']} min and 28 dB at {h['minutes_to_28db']} min "
            f"(best probe {h['best_probe_psnr']} dB).")
    return "\n".join(f"{a:<{width}}  {b:<{w2}}  {c:<{w3}}  {d}".rstrip() for a, b, c, d in rows) + "\n\n" + note
