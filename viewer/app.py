"""The desktop app: a glfw window with an OpenGL 3.3 context, the imgui panel, the live render.

Main loop: poll → panel → orbit input → scheduler.submit → upload the newest finished frame → draw
image (+ mesh overlay) → imgui → swap. Rendering runs in the scheduler's worker thread, so the UI loop
never waits for it. `on_frame(app)` is a hook called once per UI frame (tests drive the app with it).
"""
from __future__ import annotations

import ctypes
import time
import warnings
from pathlib import Path
from typing import Callable

import glfw
import numpy as np
from imgui_bundle import imgui, implot
from OpenGL import GL

from pav.camera import opengl_view_projection
from pav.io import write_png

from .display import ImageDisplay, MeshOverlay, fit_viewport
from .orbit import OrbitCamera
from .panels import PANEL_WIDTH, Panel, PanelStatus
from .scenes import Scene
from .scheduler import RenderScheduler
from .state import ViewerSettings, ViewerState
from .timeline import ExportJob, Player, Recorder, snapshot


def fit_to_screen(size, screen, margin: int = 80) -> tuple[int, int]:
    """The window size: `size` (W, H), shrunk to the screen (W, H) less a margin for the desktop's bars;
    unchanged when the screen is unknown."""
    if not screen or min(screen) <= margin:
        return int(size[0]), int(size[1])
    return min(int(size[0]), screen[0] - margin), min(int(size[1]), screen[1] - margin)


