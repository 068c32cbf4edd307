"""The control panel (imgui, immediate mode): reads and writes a ViewerState only; no torch, no rendering.

Every edit calls `state.touch()`, which invalidates the picture.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from imgui_bundle import imgui, implot

from .layout import PANEL_WIDTH
from .state import VIEW_MODES, ViewerState


@dataclass
class PanelStatus:
    """Read-only facts the panel shows (filled by the app each frame)."""

    ui_fps: float = 0.0
    render_ms: float = 0.0
    render_height: int = 0
    render_width: int = 0
    samples_per_ray: int | None = None
    """of the image on screen; None: the avatar's own (final-quality) setting."""
    final: bool = False
    """nothing is left to refine for the image on screen."""
    message: str = ""
    """the last event (export finished, screenshot saved)."""
    render_error: str = ""
    """why the last render failed, if it did."""
    recording: bool = False
    recorded_frames: int = 0
    sequence_frames: int = 0
    """frames of the loaded playback sequence (0: none)."""
    sequence_index: int = 0
    playing: bool = False
    can_export: bool = False
    export_progress: float | None = None
    """None when no export is running."""
    training: object | None = None
    """the TrainingSession when the app trains (read-only here)."""


def render_line(status: PanelStatus) -> str:
    """'render 812 ms, 256×160, 48 samples/ray (refining)' or '… , final' for the image on screen."""
    if not status.render_height:
        return "rendering..."
    samples = "default" if status.samples_per_ray is None else str(status.samples_per_ray)
    return (f"render {status.render_ms:.0f} ms, {status.render_width}×{status.render_height}, "
            f"{samples} samples/ray, {'final' if status.final else 'refining'}")


@dataclass
class PanelActions:
    """One-shot requests from the panel to the app, cleared every frame."""

    screenshot: bool = False
    reset_camera: bool = False
    toggle_recording: bool = False
    toggle_playing: bool = False
    seek: int | None = None
    export: bool = False
    cancel_export: bool = False
    toggle_training: bool = False
    save_training: bool = False


def mark(rects: dict, name: str) -> None:
    """Remember where the last widget was drawn (window pixels): the soak test clicks widgets by name."""
    lo, hi = imgui.get_item_rect_min(), imgui.get_item_rect_max()
    rects[name] = [lo.x, lo.y, hi.x, hi.y]


