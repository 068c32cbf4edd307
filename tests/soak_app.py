"""Soak test of the real app, as a person would use it: `python main.py --train DATA` driven with xdotool for
SECONDS with a seeded random mix of orbit, pan, wheel, slider drags, appearance and blend changes,
keyframe add/delete/play, window resizes, an export started and cancelled, and training paused/resumed.

Usage (needs DISPLAY and xdotool; screenshots are read with one XGetImage, tests/x11_grab.py, not with
ImageMagick's `import`, which grabs the X server and so stalls the app it photographs):
    python tests/soak_app.py DATA OUT_DIR [--seconds 130] [--seed 0]
Writes OUT_DIR/soak.json (alive at the end, exit code, frame timer, RSS before/after, head check, actions
done, the stacks of all threads in frames over 200 ms), OUT_DIR/app.log, screenshots under OUT_DIR/shots/ and
the app's own under OUT_DIR/pav/.
Widget positions come from the app's stats file (the panel records where it drew a few named widgets;
the app writes the file on SIGUSR1).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from x11_grab import save_root_png  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIZE = (1100, 720)


def xdo(*args) -> str:
    return subprocess.run(["xdotool", *map(str, args)], capture_output=True, text=True, timeout=20).stdout.strip()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Soak:
    def __init__(self, data: Path, out: Path, seed: int):
        self.out, self.rng = out, random.Random(seed)
        self.stats = out / "stats.json"
        self.stalls = out / "stalls.txt"
        env = dict(os.environ, PAV_FRAME_STATS=str(self.stats), PAV_STALL_TRACE=str(self.stalls),
                   PAV_OUTPUT_DIR=str(out / "pav"), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.log = open(out / "app.log", "w")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--train", str(data), "--checkpoint",
                                      str(out / "tiny.pav"), "--size", *map(str, SIZE)], cwd=out, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.window = None
        self.size = SIZE
        self.done: dict[str, int] = {}

    def wait_window(self, timeout=240.0) -> None:
        end = time.time() + timeout
        while time.time() < end and self.proc.poll() is None:
            ids = xdo("search", "--name", "PAV").split()
            if ids:
                self.window = ids[-1]
                return
            time.sleep(0.5)
        raise RuntimeError("the app window did not appear (see app.log)")

    def app_state(self) -> dict:
        self.stats.unlink(missing_ok=True)
        self.proc.send_signal(signal.SIGUSR1)
        end = time.time() + 5
        while time.time() < end:
            try:
                return json.loads(self.stats.read_text())
            except (OSError, ValueError):
                time.sleep(0.05)
        return {}

    def geometry(self) -> tuple[int, int]:
        out = xdo("getwindowgeometry", "--shell", self.window)
        g = dict(line.split("=") for line in out.splitlines() if "=" in line)
        return int(g.get("WIDTH", SIZE[0])), int(g.get("HEIGHT", SIZE[1]))

    # ---- actions -----------------------------------------------------------------------------------
    def view_point(self) -> tuple[int, int]:
        w, h = self.geometry()
        return self.rng.randint(420, max(430, w - 30)), self.rng.randint(30, max(40, h - 130))

    def drag(self, button: int, start, steps: int = 6, spread: int = 40) -> None:
        xdo("mousemove", "--window", self.window, *start)
        xdo("mousedown", button)
        x, y = start
        for _ in range(steps):
            x, y = x + self.rng.randint(-spread, spread), y + self.rng.randint(-spread, spread)
            xdo("mousemove", "--window", self.window, x, y)
            time.sleep(0.03)
        xdo("mouseup", button)

    def click_widget(self, name: str, dx: float = 0.5) -> bool:
        rect = self.app_state().get("widgets", {}).get(name)
        if not rect or rect[3] > self.geometry()[1]:
            return False
        x, y = rect[0] + dx * (rect[2] - rect[0]), (rect[1] + rect[3]) / 2
        xdo("mousemove", "--window", self.window, int(x), int(y))
        xdo("click", 1)
        return True

    def slider(self, name: str) -> bool:
        rect = self.app_state().get("widgets", {}).get(name)
        if not rect:
            return False
        y = int((rect[1] + rect[3]) / 2)
        self.drag(1, (int(rect[0] + self.rng.uniform(0.1, 0.9) * (rect[2] - rect[0])), y), steps=4, spread=0)
        xdo("mousemove", "--window", self.window, int(rect[0] + self.rng.uniform(0, 1) * (rect[2] - rect[0])), y)
        return True

    def act(self) -> str:
        r = self.rng
        kind = r.choices(["orbit", "pan", "wheel", "slider", "appearance", "key", "resize"],
                         [4, 2, 2, 2, 2, 3, 1])[0]
        if kind == "orbit":
            self.drag(1, self.view_point())
        elif kind == "pan":
            self.drag(r.choice([2, 3]), self.view_point(), spread=20)
        elif kind == "wheel":
            xdo("mousemove", "--window", self.window, *self.view_point())
            xdo("click", "--repeat", r.randint(1, 3), r.choice([4, 5]))
        elif kind == "slider":
            self.slider(r.choice(["blend", "fov"]))
        elif kind == "appearance":
            if self.click_widget(r.choice(["appearance", "blend_with"])):
                time.sleep(0.3)
                xdo("key", "--window", self.window, r.choice(["Down", "Up"]), "Return")
        elif kind == "key":
            xdo("mousemove", "--window", self.window, *self.view_point())
            xdo("key", "--window", self.window, r.choice(["k", "k", "k", "Delete", "space", "Left", "Right", "F1"]))
        else:
            w, h = r.randint(800, 1250), r.randint(560, 950)
            xdo("windowsize", self.window, w, h)
        self.done[kind] = self.done.get(kind, 0) + 1
        return kind


def head_in_view(png: Path) -> dict:
    """Numbers that say a head is drawn: in the view area (right of the panel), the share of pixels that
    differ from the background colour, and their spread."""
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from pav.io import read_png

    image = read_png(png)[..., :3].astype(float)
    view = image[20:-120, 420:-20]
    background = np.median(np.concatenate([view[:5].reshape(-1, 3), view[-5:].reshape(-1, 3)]), 0)
    differs = np.abs(view - background).sum(-1) > 40
    return {"foreground_fraction": float(differs.mean()), "std": float(view.std())}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("data", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--seconds", type=float, default=130.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "shots").mkdir(exist_ok=True)
    soak = Soak(args.data, args.out, args.seed)
    result = {"seconds": args.seconds, "seed": args.seed}
    try:
        soak.wait_window()
        time.sleep(10)  # start-up: first renders and training steps
        result["rss_launch_mb"] = rss_mb(soak.proc.pid)
        # warm-up (one of each kind, so one-time allocations happen: optimiser state, the export's avatar
        # copy, the encoder), then the measured run; RSS growth is measured over the measured run. The app keeps
        # freed memory for reuse (pav.allocator), so its resident size rises to the peak of what runs AT ONCE:
        # the warm-up's export runs most of it beside training and the view, as in the run (a warm-up that
        # cancelled it after 13 s left the plateau to the run: +285 MB with 600 MB free inside malloc)
        rss, memory = [], []
        result["load_average_start"] = os.getloadavg()
        for phase, seconds in (("warmup", 40.0), ("run", args.seconds)):
            if phase == "run":
                result["rss_start_mb"] = rss_mb(soak.proc.pid)
            start, next_special, n = time.time(), 0.0, 0
            specials = (["export", "training", "cancel_export", "training", "play"] if phase == "run" else
                        ["export", "play", "training", "training", "cancel_export"])
            while time.time() - start < seconds and soak.proc.poll() is None:
                elapsed = time.time() - start
                if specials and elapsed > next_special:
                    name = specials.pop(0)
                    if name == "play":
                        xdo("key", "--window", soak.window, "k", "Right", "k", "space")
                        soak.done["play"] = soak.done.get("play", 0) + 1
                    else:
                        soak.done[name] = soak.done.get(name, 0) + bool(soak.click_widget(name))
                    next_special = elapsed + seconds / 6
                else:
                    soak.act()
                n += 1
                time.sleep(soak.rng.uniform(0.05, 0.4))
                if n % 20 == 0:
                    rss.append(round(rss_mb(soak.proc.pid), 1))
                    memory.append(soak.app_state().get("memory"))
                if phase == "run" and n % 60 == 0:
                    save_root_png(args.out / "shots" / f"shot{n:04d}.png")  # no server grab (x11_grab.py)
        result["actions"], result["alive_at_end"] = soak.done, soak.proc.poll() is None
        result["rss_end_mb"] = rss_mb(soak.proc.pid) if result["alive_at_end"] else None
        result["rss_samples_mb"] = rss
        result["memory_samples"] = memory  # the app's own: RSS and glibc malloc in use / free
        result["load_average_end"] = os.getloadavg()
        xdo("windowsize", soak.window, *SIZE)
        state = soak.app_state()
        if state.get("training"):
            soak.click_widget("training")  # paused: the final render gets the whole machine
        xdo("mousemove", "--window", soak.window, 600, 300)
        xdo("key", "--window", soak.window, "Escape")  # close an open combo or popup (keys would go to it)
        xdo("click", 1)  # in the view: leaves any widget
        if state.get("playing"):
            xdo("key", "--window", soak.window, "space")
        if state.get("help"):
            xdo("key", "--window", soak.window, "F1")  # the help overlay would hide the head
        time.sleep(1)
        xdo("key", "--window", soak.window, "r")  # reset the camera: the head in front
        end, result["settled"] = time.time() + 90, False
        while time.time() < end:
            st = soak.app_state()
            if st.get("playing"):  # playback moves the camera: stop it, then reset the camera
                xdo("key", "--window", soak.window, "space", "r")
            elif st.get("final") and st.get("shown") and st["shown"][0] == st.get("version"):
                result["settled"] = True  # the final picture of the last state is on screen
                break
            time.sleep(2)
        time.sleep(1)
        last = args.out / "shots" / "last.png"
        save_root_png(last)
        result["head"] = head_in_view(last)
        result["final_state"] = soak.app_state()
    finally:
        if soak.proc.poll() is None:
            soak.proc.send_signal(signal.SIGTERM)  # the close path: stop training, save, join, exit
            try:
                result["exit_code"] = soak.proc.wait(120)
            except subprocess.TimeoutExpired:
                soak.proc.kill()
                result["exit_code"] = "hung"
        else:
            result["exit_code"] = soak.proc.returncode
        soak.log.close()
    try:
        result["frame_stats"] = json.loads(soak.stats.read_text())
    except (OSError, ValueError):
        result["frame_stats"] = None
    stalls = soak.stalls.read_text() if soak.stalls.exists() else ""
    result["stalls"] = stalls.split("Timeout (")[1:]  # every thread's stack every 200 ms through a longer frame
    (args.out / "soak.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "final_state"}, indent=1))
    stats = result["frame_stats"] or {}
    print(f"UI frames: worst {stats.get('worst_after_startup_ms')} ms, mean {stats.get('mean_ms')} ms, "
          f"{stats.get('drag_fps')} frames/s while dragging ({stats.get('drag_frames')} frames); memory growth "
          f"{(result.get('rss_end_mb') or 0) - result.get('rss_start_mb', 0):.0f} MB; load average "
          f"{result.get('load_average_start')} → {result.get('load_average_end')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
