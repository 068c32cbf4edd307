"""The editor's widgets (imgui, immediate mode): the keyframe list in the panel, the timeline strip under
the view, and the F1 help overlay. They edit an `Editor` (viewer/editor.py) and the `ViewerState`; the
maths stays in pav.animation.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from imgui_bundle import imgui

from pav.animation import MODES, load_animation, save_animation

from .editor import Editor, Presets
from .layout import ViewLayout
from .paths import output_dir
from .state import ViewerState

KEYS = (("space", "play / pause the animation"), ("K", "add a keyframe at the playhead"),
        ("Delete", "delete the selected keyframe"), ("Left / Right", "previous / next keyframe"),
        ("R", "reset the camera"), ("S", "screenshot (saved under $PAV_OUTPUT_DIR or ~/PAV)"),
        ("F1", "show / hide this help"), ("drag left", "orbit"), ("drag right / middle", "pan"),
        ("wheel", "zoom"))
"""every key the app answers, for the help overlay and the README."""


@dataclass
class EditorPanel:
    every: int = 5
    """keyframe every N frames when converting a recording or a video."""
    path: str = field(default_factory=lambda: str(output_dir() / "animations" / "animation.json"))
    preset_name: str = "my preset"
    preset_index: int = 0
    presets: Presets = field(default_factory=lambda: Presets(output_dir() / "presets"))

    def draw(self, editor: Editor, state: ViewerState, recorder, player) -> None:
        """The 'Keyframes' section of the left panel."""
        if not imgui.collapsing_header("Keyframes", imgui.TreeNodeFlags_.default_open):
            return
        if imgui.button("add keyframe (K)"):
            editor.add_key(state)
        imgui.same_line()
        if imgui.button("mirror left/right"):
            editor.mirror(state)
        keys = editor.keys
        if imgui.begin_list_box("##keys", imgui.ImVec2(-1, 6 * imgui.get_text_line_height_with_spacing())):
            for i, k in enumerate(keys):
                if imgui.selectable(f"{i + 1:2d}   {k.time:6.2f} s##key{i}", editor.selected == i)[0]:
                    editor.selected = i
                    editor.seek(k.time, state)
            imgui.end_list_box()
        i = editor.selected
        if i is not None and 0 <= i < len(keys):
            changed, t = imgui.drag_float("key time (s)", keys[i].time, 0.01, 0.0, 3600.0, "%.2f")
            if imgui.is_item_deactivated_after_edit() or (changed and not imgui.is_item_active()):
                editor.move_key(i, t)
            if imgui.button("update from view"):
                editor.update_key(i, state)
            imgui.same_line()
            if imgui.button("duplicate"):
                editor.duplicate_key(i)
            imgui.same_line()
            if imgui.button("delete"):
                editor.delete_key(i)
        for channel, modes in MODES.items():
            current = list(modes).index(editor.animation.interpolation[channel])
            changed, current = imgui.combo(f"{channel}##interp", current, list(modes))
            if changed:
                editor.animation.interpolation[channel] = modes[current]
                editor.seek(editor.time, state)
        _, self.path = imgui.input_text("file", self.path)
        if imgui.button("save animation"):
            self._io(editor, state, save=True)
        imgui.same_line()
        if imgui.button("load animation"):
            self._io(editor, state, save=False)
        _, self.every = imgui.slider_int("key every N frames", self.every, 1, 50)
        if recorder.frames and imgui.button(f"recording → keyframes ({len(recorder.frames)} frames)"):
            n = editor.from_frames(recorder.frames, recorder.fps, self.every, state)
            editor.message = f"{n} keyframes from the recording"
        if player is not None and player.frames and imgui.button(f"video → keyframes ({len(player.frames)} frames)"):
            n = editor.from_frames(player.frames, player.fps, self.every, state)
            editor.message = f"{n} keyframes from the video"
        self._presets(editor, state)
        if editor.message:
            imgui.text_wrapped(editor.message)

    def _io(self, editor: Editor, state: ViewerState, save: bool) -> None:
        path = Path(self.path).expanduser()
        try:
            if save:
                if not editor.keys:
                    raise ValueError("nothing to save: add a keyframe first")
                save_animation(editor.animation, path)
                editor.message = f"saved {path}"
            else:
                editor.animation = load_animation(path, expression_names=state.expression_names,
                                                  joint_names=state.joint_names,
                                                  appearance_names=state.appearance_names)
                editor.selected = 0
                editor.seek(0.0, state)
                editor.message = f"loaded {path} ({len(editor.keys)} keyframes)"
        except (OSError, ValueError) as exc:
            editor.message = f"error: {exc}"

    def _presets(self, editor: Editor, state: ViewerState) -> None:
        _, self.preset_name = imgui.input_text("preset name", self.preset_name)
        if imgui.button("save expression preset"):
            try:
                editor.message = f"saved {self.presets.save(self.preset_name, state)}"
            except OSError as exc:
                editor.message = f"error: {exc}"
        if self.presets.names is None:
            self.presets.refresh()  # once; `save` refreshes
        names = self.presets.names
        if names:
            self.preset_index = min(self.preset_index, len(names) - 1)
            _, self.preset_index = imgui.combo("preset", self.preset_index, names)
            imgui.same_line()
            if imgui.button("load##preset"):
                try:
                    self.presets.load(names[self.preset_index], state)
                except ValueError as exc:
                    editor.message = f"error: {exc}"


def draw_timeline(editor: Editor, state: ViewerState, lay: ViewLayout) -> None:
    """The strip under the view: play/pause, loop, fps, duration, and the keyframe marks (click or drag
    on the strip to scrub; click a mark to select it)."""
    x, y, w, h = lay.timeline
    if h < 20:
        return
    anim = editor.animation
    imgui.set_next_window_pos(imgui.ImVec2(x, y))
    imgui.set_next_window_size(imgui.ImVec2(w, h))
    flags = (imgui.WindowFlags_.no_move | imgui.WindowFlags_.no_resize | imgui.WindowFlags_.no_collapse
             | imgui.WindowFlags_.no_title_bar | imgui.WindowFlags_.no_scrollbar)
    imgui.begin("timeline", None, flags)
    if imgui.button("pause" if editor.playing else "play", imgui.ImVec2(60, 0)):
        editor.toggle(time.perf_counter())
    imgui.same_line()
    _, anim.loop = imgui.checkbox("loop", anim.loop)
    imgui.same_line()
    imgui.set_next_item_width(70)
    changed, fps = imgui.input_float("fps", anim.fps, 0.0, 0.0, "%.0f")
    if changed and 1 <= fps <= 120:
        anim.fps = fps
    imgui.same_line()
    imgui.set_next_item_width(90)
    changed, duration = imgui.drag_float("duration (s)", anim.length, 0.05, 0.1, 600.0, "%.2f")
    if changed:
        anim.duration = max(0.1, duration)
    imgui.same_line()
    frame = int(editor.time * anim.fps)
    imgui.text(f"t {editor.time:5.2f} s   frame {frame + 1}/{anim.frame_count}   {len(editor.keys)} keys")
    # the strip
    avail = imgui.get_content_region_avail()
    origin = imgui.get_cursor_screen_pos()
    sw, sh = max(10.0, avail.x), max(16.0, min(34.0, avail.y))
    imgui.invisible_button("##strip", imgui.ImVec2(sw, sh))
    length = anim.length
    if imgui.is_item_active():
        mx = imgui.get_io().mouse_pos.x
        t = min(max((mx - origin.x) / sw, 0.0), 1.0) * length
        near = [i for i, k in enumerate(editor.keys) if abs((k.time - t) / length * sw) < 5]
        if imgui.is_item_clicked() and near:
            editor.selected = near[0]
            t = editor.keys[near[0]].time
        editor.pause()
        editor.seek(t, state)
    dl = imgui.get_window_draw_list()
    col = imgui.get_color_u32
    dl.add_rect_filled(origin, imgui.ImVec2(origin.x + sw, origin.y + sh), col(imgui.ImVec4(0.16, 0.17, 0.2, 1)))
    for s in range(int(length) + 1):  # a tick each second
        px = origin.x + s / length * sw
        dl.add_line(imgui.ImVec2(px, origin.y + sh - 6), imgui.ImVec2(px, origin.y + sh), col(imgui.ImVec4(0.5, 0.5, 0.55, 1)))
    for i, k in enumerate(editor.keys):
        px, cy = origin.x + min(k.time / length, 1.0) * sw, origin.y + sh / 2
        colour = imgui.ImVec4(1.0, 0.8, 0.2, 1) if i == editor.selected else imgui.ImVec4(0.4, 0.75, 1.0, 1)
        dl.add_quad_filled(imgui.ImVec2(px, cy - 7), imgui.ImVec2(px + 6, cy), imgui.ImVec2(px, cy + 7),
                           imgui.ImVec2(px - 6, cy), col(colour))
    px = origin.x + min(editor.time / length, 1.0) * sw
    dl.add_line(imgui.ImVec2(px, origin.y), imgui.ImVec2(px, origin.y + sh), col(imgui.ImVec4(1, 0.3, 0.3, 1)), 2.0)
    imgui.end()


def draw_help(lay: ViewLayout) -> None:
    """The F1 overlay: every key."""
    x, y, w, h = lay.view
    imgui.set_next_window_pos(imgui.ImVec2(x + w / 2, y + h / 2), imgui.Cond_.always, imgui.ImVec2(0.5, 0.5))
    imgui.set_next_window_bg_alpha(0.9)
    imgui.begin("Keys (F1 closes)", None, imgui.WindowFlags_.always_auto_resize | imgui.WindowFlags_.no_collapse)
    for key, what in KEYS:
        imgui.text(f"{key:>20}   {what}")
    imgui.end()


def draw_view_range(state: ViewerState, view_range: dict | None) -> tuple[float, float] | None:
    """The trained view range and the current view angle (both relative to the head); a warning and a
    'back into range' button when the camera is outside. Returns the orbit (yaw, pitch) to go to, if
    the button was pressed."""
    import numpy as np

    from pav.view_range import describe, into_range, outside, view_angles, world_angles

    rotation = state.pose[state.joint_names.index("global")] if "global" in state.joint_names else np.zeros(3)
    view = state.orbit.view()
    cam = view.target + view.radius * view.direction()  # numpy only: this runs every UI frame
    yaw, pitch = view_angles(cam[None], np.asarray(state.orbit.target)[None], np.asarray(rotation)[None])[0]
    imgui.text(f"view: yaw {yaw:.0f}°, pitch {pitch:.0f}° (relative to the head)")
    imgui.text(describe(view_range))
    if not outside(yaw, pitch, view_range):
        return None
    imgui.push_style_color(imgui.Col_.text, imgui.ImVec4(1.0, 0.7, 0.2, 1.0))
    imgui.text_wrapped("outside the trained views: expect artefacts (a monocular avatar falls apart beyond "
                       "~45° of yaw)")
    imgui.pop_style_color()
    if imgui.button("back into range"):
        return world_angles(*into_range(yaw, pitch, view_range), rotation)
    return None
