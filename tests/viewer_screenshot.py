"""Takes docs/viewer.png: the demo avatar in the app with four keyframes on the timeline, the playhead
between two of them (run under Xvfb: `DISPLAY=:N python tests/viewer_screenshot.py docs/viewer.png`)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import pav  # noqa: E402
from viewer.app import App  # noqa: E402
from viewer.scenes import avatar_scene  # noqa: E402
from viewer.state import ViewerSettings  # noqa: E402

out = Path(sys.argv[1])
avatar = pav.load_avatar(Path(__file__).resolve().parents[1] / "assets" / "demo" / "avatar.pav")
names = avatar.head.expression_names
plan = {"step": 0}


def on_frame(app: App) -> None:
    s, e = app.state, app.editor
    if plan["step"] == 0:
        for t, jaw, smile, yaw, app_index in ((0.0, 0.0, 0.0, 0, 0), (1.0, 0.7, 0.2, -25, 0), (2.2, 0.1, 0.8, 20, 1),
                                              (3.0, 0.0, 0.0, 0, 1)):
            s.expression[:] = 0
            s.expression[names.index("jawOpen")], s.expression[names.index("mouthSmileLeft")] = jaw, smile
            s.expression[names.index("mouthSmileRight")] = smile
            s.orbit.yaw_deg, s.appearance, s.weights = yaw, app_index, None
            e.time = t
            e.add_key(s)
        e.selected = 1
        e.seek(1.4, s)
        app.show_help = False
        plan["step"] = 1
    elif plan["step"] == 1:
        f = app.scheduler.latest()
        if f is not None and f.final and f.version == s.version and app._shown == (f.version, f.width, f.height):
            app.screenshot_path = out
            plan["step"] = 2
    elif plan["step"] == 2:
        app.request_close()


App(avatar_scene(avatar), ViewerSettings(preview_size=96, refine_sizes=(), final_size=320), size=(1280, 800),
    on_frame=on_frame).run(max_frames=100000)
