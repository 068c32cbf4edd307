"""Window geometry and mouse input, GUI-free: where the view is, in which pixels, and what a drag does.

Two kinds of pixels meet in a window: WINDOW pixels (glfw cursor positions, imgui layout, the panel
width) and FRAMEBUFFER pixels (glViewport, glReadPixels). On a HiDPI screen (content scale 2) a window
of 1280×800 has a 2560×1600 framebuffer. Everything the user sees and touches is laid out in window
pixels; `ViewLayout.gl_view` converts the view to framebuffer pixels at the one place GL needs them.
The metrics come from an injected `WindowMetrics` (glfw in the app, a fake in tests).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

PANEL_WIDTH = 400
"""width of the control panel on the left, window pixels."""
TIMELINE_HEIGHT = 96
"""height of the timeline strip under the view, window pixels."""


class WindowMetrics(Protocol):
    def window_size(self) -> tuple[int, int]:
        """(width, height) in window pixels."""

    def framebuffer_size(self) -> tuple[int, int]:
        """(width, height) in framebuffer pixels."""


class GlfwMetrics:
    """WindowMetrics of a glfw window."""

    def __init__(self, window):
        self.window = window

    def window_size(self) -> tuple[int, int]:
        import glfw

        return tuple(glfw.get_window_size(self.window))

    def framebuffer_size(self) -> tuple[int, int]:
        import glfw

        return tuple(glfw.get_framebuffer_size(self.window))


class ViewLayout(NamedTuple):
    window: tuple[int, int]
    """(width, height) window pixels."""
    framebuffer: tuple[int, int]
    """(width, height) framebuffer pixels."""
    view: tuple[int, int, int, int]
    """render area (x, y, w, h) in window pixels, y down from the top-left corner."""
    timeline: tuple[int, int, int, int]
    """timeline strip (x, y, w, h) in window pixels."""

    @property
    def scale(self) -> tuple[float, float]:
        """framebuffer pixels per window pixel (x, y): 1 on a normal screen, 2 on a Retina one."""
        return (self.framebuffer[0] / max(self.window[0], 1), self.framebuffer[1] / max(self.window[1], 1))

    @property
    def aspect(self) -> float:
        return self.view[2] / self.view[3]

    def contains(self, x: float, y: float) -> bool:
        """Is the window point (x, y) inside the render area?"""
        vx, vy, vw, vh = self.view
        return vx <= x < vx + vw and vy <= y < vy + vh

    def to_gl(self, rect: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """A window-pixel rectangle (x, y down) → glViewport rectangle (framebuffer pixels, y up)."""
        sx, sy = self.scale
        x, y, w, h = rect
        return (round(x * sx), round(self.framebuffer[1] - (y + h) * sy), max(1, round(w * sx)),
                max(1, round(h * sy)))

    @property
    def gl_view(self) -> tuple[int, int, int, int]:
        return self.to_gl(self.view)


def layout(metrics: WindowMetrics, panel_width: int = PANEL_WIDTH,
           timeline_height: int = TIMELINE_HEIGHT) -> ViewLayout:
    """Panel on the left, the view right of it, the timeline strip under the view (window pixels)."""
    ww, wh = metrics.window_size()
    fw, fh = metrics.framebuffer_size()
    vw = max(1, ww - panel_width)
    th = min(timeline_height, max(0, wh - 1))
    vh = max(1, wh - th)
    return ViewLayout((ww, wh), (fw, fh), (panel_width, 0, vw, vh), (panel_width, vh, vw, th))


class MouseEvent(NamedTuple):
    """What one UI frame's mouse input asks of the orbit camera (window pixels)."""

    rotate: tuple[float, float] = (0.0, 0.0)
    pan: tuple[float, float] = (0.0, 0.0)
    zoom: float = 0.0
    dragging: bool = False


@dataclass
class DragInput:
    """Turns per-frame mouse state into orbit moves. A drag starts only from a press inside the view
    (and not on a widget); the movement of the press frame and the first delta after it are ignored, so
    a cursor that jumps around the press (tablet, remote desktop) does not become a huge orbit. A button
    pressed outside the view does nothing until it is released. Positions in window pixels."""

    button: int | None = None
    """the button of the drag in progress (0 left: rotate, 1 right / 2 middle: pan), else None."""
    last: tuple[float, float] | None = None
    skip: int = 0
    """deltas still to ignore."""
    held_outside: bool = False

    def update(self, pos: tuple[float, float], down: tuple[bool, bool, bool], wheel: float,
               captured: bool, view: ViewLayout) -> MouseEvent:
        """pos: cursor (window px); down: buttons held; wheel: scroll steps; captured: a widget owns the
        mouse (imgui's want_capture_mouse)."""
        over = not captured and view.contains(*pos)
        zoom = wheel if over else 0.0
        if not any(down):
            self.button, self.last, self.held_outside = None, None, False
            return MouseEvent(zoom=zoom)
        if self.button is not None and not down[self.button]:  # the drag's button went up, another is held
            self.button, self.held_outside = None, True
        if self.button is None:
            if self.held_outside or not over:
                self.held_outside = True
                return MouseEvent(zoom=zoom)
            self.button, self.last, self.skip = next(b for b in range(3) if down[b]), pos, 1
            return MouseEvent(zoom=zoom, dragging=True)
        dx, dy = pos[0] - self.last[0], pos[1] - self.last[1]
        self.last = pos
        if self.skip:
            self.skip -= 1
            dx = dy = 0.0
        if self.button == 0:
            return MouseEvent(rotate=(dx, dy), zoom=zoom, dragging=True)
        return MouseEvent(pan=(dx, dy), zoom=zoom, dragging=True)


def fit_to_screen(size, screen, margin: int = 80) -> tuple[int, int]:
    """The window size: `size` (W, H), shrunk to the screen (W, H) less a margin for the desktop's bars;
    unchanged when the screen is unknown."""
    if not screen or min(screen) <= margin:
        return int(size[0]), int(size[1])
    return min(int(size[0]), screen[0] - margin), min(int(size[1]), screen[1] - margin)
