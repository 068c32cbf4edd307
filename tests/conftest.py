"""Shared fixtures: a tiny FLAME-layout rig (random but well-formed), made here because no FLAME data
may exist on these machines."""
import numpy as np
import pytest
import torch

from pav.allocator import tune_allocator

torch.set_num_threads(2)
tune_allocator()  # as the CLI and the app do


def make_flame_arrays(seed: int = 0, n_vertices: int = 40, n_shape: int = 300, n_expr: int = 100) -> dict:
    """FLAME-layout arrays: v_template (V,3), f (F,3), shapedirs (V,3,n_shape+n_expr), posedirs (V,3,36),
    J_regressor (5,V) dense, kintree_table (2,5), weights (V,5)."""
    rng = np.random.default_rng(seed)
    V = n_vertices
    v = rng.normal(size=(V, 3)) * 0.08
    f = np.stack([np.arange(V - 2), np.arange(1, V - 1), np.arange(2, V)], 1)
    J_regressor = np.zeros((5, V))
    for j in range(5):
        ids = rng.choice(V, 6, replace=False)
        J_regressor[j, ids] = rng.dirichlet(np.ones(6))
    weights = rng.dirichlet(np.ones(5) * 0.5, size=V)
    return dict(v_template=v, f=f.astype(np.uint32),
                shapedirs=rng.normal(size=(V, 3, n_shape + n_expr)) * 1e-3,
                posedirs=rng.normal(size=(V, 3, 36)) * 1e-3,
                J_regressor=J_regressor,
                kintree_table=np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64),
                weights=weights)


@pytest.fixture
def flame_arrays():
    return make_flame_arrays()


def make_toy_head(n_lon: int = 24, n_lat: int = 12):
    """A small closed head-like HeadModel (FLAME layout): ellipsoid with a nose, 2 named expressions,
    joints global/neck/jaw/left_eye/right_eye, spherical UVs, a 'face' region on the front."""
    from pav.geometry import head_like_mesh
    from pav.head import HeadModel

    v, f = head_like_mesh(n_lon, n_lat, radius=0.1)
    v, f = v.float().numpy(), f.numpy()
    V = len(v)
    jaw_w = np.clip(-v[:, 1] / 0.1, 0, 1) * (v[:, 2] > 0)
    exprdirs = np.zeros((V, 3, 2), np.float32)
    exprdirs[:, 1, 0] = -0.02 * jaw_w          # jawOpen: the lower front moves down 2 cm
    exprdirs[:, 0, 1] = 0.01 * np.sign(v[:, 0]) * (v[:, 2] > 0)  # mouthWide
    shapedirs = np.stack([v * 0.1, v * np.array([0.1, 0, 0])], -1).astype(np.float32)  # scale, width
    J_regressor = np.zeros((5, V), np.float32)
    J_regressor[:, :] = 1.0 / V  # every joint at the centroid, except the eyes (front vertices)
    front = np.argsort(-v[:, 2])[:6]
    for j in (3, 4):
        J_regressor[j] = 0
        J_regressor[j, front] = 1 / 6
    weights = np.zeros((V, 5), np.float32)
    weights[:, 0] = 1 - jaw_w
    weights[:, 2] = jaw_w
    theta = np.arccos(np.clip(v[:, 1] / np.linalg.norm(v, axis=1), -1, 1))
    phi = np.arctan2(v[:, 0], v[:, 2])
    uv = np.stack([(phi + np.pi) / (2 * np.pi), 1 - theta / np.pi], 1).astype(np.float32)
    centroids = v[f].mean(1)
    return HeadModel(name="toy-head", v_template=v, faces=f, uv=uv, faces_uv=f, shapedirs=shapedirs,
                     exprdirs=exprdirs, J_regressor=J_regressor, parents=[-1, 0, 1, 1, 1], lbs_weights=weights,
                     joint_names=["global", "neck", "jaw", "left_eye", "right_eye"],
                     expression_names=["jawOpen", "mouthWide"], shape_names=["scale", "width"],
                     regions={"face": centroids[:, 2] > 0.03, "scalp": centroids[:, 1] > 0.05})


@pytest.fixture
def toy_head():
    return make_toy_head()


@pytest.fixture(scope="session")
def tiny_collection(tmp_path_factory):
    """A synthetic collection small enough for training tests: 2 appearances, 10 frames each, 32² images."""
    from pav.data.synth.config import SynthConfig
    from pav.data.synth.generate import generate

    out = tmp_path_factory.mktemp("data") / "tiny"
    generate(SynthConfig(appearances=2, frames=10, size=32, supersample=1, texture_size=128, seed=3), out)
    return out


@pytest.fixture(scope="module")
def display():
    """An X display for the window tests: $DISPLAY, else a fresh Xvfb (skipped when there is none)."""
    import os
    import shutil
    import subprocess
    import time
    from pathlib import Path

    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    if shutil.which("Xvfb") is None:
        pytest.skip("no DISPLAY and no Xvfb (apt-get install xvfb)")
    number = next(n for n in range(57, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    proc = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1024x768x24"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(50):
        if Path(f"/tmp/.X11-unix/X{number}").exists():
            break
        time.sleep(0.1)
    yield f":{number}"
    proc.terminate()
    proc.wait(5)
