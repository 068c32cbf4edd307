"""The X root window's pixels without grabbing the server (for the soak test's screenshots).

ImageMagick's `import` wraps its read in XGrabServer/XUngrabServer and converts the image while the
server is grabbed: every other client's X request waits, so the app under test stalls in its buffer swap
for as long as `import` takes, a stall of the harness, not of the app. One XGetImage request, as here,
is served in one go and holds nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np


class XImage(ctypes.Structure):
    _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int), ("xoffset", ctypes.c_int),
                ("format", ctypes.c_int), ("data", ctypes.POINTER(ctypes.c_ubyte)), ("byte_order", ctypes.c_int),
                ("bitmap_unit", ctypes.c_int), ("bitmap_bit_order", ctypes.c_int), ("bitmap_pad", ctypes.c_int),
                ("depth", ctypes.c_int), ("bytes_per_line", ctypes.c_int), ("bits_per_pixel", ctypes.c_int),
                ("red_mask", ctypes.c_ulong), ("green_mask", ctypes.c_ulong), ("blue_mask", ctypes.c_ulong)]


ZPIXMAP = 2
ALL_PLANES = ctypes.c_ulong(-1 & 0xFFFFFFFFFFFFFFFF)


def _xlib():
    lib = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11") or "libX11.so.6")
    lib.XOpenDisplay.restype, lib.XOpenDisplay.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    lib.XDefaultRootWindow.restype, lib.XDefaultRootWindow.argtypes = ctypes.c_ulong, [ctypes.c_void_p]
    u = ctypes.POINTER(ctypes.c_uint)
    lib.XGetGeometry.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_ulong),
                                 ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int), u, u, u, u]
    lib.XGetImage.restype = ctypes.POINTER(XImage)
    lib.XGetImage.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_uint,
                              ctypes.c_uint, ctypes.c_ulong, ctypes.c_int]
    lib.XDestroyImage.argtypes = [ctypes.POINTER(XImage)]
    lib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    return lib


def root_image(display: str | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB of the whole screen of `display` (default $DISPLAY): a 24/32-bit TrueColor visual."""
    lib = _xlib()
    dpy = lib.XOpenDisplay(display.encode() if display else None)
    if not dpy:
        raise RuntimeError(f"cannot open X display {display or '$DISPLAY'}")
    try:
        root = lib.XDefaultRootWindow(dpy)
        r, x, y = ctypes.c_ulong(), ctypes.c_int(), ctypes.c_int()
        w, h, border, depth = (ctypes.c_uint() for _ in range(4))
        lib.XGetGeometry(dpy, root, ctypes.byref(r), ctypes.byref(x), ctypes.byref(y), ctypes.byref(w),
                         ctypes.byref(h), ctypes.byref(border), ctypes.byref(depth))
        image = lib.XGetImage(dpy, root, 0, 0, w.value, h.value, ALL_PLANES, ZPIXMAP)
        if not image:
            raise RuntimeError("XGetImage returned nothing")
        try:
            im = image.contents
            if im.bits_per_pixel != 32:
                raise RuntimeError(f"expected a 32-bit visual, got {im.bits_per_pixel} bits per pixel")
            raw = np.ctypeslib.as_array(im.data, shape=(im.height, im.bytes_per_line)).copy()
            pixels = raw[:, :4 * im.width].reshape(im.height, im.width, 4).view("<u4")[..., 0]
            channels = []
            for mask in (im.red_mask, im.green_mask, im.blue_mask):
                shift = (mask & -mask).bit_length() - 1
                channels.append(((pixels & mask) >> shift).astype(np.uint8))
            return np.stack(channels, -1)
        finally:
            lib.XDestroyImage(image)
    finally:
        lib.XCloseDisplay(dpy)


def save_root_png(path, display: str | None = None) -> None:
    from PIL import Image

    Image.fromarray(root_image(display)).save(path)
