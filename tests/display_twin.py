"""Draws a picture through shaders/display.frag into an offscreen framebuffer and saves what GL drew, for
tests/test_gui.py (compared there with viewer/upsample.py), and the CPU time of the first draw with each
kind of texture size (shader variants compiled at start-up, not in a UI frame).
Usage: python tests/display_twin.py OUT.npz"""
import sys
import time
from pathlib import Path

import glfw
import numpy as np
from OpenGL import GL

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from viewer.display import ImageDisplay  # noqa: E402


def main(out: Path) -> None:
    assert glfw.init(), "glfw.init failed"
    glfw.window_hint(glfw.VISIBLE, False)
    for hint, value in ((glfw.CONTEXT_VERSION_MAJOR, 3), (glfw.CONTEXT_VERSION_MINOR, 3),
                        (glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE), (glfw.OPENGL_FORWARD_COMPAT, True)):
        glfw.window_hint(hint, value)
    window = glfw.create_window(64, 64, "twin", None, None)
    glfw.make_context_current(window)
    rng = np.random.default_rng(0)
    image = (rng.random((21, 30, 3)) * 255).astype(np.uint8)
    image[5:15, 8:20] = (250, 20, 30)  # a block with hard edges: the clamp's work
    H = np.array([[1.02, 0.03, -0.8], [-0.02, 0.99, 0.6], [0.0004, -0.0002, 1.0]])
    W, Hh = 97, 67  # not a multiple of the picture's size
    fbo, rbo = GL.glGenFramebuffers(1), GL.glGenRenderbuffers(1)
    GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, rbo)
    GL.glRenderbufferStorage(GL.GL_RENDERBUFFER, GL.GL_RGBA8, W, Hh)
    GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
    GL.glFramebufferRenderbuffer(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_RENDERBUFFER, rbo)
    display = ImageDisplay()
    first_draw_cpu_ms = []  # UI-thread CPU of the first draw with each kind of texture size, after start-up
    for w, h in ((64, 64), (60, 64), (64, 60), (60, 50)):
        display.upload(np.zeros((h, w, 3), np.uint8))
        start = time.thread_time()
        display.draw((0, 0, W, Hh))
        GL.glFinish()
        first_draw_cpu_ms.append(1000 * (time.thread_time() - start))
    display.upload(image)
    drawn = {}
    for name, edge_aware, reprojection in (("edge", True, None), ("bilinear", False, None), ("edge_H", True, H),
                                           ("bilinear_H", False, H)):
        display.edge_aware = edge_aware
        GL.glClear(GL.GL_COLOR_BUFFER_BIT)
        display.draw((0, 0, W, Hh), reprojection)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        data = GL.glReadPixels(0, 0, W, Hh, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
        drawn[name] = np.frombuffer(data, np.uint8).reshape(Hh, W, 3)[::-1].copy()  # top row first
    np.savez(out, image=image, H=H, first_draw_cpu_ms=np.array(first_draw_cpu_ms), **drawn)
    glfw.terminate()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
