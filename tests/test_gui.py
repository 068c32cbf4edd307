"""The real app in a real window (Xvfb + Mesa): the avatar is drawn, the jaw slider moves the mouth's
pixels, switching appearance changes the colours, and export writes a playable mp4."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = [pytest.mark.gui, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small_avatar(tmp_path_factory):
    """The built-in head with a small random field that is clearly visible and clearly different per
    appearance (no training needed to test the window)."""
    import pav
    from pav.checkpoint import save_avatar
    from pav.nerf.avatar import Avatar
    from test_avatar import small_config

    torch.manual_seed(0)
    config = small_config()
    config.field.color_layers = 1  # colour = sigmoid(last(relu(first([SH, g, Z])))): set by hand below
    config.texture_resolution = 64
    avatar = Avatar(config, pav.load_head_model("default"), torch.zeros(10), ["red", "blue"])
    with torch.no_grad():
        avatar.field.mlp_d.last.bias[0] = 5.0
        avatar.vertex_extent.fill_(0.002)  # opaque 2 mm above the skin: the mesh's shape shows
        tex = avatar.codes.textures
        tex.zero_()
        tex[0, 0], tex[1, 0] = 3.0, -3.0  # channel 0: the appearance (red vs blue)
        tex[:, 1] = 2.0 * torch.rand(tex.shape[2:], generator=torch.Generator().manual_seed(1))  # shared pattern
        first, last = avatar.field.mlp_c.first, avatar.field.mlp_c.last
        z0 = first.in_features - avatar.codes.channels
        first.weight.zero_()
        first.bias.zero_()
        first.weight[0, z0], first.weight[1, z0], first.weight[2, z0 + 1] = 1.0, -1.0, 1.0
        last.weight.zero_()
        last.bias.fill_(-1.0)
        last.weight[0, 0], last.weight[2, 1], last.weight[1, 2] = 2.0, 2.0, 1.5  # R ← Z0+, B ← Z0−, G ← pattern
    path = tmp_path_factory.mktemp("gui") / "small.pav"
    save_avatar(avatar, path)
    return path


def region(image: np.ndarray, xy, half: int = 6) -> np.ndarray:
    x, y = int(round(xy[0])), int(round(xy[1]))
    return image[y - half:y + half, x - half:x + half].astype(float)


def test_window_draws_animates_switches_and_exports(display, small_avatar, tmp_path):
    from pav.io import read_png

    env = dict(os.environ, DISPLAY=display)
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "gui_driver.py"), str(small_avatar), str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    facts = json.loads((tmp_path / "facts.json").read_text())
    base, jaw, other = (read_png(tmp_path / f"{n}.png")[..., :3] for n in ("base", "jaw", "other"))

    # the avatar is drawn: the render area is not the plain background
    head = region(base, facts["mouth"], 40)
    assert head.std() > 10
    # the jaw slider changes the mouth region much more than the forehead
    mouth_change = np.abs(region(jaw, facts["mouth"]) - region(base, facts["mouth"])).mean()
    forehead_change = np.abs(region(jaw, facts["forehead"]) - region(base, facts["forehead"])).mean()
    assert mouth_change > 8 and mouth_change > 3 * forehead_change, (mouth_change, forehead_change)
    # switching appearance turns the head from red to blue
    before, after = region(jaw, facts["forehead"]).mean((0, 1)), region(other, facts["forehead"]).mean((0, 1))
    assert before[0] > before[2] + 30 and after[2] > after[0] + 30, (before, after)
    # the export is a playable H.264 mp4 with the recorded 8 frames
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(tmp_path / "clip.mp4"))
    meta = next(reader)
    frames = list(reader)
    assert len(frames) == 8 and meta["size"] == (64, 64) and meta["codec"].startswith("h264")
    assert "exported" in facts["message"]
    assert facts["ui_fps"] > 2  # a floor only (the loop sleeps while idle); frame times: the soak test below


def test_display_shader_draws_what_its_numpy_twin_computes(display, tmp_path):
    """shaders/display.frag (reprojection + edge-aware upsampling) and display_fast.frag (reprojection +
    the texture unit's bilinear filter) against viewer/upsample.py, read back from an offscreen framebuffer."""
    from viewer.upsample import resample

    done = subprocess.run([sys.executable, str(ROOT / "tests" / "display_twin.py"), str(tmp_path / "drawn.npz")],
                          env=dict(os.environ, DISPLAY=display), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    d = np.load(tmp_path / "drawn.npz")
    for name, edge_aware, H in (("edge", True, None), ("bilinear", False, None), ("edge_H", True, d["H"]),
                                ("bilinear_H", False, d["H"])):
        drawn = d[name].astype(float)
        twin = np.clip(np.round(255 * resample(d["image"] / 255.0, drawn.shape[1], drawn.shape[0], H, edge_aware)),
                       0, 255)
        assert np.abs(drawn - twin).max() <= 1.0, name  # float32 vs float64; the texture unit's 8-bit weights
    assert np.abs(d["edge"].astype(float) - d["bilinear"]).max() > 20  # the two filters differ: both were drawn
    # Mesa's llvmpipe compiles a variant of the shader per kind of texture size (power of two or not): ~150 ms
    # each when it happened in a UI frame; ImageDisplay compiles them all at start-up
    assert d["first_draw_cpu_ms"].max() < 30, d["first_draw_cpu_ms"]


@pytest.fixture(scope="module")
def tiny_collection(tmp_path_factory):
    out = tmp_path_factory.mktemp("soak") / "tiny"
    done = subprocess.run([sys.executable, "-m", "pav", "synth", str(out), "--appearances", "2", "--frames", "6",
                           "--size", "48", "--supersample", "1"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def test_soak_two_minutes_of_random_use(display, tiny_collection, tmp_path):
    """tests/soak_app.py: ≥ 2 minutes of seeded random use of `main.py --train` through xdotool (~4 min).

    Limits (issue 15, issue 17): no UI frame over 200 ms after start-up, resident memory growth under 100 MB,
    and at least 30 UI frames/s while the user drags in the view. The app's frame timer names where the
    worst frames spent their time (phases; on the CPU, waiting for one, blocked), printed on failure.

    Session 6 found the isolated 560-710 ms frame of earlier runs: the first export imported OpenCV in its
    thread, holding the GIL (viewer/preload.py now imports it before the window opens). Quiet 2-core
    machine, after that fix: worst frame 57-67 ms, 45-55 frames/s while dragging (docs/performance.md).
    At load average 8-12 (other jobs on the machine) the limits were not met in session 4: the UI threads
    wait for a CPU. `PAV_SOAK=0` skips it."""
    if os.environ.get("PAV_SOAK") == "0":
        pytest.skip("PAV_SOAK=0")
    if shutil.which("xdotool") is None:
        pytest.skip("needs xdotool (apt-get install xdotool)")
    env = dict(os.environ, DISPLAY=display)
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "soak_app.py"), str(tiny_collection), str(tmp_path),
                           "--seconds", "130", "--seed", "0"], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    r = json.loads((tmp_path / "soak.json").read_text())
    log = (tmp_path / "app.log").read_text()
    stats = {k: v for k, v in r["frame_stats"].items() if k != "widgets"}
    print(json.dumps({k: r[k] for k in ("actions", "rss_start_mb", "rss_end_mb", "head", "exit_code",
                                        "load_average_start", "load_average_end")}), stats)
    assert r["alive_at_end"] and r["exit_code"] == 0
    assert "Traceback" not in log
    assert all(r["actions"].get(k, 0) > 0 for k in ("orbit", "pan", "wheel", "slider", "appearance", "key",
                                                      "resize", "export", "cancel_export", "training", "play"))
    assert stats["worst_after_startup_ms"] <= 200, (stats, r["stalls"][:3])
    assert r["rss_end_mb"] - r["rss_start_mb"] < 100, (r["rss_samples_mb"], r["memory_samples"])
    assert r["final_state"]["memory"]["malloc_arenas"] in (None, 1)  # main.py capped them before any thread
    assert stats["drag_frames"] > 100 and stats["drag_fps"] >= 30, stats  # UI frames/s while orbiting/panning
    assert r["settled"]  # after the last action, the final picture of the last state reached the screen
    assert r["head"]["foreground_fraction"] > 0.05 and r["head"]["std"] > 10  # a head, not an empty view
    assert (tmp_path / "tiny.pav").exists()  # closing saved the training
