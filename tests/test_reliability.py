"""Bad input on every command: exit code 2, ONE line on stderr that names the thing, no traceback, no file
changed or left behind, bounded time. One case per line of `CASES` (issue 13's audit, plus more).

A line is `Case(command line, message fragment)`; placeholders name the fixtures of `ws` below:
  {data}      a valid tiny collection (appearances "alpha", "beta")      {ckpt}   an avatar trained on it (names match)
  {other}     an avatar with appearances "x", "y" (none in {data})        {badver} {ckpt} with format_version "abc"
  {mixed}     {data} with appearance "beta" at another image size         {badsum} {data} with a wrong head-model checksum
  {file}      a plain text file           {folder}  an empty folder       {tmp}    an empty scratch folder
  {ro}        a read-only folder (a tmpfs remounted read-only when root, where chmod does not bind; chmod 555 else)
  {seq_NAME}  a timeline JSON from TIMELINES                              {nope}   a path that does not exist
Most cases run in-process (`pav.cli.main` / `main.main`, fast); `sub=True` ones (one or more per command) run
`python -m pav` (or main.py, DISPLAY unset) in a child process.
Every case hashes the whole fixture tree (scratch folder included) before and after.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from pav import cli

REPO = Path(__file__).resolve().parents[1]
IN_PROCESS_SECONDS, CHILD_SECONDS = 30.0, 90.0
"""Wall-time bounds per case (generous: the CI machine is shared; a hang or a full run is far slower)."""


class Case(NamedTuple):
    args: str
    """command line after `python -m pav` (or after `main.py` for the app), with {placeholders}."""
    fragment: str
    """must appear in the one error line."""
    sub: bool = False
    """run in a child process (traceback-free exit code 2 end to end; ~2 s of CPU each for the imports)."""
    app: bool = False
    """the desktop app: `main.main(ARGS)`, or `python main.py ARGS` with DISPLAY unset when `sub`."""


TIMELINES = {
    "list": [],                                              # item 8
    "frames5": {"frames": 5},                                # item 8
    "stryaw": {"frames": [{"yaw": "left"}]},                 # item 8
    "fps0": {"fps": 0, "frames": [{}]},                      # item 8 / 19
    "fpsneg": {"fps": -25, "frames": [{}]},                  # item 8 / 15
    "nancam": {"frames": [{"yaw": float("nan")}]},           # item 8
    "nanradius": {"frames": [{"radius": float("nan")}]},
    "infpitch": {"frames": [{"pitch": float("inf")}]},
    "empty": {"frames": []},
    "noframes": {"fps": 25},
    "fpsstr": {"fps": "25", "frames": [{}]},
    "fpsfrac": {"fps": 2.5, "frames": [{}]},
    "fpshuge": {"fps": 100000, "frames": [{}]},
    "item": {"frames": [5]},
    "exprname": {"frames": [{"expression": {"nobody": 1.0}}]},
    "exprnan": {"frames": [{"expression": {"jawOpen": float("nan")}}]},
    "exprstr": {"frames": [{"expression": {"jawOpen": "wide"}}]},
    "exprlist": {"frames": [{"expression": [1, 2]}]},
    "pose2": {"frames": [{"pose": {"jaw": [0.1, 0.0]}}]},
    "posename": {"frames": [{"pose": {"tail": [0, 0, 0]}}]},
    "posenan": {"frames": [{"pose": {"jaw": [0.1, float("nan"), 0]}}]},
    "radius0": {"frames": [{"radius": 0}]},
    "radiusneg": {"frames": [{"radius": -1.0}]},
    "yawbool": {"frames": [{"yaw": True}]},
    "app": {"frames": [{"appearance": "nobody"}]},
    "appweights": {"frames": [{"appearance": [1, 2, 3]}]},
    "appindex": {"frames": [{"appearance": 7}]},
    "good": {"fps": 2, "frames": [{"yaw": 10, "expression": {"jawOpen": 0.5}}, {"yaw": -10}]},
}

CASES = [
    # ---- train (items 2, 7, 17, 20, 23; check-data parity) ----------------------------------------------------
    Case("train {data} --out {tmp}/a.pav --steps 0", "argument --steps: must be ≥ 1, got 0"),
    Case("train {data} --out {tmp}/a.pav --steps -3", "argument --steps: must be ≥ 1"),
    Case("train {data} --out {tmp}/a.pav --steps many", "argument --steps: expected a whole number"),
    Case("train {data} --out {tmp}/a.pav --steps 1.5", "argument --steps: expected a whole number"),
    Case("train {data} --out {tmp}/a.pav --minutes 0", "argument --minutes: must be > 0"),
    Case("train {data} --out {tmp}/a.pav --minutes -1", "argument --minutes: must be > 0"),
    Case("train {data} --out {tmp}/a.pav --minutes nan", "argument --minutes: must be a finite number"),
    Case("train {data} --out {tmp}/a.pav --minutes inf", "argument --minutes: must be a finite number"),
    Case("train {data} --out {tmp}/a.pav --minutes 1e12", "argument --minutes: must be > 0 and ≤ 1e+09"),
    Case("train {data} --out {tmp}/a.pav --steps 1 --minutes 1", "not allowed with argument"),
    Case("train {data} --out {tmp}/a.pav --eval-frames 0", "argument --eval-frames: must be in 1..10000"),
    Case("train {data} --out {tmp}/a.pav --eval-frames 100000", "argument --eval-frames"),
    Case("train {data} --out {tmp}/a.pav --eval-every-s -5", "argument --eval-every-s"),
    Case("train {data} --out {tmp}/a.pav --eval-every-s nan", "argument --eval-every-s: must be a finite"),
    Case("train {data} --out {tmp}/a.pav --seed -1", "argument --seed: must be in 0..4294967295, got -1"),
    Case("train {data} --out {tmp}/a.pav --variant best", "argument --variant: invalid choice"),
    Case("train {data} --out {tmp}/a.pav --preset huge", "argument --preset: invalid choice"),
    Case("train {data} --out {folder}", "argument --out: {folder} is a folder"),
    Case("train {data} --out {ro}/a.pav", "argument --out: {ro}/a.pav: cannot write in {ro}"),
    Case("train {data} --out {ro}/sub/a.pav", "cannot write in {ro}"),
    Case("train {data} --out {file}/a.pav", "is not a folder"),
    Case("train {data} --out {tmp}/a.pav --head-model {nope}", "head-model file not found: {nope}"),
    Case("train {data} --out {tmp}/a.pav --head-model {folder}", "is a folder; expected 'default'"),
    Case("train {nope} --out {tmp}/a.pav --steps 1", "{nope}: collection folder not found"),
    Case("train {mixed} --out {tmp}/a.pav --steps 1", "different image sizes"),
    Case("train {badsum} --out {tmp}/a.pav --steps 1", "pass the right --head-model"),
    Case("train {data} --out {tmp}/a.pav --steps 1 --appearance nobody", "nobody"),
    Case("train", "the following arguments are required: data, --out"),
    Case("train {data} --out {tmp}/a.pav --minutes 0", "argument --minutes: must be > 0", sub=True),
    # ---- eval (items 2, 7, 11, 16, 17, 21, 23; the collection's head-model checksum) --------------------------
    Case("eval {ckpt} {data} --max-frames 0", "argument --max-frames: must be ≥ 1, got 0"),
    Case("eval {ckpt} {data} --max-frames -2", "argument --max-frames"),
    Case("eval {ckpt} {data} --max-frames all", "argument --max-frames: expected a whole number"),
    Case("eval {ckpt} {data} --split bogus", "argument --split: invalid choice"),
    Case("eval {ckpt} {data} --split test --contact-sheet {tmp}/s.png", "--contact-sheet needs --split novel"),
    Case("eval {ckpt} {data} --json {folder}", "argument --json: {folder} is a folder"),
    Case("eval {ckpt} {data} --json {ro}/r.json", "argument --json: {ro}/r.json: cannot write in {ro}"),
    Case("eval {ckpt} {data} --side-by-side {file}", "argument --side-by-side: {file} exists and is not a folder"),
    Case("eval {ckpt} {data} --side-by-side {ro}/sbs", "cannot write in {ro}"),
    Case("eval {ckpt} {data} --side-by-side {ro}", "argument --side-by-side: {ro}: cannot write in it"),
    Case("eval {ckpt} {data} --head-model {nope}", "argument --head-model: head-model file not found: {nope}"),
    Case("eval {nope} {data}", "checkpoint not found: {nope}"),
    Case("eval {file} {data}", "is not a readable PAV checkpoint"),
    Case("eval {badver} {data}", "format_version 'abc' is not a whole number"),
    Case("eval {ckpt} {nope}", "{nope}: collection folder not found"),
    Case("eval {other} {data}", "none of the avatar's appearances (x, y) is in the collection"),
    Case("eval {ckpt} {data} --appearance nobody", "--appearance nobody: not in the avatar (has alpha, beta)"),
    Case("eval {other} {data} --appearance x", "--appearance x: not in the collection"),
    Case("eval {ckpt} {badsum}", "head_model.checksum"),
    Case("eval {ckpt} {mixed}", "different image sizes"),
    Case("eval {ckpt} {data} --side-by-side {file}", "exists and is not a folder", sub=True),
    # ---- render (items 7, 8, 15, 19) --------------------------------------------------------------------------
    Case("render {ckpt} --out {tmp}/c.mp4 --fps 0", "argument --fps: must be in 1..240, got 0"),
    Case("render {ckpt} --out {tmp}/c.mp4 --fps -5", "argument --fps: must be in 1..240"),
    Case("render {ckpt} --out {tmp}/c.mp4 --fps 1000", "argument --fps: must be in 1..240"),
    Case("render {ckpt} --out {tmp}/c.mp4 --fps 2.5", "argument --fps: expected a whole number"),
    Case("render {ckpt} --out {tmp}/c.mp4 --size 0", "argument --size: must be in 16..2048"),
    Case("render {ckpt} --out {tmp}/c.mp4 --size -1", "argument --size"),
    Case("render {ckpt} --out {tmp}/c.mp4 --size 5000", "argument --size: must be in 16..2048"),
    Case("render {ckpt} --out {tmp}/c.mp4 --orbit nan", "argument --orbit: must be a finite number"),
    Case("render {ckpt} --out {tmp}/c.mp4 --orbit inf", "argument --orbit: must be a finite number"),
    Case("render {ckpt} --out {tmp}/c.mp4 --orbit=-inf", "argument --orbit: must be a finite number"),
    Case("render {ckpt} --out {tmp}/c.mp4 --orbit 1e9", "argument --orbit: must be ≥ -3600"),
    Case("render {ckpt} --out {tmp}/c.avi", "argument --out: {tmp}/c.avi: the file must end in .mp4"),
    Case("render {ckpt} --out {folder}/x.mp4/", "argument --out"),
    Case("render {ckpt} --out {ro}/c.mp4", "argument --out: {ro}/c.mp4: cannot write in {ro}"),
    Case("render {ckpt} --out {tmp}/c.mp4 --head-model {nope}", "head-model file not found"),
    Case("render {nope} --out {tmp}/c.mp4", "checkpoint not found"),
    Case("render {badver} --out {tmp}/c.mp4", "format_version 'abc'"),
    Case("render {ckpt} --out {tmp}/c.mp4 --appearance nobody", "appearance 'nobody' is not one of"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {data}/nobody", "no appearance 'nobody'"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_list}", "got a JSON list"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_frames5}", "frames must be a list of frame objects, got 5"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_stryaw}", "frames[0].yaw must be a finite number, got \"left\""),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_fps0}", "fps must be a whole number in 1..240, got 0"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_fpsneg}", "fps must be a whole number in 1..240, got -25"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_nancam}", "frames[0].yaw must be a finite number, got NaN"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_nanradius}", "frames[0].radius must be a finite number"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_infpitch}", "frames[0].pitch must be a finite number"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_empty}", "the timeline has no frames"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_noframes}", "frames must be a list"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_fpsstr}", "fps must be a whole number"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_fpsfrac}", "fps must be a whole number"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_fpshuge}", "fps must be a whole number in 1..240"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_item}", "frames[0] must be an object, got 5"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_exprname}", "frames[0].expression: unknown name 'nobody'"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_exprnan}", "frames[0].expression.jawOpen must be a finite"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_exprstr}", "frames[0].expression.jawOpen must be a finite"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_exprlist}", "must be objects keyed by name"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_pose2}", "frames[0].pose: bad entry jaw"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_posename}", "frames[0].pose: bad entry tail"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_posenan}", "frames[0].pose.jaw must be a finite number"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_radius0}", "frames[0].radius must be > 0"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_radiusneg}", "frames[0].radius must be > 0"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_yawbool}", "frames[0].yaw must be a finite number, got true"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_app}", "frames[0].appearance: appearance 'nobody'"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_appweights}", "frames[0].appearance: appearance weights"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_appindex}", "frames[0].appearance: appearance index 7"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {file}.json", "sequence not found"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {seq_bad}", "not a PAV timeline (invalid JSON"),
    Case("render {ckpt} --out {tmp}/c.mp4 --orbit nan", "argument --orbit", sub=True),
    # ---- render: driving options (issue 16) ----
    Case("render {ckpt} --out {tmp}/c.mp4 --relative", "need --drive DATA/NAME"),
    Case("render {ckpt} --out {tmp}/c.mp4 --camera avatar", "need --drive DATA/NAME"),
    Case("render {ckpt} --out {tmp}/c.mp4 --camera sideways", "argument --camera: invalid choice"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {data}/alpha --neutral-frame -1", "argument --neutral-frame"),
    Case("render {ckpt} --out {tmp}/c.mp4 --drive {data}/alpha --neutral-frame 9999", "neutral-frame 9999"),
    # ---- track --identity (issue 16) ----
    Case("track {file} --out {tmp}/d --identity {nope}", "no such checkpoint or collection folder"),
    Case("track {file} --out {tmp}/d --identity {file}", "neither an avatar checkpoint"),
    Case("track {file} --out {tmp}/d --identity {folder}", "not a PAV collection"),
    # ---- verify (issue 16) ----
    Case("verify {file}", "neither an image nor a video", sub=True),
    Case("verify {nope}", "no such file"),
    Case("verify {folder}", "no such file"),
    # ---- reenact-eval (issue 16) ----
    Case("reenact-eval {nope} --out {tmp}/r", "video not found", sub=True),
    Case("reenact-eval {file} --out {tmp}/r --minutes 0", "argument --minutes: must be > 0"),
    Case("reenact-eval {file} --out {tmp}/r --train-fraction 1.5", "argument --train-fraction"),
    Case("reenact-eval {file} --out {ro}/r", "cannot write in {ro}"),
    Case("render {ckpt} --out {ro}/c.mp4", "cannot write in {ro}", sub=True),
    # ---- synth (items 6, 7, 20) -------------------------------------------------------------------------------
    Case("synth {tmp}/s --frames 100000000", "needs about"),
    Case("synth {tmp}/s --appearances 100000", "argument --appearances: must be in 1..64, got 100000"),
    Case("synth {tmp}/s --appearances 0", "argument --appearances: must be in 1..64"),
    Case("synth {tmp}/s --frames 1", "argument --frames: must be ≥ 2, got 1"),
    Case("synth {tmp}/s --frames 1e3", "argument --frames: expected a whole number"),
    Case("synth {tmp}/s --size 8", "argument --size: must be in 16..2048"),
    Case("synth {tmp}/s --size 100000", "argument --size: must be in 16..2048"),
    Case("synth {tmp}/s --seed -1", "argument --seed: must be in 0..4294967295, got -1"),
    Case("synth {tmp}/s --seed 2**40", "argument --seed: expected a whole number"),
    Case("synth {tmp}/s --supersample 2", "supersample 2: must be odd"),
    Case("synth {tmp}/s --supersample 0", "argument --supersample: must be in 1..15"),
    Case("synth {file}", "{file} exists and is not a folder"),
    Case("synth {ro}/new", "cannot write in {ro}"),
    Case("synth {ro}", "{ro}: cannot write in it"),
    Case("synth {data}", "exists and is not empty; pass --overwrite"),
    Case("synth {tmp}/s --head-model {nope}", "head-model file not found"),
    Case("synth {tmp}/s --frames 100000000", "needs about", sub=True),
    # ---- track (items 5, 7) -----------------------------------------------------------------------------------
    Case("track {file} --out {tmp}/t --size 100000", "argument --size: must be in 32..4096, got 100000"),
    Case("track {file} --out {tmp}/t --size 4096 --max-frames 100000", "needs about"),
    Case("track {file} --out {tmp}/t --size 10", "argument --size: must be in 32..4096"),
    Case("track {file} --out {tmp}/t --max-frames 0", "argument --max-frames: must be in 1..100000"),
    Case("track {file} --out {tmp}/t --test-fraction 1", "argument --test-fraction"),
    Case("track {file} --out {tmp}/t --test-fraction nan", "argument --test-fraction: must be a finite"),
    Case("track {file} --out {tmp}/t --steps 0", "argument --steps: must be ≥ 1"),
    Case("track {file} --out {tmp}/t --photometric-steps -1", "argument --photometric-steps: must be ≥ 0"),
    Case("track {nope} --out {tmp}/t", "input not found: {nope}"),
    Case("track {file} --out {ro}/t", "argument --out: {ro}/t: cannot write in {ro}"),
    Case("track {file} --out {file}", "argument --out: {file} exists and is not a folder"),
    Case("track {file} --out {data}", "exists and is not an empty folder"),
    Case("track {file} --out {tmp}/t --head-model {nope}", "head-model file not found"),
    Case("track {file} --out {tmp}/t --size 100000", "argument --size", sub=True),
    # ---- check-data (rejects what train rejects) --------------------------------------------------------------
    Case("check-data {mixed}", "appearances have different image sizes ('alpha' 16×16, 'beta' 24×24)"),
    Case("check-data {badsum}", "head_model.checksum 000000000000… ('pav-head-anny-v1') does not match"),
    Case("check-data {nope}", "{nope}: collection folder not found"),
    Case("check-data {file}", "collection folder not found"),
    Case("check-data {folder}", "collection.json: file not found"),
    Case("check-data {data} --head-model {nope}", "head-model file not found"),
    Case("check-data {mixed}", "different image sizes", sub=True),
    # ---- reproduce (item 2) -----------------------------------------------------------------------------------
    Case("reproduce {data} --out {tmp}/r --minutes 0", "argument --minutes: must be > 0"),
    Case("reproduce {data} --out {tmp}/r --minutes nan", "argument --minutes: must be a finite"),
    Case("reproduce {data} --out {tmp}/r --minutes -1", "argument --minutes: must be > 0"),
    Case("reproduce {data} --out {tmp}/r --minutes-b 0", "argument --minutes-b: must be > 0"),
    Case("reproduce {data} --out {tmp}/r --minutes-b inf", "argument --minutes-b: must be a finite"),
    Case("reproduce {data} --out {tmp}/r --max-frames 0", "argument --max-frames: must be ≥ 1"),
    Case("reproduce {data} --out {tmp}/r --variants best", "argument --variants: invalid choice"),
    Case("reproduce {data} --out {file}", "argument --out: {file} exists and is not a folder"),
    Case("reproduce {data} --out {ro}/r", "cannot write in {ro}"),
    Case("reproduce {nope} --out {tmp}/r", "{nope}: collection folder not found"),
    Case("reproduce {data} --out {tmp}/r --minutes 0", "argument --minutes", sub=True),
    # ---- bench (items 7, 10) ----------------------------------------------------------------------------------
    Case("bench --threads 0", "argument --threads: must be in 1..1024, got 0"),
    Case("bench --threads -1", "argument --threads"),
    Case("bench --threads two", "argument --threads: expected a whole number"),
    Case("bench --json {folder}", "argument --json: {folder} is a folder"),
    Case("bench --json {ro}/b.json", "cannot write in {ro}"),
    Case("bench --checkpoint {nope}", "checkpoint not found"),
    Case("bench --checkpoint {file}", "is not a readable PAV checkpoint"),
    Case("bench --checkpoint {badver}", "format_version 'abc'"),
    Case("bench --data {nope}", "{nope}: collection folder not found"),
    Case("bench --threads 0", "argument --threads", sub=True),
    # ---- head-preview -----------------------------------------------------------------------------------------
    Case("head-preview {tmp}/h.png --size 0", "argument --size: must be in 16..4096"),
    Case("head-preview {tmp}/h.png --size 10000", "argument --size: must be in 16..4096"),
    Case("head-preview {tmp}/h.png --expression jawOpen=nan", "expected 1 finite number"),
    Case("head-preview {tmp}/h.png --expression nobody=1", "'nobody' is not one of the model's expression names"),
    Case("head-preview {tmp}/h.png --expression jawOpen", "expected NAME=VALUE"),
    Case("head-preview {tmp}/h.png --pose jaw=1,2", "expected 3 finite number"),
    Case("head-preview {tmp}/h.png --pose jaw=a,b,c", "is not a number list"),
    Case("head-preview {tmp}/h.png --shape nobody=1", "is not one of the model's shape names"),
    Case("head-preview {folder}", "argument out: {folder} is a folder"),
    Case("head-preview {ro}/h.png", "cannot write in {ro}"),
    Case("head-preview {tmp}/h.png --head-model {nope}", "head-model file not found"),
    Case("head-preview {tmp}/h.png --size 0", "argument --size", sub=True),
    # ---- the CLI itself ---------------------------------------------------------------------------------------
    Case("", "the following arguments are required: COMMAND"),
    Case("frobnicate", "argument COMMAND: invalid choice: 'frobnicate'"),
    Case("frobnicate", "invalid choice", sub=True),
    # ---- the desktop app, without a display (item 12) ---------------------------------------------------------
    Case("", "is a display available", app=True, sub=True),
    Case("--size -5 -5", "argument --size: must be in 320..16384, got -5", app=True, sub=True),
    Case("--size -5 -5", "argument --size: must be in 320..16384, got -5", app=True),
    Case("--size 0 0", "argument --size: must be in 320..16384, got 0", app=True, sub=True),
    Case("--size 0 0", "argument --size: must be in 320..16384, got 0", app=True),
    Case("--size 100000 800", "argument --size: must be in 320..16384", app=True),
    Case("--size 800", "argument --size: expected 2 arguments", app=True),
    Case("--head-model {nope}", "head-model file not found", app=True),
    Case("--checkpoint {nope}", "checkpoint not found", app=True),
    Case("--checkpoint {badver}", "format_version 'abc'", app=True),
]


# ---- fixtures ---------------------------------------------------------------------------------------------
def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _read_only_folder(path: Path):
    """Make `path` read-only in a way that binds root too; returns an undo callable, or None if impossible."""
    (path / "existing.txt").write_text("keep me\n")
    if os.geteuid() != 0:
        path.chmod(0o555)
        return lambda: path.chmod(0o755)
    staging = path.with_name(path.name + "-content")
    shutil.copytree(path, staging)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)], capture_output=True).returncode:
        return None
    shutil.copytree(staging, path, dirs_exist_ok=True)
    shutil.rmtree(staging)
    if subprocess.run(["mount", "-o", "remount,ro", str(path)], capture_output=True).returncode:
        subprocess.run(["umount", str(path)])
        return None
    return lambda: subprocess.run(["umount", str(path)], check=True)


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """The fixture tree (module docstring): paths by placeholder name, plus `root`."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from pav.checkpoint import save_avatar
    from pav.config import ModelConfig
    from pav.data.synth.config import SynthConfig
    from pav.data.synth.generate import generate
    from pav.head import load_head_model
    from pav.nerf.avatar import Avatar
    from pav.nerf.hashgrid import HashGridConfig

    root = tmp_path_factory.mktemp("reliability")
    build = tmp_path_factory.mktemp("reliability-build")
    p = {"root": root}
    for size in (16, 24):
        generate(SynthConfig(appearances=2, frames=3, size=size, supersample=1, texture_size=32, seed=3),
                 build / f"s{size}")
        _edit_json(build / f"s{size}" / "collection.json",
                   lambda d: [a.__setitem__("name", n) for a, n in zip(d["appearances"], ("alpha", "beta"))])
    p["data"] = root / "data"
    shutil.copytree(build / "s16", p["data"])
    p["mixed"] = root / "mixed"
    shutil.copytree(build / "s16", p["mixed"])
    shutil.rmtree(p["mixed"] / "app1")
    shutil.copytree(build / "s24" / "app1", p["mixed"] / "app1")
    p["badsum"] = root / "badsum"
    shutil.copytree(build / "s16", p["badsum"])
    _edit_json(p["badsum"] / "collection.json", lambda d: d["head_model"].__setitem__("checksum", "0" * 64))
    head = load_head_model("default")
    shape = torch.tensor(json.loads((p["data"] / "collection.json").read_text())["shape"], dtype=torch.float32)
    for key, names in (("ckpt", ["alpha", "beta"]), ("other", ["x", "y"])):
        torch.manual_seed(0)
        p[key] = root / f"{key}.pav"
        config = ModelConfig(hashgrid=HashGridConfig(n_levels=2, log2_hashmap_size=8, finest_resolution=16),
                             texture_resolution=8, texture_channels=2, samples_per_ray=4, occupancy_resolution=4)
        save_avatar(Avatar(config, head, shape, names), p[key])
    p["badver"] = root / "badver.pav"
    with safe_open(str(p["ckpt"]), framework="pt") as f:
        meta = f.metadata()
    save_file(load_file(str(p["ckpt"])), str(p["badver"]), metadata=meta | {"format_version": "abc"})
    for name, timeline in TIMELINES.items():
        p[f"seq_{name}"] = root / f"seq_{name}.json"
        p[f"seq_{name}"].write_text(json.dumps(timeline))
    p["seq_bad"] = root / "seq_bad.json"
    p["seq_bad"].write_text("{not json")
    p["file"] = root / "notes.txt"
    p["file"].write_text("not a checkpoint, not a video\n")
    p["folder"] = root / "folder"
    p["folder"].mkdir()
    (root / "folder" / "x.mp4").mkdir()
    p["tmp"] = root / "scratch"
    p["tmp"].mkdir()
    p["nope"] = root / "does-not-exist"
    p["ro"] = root / "readonly"
    p["ro"].mkdir()
    undo = _read_only_folder(p["ro"])
    p["ro_ok"] = undo is not None
    try:
        yield p
    finally:
        if undo is not None:
            undo()