class App:
    def __init__(self, scene: Scene, settings: ViewerSettings = ViewerSettings(), size=(1280, 800),
                 on_frame: Callable[["App"], None] | None = None, training=None):
        self.scene = scene
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
        self._shown_version = -1
        self._shown_height = 0
        self._init_window(size, scene.title)
        self.display = ImageDisplay()
        self.overlay = MeshOverlay(scene.faces)
        self.scheduler = RenderScheduler(scene.render, settings)
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
        imgui.get_io().config_flags |= imgui.ConfigFlags_.nav_enable_keyboard
        imgui.get_io().set_ini_filename("")
        window_address = ctypes.cast(self.window, ctypes.c_void_p).value
        imgui.backends.glfw_init_for_opengl(window_address, True)
        imgui.backends.opengl3_init("#version 330")

    def reset_camera(self) -> None:
        self.state.orbit = OrbitCamera(target=np.asarray(self.scene.target, float).copy(), radius=self.scene.radius)
        self.state.touch()

    # ---- per frame ---------------------------------------------------------------------------------
    def viewport(self) -> tuple[int, int, int, int]:
        """The render area in GL window coordinates (right of the panel)."""
        w, h = glfw.get_framebuffer_size(self.window)
        return PANEL_WIDTH, 0, max(1, w - PANEL_WIDTH), max(1, h)

    def _handle_mouse(self) -> None:
        io = imgui.get_io()
        vx, _, vw, vh = self.viewport()
        over_view = io.mouse_pos.x >= vx and not io.want_capture_mouse
        dragging = over_view and any(io.mouse_down[b] for b in range(3))
        dx, dy = io.mouse_delta.x, io.mouse_delta.y
        if dragging and (dx or dy):
            if io.mouse_down[0]:
                self.state.orbit.rotate(dx, dy)
            else:
                self.state.orbit.pan(dx, dy, vh)
            self.state.touch()
        if over_view and io.mouse_wheel:
            self.state.orbit.zoom(io.mouse_wheel)
            self.state.touch()
        self.interacting = dragging

    def step(self) -> None:
        """One UI frame."""
        start = time.perf_counter()
        glfw.poll_events()
        imgui.backends.opengl3_new_frame()
        imgui.backends.glfw_new_frame()
        imgui.new_frame()
        _, height = glfw.get_framebuffer_size(self.window)
        actions = self.panel.draw(self.state, self.status, height)
        if actions.reset_camera:
            self.reset_camera()
        self._animation(actions)
        self._handle_mouse()
        if self.on_frame:
            self.on_frame(self)

        _, _, vw, vh = self.viewport()
        self.scheduler.submit(self.state.version, self.state.request, vw / vh, self.interacting)
        frame = self.scheduler.latest()
        if frame is not None and (frame.version, frame.height) != (self._shown_version, self._shown_height):
            self.display.upload(frame.image)
            self._shown_version, self._shown_height = frame.version, frame.height
            self.status.render_ms, self.status.render_height = 1000 * frame.seconds, frame.height
        self.status.render_error = self.scheduler.error or ""

        GL.glViewport(0, 0, *glfw.get_framebuffer_size(self.window))
        GL.glClearColor(0.1, 0.1, 0.11, 1.0)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT | GL.GL_DEPTH_BUFFER_BIT)
        if self.display.size:
            view = fit_viewport(*self.display.size, *self.viewport())
            self.display.draw(view)
            if self.state.show_mesh:
                camera = self.state.orbit.camera(view[2], view[3])
                vertices = self.scene.mesh(self.state.expression, self.state.pose)
                self.overlay.draw(vertices, opengl_view_projection(camera).numpy(), view)
        imgui.render()
        imgui.backends.opengl3_render_draw_data(imgui.get_draw_data())
        if actions.screenshot:
            self.screenshot_path = Path(f"pav-screenshot-{time.strftime('%Y%m%d-%H%M%S')}.png")
        if self.screenshot_path is not None:
            self.last_screenshot = self.screenshot(self.screenshot_path)
            self.status.message = f"saved {self.screenshot_path}"
            self.screenshot_path = None
        glfw.swap_buffers(self.window)
        self.frames += 1
        dt = time.perf_counter() - start
        self.status.ui_fps = 0.9 * self.status.ui_fps + 0.1 / max(dt, 1e-4) if self.frames > 1 else 1 / max(dt, 1e-4)

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
        if actions.export:
            self.start_export(Path(f"pav-clip-{time.strftime('%Y%m%d-%H%M%S')}.mp4"), self.panel.export_size,
                              self.panel.export_orbit)
        job = self.export_job
        if job is not None and job.done:
            self.status.message = f"export failed: {job.error}" if job.error else f"exported {job.path} ({job.written} frames)"
            self.export_job = None
        s = self.status
        s.recording, s.recorded_frames = self.recorder.recording, len(self.recorder.frames)
        s.sequence_frames = len(self.player.frames) if self.player else 0
        s.sequence_index, s.playing = (self.player.index, self.player.playing) if self.player else (0, False)
        s.can_export = self.scene.export is not None
        s.export_progress = self.export_job.progress if self.export_job else None
        s.training = self.training
        if self.training is not None and actions.toggle_training:
            if self.training.running:
                self.training.stop(wait=False)
            else:
                self.training.start()
        if self.training is not None and actions.save_training:
            self.training.save()

    def start_export(self, path: Path, size: int, orbit_degrees: float = 0.0) -> ExportJob:
        """Export the recording, else the loaded video, else a 2-second still of the current state."""
        if self.scene.export is None:
            raise RuntimeError("this scene cannot export (no avatar)")
        current = snapshot(self.state)
        frames = self.recorder.frames or (self.player.frames if self.player else None) or [current] * 50
        frames = [type(k)(k.expression, k.pose, k.orbit or current.orbit, current.appearance if k.appearance is None
                          else k.appearance) for k in frames]
        self.export_job = ExportJob(self.scene.export, frames, path, self.recorder.fps, size, orbit_degrees)
        return self.export_job

    def screenshot(self, path: str | Path) -> np.ndarray:
        """The whole window as uint8 (H, W, 3), written to `path` (called after drawing, before the swap;
        set `screenshot_path` to take one from outside the frame)."""
        w, h = glfw.get_framebuffer_size(self.window)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        data = GL.glReadPixels(0, 0, w, h, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
        image = np.frombuffer(data, np.uint8).reshape(h, w, 3)[::-1].copy()
        write_png(path, image)
        return image

    def run(self, max_frames: int | None = None) -> None:
        try:
            while not glfw.window_should_close(self.window) and (max_frames is None or self.frames < max_frames):
                self.step()
        finally:
            self.close()

    def request_close(self) -> None:
        glfw.set_window_should_close(self.window, True)

    def close(self) -> None:
        if self.training is not None:  # keep the work: stop after the current step and save
            self.training.stop()
            self.training.save()
        self.scheduler.close()
        imgui.backends.opengl3_shutdown()
        imgui.backends.glfw_shutdown()
        implot.destroy_context()
        imgui.destroy_context()
        glfw.destroy_window(self.window)
        glfw.terminate()
