"""The desktop app: a glfw window with an OpenGL 3.3 context, the imgui panel, the live render, the
keyframe editor and its timeline strip.

Main loop: poll → panel + timeline + keys → orbit input → scheduler.submit → upload the newest finished
frame → draw image (+ mesh overlay) → imgui → swap. Rendering runs in the scheduler's worker thread, so
the UI loop never waits for it. `on_frame(app)` is a hook called once per UI frame (tests drive the app
with it). The UI frame timer (`timer`, viewer/frametimer.py) and the memory figures are written as JSON
on exit, and on SIGUSR1, to $PAV_FRAME_STATS when that is set (the soak test reads it; $PAV_STALL_TRACE too).
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Callable

import glfw
import numpy as np
from imgui_bundle import imgui, implot
from OpenGL import GL

from pav.camera import opengl_view_projection
from pav.io import write_json, write_png

from .display import ImageDisplay, MeshOverlay, fit_viewport, read_framebuffer
from .drive_dialog import DriveDialog
from .editor import Editor
from .frametimer import STARTUP_FRAMES, FrameTimer, stall_trace_from_env
from .editor_panel import EditorPanel, draw_help, draw_timeline, draw_view_range
from .memory import freeze_gc, memory_stats, share_arenas
from .layout import DragInput, GlfwMetrics, ViewLayout, WindowMetrics, fit_to_screen, layout
from .orbit import OrbitCamera
from .pacing import FramePacer
from .panels import Panel, PanelStatus, draw_quit_question
from .paths import output_path
from .scenes import Scene
from .scheduler import RenderScheduler
from .state import ViewerSettings, ViewerState
from .timeline import ExportJob, Player, Recorder, export_frames
from .upsample import ReprojectionCache


class App:
    def __init__(self, scene: Scene, settings: ViewerSettings = ViewerSettings(), size=(1280, 800),
                 on_frame: Callable[["App"], None] | None = None, training=None,
                 metrics: WindowMetrics | None = None, drive=None):
        share_arenas()  # before any thread starts (viewer/memory.py)
        self.scene = scene
        self.drive = drive
        """a viewer.drive_job.DriveJob tracking a driving video, or None."""
        self.drive_dialog = DriveDialog()
        """'open a driving video...' (main.py sets its checkpoint)"""
        self.training = training
        self.settings = settings
        self.on_frame = on_frame
        self.state = ViewerState(scene.expression_names, scene.joint_names, scene.appearance_names)
        self.reset_camera()
        self.status = PanelStatus()
        self.panel = Panel()
        self.frames = 0
        self.interacting = False
        self.recorder = Recorder()
        self.player = Player(scene.sequence) if scene.sequence else None
        self.export_job: ExportJob | None = None
        self.screenshot_path: Path | None = None
        """set to a path to save the next drawn frame there (the panel's button, tests)."""
        self.last_screenshot: np.ndarray | None = None
        self._shown: tuple | None = None  # (version, width, height) of the frame on screen
        self._shown_frame = None
        # still pictures upsampled edge-aware (moving ones bilinear: ~10 ms less CPU per frame); the picture
        # warped to the current camera while the next renders; objects alive after start-up frozen (memory.py)
        self.edge_aware, self.reproject, self.freeze_gc = True, True, True
        self._reprojection = ReprojectionCache()
        self.drag = DragInput()
        self.confirm_quit = False
        """True while the 'an export is running: quit?' question is open."""
        self.editor = Editor.for_state(self.state)
        self.editor_panel = EditorPanel()
        self.show_help = False
        self.timer = FrameTimer(stall_file=stall_trace_from_env())
        """UI frame timer: per-phase times of the worst frames, GC pauses, fps while dragging."""
        self.timer.watch_gc()
        self._dump_stats = False
        self._terminate = False
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGUSR1, lambda *_: setattr(self, "_dump_stats", True))
            signal.signal(signal.SIGTERM, lambda *_: setattr(self, "_terminate", True))  # close cleanly
        # PyOpenGL calls release the GIL; with the render, training and export threads busy, getting it back
        # waits up to one switch interval (5 ms default) per call: a shorter interval keeps UI frames short
        sys.setswitchinterval(0.0005)
        self._init_window(size, scene.title)
        self.metrics = metrics or GlfwMetrics(self.window)
        self.display = ImageDisplay()
        self.overlay = MeshOverlay(scene.faces)
        self.scheduler = RenderScheduler(scene.render, settings, on_frame=glfw.post_empty_event)
        self.pacer = FramePacer()
        """sleeps between frames while nothing moves (viewer/pacing.py)."""
        if training is not None:
            training.on_step = self.state.touch  # show the newer model
            training.start()

    # ---- set-up ------------------------------------------------------------------------------------
    def _init_window(self, size, title: str) -> None:
        warnings.filterwarnings("ignore", category=glfw.GLFWError)  # failures are reported below, in one line
        if not glfw.init():
            raise RuntimeError("could not initialise GLFW: is a display available (DISPLAY / Xvfb)?")
        monitor = glfw.get_primary_monitor()
        mode = glfw.get_video_mode(monitor) if monitor else None
        size = fit_to_screen(size, (mode.size.width, mode.size.height) if mode else None)
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
        self.window = glfw.create_window(size[0], size[1], f"PAV — {title}", None, None)
        if not self.window:
            glfw.terminate()
            raise RuntimeError("could not open an OpenGL 3.3 window (is Mesa/GL installed?)")
        glfw.make_context_current(self.window)
        glfw.swap_interval(1)
        imgui.create_context()
        implot.create_context()
        imgui.get_io().set_ini_filename("")
        window_address = ctypes.cast(self.window, ctypes.c_void_p).value
        imgui.backends.glfw_init_for_opengl(window_address, True)
        imgui.backends.opengl3_init("#version 330")

    def reset_camera(self) -> None:
        self.state.orbit = OrbitCamera(target=np.asarray(self.scene.target, float).copy(), radius=self.scene.radius)
        self.state.touch()

    # ---- per frame ---------------------------------------------------------------------------------
    def layout(self) -> ViewLayout:
        """Where the panel, the view and the timeline are, in window and framebuffer pixels."""
        return layout(self.metrics)

    def viewport(self) -> tuple[int, int, int, int]:
        """The render area as a glViewport rectangle (framebuffer pixels, origin bottom-left)."""
        return self.layout().gl_view

    def _handle_mouse(self, lay: ViewLayout) -> None:
        io = imgui.get_io()
        ev = self.drag.update((io.mouse_pos.x, io.mouse_pos.y), tuple(bool(io.mouse_down[b]) for b in range(3)),
                              io.mouse_wheel, io.want_capture_mouse, lay)
        if ev.rotate != (0.0, 0.0):
            self.state.orbit.rotate(*ev.rotate)
            self.state.touch()
        if ev.pan != (0.0, 0.0):
            self.state.orbit.pan(*ev.pan, lay.view[3])  # window pixels over the view's height in window pixels
            self.state.touch()
        if ev.zoom:
            self.state.orbit.zoom(ev.zoom)
            self.state.touch()
        self.interacting = ev.dragging

    def step(self) -> None:
        """One UI frame."""
        self.pacer.sleep(glfw.wait_events_timeout)  # idle: until input, a finished render or the timeout
        timer = self.timer
        timer.begin()
        glfw.poll_events()
        imgui.backends.opengl3_new_frame()
        imgui.backends.glfw_new_frame()
        imgui.new_frame()
        timer.mark("new_frame")
        lay = self.layout()
        actions = self.panel.draw(self.state, self.status, lay.window[1], sections=(self._editor_sections,))
        draw_timeline(self.editor, self.state, lay)
        if self.show_help:
            draw_help(lay)
        timer.mark("panel")
        self._keys(actions)
        self._quit_question()
        if actions.reset_camera:
            self.reset_camera()
        self._animation(actions)
        self._handle_mouse(lay)
        if self.on_frame:
            self.on_frame(self)
        timer.mark("logic")

        # while anything moves (a drag, a slider, playback), previews are shown, never cancelled by the next state
        self.scheduler.submit(self.state.version, self.state.request, lay.aspect, self._moving())
        timer.mark("submit")
        frame = self.scheduler.latest()
        new_picture = frame is not None and (frame.version, frame.width, frame.height) != self._shown
        if new_picture:
            self.display.upload(frame.image)
            self._shown_frame = frame
            timer.mark("upload")
            self._shown = (frame.version, frame.width, frame.height)
            s = self.status
            s.render_ms, s.render_height, s.render_width = 1000 * frame.seconds, frame.height, frame.width
            s.samples_per_ray, s.final = frame.samples_per_ray or self.scene.samples_per_ray, frame.final
        self.status.render_error = self.scheduler.error or ""

        GL.glViewport(0, 0, *lay.framebuffer)
        GL.glClearColor(0.1, 0.1, 0.11, 1.0)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT | GL.GL_DEPTH_BUFFER_BIT)
        if self.display.size:
            view = fit_viewport(*self.display.size, *lay.gl_view)
            self.display.edge_aware = self.edge_aware and not self._moving() and self.status.final  # finals only
            reprojection = self._reprojection(self._shown_frame, self.state.orbit) if self.reproject else None
            self.display.draw(view, reprojection)
            if self.state.show_mesh:
                camera = self.state.orbit.camera(view[2], view[3])
                vertices = self.scene.mesh(self.state.expression, self.state.pose)
                self.overlay.draw(vertices, opengl_view_projection(camera).numpy(), view)
        timer.mark("draw")
        imgui.render()
        imgui.backends.opengl3_render_draw_data(imgui.get_draw_data())
        timer.mark("imgui_render")
        if actions.screenshot:
            self.screenshot_path = output_path("screenshots", ".png")
        if self.screenshot_path is not None:
            self.last_screenshot = self.screenshot(self.screenshot_path)
            self.status.message = f"saved {self.screenshot_path}"
            self.screenshot_path = None
        glfw.swap_buffers(self.window)
        timer.mark("swap")
        self.frames += 1
        dt = timer.end(dragging=self.interacting)
        if self.frames == STARTUP_FRAMES and self.freeze_gc:
            freeze_gc()
        self.pacer.frame_done(self._active(new_picture))
        self.status.ui_fps = 0.9 * self.status.ui_fps + 0.1 / max(dt, 1e-4) if self.frames > 1 else 1 / max(dt, 1e-4)
        if self._dump_stats:
            self._dump_stats = False
            self.write_stats()

    def _moving(self) -> bool:
        """The user drags (view, slider) or an animation plays: frames come at full rate."""
        return (self.interacting or any(imgui.get_io().mouse_down[b] for b in range(3)) or self.editor.playing
                or (self.player is not None and self.player.playing))

    def _active(self, new_picture: bool) -> bool:
        """Whether anything moved this frame or is moving (else the loop may sleep: viewer/pacing.py)."""
        return (new_picture or self._moving() or imgui.get_io().want_text_input or self.recorder.recording
                or self.export_job is not None or self.drive is not None or self.confirm_quit or self._shown is None)

    def write_stats(self) -> None:
        """The frame timer as JSON at $PAV_FRAME_STATS (nothing when unset)."""
        if os.environ.get("PAV_FRAME_STATS"):
            write_json(os.environ["PAV_FRAME_STATS"], dict(self.timer.stats(), memory=memory_stats(), widgets=self.panel.rects,
                                  export_running=self.export_job is not None,
                                  training=self.training and self.training.running,
                                  keyframes=len(self.editor.keys), playing=self.editor.playing, help=self.show_help,
                                  final=self.status.final, shown=self._shown, version=self.state.version))

    def _editor_sections(self) -> None:
        """Drawn inside the panel: the trained view range, then the keyframe editor."""
        goto = draw_view_range(self.state, self.scene.view_range)
        if goto is not None:
            self.state.orbit.yaw_deg, self.state.orbit.pitch_deg = goto
            self.state.touch()
        self.editor_panel.draw(self.editor, self.state, self.recorder, self.player)
        self.drive_dialog.draw(self)

    def _keys(self, actions) -> None:
        """space, K, Delete, Left/Right, R, S, F1 (not while typing in a text field)."""
        io = imgui.get_io()
        if io.want_text_input:
            return
        pressed = lambda key: imgui.is_key_pressed(key, False)  # noqa: E731
        K = imgui.Key
        if pressed(K.space):
            self.editor.toggle(time.perf_counter())
        if pressed(K.k):
            self.editor.add_key(self.state)
        if pressed(K.delete):
            self.editor.delete_key()
        if pressed(K.left_arrow) or pressed(K.right_arrow):
            self.editor.step_key(-1 if pressed(K.left_arrow) else 1, self.state)
        if pressed(K.r):
            actions.reset_camera = True
        if pressed(K.s):
            actions.screenshot = True
        if pressed(K.f1):
            self.show_help = not self.show_help

    def _poll_drive(self) -> None:
        """While a driving video is tracked: its progress in the status line; when done, it becomes the
        player's sequence (play it, or turn it into keyframes in the editor)."""
        job = self.drive
        if job is None:
            return
        if not job.done:
            self.status.message = f"tracking {job.video.name}: {job.stage} {100 * job.progress:.0f}%"
            return
        self.drive = None
        if job.error:
            self.status.message = f"driving video failed: {job.error}"
            return
        from .scenes import collection_sequence

        self.scene.sequence = collection_sequence(job.collection, job.name)
        self.player = Player(self.scene.sequence)
        self.status.message = f"tracked {job.video.name}: {len(self.scene.sequence)} frames to play"

    def _animation(self, actions) -> None:
        now = time.perf_counter()
        if actions.toggle_recording and self.recorder.recording:
            self.recorder.stop()
        elif actions.toggle_recording:
            self.recorder.start(now)
        if self.player is not None:
            if actions.toggle_playing and self.player.playing:
                self.player.pause()
            elif actions.toggle_playing:
                self.player.play(now)
            if actions.seek is not None:
                self.player.seek(actions.seek, self.state)
            self.player.tick(self.state, now)
        self.recorder.tick(self.state, now)
        self.editor.tick(self.state, now)
        if actions.export:
            self.start_export(output_path("clips", ".mp4"), self.panel.export_size, self.panel.export_orbit)
        self._poll_drive()
        job = self.export_job
        if job is not None and job.done:
            self.status.message = (f"export failed: {job.error}" if job.error else "export cancelled" if job.cancelled
                                   else f"exported {job.path} ({job.written} frames)")
            self.export_job = None
        if actions.cancel_export and self.export_job is not None:
            self.export_job.cancel()
        s = self.status
        s.recording, s.recorded_frames = self.recorder.recording, len(self.recorder.frames)
        s.sequence_frames = len(self.player.frames) if self.player else 0
        s.sequence_index, s.playing = (self.player.index, self.player.playing) if self.player else (0, False)
        s.can_export = self.scene.export is not None
        s.export_progress = self.export_job.progress if self.export_job else None
        s.training = self.training
        if self.training is not None and actions.toggle_training:
            if self.training.running:
                self.training.pause()
            else:
                self.training.start()
        if self.training is not None and actions.save_training:
            self.training.save()

    def start_export(self, path: Path, size: int, orbit_degrees: float = 0.0) -> ExportJob:
        """Export the keyframe animation (the frames the editor plays, as `render --drive anim.json`), else
        the recording, else the loaded video, else a 2-second still of the current state."""
        if self.scene.export is None:
            raise RuntimeError("this scene cannot export (no avatar)")
        frames, fps = ((self.editor.clip(), self.editor.animation.fps) if self.editor.keys else
                       export_frames(self.recorder, self.player, self.state))
        self.export_job = ExportJob(self.scene.export, frames, path, fps, size, orbit_degrees)
        return self.export_job

    def screenshot(self, path: str | Path) -> np.ndarray:
        """The whole window as uint8 (H, W, 3), written to `path` (called after drawing, before the swap;
        set `screenshot_path` to take one from outside the frame)."""
        image = read_framebuffer(*glfw.get_framebuffer_size(self.window))
        write_png(path, image, provenance=self.scene.provenance(self.state.appearance))
        return image

    def run(self, max_frames: int | None = None) -> None:
        try:
            while (max_frames is None or self.frames < max_frames) and not self._terminate:
                if glfw.window_should_close(self.window):
                    if self.export_job is None or self.export_job.done:
                        break
                    glfw.set_window_should_close(self.window, False)  # an export is running: ask first
                    self.confirm_quit = True
                self.step()
        finally:
            self.close()

    def _quit_question(self) -> None:
        """The modal 'an export is running' question; its answer cancels the export and quits, or not."""
        if self.confirm_quit and (self.export_job is None or self.export_job.done):
            self.confirm_quit = False
        answer = draw_quit_question(self.export_job.progress) if self.confirm_quit else None
        if answer == "quit":
            self.export_job.cancel(wait=30)
            glfw.set_window_should_close(self.window, True)
        self.confirm_quit = self.confirm_quit and answer is None

    def request_close(self) -> None:
        glfw.set_window_should_close(self.window, True)

    def close(self) -> None:
        self.write_stats()
        if self.export_job is not None and not self.export_job.done:
            self.export_job.cancel(wait=30)  # no half-written clip, no temp file
        if self.training is not None:  # keep the work: stop after the current step, join, save
            self.training.close()
        self.scheduler.close()
        imgui.backends.opengl3_shutdown()
        imgui.backends.glfw_shutdown()
        implot.destroy_context()
        imgui.destroy_context()
        glfw.destroy_window(self.window)
        glfw.terminate()
