"""The core library imports without any GUI, GL or CUDA-only module (checked in a fresh interpreter)."""
import json
import subprocess
import sys

FORBIDDEN = ["glfw", "OpenGL", "imgui_bundle", "viewer", "tinycudann", "nvdiffrast", "anny", "warp", "smplx",
             "chumpy", "mediapipe", "cv2", "fcpw"]


def test_import_pav_loads_no_gui_or_gl_module():
    code = ("import sys, json, pav, pav.head, pav.camera, pav.cli\n"
            "print(json.dumps(sorted(m for m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(json.loads(out))
    bad = sorted(m for m in loaded if m.split(".")[0] in FORBIDDEN)
    assert bad == [], f"importing pav pulled in {bad}"
    assert "pav.head.model" in loaded  # the check itself sees pav's modules


def test_public_api_is_complete():
    import pav

    missing = [name for name in pav.__all__ if not hasattr(pav, name)]
    assert missing == []
