"""Window geometry, GUI-free: resizes re-render at the new aspect, render sizes are bounded, HiDPI through
a fake window-metrics provider, and drags that start only inside the view."""
import time

import numpy as np
import pytest
import torch

from viewer.layout import PANEL_WIDTH, TIMELINE_HEIGHT, DragInput, layout
from viewer.orbit import OrbitCamera
from viewer.scheduler import MAX_ASPECT, RenderScheduler, render_size
from viewer.state import ViewerSettings, ViewerState


class FakeMetrics:
    def __init__(self, width, height, scale):
        self.size, self.scale = (width, height), scale

    def window_size(self):
        return self.size

    def framebuffer_size(self):
        return (self.size[0] * self.scale, self.size[1] * self.scale)


def wait_idle(sched, timeout=5.0):
    end = time.time() + timeout
    while sched.busy() and time.time() < end:
        time.sleep(0.005)
    assert not sched.busy()


def test_resize_rerenders_at_the_new_aspect():
    sizes = []

    def render(request, cancelled):
        sizes.append((request.camera.width, request.camera.height))
        return np.zeros((request.camera.height, request.camera.width, 3), np.uint8)

    sched = RenderScheduler(render, ViewerSettings(preview_size=32, refine_sizes=(), final_size=64))
    s = ViewerState(["e"], ["global"], ["x"])
    sched.submit(s.version, s.request, 2.0, interacting=False)
    wait_idle(sched)
    assert sizes == [(32, 16), (64, 32)] and sched.latest().final
    sched.submit(s.version, s.request, 0.5, interacting=False)  # the window became tall: same state version
    wait_idle(sched)
    assert sizes[2:] == [(16, 32), (32, 64)]
    f = sched.latest()
    assert f.image.shape == (64, 32, 3) and (f.width, f.height) == (32, 64) and f.final
    sched.submit(s.version, s.request, 2.0, interacting=False)  # back: rendered again (different size key)
    wait_idle(sched)
    assert sizes[4:] == [(32, 16), (64, 32)]
    sched.close()


@pytest.mark.parametrize("aspect", [1920 / 30, 30 / 1920, 1.0, 1.6, 1e-6, 1e6])
def test_render_size_longest_side_and_clamped_aspect(aspect):
    w, h = render_size(256, aspect)
    assert max(w, h) == 256 and min(w, h) >= 256 / MAX_ASPECT - 1
    clamped = min(max(aspect, 1 / MAX_ASPECT), MAX_ASPECT)
    assert w / h == pytest.approx(clamped, rel=0.01)


def test_extreme_window_requests_a_bounded_render():
    seen = []

    def render(request, cancelled):
        seen.append((request.camera.width, request.camera.height))
        return np.zeros((request.camera.height, request.camera.width, 3), np.uint8)

    sched = RenderScheduler(render, ViewerSettings(preview_size=64, refine_sizes=(), final_size=256))
    s = ViewerState(["e"], ["global"], ["x"])
    sched.submit(s.version, s.request, 1920 / 30, interacting=False)
    wait_idle(sched)
    assert seen == [(64, 16), (256, 64)]
    sched.close()


@pytest.mark.parametrize("scale", [1, 2])
def test_hidpi_layout_puts_the_view_right_of_the_panel_in_both_pixel_kinds(scale):
    lay = layout(FakeMetrics(1200, 800, scale))
    assert lay.scale == (scale, scale)
    assert lay.view == (PANEL_WIDTH, 0, 1200 - PANEL_WIDTH, 800 - TIMELINE_HEIGHT)
    # GL: framebuffer pixels, origin bottom-left; the view starts where the panel ends, at any scale
    assert lay.gl_view == (PANEL_WIDTH * scale, TIMELINE_HEIGHT * scale, (1200 - PANEL_WIDTH) * scale,
                           (800 - TIMELINE_HEIGHT) * scale)
    assert lay.to_gl(lay.timeline) == (PANEL_WIDTH * scale, 0, (1200 - PANEL_WIDTH) * scale, TIMELINE_HEIGHT * scale)
    assert lay.contains(PANEL_WIDTH + 1, 10) and not lay.contains(PANEL_WIDTH - 1, 10)
    assert not lay.contains(PANEL_WIDTH + 10, 800 - TIMELINE_HEIGHT + 1)  # on the timeline strip


@pytest.mark.parametrize("scale", [1, 2])
def test_hidpi_pan_follows_the_mouse_at_full_speed(scale):
    """A drag of N window pixels moves the head by N window pixels on screen, at content scale 1 and 2."""
    lay = layout(FakeMetrics(1000, 700, scale))
    drag, cam = DragInput(), OrbitCamera(radius=0.6, yaw_deg=20)
    point = torch.tensor(cam.target, dtype=torch.float32)
    vw, vh = lay.view[2], lay.view[3]
    before = cam.camera(vw, vh).project(point)[:2]
    x, y = PANEL_WIDTH + 200, 300
    for k, pos in enumerate([(x, y), (x, y), (x + 10, y + 5), (x + 30, y - 5)]):
        ev = drag.update(pos, (False, True, False), 0.0, False, lay)
        cam.pan(*ev.pan, lay.view[3])
    after = cam.camera(vw, vh).project(point)[:2]
    assert (after - before).tolist() == pytest.approx([30, -5], abs=0.05)


def test_drag_starts_only_inside_the_view_and_ignores_the_first_delta():
    lay = layout(FakeMetrics(1000, 700, 1))
    inside, outside = (PANEL_WIDTH + 100.0, 200.0), (PANEL_WIDTH - 50.0, 200.0)
    drag = DragInput()
    # a press on the panel, then dragged into the view: never an orbit
    moves = [drag.update(p, (True, False, False), 0.0, False, lay).rotate
             for p in (outside, (PANEL_WIDTH + 10.0, 200.0), (PANEL_WIDTH + 60.0, 210.0), (PANEL_WIDTH + 90.0, 230.0),
                       (PANEL_WIDTH + 95.0, 240.0))]
    assert moves == [(0.0, 0.0)] * 5
    drag.update(inside, (False, False, False), 0.0, False, lay)  # released
    # a press inside that arrives with a 500-pixel jump (tablet): the jump and the first delta are ignored
    ev = [drag.update(p, (True, False, False), 0.0, False, lay)
          for p in ((PANEL_WIDTH + 500.0, 600.0), (PANEL_WIDTH + 100.0, 200.0), (PANEL_WIDTH + 104.0, 203.0),
                    (PANEL_WIDTH + 110.0, 201.0))]
    assert [e.rotate for e in ev] == [(0.0, 0.0), (0.0, 0.0), (4.0, 3.0), (6.0, -2.0)]
    assert all(e.dragging for e in ev)
    # a press on a widget over the view (imgui captures the mouse): no drag
    drag = DragInput()
    ev = [drag.update(p, (True, False, False), 0.0, True, lay) for p in (inside, (inside[0] + 20, 200.0))]
    assert [e.rotate for e in ev] == [(0.0, 0.0)] * 2 and not any(e.dragging for e in ev)
    # the wheel zooms only over the view
    assert drag.update(inside, (False,) * 3, 2.0, False, lay).zoom == 2.0
    assert drag.update(outside, (False,) * 3, 2.0, False, lay).zoom == 0.0
