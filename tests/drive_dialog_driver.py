"""Clicks through the viewer's "open a driving video…" dialog in the real window, for tests/test_viewer_drive.py.

Usage: python tests/drive_dialog_driver.py FOLDER OUT_DIR. The app shows the bare head model; mouse events go
through imgui's input queue, aimed at the rectangles the dialog recorded when it drew. Steps: click the
button → the dialog opens on FOLDER; click the entry clip.mp4 (screenshot OUT_DIR/dialog.png), then "open" →
a DriveJob starts whose `pav track` is replaced by a tiny synthetic collection (tests/drive_fakes.py) → the player
gets its frames.
Writes OUT_DIR/facts.json.
"""
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import pav  # noqa: E402
from viewer.app import App  # noqa: E402
from viewer.drive_job import DriveJob  # noqa: E402
from viewer.scenes import head_model_scene  # noqa: E402
from viewer.state import ViewerSettings  # noqa: E402

folder, out = Path(sys.argv[1]), Path(sys.argv[2])
facts = {"started": [], "steps": []}


def start(video, checkpoint):
    facts["started"].append([str(video), str(checkpoint)])
    return DriveJob(video, checkpoint, out / "drive", track="drive_fakes:fake_track")  # tests/drive_fakes.py


def centre(rect):
    return (rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2


def clicks(name):
    """Frames of one click on the recorded rectangle `name`: move, press, release."""
    return [("move", name), ("down", name), ("up", name), ("wait", None), ("wait", None)]


plan = ([("wait", None)] * 5 + clicks("button") + clicks("clip.mp4") + [("shot", None)] + clicks("open")
        + [("until_played", None), ("close", None)])
state = {"i": 0, "t0": time.perf_counter()}


def on_frame(app: App) -> None:
    from imgui_bundle import imgui

    dialog = app.drive_dialog
    if state["i"] == 0:
        dialog.checkpoint, dialog.start = Path("assets/demo/avatar.pav"), start
        dialog.browser.go(folder)
    if time.perf_counter() - state["t0"] > 240:
        facts["timeout"] = True
        app.request_close()
        return
    action, name = plan[min(state["i"], len(plan) - 1)]
    io = imgui.get_io()
    if action in ("move", "down", "up"):
        if name not in dialog.rects:  # not drawn yet
            return
        x, y = centre(dialog.rects[name])
        if action == "move":
            import glfw

            glfw.set_cursor_pos(app.window, x, y)  # the backend may read the real cursor back: put it there too
            io.add_mouse_pos_event(x, y)
        else:
            io.add_mouse_button_event(0, action == "down")
    elif action == "shot":
        app.screenshot_path = out / "dialog.png"
        facts["visible_after_button"], facts["typed"] = dialog.visible, dialog.browser.typed
        facts["entries"] = [e.name for e in dialog.browser.entries()]
    elif action == "until_played":
        if app.drive is not None or app.player is None:
            return
        facts["sequence_frames"] = len(app.player.frames)
        facts["message"] = app.status.message
        facts["visible_after_open"] = dialog.visible
    elif action == "close":
        app.request_close()
    facts["steps"].append(action)
    state["i"] += 1


app = App(head_model_scene(pav.load_head_model("default")), ViewerSettings(preview_size=48, refine_sizes=(),
                                                                            final_size=96),
          size=(1000, 740), on_frame=on_frame)
app.run(max_frames=20000)
(out / "facts.json").write_text(json.dumps(facts))
