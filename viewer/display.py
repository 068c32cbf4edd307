"""OpenGL drawing: the rendered image as a texture on a fullscreen triangle, and the head-mesh overlay.

Shaders live in shaders/. Needs a current OpenGL ≥ 3.3 core context (the App creates it).
"""
from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
from OpenGL import GL

SHADERS = Path(__file__).resolve().parents[1] / "shaders"


def compile_program(vertex_file: str, fragment_file: str) -> int:
    """Compile and link shaders/<vertex_file> + shaders/<fragment_file>; errors name the file."""
    program = GL.glCreateProgram()
    shaders = []
    for name, kind in ((vertex_file, GL.GL_VERTEX_SHADER), (fragment_file, GL.GL_FRAGMENT_SHADER)):
        shader = GL.glCreateShader(kind)
        GL.glShaderSource(shader, (SHADERS / name).read_text())
        GL.glCompileShader(shader)
        if not GL.glGetShaderiv(shader, GL.GL_COMPILE_STATUS):
            raise RuntimeError(f"shaders/{name}: {GL.glGetShaderInfoLog(shader).decode()}")
        GL.glAttachShader(program, shader)
        shaders.append(shader)
    GL.glLinkProgram(program)
    if not GL.glGetProgramiv(program, GL.GL_LINK_STATUS):
        raise RuntimeError(f"linking {vertex_file}+{fragment_file}: {GL.glGetProgramInfoLog(program).decode()}")
    for shader in shaders:
        GL.glDeleteShader(shader)
    return program


def fit_viewport(image_w: int, image_h: int, x: int, y: int, w: int, h: int) -> tuple[int, int, int, int]:
    """The largest rectangle of the image's aspect centred in (x, y, w, h) (GL window coordinates)."""
    scale = min(w / image_w, h / image_h)
    vw, vh = max(1, int(image_w * scale)), max(1, int(image_h * scale))
    return x + (w - vw) // 2, y + (h - vh) // 2, vw, vh


def read_framebuffer(width: int, height: int) -> np.ndarray:
    """The bound framebuffer as uint8 (height, width, 3), top row first."""
    GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
    data = GL.glReadPixels(0, 0, width, height, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
    return np.frombuffer(data, np.uint8).reshape(height, width, 3)[::-1].copy()


class ImageDisplay:
    """Uploads uint8 (H, W, 3) images and draws them into a viewport: reprojected to the current camera and
    upsampled edge-aware (shaders/display.frag) or bilinear (shaders/display_fast.frag); their numpy twin is
    viewer/upsample.py."""

    def __init__(self, edge_aware: bool = True):
        self.programs = {True: compile_program("blit.vert", "display.frag"),
                         False: compile_program("blit.vert", "display_fast.frag")}
        self.edge_aware = edge_aware
        """Catmull-Rom clamped to the 2×2 neighbourhood (~10 ms of llvmpipe CPU per frame more); False: the
        texture unit's bilinear filter (the app uses it while the view moves)."""
        self._uniforms = {key: {name: GL.glGetUniformLocation(program, name) for name in ("image", "reprojection")}
                          for key, program in self.programs.items()}
        self.vao = GL.glGenVertexArrays(1)
        self.texture = GL.glGenTextures(1)
        self.size: tuple[int, int] | None = None
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.texture)
        for param, value in ((GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR), (GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR),
                             (GL.GL_TEXTURE_WRAP_S, GL.GL_CLAMP_TO_EDGE), (GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE)):
            GL.glTexParameteri(GL.GL_TEXTURE_2D, param, value)
        self.warm_up()

    def warm_up(self) -> None:
        """Draw once with each kind of texture size (power of two or not, per axis), into a 1-pixel viewport.
        Mesa's software GL (llvmpipe) compiles a shader variant per kind on first use: ~150-175 ms of CPU for
        this shader (measured), which landed in a UI frame whenever a resize brought a new kind (a 608 ms
        frame in the soak test on a loaded machine). Done at start-up, they are cached."""
        edge_aware = self.edge_aware
        for w, h in ((2, 2), (2, 3), (3, 2), (3, 3)):
            self.upload(np.zeros((h, w, 3), np.uint8))
            for self.edge_aware in (True, False):
                self.draw((0, 0, 1, 1))
        GL.glFinish()
        self.edge_aware = edge_aware
        self.size = None  # the next upload allocates the real texture

    def upload(self, image: np.ndarray) -> None:
        image = np.ascontiguousarray(image, dtype=np.uint8)
        h, w = image.shape[:2]
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.texture)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        if self.size != (w, h):
            GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_RGB8, w, h, 0, GL.GL_RGB, GL.GL_UNSIGNED_BYTE, image)
            self.size = (w, h)
        else:
            GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, w, h, GL.GL_RGB, GL.GL_UNSIGNED_BYTE, image)

    def draw(self, viewport: tuple[int, int, int, int], reprojection: np.ndarray | None = None) -> None:
        """reprojection (3, 3): current-camera image pixels → rendered image pixels (None: identity)."""
        if self.size is None:
            return
        GL.glViewport(*viewport)
        GL.glDisable(GL.GL_DEPTH_TEST)
        key = bool(self.edge_aware)
        GL.glUseProgram(self.programs[key])
        GL.glActiveTexture(GL.GL_TEXTURE0)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.texture)
        GL.glUniform1i(self._uniforms[key]["image"], 0)
        H = np.eye(3, dtype=np.float32) if reprojection is None else np.asarray(reprojection, np.float32)
        GL.glUniformMatrix3fv(self._uniforms[key]["reprojection"], 1, GL.GL_TRUE, H)
        GL.glBindVertexArray(self.vao)
        GL.glDrawArrays(GL.GL_TRIANGLES, 0, 3)
        GL.glBindVertexArray(0)


