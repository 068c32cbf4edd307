"""The built-in head model (assets/head/pav_head.npz) and its build from anny (pav.head.build_anny).

Fast tests read the committed npz (numpy only). The slow test rebuilds it from anny into a temporary
directory and compares the model's linear blend with anny's own forward pass.
"""
from pathlib import Path

import numpy as np
import pytest
import torch

ASSET = Path(__file__).resolve().parents[1] / "assets" / "head" / "pav_head.npz"
REQUIRED_REGIONS = ("face", "lips", "eyes", "scalp", "neck")


@pytest.fixture(scope="module")
def head():
    with np.load(ASSET, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def regions(h):
    return dict(zip(h["region_names"].tolist(), h["region_faces"]))


def region_vertices(h, name):
    return np.unique(h["faces"][regions(h)[name]])


def rotate_jaw(h, angle):
    """FLAME LBS with only the jaw rotated (about +x): v + w_jaw (R − I)(v − J_jaw)."""
    v = h["v_template"].astype(np.float64)
    j = h["J_regressor"].astype(np.float64) @ v
    c, s = np.cos(angle), np.sin(angle)
    R = np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    return v + h["lbs_weights"][:, 2:3] * ((v - j[2]) @ (R - np.eye(3)).T)


def test_layout_and_dtypes(head):
    V, F = len(head["v_template"]), len(head["faces"])
    S, E = len(head["shape_names"]), len(head["expression_names"])
    assert ASSET.stat().st_size <= 15e6
    assert V >= 3000 and S >= 20 and E >= 50
    assert head["v_template"].shape == (V, 3) and head["faces"].shape == (F, 3)
    assert head["faces_uv"].shape == (F, 3) and head["uv"].shape[1] == 2
    assert head["shapedirs"].shape == (V, 3, S) and head["exprdirs"].shape == (V, 3, E)
    assert head["J_regressor"].shape == (5, V) and head["lbs_weights"].shape == (V, 5)
    for key in ("v_template", "uv", "shapedirs", "exprdirs", "J_regressor", "lbs_weights"):
        assert head[key].dtype == np.float32, key
    for key in ("faces", "faces_uv", "parents"):
        assert head[key].dtype == np.int32, key
    for key in ("shape_names", "expression_names", "joint_names", "region_names", "name", "license"):
        assert head[key].dtype.kind == "U", key
    assert head["name"].ndim == 0 and head["license"].ndim == 0 and "CC0" in str(head["license"])
    assert head["joint_names"].tolist() == ["global", "neck", "jaw", "left_eye", "right_eye"]
    assert head["parents"].tolist() == [-1, 0, 1, 1, 1]
    assert len(set(head["shape_names"].tolist())) == S and len(set(head["expression_names"].tolist())) == E
    for name in ("jawOpen", "eyeBlinkLeft", "eyeBlinkRight", "mouthSmileLeft", "browInnerUp", "tongueOut"):
        assert name in head["expression_names"].tolist()
    assert all(np.isfinite(head[k]).all() for k in ("v_template", "shapedirs", "exprdirs"))


def test_indices_weights_and_uvs(head):
    V, F = len(head["v_template"]), len(head["faces"])
    assert head["faces"].min() >= 0 and head["faces"].max() < V
    assert len(np.unique(head["faces"])) == V  # every vertex is used
    assert head["faces_uv"].min() >= 0 and head["faces_uv"].max() < len(head["uv"])
    assert head["uv"].min() >= 0.0 and head["uv"].max() <= 1.0
    for key in ("lbs_weights", "J_regressor"):
        w = head[key].astype(np.float64)
        assert w.min() >= 0.0, key
    np.testing.assert_allclose(head["lbs_weights"].sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(head["J_regressor"].sum(1), 1.0, atol=1e-5)
    assert head["region_faces"].shape == (len(head["region_names"]), F) and head["region_faces"].dtype == bool


def test_regions(head):
    r = regions(head)
    F = len(head["faces"])
    for name in REQUIRED_REGIONS:
        assert name in r and r[name].any(), name
    assert 0 < r["face"].sum() < F
    for other in ("eyes", "scalp", "neck", "ears", "mouth_interior"):
        if other in r:
            assert not (r["face"] & r[other]).any(), other
    assert not (r["lips"] & ~r["face"]).any()  # lips are face skin
    v = head["v_template"]
    assert v[region_vertices(head, "scalp"), 1].mean() > v[region_vertices(head, "face"), 1].mean() - 0.02
    assert v[region_vertices(head, "neck"), 1].mean() < v[region_vertices(head, "lips"), 1].mean()


def test_head_space_geometry(head):
    v = head["v_template"].astype(np.float64)
    f = head["faces"]
    joints = head["J_regressor"].astype(np.float64) @ v
    eyes = region_vertices(head, "eyes")
    left, right = eyes[v[eyes, 0] > 0], eyes[v[eyes, 0] < 0]
    np.testing.assert_allclose(joints[3], v[left].mean(0), atol=1e-5)  # left eye joint: left eyeball centroid
    np.testing.assert_allclose(joints[4], v[right].mean(0), atol=1e-5)
    assert joints[3, 0] > 0.02 and joints[4, 0] < -0.02  # the subject's left is +x
    tip = int(np.argmax(v[:, 2]))  # nose tip: the most forward point, on the midline, in front of the eyes
    assert abs(v[tip, 0]) < 0.005 and v[tip, 2] > joints[3, 2] + 0.02 and v[tip, 1] < joints[3, 1]
    around = f[(f == tip).any(1)]
    normals = np.cross(v[around[:, 1]] - v[around[:, 0]], v[around[:, 2]] - v[around[:, 0]])
    assert normals.sum(0)[2] > 0  # outward (counter-clockwise seen from outside)
    chin = v[region_vertices(head, "face"), 1].min()
    assert 0.2 <= v[:, 1].max() - chin <= 0.3  # chin to crown, metres
    skin = np.unique(f[regions(head)["scalp"] | regions(head)["face"]])
    centre = 0.5 * (v[skin].min(0) + v[skin].max(0))
    assert np.abs(centre).max() < 0.05  # the origin is inside the head, near its centre
    assert joints[1, 1] < joints[2, 1] < joints[3, 1] and joints[0, 1] < joints[1, 1]  # neck, jaw, eyes


def test_positive_jaw_rotation_opens_the_mouth(head):
    v = head["v_template"].astype(np.float64)
    moved = rotate_jaw(head, 0.2) - v
    lips = region_vertices(head, "lips")
    upper, lower = lips[v[lips, 1] > np.median(v[lips, 1])], lips[v[lips, 1] <= np.median(v[lips, 1])]
    tip = int(np.argmax(v[:, 2]))
    assert moved[lower, 1].mean() < -0.004  # lower lip and chin go down
    assert np.linalg.norm(moved[tip]) < 1e-4 and np.abs(moved[upper, 1]).mean() < 0.002
    scalp = region_vertices(head, "scalp")
    assert np.abs(moved[scalp]).max() < 1e-3
    assert np.abs(moved[scalp[v[scalp, 1] > joints_y(head)[3]]]).max() < 1e-6  # above the eyes: still


def joints_y(h):
    return (h["J_regressor"].astype(np.float64) @ h["v_template"].astype(np.float64))[:, 1]


# ---- slow: rebuild from anny and compare with anny's own forward ------------------------------------------
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    pytest.importorskip("anny")
    from pav.head import build_anny

    return build_anny, build_anny.build(tmp_path_factory.mktemp("head") / "pav_head.npz", verbose=False)


# (anny setting, PAV shape coefficients, PAV expression coefficients)
CASES = {
    "zero": ({}, {}, {}),
    "jawOpen": ({"expression": {"jawOpen": 1.0}}, {}, {"jawOpen": 1.0}),
    "smile+brow": ({"expression": {"mouthSmileLeft": 1.0, "browInnerUp": 0.6}}, {},
                   {"mouthSmileLeft": 1.0, "browInnerUp": 0.6}),
    "local changes": ({"local": {"nose-scale-horiz-incr": 0.8, "chin-width-incr": -0.6, "l-ear-trans-up": 0.5},
                       "expression": {"eyeBlinkLeft": 1.0}},
                      {"nose-scale-horiz-incr": 0.8, "chin-width-decr": 0.6, "l-ear-trans-up": 0.5},
                      {"eyeBlinkLeft": 1.0}),
    "gender": ({"phenotype": {"gender": 0.0}}, {"gender-male": 1.0}, {}),
    "age": ({"phenotype": {"age": 2 / 3 + 0.5 / 3}}, {"age-old": 0.5}, {}),
    "race": ({"phenotype": {"african": 0.4 / 3, "asian": 0.4 / 3 + 0.6, "caucasian": 0.4 / 3}},
             {"race-asian": 0.6}, {}),
    "mixed": ({"phenotype": {"muscle": 0.85}, "local": {"neck-scale-vert-incr": 0.5, "head-fat-incr": -0.4},
               "expression": {"jawOpen": 0.3, "mouthFunnel": 0.5}},
              {"muscle-max": 0.7, "neck-scale-vert-incr": 0.5, "head-fat-decr": 0.4},
              {"jawOpen": 0.3, "mouthFunnel": 0.5}),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_matches_anny(built, case):
    build_anny, result = built
    h = result.arrays
    setting, shape, expression = CASES[case]
    beta = np.zeros(len(h["shape_names"]))
    psi = np.zeros(len(h["expression_names"]))
    for name, value in shape.items():
        beta[h["shape_names"].tolist().index(name)] = value
    for name, value in expression.items():
        psi[h["expression_names"].tolist().index(name)] = value
    ours = (h["v_template"].astype(np.float64) + h["shapedirs"].astype(np.float64) @ beta
            + h["exprdirs"].astype(np.float64) @ psi)

    # anny's own forward (rest vertices), in head space: the build's rotation and base origin, minus the
    # translation the model removes from re-centred columns (their ear midpoint's displacement)
    def anny(phenotype, local, expr):
        with torch.no_grad():
            out = result.model(phenotype_kwargs={**build_anny.BASE_PHENOTYPE, **phenotype},
                               local_changes_kwargs=local, facial_actions=expr)
        return (out["rest_vertices"][0].numpy()[result.vertex_ids] - result.origin) @ build_anny.ANNY_TO_HEAD.T

    phenotype, local = setting.get("phenotype", {}), setting.get("local", {})
    recentred = {k: x for k, x in local.items() if k.startswith(build_anny.RECENTRED_PREFIXES)}
    shift = build_anny.ear_midpoint(anny(phenotype, recentred, {}) - anny({}, {}, {}), *result.ears)
    theirs = anny(phenotype, local, setting.get("expression", {})) - shift
    error = np.abs(ours - theirs).max()
    print(f"{case}: max vertex error {error * 1000:.5f} mm")
    assert error <= 0.5e-3
    if case == "zero":
        assert error <= 1e-6


@pytest.mark.slow
def test_build_is_reproducible(built, head):
    """The committed npz is what the build script makes (regenerate it after changing either), plus the
    landmark embedding that `python -m pav.track.build_embedding` adds (tests/test_track_landmarks.py)."""
    _, result = built
    assert sorted(result.arrays) == sorted(k for k in head if not k.startswith("landmark_"))
    for key, value in result.arrays.items():
        if value.dtype.kind == "f":
            np.testing.assert_allclose(value, head[key], atol=1e-6, err_msg=key)
        else:
            assert np.array_equal(value, head[key]), key
