"""The viewer's GUI-free parts: orbit maths, state, render scheduling (no window needed)."""
import time

import numpy as np
import pytest
import torch

from viewer.orbit import OrbitCamera
from viewer.scheduler import RenderScheduler
from viewer.state import ViewerSettings, ViewerState


def test_orbit_target_projects_to_principal_point_at_any_angle():
    cam = OrbitCamera(target=np.array([0.01, 0.02, -0.03]), radius=0.6)
    for yaw, pitch in [(0, 0), (40, 10), (-120, -60), (179, 85)]:
        cam.yaw_deg, cam.pitch_deg = yaw, pitch
        c = cam.camera(200, 100)
        u, v, z = c.project(torch.tensor(cam.target, dtype=torch.float32)).tolist()
        assert (u, v) == pytest.approx((100.0, 50.0), abs=1e-3)
        assert z == pytest.approx(0.6, abs=1e-5)


def test_orbit_front_view_sees_the_face_and_right_is_plus_x():
    c = OrbitCamera(radius=0.5).camera(100, 100)
    # the camera is at +z looking toward −z; the subject's left (+x) appears on the image's right
    assert c.center.tolist() == pytest.approx([0, 0, 0.5], abs=1e-6)
    u_left_ear = c.project(torch.tensor([0.08, 0.0, 0.0])).tolist()[0]
    assert u_left_ear > 50
    u_up = c.project(torch.tensor([0.0, 0.1, 0.0])).tolist()[1]
    assert u_up < 50  # y up in the world is up in the image (smaller row)


def test_orbit_rotate_keeps_radius_and_clamps_pitch():
    cam = OrbitCamera(radius=0.7)
    cam.rotate(100, 1000)
    assert cam.pitch_deg == 85.0
    assert float(np.linalg.norm(cam.camera(10, 10).center.numpy() - cam.target)) == pytest.approx(0.7, abs=1e-5)
    assert cam.yaw_deg == pytest.approx(-30.0)


def test_orbit_pan_moves_the_scene_with_the_mouse():
    cam = OrbitCamera(radius=0.6, yaw_deg=25, pitch_deg=10)
    point = torch.tensor(cam.target, dtype=torch.float32)
    before = cam.camera(300, 200).project(point)
    cam.pan(12, -7, 200)
    after = cam.camera(300, 200).project(point)
    assert (after - before)[:2].tolist() == pytest.approx([12, -7], abs=1e-2)


def test_orbit_zoom():
    cam = OrbitCamera(radius=1.0)
    cam.zoom(2)
    assert cam.radius == pytest.approx(0.81)
    cam.zoom(-1000)
    assert cam.radius == 5.0


def test_state_weights_and_versions():
    s = ViewerState(["a", "b"], ["global", "jaw"], ["beard", "short", "long"])
    assert s.appearance_weights().tolist() == [1, 0, 0]
    s.appearance, s.blend_with, s.blend = 1, 2, 0.25
    assert s.appearance_weights().tolist() == [0, 0.75, 0.25]
    v = s.version
    s.expression[1] = 0.5
    s.reset_pose()
    assert s.version == v + 1 and s.expression.tolist() == [0, 0]
    r = s.request(64, 48)
    r.expression[0] = 9  # a snapshot, not a view
    assert s.expression[0] == 0 and (r.camera.width, r.camera.height) == (64, 48)


class FakeRenderer:
    """Records (height, version) of each render; sleeps `delay` seconds in 10 chunks, polling cancel."""

    def __init__(self, delay=0.0):
        self.calls, self.cancelled, self.delay = [], 0, delay

    def __call__(self, request, cancelled):
        for _ in range(10):
            time.sleep(self.delay / 10)
            if cancelled():
                self.cancelled += 1
                return None
        self.calls.append((max(request.camera.width, request.camera.height), float(request.expression[0])))
        return np.full((request.camera.height, request.camera.width, 3), int(request.expression[0]), np.uint8)


def wait_idle(sched, timeout=5.0):
    end = time.time() + timeout
    while sched.busy() and time.time() < end:
        time.sleep(0.005)
    assert not sched.busy()