def tree_digest(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `root` (folders as "dir")."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for d in dirs:
            out[os.path.relpath(os.path.join(folder, d), root)] = "dir"
        for f in files:
            path = os.path.join(folder, f)
            out[os.path.relpath(path, root)] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return out


def run_case(case: Case, p: dict, capsys, monkeypatch) -> tuple[int, str]:
    fill = {k: str(v) for k, v in p.items()}
    argv = [a.format(**fill) for a in shlex.split(case.args)]
    if case.sub:
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        env |= {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        entry = [str(REPO / "main.py")] if case.app else ["-m", "pav"]
        proc = subprocess.run([sys.executable, *entry, *argv], capture_output=True, text=True, env=env,
                              cwd=p["tmp"], timeout=CHILD_SECONDS)
        return proc.returncode, proc.stderr
    monkeypatch.chdir(p["tmp"])  # a stray relative write would show up in the tree
    if case.app:
        monkeypatch.delenv("DISPLAY", raising=False)
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        monkeypatch.syspath_prepend(str(REPO))
        import main as app_main

        try:
            code = app_main.main(argv)
        except SystemExit as exc:  # argparse: usage errors exit 2 after printing their one line
            code = exc.code
    else:
        code = cli.main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", CASES, ids=[f"{'app' if c.app else ''}{'sub:' if c.sub else ''}{c.args}"
                                             for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(case, ws, capsys, monkeypatch):
    if "{ro}" in case.args and not ws["ro_ok"]:
        pytest.skip("cannot make a read-only folder here (root without mount)")
    before = tree_digest(ws["root"])
    start = time.perf_counter()
    code, err = run_case(case, ws, capsys, monkeypatch)
    seconds = time.perf_counter() - start
    lines = [line for line in err.splitlines() if line.strip()]
    fragment = case.fragment.format(**{k: str(v) for k, v in ws.items()})
    assert "Traceback" not in err, err
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert fragment in lines[0], (fragment, lines[0])
    assert tree_digest(ws["root"]) == before, "files changed or left behind"
    assert seconds < (CHILD_SECONDS if case.sub or case.app else IN_PROCESS_SECONDS), seconds


def test_the_table_covers_every_command():
    commands = {c.args.split()[0] if c.args else "" for c in CASES if not c.app}
    assert set(cli.COMMANDS) <= commands
    assert sum(c.app for c in CASES) >= 5 and len(CASES) >= 100
    assert {c.args.split()[0] for c in CASES if c.sub and not c.app and c.args} == set(cli.COMMANDS) | {"frobnicate"}


# ---- valid input still works (the checks refuse only what they should) -------------------------------------
def test_valid_commands_still_succeed(ws, capsys, monkeypatch):
    out = Path(ws["tmp"]).parent / "valid-out"
    out.mkdir(exist_ok=True)
    monkeypatch.chdir(out)
    assert cli.main(["check-data", str(ws["data"])]) == 0
    assert cli.main(["eval", str(ws["ckpt"]), str(ws["data"]), "--max-frames", "1", "--json", str(out / "r.json"),
                     "--side-by-side", str(out / "sbs")]) == 0
    result = json.loads((out / "r.json").read_text())
    assert result["frames"] == 1 and len(list((out / "sbs").iterdir())) == 1
    assert cli.main(["render", str(ws["ckpt"]), "--out", str(out / "c.mp4"), "--size", "16",
                     "--drive", str(ws["seq_good"])]) == 0
    assert "(2 frames, 1.0 s)" in capsys.readouterr().out  # fps 2 from the timeline


# ---- item 18: metrics that are not finite are written as null, with the reason ------------------------------
def test_non_finite_metrics_are_null_in_json_with_the_reason(ws, capsys, monkeypatch, tmp_path):
    from pav.eval import command

    fake = {"psnr": float("inf"), "ssim": float("nan"), "lpips": None, "frames": 1,
            "per_appearance": {"alpha": {"psnr": float("-inf"), "ssim": 0.5, "frames": 1}}}
    monkeypatch.setattr(command, "evaluate", lambda *a, **k: fake)
    assert cli.main(["eval", str(ws["ckpt"]), str(ws["data"]), "--json", str(tmp_path / "r.json")]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["psnr"] is None and result["ssim"] is None and result["per_appearance"]["alpha"]["psnr"] is None
    assert result["per_appearance"]["alpha"]["ssim"] == 0.5 and result["frames"] == 1
    assert sorted(result["non_finite"]) == ["per_appearance.alpha.psnr", "psnr", "ssim"]
    assert result["non_finite"]["psnr"].startswith("inf: not a finite number")
    assert result["non_finite"]["ssim"].startswith("nan: not a finite number")


# ---- item 23: a write that fails late names the user's file, never the temp file -----------------------------
@pytest.mark.parametrize("err, name, expected", [
    (errno.EROFS, "/x/.a.pav.k2j4_x9q.tmp.pav", "/x/a.pav: Read-only file system: choose a writable place"),
    (errno.EACCES, "out/.r.json.abcdefgh.tmp.json", "out/r.json: Permission denied: choose a writable place"),
    (errno.ENOSPC, ".clip.mp4.12345678.tmp.mp4", "clip.mp4: No space left on device"),
    (errno.ENOSPC, "/plain/name.png", "/plain/name.png: No space left on device"),
])
def test_os_errors_name_the_users_file(err, name, expected):
    assert cli.os_error_line(OSError(err, os.strerror(err), name)) == expected


def test_late_os_error_is_one_line_exit_2(ws, capsys, monkeypatch):
    from pav.head import preview

    def fail(path, image):
        raise OSError(errno.EROFS, "Read-only file system", str(Path(path).parent / f".{Path(path).name}.abcd1234.tmp.png"))
    monkeypatch.setattr(preview, "write_png", fail)
    assert cli.main(["head-preview", str(ws["tmp"] / "h.png"), "--size", "16"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {ws['tmp'] / 'h.png'}: Read-only file system: choose a writable place"


# ---- items 5 and 6: memory bounds ----------------------------------------------------------------------------
def test_memory_bounds_refuse_only_what_does_not_fit(monkeypatch):
    from pav import cliargs
    from pav.data.synth import SynthConfig, memory_estimate
    from pav.track.command import memory_estimate as track_estimate

    assert memory_estimate(SynthConfig()) == 600 * 2 ** 20 + 5 * 120 * 4096 + (128 * 3) ** 2 * 16
    assert track_estimate(2, 120, 512) == 600 * 2 ** 20 + 2 * 120 * 512 ** 2 * 16
    monkeypatch.setattr(cliargs, "available_memory", lambda: 2 * 2 ** 30)
    cliargs.check_memory(memory_estimate(SynthConfig()), "synth", "fewer")  # the defaults fit in 2 GiB
    with pytest.raises(ValueError, match=r"^synth needs about 2\.5 GiB of memory, 2\.0 GiB is available: fewer$"):
        cliargs.check_memory(memory_estimate(SynthConfig(frames=100_000)), "synth", "fewer")


# ---- item 12: the window fits the screen --------------------------------------------------------------------
@pytest.mark.parametrize("size, screen, expected", [
    ((1280, 800), (1920, 1080), (1280, 800)), ((1280, 800), (1024, 768), (944, 688)),
    ((4000, 3000), (2560, 1440), (2480, 1360)), ((1280, 800), None, (1280, 800)),
])
def test_window_is_shrunk_to_the_screen(size, screen, expected):
    pytest.importorskip("glfw")
    from viewer.layout import fit_to_screen

    assert fit_to_screen(size, screen) == expected
