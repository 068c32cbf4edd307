"""The FLAME loader and the LBS, against an independent float64 NumPy LBS and (when installed) smplx."""
import io
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch
from scipy.spatial.transform import Rotation

from pav.head import load_head_model, rodrigues
from pav.head.flame import N_SHAPE, SafeUnpickler


# ---------------------------------------------------------------------------------------------------------
# references
def numpy_flame(arrays: dict, shape: np.ndarray, expr: np.ndarray, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FLAME forward for ONE set of parameters, float64, written from the paper's equations:
    shape (S,), expr (E,), pose (5, 3) axis-angle. Returns (vertices (V,3), joints (5,3))."""
    dirs = arrays["shapedirs"]
    v = arrays["v_template"] + dirs[:, :, :len(shape)] @ shape + dirs[:, :, N_SHAPE:N_SHAPE + len(expr)] @ expr
    J = arrays["J_regressor"] @ v
    R = Rotation.from_rotvec(pose).as_matrix()
    pose_feature = np.concatenate([(R[k] - np.eye(3)).ravel() for k in range(1, 5)])
    v = v + arrays["posedirs"] @ pose_feature
    parents = [-1, 0, 1, 1, 1]
    G = []
    for k in range(5):
        local = np.eye(4)
        local[:3, :3] = R[k]
        local[:3, 3] = J[k] - (J[parents[k]] if k else 0)
        G.append(local if k == 0 else G[parents[k]] @ local)
    out = np.zeros_like(v)
    for i in range(len(v)):
        T = sum(arrays["weights"][i, k] * (G[k] @ np.block([[np.eye(3), -J[k][:, None]], [np.zeros((1, 3)), 1]]))
                for k in range(5))
        out[i] = T[:3, :3] @ v[i] + T[:3, 3]
    return out, np.stack([g[:3, 3] for g in G])


def write_chumpy_pickle(path, arrays: dict) -> None:
    """Write a FLAME-layout pickle the way chumpy 0.70 lays it out (shapedirs a `chumpy.ch.Ch` whose state
    dict carries the array in 'x'; J_regressor a scipy csc_matrix; protocol 2 with Python-2 names), using a
    stand-in `chumpy` module that is removed again, so loading proves chumpy is not needed."""
    chumpy, ch = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x):
            self.x, self._dirty_vars, self._itr, self._depends_on_deps = x, {"x"}, None, {}

        def __getstate__(self):
            return dict(self.__dict__)

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    ch.Ch, chumpy.ch = Ch, ch
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = chumpy, ch
    try:
        data = dict(arrays, shapedirs=Ch(arrays["shapedirs"]), J_regressor=scipy.sparse.csc_matrix(arrays["J_regressor"]),
                    bs_style="lbs", bs_type="lrotmin")
        path.write_bytes(pickle.dumps(data, protocol=2, fix_imports=True))
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]


def write_template_obj(path, arrays: dict, uv: np.ndarray) -> None:
    """FLAME's head_template.obj layout: v, vt and f v/vt lines; uv (3F, 2), one per face corner."""
    lines = [f"v {x} {y} {z}" for x, y, z in arrays["v_template"]] + [f"vt {u} {v}" for u, v in uv]
    lines += [f"f {a+1}/{3*k+1} {b+1}/{3*k+2} {c+1}/{3*k+3}" for k, (a, b, c) in enumerate(arrays["f"].astype(int))]
    path.write_text("\n".join(lines))


@pytest.fixture
def flame_pkl(tmp_path, flame_arrays):
    path = tmp_path / "generic_model.pkl"
    write_chumpy_pickle(path, flame_arrays)
    write_template_obj(tmp_path / "head_template.obj", flame_arrays, np.full((3 * len(flame_arrays["f"]), 2), 0.5))
    return path


# ---------------------------------------------------------------------------------------------------------
def test_rodrigues_matches_scipy():
    rng = np.random.default_rng(1)
    aa = rng.normal(size=(50, 3)) * np.array([[1.0]] * 48 + [[1e-9], [0.0]])
    got = rodrigues(torch.tensor(aa)).numpy()
    np.testing.assert_allclose(got, Rotation.from_rotvec(aa).as_matrix(), atol=1e-12)


def test_rodrigues_gradient_finite_at_zero():
    aa = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    (rodrigues(aa) * torch.arange(9.0, dtype=torch.float64).reshape(3, 3)).sum().backward()
    # d/dω of R·C at 0 is the skew part: finite and exact
    assert torch.isfinite(aa.grad).all()
    torch.autograd.gradcheck(rodrigues, (torch.randn(4, 3, dtype=torch.float64, requires_grad=True),))


def test_flame_pickle_loads_without_chumpy(flame_pkl, flame_arrays):
    assert "chumpy" not in sys.modules
    model = load_head_model(flame_pkl)
    assert model.joint_names == ["global", "neck", "jaw", "left_eye", "right_eye"]
    assert model.n_shape == 300 and model.n_expression == 100 and model.parents == [-1, 0, 1, 1, 1]
    np.testing.assert_array_equal(model.J_regressor.numpy(), flame_arrays["J_regressor"].astype(np.float32))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_zero_parameters_give_the_template_exactly(flame_pkl, flame_arrays, dtype):
    """Zero shape, expression, pose and translation, given explicitly (B = 2) or left out: the template
    bit for bit, and the joints of the template."""
    model = load_head_model(flame_pkl).to(dtype)
    template = model.v_template
    zeros = dict(shape=torch.zeros(2, model.n_shape, dtype=dtype),
                 expression=torch.zeros(2, model.n_expression, dtype=dtype),
                 pose=torch.zeros(2, model.n_joints, 3, dtype=dtype), translation=torch.zeros(2, 3, dtype=dtype))
    for out in (model(), model(**zeros)):
        for b in range(len(out.vertices)):
            assert torch.equal(out.vertices[b], template)
    joints = flame_arrays["J_regressor"].astype(np.float32).astype(np.float64) @ template.double().numpy()
    np.testing.assert_allclose(model(**zeros).joints[1].double().numpy(), joints, rtol=0,
                               atol=1e-12 if dtype == torch.float64 else 1e-7)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lbs_matches_numpy_reference(flame_pkl, flame_arrays, seed):
    rng = np.random.default_rng(seed)
    shape, expr, pose = rng.normal(size=20), rng.normal(size=10), rng.normal(size=(5, 3)) * 0.4
    model = load_head_model(flame_pkl).double()
    out = model(shape=torch.tensor(shape)[None], expression=torch.tensor(expr)[None], pose=torch.tensor(pose)[None])
    ref_v, ref_j = numpy_flame(flame_arrays, shape, expr, pose)
    # the model stores float32 arrays (as FLAME users do): compare at float32 resolution of ~0.1 m values
    np.testing.assert_allclose(out.vertices[0].numpy(), ref_v, atol=1e-6)
    np.testing.assert_allclose(out.joints[0].numpy(), ref_j, atol=1e-6)


def test_batched_forward_equals_one_by_one(flame_pkl):
    model = load_head_model(flame_pkl)
    g = torch.Generator().manual_seed(0)
    shape, expr, pose = torch.randn(3, 5, generator=g), torch.randn(3, 7, generator=g), torch.randn(3, 5, 3, generator=g)
    trans = torch.randn(3, 3, generator=g)
    batched = model(shape, expr, pose, trans).vertices
    for b in range(3):
        single = model(shape[b:b + 1], expr[b:b + 1], pose[b:b + 1], trans[b:b + 1]).vertices[0]
        torch.testing.assert_close(batched[b], single, atol=1e-6, rtol=0)
        torch.testing.assert_close(single - trans[b], model(shape[b:b + 1], expr[b:b + 1], pose[b:b + 1]).vertices[0])


def test_forward_is_differentiable(flame_pkl):
    model = load_head_model(flame_pkl).double()

    def f(expr, pose):
        return model(expression=expr, pose=pose).vertices

    expr = torch.randn(1, 4, dtype=torch.float64, requires_grad=True)
    pose = (0.3 * torch.randn(1, 5, 3, dtype=torch.float64)).requires_grad_()
    torch.autograd.gradcheck(f, (expr, pose), fast_mode=True)


def test_bad_shapes_are_named(flame_pkl):
    model = load_head_model(flame_pkl)
    with pytest.raises(ValueError, match=r"pose must be \(B=1, J=5, 3\).*got \(1, 4, 3\)"):
        model(pose=torch.zeros(1, 4, 3))
    with pytest.raises(ValueError, match=r"expression must be \(B=2, ≤100\), got \(2, 101\)"):
        model(shape=torch.zeros(2, 3), expression=torch.zeros(2, 101))


def test_uvs_from_head_template_obj(flame_pkl, flame_arrays):
    uv = np.random.default_rng(0).uniform(size=(len(flame_arrays["f"]) * 3, 2))
    write_template_obj(flame_pkl.with_name("head_template.obj"), flame_arrays, uv)
    model = load_head_model(flame_pkl)
    corner_uv = model.uv[model.faces_uv].numpy()  # (F, 3, 2)
    np.testing.assert_allclose(corner_uv.reshape(-1, 2), uv, atol=1e-6)


def test_flame_masks_become_face_regions(tmp_path, flame_pkl, flame_arrays):
    lips = np.array([3, 4, 5, 6])
    (tmp_path / "FLAME_masks.pkl").write_bytes(pickle.dumps({"lips": lips, "face": np.arange(0, 20)}, protocol=2))
    model = load_head_model(tmp_path / "generic_model.pkl")
    f = flame_arrays["f"]
    np.testing.assert_array_equal(model.regions["lips"].numpy(), np.isin(f, lips).all(1))
    assert model.regions["lips"].sum() == 2 and model.regions["face"].sum() == 18


class _Boom:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_malicious_pickle_is_refused(tmp_path, capsys):
    path = tmp_path / "generic_model.pkl"
    path.write_bytes(pickle.dumps({"v_template": _Boom()}, protocol=2))
    with pytest.raises(ValueError, match="refusing to load '(__builtin__|builtins).print'"):
        load_head_model(path)
    assert "must never run" not in capsys.readouterr().out
    with pytest.raises(pickle.UnpicklingError):
        SafeUnpickler(io.BytesIO(pickle.dumps(__import__("os").system))).load()


def test_missing_uv_file_warns_and_mismatched_one_is_refused(tmp_path, flame_pkl, flame_arrays):
    flame_pkl.with_name("head_template.obj").unlink()
    with pytest.warns(UserWarning, match="no head_template.obj beside generic_model.pkl"):
        load_head_model(flame_pkl)
    wrong = dict(flame_arrays, f=flame_arrays["f"][::-1])
    write_template_obj(tmp_path / "other.obj", wrong, np.zeros((3 * len(wrong["f"]), 2)))
    with pytest.raises(ValueError, match="other.obj: its faces differ"):
        load_head_model(flame_pkl, uv_obj=tmp_path / "other.obj")


def test_truncated_or_foreign_files_give_clear_errors(tmp_path, flame_pkl):
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(flame_pkl.read_bytes()[:500])
    with pytest.raises(ValueError, match="cut.pkl is not a readable FLAME pickle"):
        load_head_model(cut)
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(ValueError, match="not a FLAME model"):
        load_head_model(other)
    with pytest.raises(FileNotFoundError, match="head model not found"):
        load_head_model(tmp_path / "nope.pkl")


def test_matches_smplx_flame(tmp_path, flame_pkl, flame_arrays):
    smplx = pytest.importorskip("smplx")
    # smplx reads a plain-array pickle named FLAME_NEUTRAL.pkl (it would need chumpy for the Ch layout)
    plain = dict(flame_arrays, J_regressor=scipy.sparse.csc_matrix(flame_arrays["J_regressor"]))
    (tmp_path / "FLAME_NEUTRAL.pkl").write_bytes(pickle.dumps(plain, protocol=2))
    (tmp_path / "flame_static_embedding.pkl").write_bytes(pickle.dumps(
        {"lmk_face_idx": np.arange(5), "lmk_b_coords": np.full((5, 3), 1 / 3)}, protocol=2))
    ref = smplx.FLAME(str(tmp_path), num_betas=20, num_expression_coeffs=10, use_face_contour=False)
    ours = load_head_model(tmp_path / "generic_model.pkl")
    rng = np.random.default_rng(3)
    for _ in range(3):
        shape, expr = torch.tensor(rng.normal(size=(1, 20)), dtype=torch.float32), torch.tensor(rng.normal(size=(1, 10)), dtype=torch.float32)
        pose = torch.tensor(rng.normal(size=(1, 5, 3)) * 0.4, dtype=torch.float32)
        with torch.no_grad():
            r = ref(betas=shape, expression=expr, global_orient=pose[:, 0], neck_pose=pose[:, 1], jaw_pose=pose[:, 2],
                    leye_pose=pose[:, 3], reye_pose=pose[:, 4], transl=torch.zeros(1, 3))
            o = ours(shape, expr, pose)
        assert (o.vertices - r.vertices).abs().max() <= 1e-5
        # our landmark embedding read from the same file matches smplx's landmarks
        torch.testing.assert_close(o.landmarks, r.joints[:, -5:], atol=1e-5, rtol=0)
