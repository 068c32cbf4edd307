"""Drives the real app window through its test hook (`App.on_frame`), for tests/test_gui.py.

Usage: python tests/gui_driver.py CKPT OUT_DIR. Steps, each waiting until the final-quality frame of the
current state is on screen: screenshot base.png; open the jaw → jaw.png; switch appearance → other.png;
record 8 frames and export them → clip.mp4. Writes OUT_DIR/facts.json with the window position of the
mouth and the forehead and the UI frame rate.
"""
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import pav  # noqa: E402
from viewer.app import App  # noqa: E402
from viewer.display import fit_viewport  # noqa: E402
from viewer.scenes import avatar_scene  # noqa: E402
from viewer.state import ViewerSettings  # noqa: E402
from viewer.timeline import snapshot  # noqa: E402

checkpoint, out = sys.argv[1], Path(sys.argv[2])
avatar = pav.load_avatar(checkpoint)
scene = avatar_scene(avatar)
facts = {}
plan = iter(["base", "jaw", "other", "export", "wait_export", "close"])
step = {"name": next(plan), "t0": time.perf_counter()}


def window_point(app, point) -> list[float]:
    """Window pixel (x right, y down) where a head-space point appears in the displayed image."""
    import glfw

    w, h = glfw.get_framebuffer_size(app.window)
    vx, vy, vw, vh = fit_viewport(*app.display.size, *app.viewport())
    cam = app.state.orbit.camera(vw, vh)
    u, v, _ = cam.project(torch.as_tensor(point, dtype=torch.float32)).tolist()
    return [vx + u, (h - vy - vh) + v]


def settled(app) -> bool:
    f = app.scheduler.latest()
    return (not app.scheduler.busy() and f is not None and f.version == app.state.version and f.final
            and app._shown == (f.version, f.width, f.height))


def on_frame(app: App) -> None:
    name = step["name"]
    if name in ("base", "jaw", "other") and settled(app):
        app.screenshot_path = str(out / f"{name}.png")
        if name == "base":
            lips = avatar.head.faces[avatar.head.regions["lips"]].reshape(-1)
            mouth = avatar.canonical_vertices[lips].mean(0)
            top = avatar.canonical_vertices[avatar.canonical_vertices[:, 1].argmax()]
            forehead = 0.7 * top + 0.3 * mouth
            facts["mouth"], facts["forehead"] = window_point(app, mouth), window_point(app, forehead)
            app.state.expression[avatar.head.expression_names.index("jawOpen")] = 1.0
        elif name == "jaw":
            app.state.appearance = 1
        app.state.touch()
        step["name"] = next(plan)
    elif name == "export":
        app.recorder.frames = [snapshot(app.state) for _ in range(8)]
        app.start_export(out / "clip.mp4", size=64)
        step["name"] = next(plan)
    elif name == "wait_export" and app.export_job is None:
        facts["ui_fps"] = app.frames / (time.perf_counter() - step["t0"])
        facts["message"] = app.status.message
        step["name"] = next(plan)
    elif name == "close":
        app.request_close()


app = App(scene, ViewerSettings(preview_size=48, refine_sizes=(), final_size=96), size=(900, 600), on_frame=on_frame)
app.run(max_frames=20000)
facts["frames"] = app.frames
(out / "facts.json").write_text(json.dumps(facts))