def test_scheduler_refines_progressively_when_idle_and_previews_while_dragging():
    fake = FakeRenderer()
    settings = ViewerSettings(preview_size=32, refine_sizes=(64,), final_size=128)
    sched = RenderScheduler(fake, settings)
    s = ViewerState(["e"], ["global"], ["x"])
    sched.submit(s.version, s.request, 1.5, interacting=True)
    wait_idle(sched)
    assert fake.calls == [(32, 0.0)]
    sched.submit(s.version, s.request, 1.5, interacting=False)  # released: refine, preview not redone
    wait_idle(sched)
    assert fake.calls == [(32, 0.0), (64, 0.0), (128, 0.0)]
    frame = sched.latest()
    assert frame.image.shape == (85, 128, 3) and frame.version == s.version  # 128 is the longest side
    sched.submit(s.version, s.request, 1.5, interacting=False)  # nothing changed: nothing rendered
    wait_idle(sched)
    assert len(fake.calls) == 3
    sched.close()


def test_scheduler_cancels_stale_work_and_never_shows_it():
    fake = FakeRenderer(delay=0.3)
    sched = RenderScheduler(fake, ViewerSettings(preview_size=16, refine_sizes=(), final_size=16))
    s = ViewerState(["e"], ["global"], ["x"])
    s.expression[0] = 1
    s.touch()
    sched.submit(s.version, s.request, 1.0, interacting=False)
    time.sleep(0.05)
    s.expression[0] = 2
    s.touch()
    sched.submit(s.version, s.request, 1.0, interacting=False)
    wait_idle(sched)
    assert fake.cancelled == 1 and fake.calls == [(16, 2.0)]
    assert sched.latest().version == s.version and sched.latest().image[0, 0, 0] == 2
    sched.close()


def test_scheduler_survives_a_failing_renderer():
    def broken(request, cancelled):
        raise RuntimeError("boom")

    sched = RenderScheduler(broken, ViewerSettings(preview_size=8, refine_sizes=(), final_size=8))
    s = ViewerState(["e"], ["global"], ["x"])
    sched.submit(s.version, s.request, 1.0, interacting=False)
    wait_idle(sched)
    assert "RuntimeError: boom" in sched.error and sched.latest() is None
    sched.close()


def test_recorder_keeps_real_time_and_player_replays_it():
    from viewer.timeline import Player, Recorder

    s = ViewerState(["jawOpen"], ["global"], ["a", "b"])
    rec = Recorder(fps=10)
    rec.start(now=0.0)
    for now, jaw in ((0.0, 0.0), (0.05, 0.1), (0.12, 0.2), (0.26, 0.5)):  # the UI stalls 0.12 → 0.26 s
        s.expression[0] = jaw
        rec.tick(s, now)
    rec.stop()
    rec.tick(s, 1.0)  # nothing after stop
    # slots at t = 0, 0.1, 0.2 s: the stall repeats the state it ends with, so the clip keeps real time
    assert [float(k.expression[0]) for k in rec.frames] == pytest.approx([0.0, 0.2, 0.5])
    assert rec.frames[0].appearance.tolist() == [1.0, 0.0]

    player = Player(rec.frames, fps=10, loop=False)
    target = ViewerState(["jawOpen"], ["global"], ["a", "b"])
    player.play(now=5.0)
    player.tick(target, 5.15)
    assert player.index == 1 and target.expression[0] == pytest.approx(0.2)
    v = target.version
    player.tick(target, 5.19)  # same frame: no new version, no re-render
    assert target.version == v
    player.tick(target, 5.5)  # past the end without looping: stops
    assert not player.playing and player.index == 1
    player.seek(7, target)  # clamped to the last frame
    assert player.index == 2 and target.expression[0] == pytest.approx(0.5)