class MeshOverlay:
    """The deformed head mesh as a hidden-line wireframe over the image (depth pre-pass, then lines)."""

    def __init__(self, faces: np.ndarray):
        self.program = compile_program("mesh.vert", "mesh.frag")
        self.vao = GL.glGenVertexArrays(1)
        self.vbo, self.ebo = GL.glGenBuffers(2)
        self.n_indices = faces.size
        GL.glBindVertexArray(self.vao)
        GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, self.ebo)
        GL.glBufferData(GL.GL_ELEMENT_ARRAY_BUFFER, faces.astype(np.uint32).nbytes,
                        faces.astype(np.uint32), GL.GL_STATIC_DRAW)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self.vbo)
        GL.glEnableVertexAttribArray(0)
        GL.glVertexAttribPointer(0, 3, GL.GL_FLOAT, GL.GL_FALSE, 12, ctypes.c_void_p(0))
        GL.glBindVertexArray(0)

    def draw(self, vertices: np.ndarray, view_projection: np.ndarray, viewport: tuple[int, int, int, int],
             color=(0.35, 0.95, 0.55, 0.55)) -> None:
        """vertices (V, 3) head space; view_projection (4, 4) from pav.camera.opengl_view_projection."""
        vertices = np.ascontiguousarray(vertices, dtype=np.float32)
        GL.glViewport(*viewport)
        GL.glEnable(GL.GL_SCISSOR_TEST)
        GL.glScissor(*viewport)
        GL.glClear(GL.GL_DEPTH_BUFFER_BIT)
        GL.glDisable(GL.GL_SCISSOR_TEST)
        GL.glUseProgram(self.program)
        GL.glUniformMatrix4fv(GL.glGetUniformLocation(self.program, "view_projection"), 1, GL.GL_TRUE,
                              np.asarray(view_projection, np.float32))
        GL.glBindVertexArray(self.vao)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self.vbo)
        GL.glBufferData(GL.GL_ARRAY_BUFFER, vertices.nbytes, vertices, GL.GL_STREAM_DRAW)
        GL.glEnable(GL.GL_DEPTH_TEST)
        GL.glDepthFunc(GL.GL_LEQUAL)
        # pass 1: depth only, pushed back slightly so the lines on the front surface win
        GL.glColorMask(GL.GL_FALSE, GL.GL_FALSE, GL.GL_FALSE, GL.GL_FALSE)
        GL.glEnable(GL.GL_POLYGON_OFFSET_FILL)
        GL.glPolygonOffset(1.0, 1.0)
        GL.glDrawElements(GL.GL_TRIANGLES, self.n_indices, GL.GL_UNSIGNED_INT, None)
        GL.glDisable(GL.GL_POLYGON_OFFSET_FILL)
        GL.glColorMask(GL.GL_TRUE, GL.GL_TRUE, GL.GL_TRUE, GL.GL_TRUE)
        # pass 2: visible edges, blended over the image
        GL.glEnable(GL.GL_BLEND)
        GL.glBlendFunc(GL.GL_SRC_ALPHA, GL.GL_ONE_MINUS_SRC_ALPHA)
        GL.glUniform4f(GL.glGetUniformLocation(self.program, "line_color"), *color)
        GL.glPolygonMode(GL.GL_FRONT_AND_BACK, GL.GL_LINE)
        GL.glDrawElements(GL.GL_TRIANGLES, self.n_indices, GL.GL_UNSIGNED_INT, None)
        GL.glPolygonMode(GL.GL_FRONT_AND_BACK, GL.GL_FILL)
        GL.glDisable(GL.GL_BLEND)
        GL.glDisable(GL.GL_DEPTH_TEST)
        GL.glBindVertexArray(0)
