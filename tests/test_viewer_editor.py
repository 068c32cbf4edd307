"""The keyframe editor, GUI-free: editing keys, playback into the view state, recording → keyframes,
presets, and `render --drive anim.json` equal to the editor's playback frame by frame."""
import argparse
import threading

import numpy as np
import pytest
import torch

from pav.animation import load_animation, save_animation
from viewer.editor import Editor, Presets
from viewer.state import ViewerState
from viewer.timeline import Recorder


def fresh_state():
    import pav

    head = pav.load_head_model("default")
    return ViewerState(list(head.expression_names), list(head.joint_names), ["beard", "short"])


def author(state, editor):
    """Three keyframes as a user would make them: move sliders/camera, press K."""
    jaw, smile = state.expression_names.index("jawOpen"), state.expression_names.index("mouthSmileLeft")
    neck = state.joint_names.index("neck")
    editor.seek(0.0, state)
    editor.add_key(state)
    editor.time = 0.6
    state.expression[jaw], state.pose[neck, 1] = 0.8, 0.3
    state.orbit.rotate(-60, 10)
    state.appearance, state.blend_with, state.blend, state.weights = 0, 1, 0.5, None
    editor.add_key(state)
    editor.time = 1.4
    state.expression[smile], state.expression[jaw] = 0.9, 0.1
    state.orbit.zoom(2)
    state.orbit.rotate(120, -30)
    state.appearance, state.blend = 1, 0.0
    editor.add_key(state)


def test_editor_keys_and_playback_follow_the_animation():
    state = fresh_state()
    editor = Editor.for_state(state, fps=10)
    author(state, editor)
    assert [k.time for k in editor.keys] == [0.0, 0.6, 1.4]
    editor.seek(0.6, state)  # on a key: the state is that key
    assert state.expression[state.expression_names.index("jawOpen")] == pytest.approx(0.8)
    assert state.appearance_weights().tolist() == pytest.approx([0.5, 0.5])
    editor.duplicate_key(1)
    assert [round(k.time, 6) for k in editor.keys] == [0.0, 0.6, 0.7, 1.4] and editor.selected == 2
    editor.move_key(2, 1.0)
    editor.delete_key()
    assert [k.time for k in editor.keys] == [0.0, 0.6, 1.4] and editor.selected == 2
    editor.seek(1.0, state)
    editor.step_key(-1, state)
    assert editor.time == 0.6 and editor.selected == 1
    editor.step_key(+1, state)
    assert editor.time == 1.4
    # playback: real time, frame by frame, wrapping around
    editor.animation.duration = 1.5
    editor.seek(0.0, state)
    editor.play(now=100.0)
    editor.tick(state, 100.34)
    expected = editor.animation.sample(0.3)
    assert state.expression == pytest.approx(expected.expression.astype(np.float32))
    v = state.version
    editor.tick(state, 100.36)  # same frame: no re-render
    assert state.version == v
    editor.tick(state, 101.6)  # wrapped: 0.1 s into the next pass
    assert editor.playing and editor.time == pytest.approx(0.1)


def test_render_drive_equals_the_editor_playback_frame_by_frame(tmp_path, monkeypatch):
    """What `python -m pav render CKPT --drive anim.json` renders is what the editor plays: the camera,
    expression, pose and appearance weights of every frame are equal."""
    import pav
    import pav.render_command as rc
    from pav.checkpoint import save_avatar
    from pav.nerf.avatar import Avatar
    from test_avatar import small_config

    torch.manual_seed(0)
    avatar = Avatar(small_config(), pav.load_head_model("default"), torch.zeros(10), ["beard", "short"])
    ckpt = tmp_path / "a.pav"
    save_avatar(avatar, ckpt)
    state = fresh_state()
    editor = Editor.for_state(state, fps=10)
    author(state, editor)
    editor.animation.duration = 1.6
    anim_path = tmp_path / "anim.json"
    save_animation(editor.animation, anim_path)
    editor.animation = load_animation(anim_path)  # the editor plays what it saved

    captured = {}

    def fake_export(avatar, frames, path, fps=25, progress=None, **kw):
        captured["frames"], captured["fps"] = list(frames), fps
        return len(captured["frames"])

    monkeypatch.setattr(rc, "export_clip", fake_export)
    from pav.cli import build_parser

    args = build_parser().parse_args(["render", str(ckpt), "--out", str(tmp_path / "clip.mp4"), "--drive",
                                      str(anim_path), "--size", "48", "--fps", "25"])
    assert rc.run(args) == 0
    frames = captured["frames"]
    assert captured["fps"] == 10 and len(frames) == 16
    editor.seek(0.0, state)
    editor.play(now=0.0)
    for k, f in enumerate(frames):
        editor.tick(state, k / 10 + 0.01)  # the editor playing in real time
        r = state.request(48, 48)
        assert torch.equal(r.camera.c2w, f.camera.c2w) and (r.camera.fx, r.camera.cx) == (f.camera.fx, f.camera.cx)
        assert torch.equal(torch.as_tensor(r.expression), f.expression)
        assert torch.equal(torch.as_tensor(r.pose), f.pose)
        assert torch.equal(torch.as_tensor(r.appearance), f.appearance)
    # and the frames really move: the camera turns and the jaw opens between the keys
    yaw = [float(torch.atan2(f.camera.c2w[0, 3], f.camera.c2w[2, 3])) for f in frames]
    assert len(set(round(y, 4) for y in yaw)) > 10


def test_recording_becomes_every_nth_keyframe_and_presets_round_trip(tmp_path):
    state = fresh_state()
    jaw = state.expression_names.index("jawOpen")
    rec = Recorder(fps=10)
    rec.start(0.0)
    for k in range(23):
        state.expression[jaw] = k / 22
        rec.tick(state, k / 10 + 1e-6)
    editor = Editor.for_state(state)
    assert editor.from_frames(rec.frames, rec.fps, 5, state) == 6  # 0, 5, 10, 15, 20 and the last (22)
    assert [round(k.time, 6) for k in editor.keys] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.2]
    assert [k.expression[jaw] for k in editor.keys] == pytest.approx([0, 5 / 22, 10 / 22, 15 / 22, 20 / 22, 1.0],
                                                                     abs=1e-6)
    presets = Presets(tmp_path / "presets")
    state.expression[:] = 0
    state.expression[jaw] = 0.4
    presets.save("open", state)
    state.expression[:] = 0.2
    presets.load("open", state)
    assert presets.refresh() == ["open"] and state.expression[jaw] == pytest.approx(0.4)
    assert np.count_nonzero(state.expression) == 1
    (tmp_path / "presets" / "bad.json").write_text('{"expression": {"smile": 1}}')
    with pytest.raises(ValueError, match="unknown expression 'smile'"):
        presets.load("bad", state)


def test_screenshots_go_to_the_documented_folder(tmp_path, monkeypatch):
    from viewer.paths import output_path

    monkeypatch.setenv("PAV_OUTPUT_DIR", str(tmp_path / "out"))
    p = output_path("screenshots", ".png")
    assert p.parent == tmp_path / "out" / "screenshots" and p.parent.is_dir() and p.suffix == ".png"