def test_export_job_reports_progress_and_errors(tmp_path):
    from viewer.timeline import ExportJob, Keyframe

    frames = [Keyframe(np.zeros(1), np.zeros((1, 3)))] * 4
    seen = []

    def export(keyframes, path, fps, size, orbit, progress):
        for k in range(len(keyframes)):
            progress(k + 1, len(keyframes))
            seen.append((fps, size, orbit))
        return len(keyframes)

    job = ExportJob(export, frames, tmp_path / "x.mp4", 25.0, 64, 90.0)
    job.wait(5)
    assert job.done and job.error is None and job.written == 4 and job.progress == 1.0
    assert seen == [(25.0, 64, 90.0)] * 4

    def broken(*args):
        raise OSError("disk full")

    job = ExportJob(broken, frames, tmp_path / "y.mp4", 25.0, 64)
    job.wait(5)
    assert job.done and "disk full" in job.error


def test_training_session_steps_in_background_and_saves_under_the_lock():
    import threading

    from viewer.training import TrainingSession

    class FakeTrainer:
        step_count = 0
        prepared_unlocked = 0

        def prepare(self):
            self.prepared_unlocked += not lock.locked()  # the interval refresh must not block rendering

        def step(self):
            assert lock.locked()  # an optimiser step never overlaps a render
            self.step_count += 1
            return type("S", (), {"step": self.step_count, "loss": 1.0 / self.step_count, "psnr": 20.0})()

    lock = threading.Lock()
    saved = []
    session = TrainingSession(FakeTrainer(), lambda: saved.append(lock.locked()), lock, max_steps=25)
    touched = []
    session.on_step = lambda: touched.append(1)
    session.start()
    end = time.time() + 5
    while session.trainer.step_count < 25 and time.time() < end:
        time.sleep(0.01)
    time.sleep(0.05)
    assert not session.running and session.trainer.step_count == 25 and session.error is None
    assert session.trainer.prepared_unlocked == 25
    assert [h[0] for h in session.history] == list(range(1, 26)) and len(touched) == 2  # steps 10 and 20
    assert session.save() == 25 and saved == [True]


def test_scheduler_finishes_interactive_previews_so_dragging_cannot_starve_the_view():
    fake = FakeRenderer(delay=0.2)
    sched = RenderScheduler(fake, ViewerSettings(preview_size=16, refine_sizes=(), final_size=32))
    s = ViewerState(["e"], ["global"], ["x"])
    for value in (1, 2, 3):  # a drag: a new state every 50 ms, each faster than a render
        s.expression[0] = value
        s.touch()
        sched.submit(s.version, s.request, 1.0, interacting=True)
        time.sleep(0.05)
    wait_idle(sched)
    assert fake.cancelled == 0 and fake.calls[0] == (16, 1.0) and fake.calls[-1] == (16, 3.0)
    assert sched.latest().version == s.version
    sched.close()


def test_scene_provenance_names_the_appearance_shown():
    """A screenshot records the avatar file and the shown appearance's name ('' for a blend or a bad index)."""
    import numpy as np

    from pav.provenance import Provenance
    from viewer.scenes import Scene

    scene = Scene("t", [], [], ["beard", "short hair"], np.zeros((0, 3)), None, None, np.zeros(3), 1.0,
                  checkpoint_sha256="ab12")
    assert scene.provenance(1) == Provenance("ab12", "short hair")
    assert scene.provenance(0) == Provenance("ab12", "beard")
    assert scene.provenance(2) == Provenance("ab12", "") and scene.provenance(-1) == Provenance("ab12", "")
    assert scene.provenance(np.array([0.5, 0.5])) == Provenance("ab12", "")


def test_training_scene_shows_the_view_range_its_checkpoint_will_record(tiny_collection, tmp_path):
    """`main.py --train`: the panel's "trained view range" is known from the start (it said "unknown (older
    checkpoint)"), and it is the range the saved checkpoint records."""
    import main
    from pav.checkpoint import read_metadata

    out = tmp_path / "tiny.pav"
    scene, session = main.training_scene(tiny_collection, out, "cpu")
    assert scene.view_range is not None
    session.save()
    recorded = read_metadata(out)["info"]["view_range"]
    assert scene.view_range == recorded
    (ylo, yhi), (plo, phi) = recorded["yaw_deg"], recorded["pitch_deg"]
    assert -90 < ylo < yhi < 90 and -90 < plo <= phi < 90
