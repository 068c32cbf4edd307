"""tests/x11_grab.py (the soak test's screenshots without a server grab) reads the exact pixels: a known
colour pattern set as the root window's background of a private Xvfb comes back bit for bit."""
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest


def test_root_image_reads_back_a_known_background_exactly(tmp_path):
    if shutil.which("Xvfb") is None or shutil.which("display") is None:
        pytest.skip("needs Xvfb and ImageMagick's display (apt-get install xvfb imagemagick)")
    from PIL import Image

    from x11_grab import root_image

    h, w = 48, 64
    y, x = np.mgrid[0:h, 0:w]
    pattern = np.stack([(x * 4) % 256, (y * 5) % 256, ((x + y) * 3) % 256], -1).astype(np.uint8)  # R ≠ G ≠ B
    Image.fromarray(pattern).save(tmp_path / "pattern.png")
    number = next(n for n in range(120, 300) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "200x150x24"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # a private display: the root background is changed
    try:
        for _ in range(50):
            if Path(f"/tmp/.X11-unix/X{number}").exists():
                break
            time.sleep(0.1)
        env = dict(os.environ, DISPLAY=f":{number}")
        subprocess.run(["display", "-window", "root", str(tmp_path / "pattern.png")], env=env, capture_output=True,
                       timeout=60)  # tiles the pattern over the root window
        got = root_image(f":{number}")
    finally:
        server.terminate()
        server.wait(5)
    assert got.shape == (150, 200, 3) and got.dtype == np.uint8
    assert np.array_equal(got[:h, :w], pattern)
    assert np.array_equal(got[h:2 * h, w:2 * w], pattern)  # the next tile