@dataclass
class Panel:
    rects: dict = field(default_factory=dict)
    """name → [x0, y0, x1, y1] of a few widgets, this frame (see `mark`)."""
    filter_text: str = ""
    export_size: int = 256
    export_orbit: float = 0.0
    actions: PanelActions = field(default_factory=PanelActions)

    def draw(self, state: ViewerState, status: PanelStatus, height: int, sections=()) -> PanelActions:
        """The panel; `sections` are extra callables drawn inside it (the keyframe editor)."""
        self.actions = PanelActions()
        imgui.set_next_window_pos(imgui.ImVec2(0, 0))
        imgui.set_next_window_size(imgui.ImVec2(PANEL_WIDTH, height))
        flags = imgui.WindowFlags_.no_move | imgui.WindowFlags_.no_resize | imgui.WindowFlags_.no_collapse
        imgui.begin("PAV", None, flags)
        imgui.push_item_width(-140)  # leave room for the labels
        imgui.text(f"UI {status.ui_fps:5.1f} fps")
        imgui.text(render_line(status))
        for line in (status.message, status.render_error):
            if line:
                imgui.text_wrapped(line)
        self._training(status)
        self._appearance(state)
        self._view(state)
        self._timeline(status)
        for section in sections:
            section()
        self._pose(state)
        self._expressions(state)
        imgui.pop_item_width()
        imgui.end()
        return self.actions

    def _appearance(self, state: ViewerState) -> None:
        if not imgui.collapsing_header("Appearance", imgui.TreeNodeFlags_.default_open):
            return
        names = state.appearance_names
        changed = False
        pairs = [("appearance", "appearance")] + ([("blend with", "blend_with")] if len(names) > 1 else [])
        for label, attr in pairs:  # label above a full-width combo: long names are shown whole
            imgui.text(label)
            imgui.set_next_item_width(-1)
            c, value = imgui.combo(f"##{attr}", getattr(state, attr), names)
            mark(self.rects, attr)
            if imgui.is_item_hovered():
                imgui.set_tooltip(names[value])
            setattr(state, attr, value)
            changed = changed or c
        if len(names) > 1:
            c3, state.blend = imgui.slider_float("blend", state.blend, 0.0, 1.0)
            mark(self.rects, "blend")
            changed = changed or c3
        if changed:
            state.weights = None
            state.touch()

    def _view(self, state: ViewerState) -> None:
        if not imgui.collapsing_header("View", imgui.TreeNodeFlags_.default_open):
            return
        for mode in VIEW_MODES:
            if imgui.radio_button(mode, state.mode == mode):
                state.mode = mode
                state.touch()
            imgui.same_line()
        changed, state.show_mesh = imgui.checkbox("mesh", state.show_mesh)
        if changed:
            state.touch()
        changed, state.orbit.fov_deg = imgui.slider_float("field of view", state.orbit.fov_deg, 8.0, 60.0)
        mark(self.rects, "fov")
        if changed:
            state.touch()
        if imgui.button("reset camera"):
            self.actions.reset_camera = True
        imgui.same_line()
        if imgui.button("screenshot"):
            self.actions.screenshot = True

    def _training(self, status: PanelStatus) -> None:
        session = status.training
        if session is None or not imgui.collapsing_header("Training", imgui.TreeNodeFlags_.default_open):
            return
        history = session.history
        last = history[-1] if history else (0, float("nan"), float("nan"))
        imgui.text(f"step {last[0]}  loss {last[1]:.4f}  PSNR {last[2]:.2f} dB  {session.steps_per_s:.1f} steps/s")
        if session.error:
            imgui.text_wrapped(f"training stopped: {session.error}")
        if imgui.button("pause training" if session.running else "resume training"):
            self.actions.toggle_training = True
        mark(self.rects, "training")
        imgui.same_line()
        if imgui.button("save"):
            self.actions.save_training = True
        if session.saved_at_step is not None:
            imgui.same_line()
            imgui.text_disabled(f"saved at step {session.saved_at_step}")
        history = history[-2000:]  # the plot's cost stays bounded however long training runs
        if len(history) > 1 and implot.begin_plot("##curve", imgui.ImVec2(-1, 120)):
            steps = np.array([h[0] for h in history], np.float64)
            implot.setup_axes("step", "PSNR (dB)", implot.AxisFlags_.auto_fit, implot.AxisFlags_.auto_fit)
            implot.plot_line("batch PSNR", steps, np.array([h[2] for h in history], np.float64))
            implot.end_plot()

    def _timeline(self, status: PanelStatus) -> None:
        if not imgui.collapsing_header("Animation and export", imgui.TreeNodeFlags_.default_open):
            return
        if imgui.button("stop recording" if status.recording else "record"):
            self.actions.toggle_recording = True
        imgui.same_line()
        imgui.text(f"{status.recorded_frames} frames recorded")
        if status.sequence_frames:
            if imgui.button("pause" if status.playing else "play video"):
                self.actions.toggle_playing = True
            imgui.same_line()
            changed, index = imgui.slider_int("frame", status.sequence_index, 0, status.sequence_frames - 1)
            if changed:
                self.actions.seek = index
        if not status.can_export:
            imgui.text_disabled("export needs an avatar (open a checkpoint)")
            return
        _, self.export_size = imgui.slider_int("clip size", self.export_size, 64, 512)
        _, self.export_orbit = imgui.slider_float("orbit (deg)", self.export_orbit, 0.0, 360.0, "%.0f")
        if status.export_progress is not None:
            imgui.progress_bar(status.export_progress, imgui.ImVec2(-90, 0), f"exporting {100 * status.export_progress:.0f}%")
            imgui.same_line()
            if imgui.button("cancel"):
                self.actions.cancel_export = True
            mark(self.rects, "cancel_export")
        elif imgui.button("export mp4"):
            self.actions.export = True
        if status.export_progress is None:
            mark(self.rects, "export")
        if imgui.is_item_hovered():
            imgui.set_tooltip("exports the keyframes, else the recording, else the video, else the current pose")

    def _pose(self, state: ViewerState) -> None:
        if not imgui.collapsing_header("Head pose (degrees)", imgui.TreeNodeFlags_.default_open):
            return
        for j, name in enumerate(state.joint_names):
            degrees = [math.degrees(float(a)) for a in state.pose[j]]
            changed, degrees = imgui.slider_float3(name, degrees, -45.0, 45.0, "%.0f")
            if changed:
                state.pose[j] = [math.radians(d) for d in degrees]
                state.touch()
        if imgui.button("reset pose and expression"):
            state.reset_pose()

    def _expressions(self, state: ViewerState) -> None:
        if not imgui.collapsing_header("Expression", imgui.TreeNodeFlags_.default_open):
            return
        _, self.filter_text = imgui.input_text("filter", self.filter_text)
        needle = self.filter_text.lower()
        for k, name in enumerate(state.expression_names):
            if needle and needle not in name.lower():
                continue
            changed, value = imgui.slider_float(name, float(state.expression[k]), -1.0, 1.0)
            if changed:
                state.expression[k] = value
                state.touch()


def draw_quit_question(progress: float) -> str | None:
    """The modal 'an export is running' question: 'quit' (cancel the export and quit), 'keep', or None
    (not answered yet)."""
    answer = None
    imgui.open_popup("Quit PAV?")
    if imgui.begin_popup_modal("Quit PAV?", None, imgui.WindowFlags_.always_auto_resize)[0]:
        imgui.text(f"An export is running ({100 * progress:.0f}%).")
        if imgui.button("cancel the export and quit"):
            answer = "quit"
        imgui.same_line()
        if imgui.button("keep exporting"):
            answer = "keep"
        imgui.end_popup()
    return answer
