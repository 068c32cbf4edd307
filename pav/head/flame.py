"""Load an official FLAME `generic_model.pkl` (2020 / 2023) without chumpy, safely.

The official files are Python-2 pickles whose arrays are partly chumpy objects (`chumpy.ch.Ch`, pickled
as a class plus a state dict whose 'x' holds the array) and whose joint regressor is a scipy sparse
matrix. `SafeUnpickler` resolves only an explicit allow-list of globals: numpy's array reconstruction,
numpy dtypes, builtins `set`/`object`, copyreg's reconstructor, and stand-ins for chumpy and scipy-sparse
classes (which only record their state). Anything else is refused, so a malicious .pkl cannot run code.

FLAME layout: v_template (5023, 3), f (9976, 3), shapedirs (5023, 3, 300 shape + 100 expression),
posedirs (5023, 3, 36), J_regressor (5, 5023) sparse, kintree_table (2, 5), weights (5023, 5).
Joints: global, neck, jaw, left eye, right eye. UVs come from FLAME's `head_template.obj` (vt + f v/vt);
regions from `FLAME_masks.pkl` (vertex lists per region) when present.
"""
from __future__ import annotations

import copyreg
import io
import pickle
import warnings
from pathlib import Path

import numpy as np

from .model import HeadModel

N_SHAPE = 300
JOINT_NAMES = ["global", "neck", "jaw", "left_eye", "right_eye"]
# FLAME_masks.pkl region → PAV region (several FLAME regions may feed one PAV region)
MASK_REGIONS = {"face": ["face"], "lips": ["lips"], "eyes": ["left_eyeball", "right_eyeball"],
                "scalp": ["scalp"], "neck": ["neck"], "nose": ["nose"], "forehead": ["forehead"],
                "ears": ["left_ear", "right_ear"], "eye_region": ["eye_region"], "boundary": ["boundary"]}


class _StateRecorder:
    """Stand-in for chumpy and scipy-sparse classes: keeps the pickled state, runs nothing."""

    def __init__(self, *args, **kwargs):
        self.state = {}

    def __setstate__(self, state):
        self.state = state if isinstance(state, dict) else {"_state": state}


class _Chumpy(_StateRecorder):
    pass


class _Sparse(_StateRecorder):
    kind = ""


_SPARSE = {name: type(f"_Sparse_{name}", (_Sparse,), {"kind": name[:3]})
           for name in ("csc_matrix", "csr_matrix", "coo_matrix")}


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),  # how Python-3 protocol-2 pickles store bytes (e.g. numpy's array buffers)
}
_BUILTINS = {("__builtin__", "set"): set, ("builtins", "set"): set, ("__builtin__", "object"): object,
             ("builtins", "object"): object, ("copy_reg", "_reconstructor"): copyreg._reconstructor,
             ("copyreg", "_reconstructor"): copyreg._reconstructor}


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle asked for a global outside the allow-list."""


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the allow-list described in the module docstring."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        if (module, name) in _BUILTINS:
            return _BUILTINS[(module, name)]
        if module == "chumpy" or module.startswith("chumpy."):
            return _Chumpy
        if module.startswith("scipy.sparse") and name in _SPARSE:
            return _SPARSE[name]
        raise RefusedGlobal(f"refusing to load '{module}.{name}' from a pickle (not an array type)")


def safe_load_pickle(path: Path) -> object:
    """Unpickle a FLAME-style file with `SafeUnpickler` (latin1 for Python-2 pickles)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileNotFoundError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return SafeUnpickler(io.BytesIO(data), encoding="latin1").load()
    except RefusedGlobal as exc:
        raise ValueError(f"{path}: {exc}") from None
    except Exception as exc:  # truncated or corrupt
        raise ValueError(f"{path} is not a readable FLAME pickle ({type(exc).__name__}: {exc})") from None


def to_array(value, what: str) -> np.ndarray:
    """An array from a plain array, a chumpy stand-in ('x' in its state) or a sparse stand-in (densified)."""
    if isinstance(value, _Chumpy):
        if "x" not in value.state:
            raise ValueError(f"FLAME field '{what}' is a chumpy expression, not a stored array")
        return to_array(value.state["x"], what)
    if isinstance(value, _Sparse):
        s = value.state
        shape = tuple(int(n) for n in s.get("_shape", s.get("shape", ())))
        dense = np.zeros(shape, dtype=np.float64)
        if value.kind == "coo" and {"row", "col", "data"} <= set(s) and len(shape) == 2:
            np.add.at(dense, (np.asarray(s["row"]), np.asarray(s["col"])), np.asarray(s["data"]))
            return dense
        if not {"data", "indices", "indptr"} <= set(s) or len(shape) != 2:
            raise ValueError(f"FLAME field '{what}' is a sparse matrix in an unknown layout")
        data, indices, indptr = (np.asarray(s[k]) for k in ("data", "indices", "indptr"))
        for k in range(len(indptr) - 1):  # k is a column (csc) or a row (csr)
            span = slice(indptr[k], indptr[k + 1])
            if value.kind == "csc":
                dense[indices[span], k] += data[span]
            else:
                dense[k, indices[span]] += data[span]
        return dense
    if isinstance(value, np.ndarray):
        return value
    raise ValueError(f"FLAME field '{what}' has unexpected type {type(value).__name__}")


def read_obj_uv(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OBJ → (uv (T, 2), faces (F, 3) vertex ids, faces_uv (F, 3) uv ids), 0-based; polygons are fanned."""
    uv, faces, faces_uv = [], [], []
    for line_no, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "vt":
            uv.append([float(parts[1]), float(parts[2])])
        elif parts[0] == "f":
            corners = [p.split("/") for p in parts[1:]]
            if any(len(c) < 2 or not c[1] for c in corners):
                raise ValueError(f"{path}:{line_no}: face without texture coordinates (need 'f v/vt ...')")
            v = [int(c[0]) - 1 for c in corners]
            t = [int(c[1]) - 1 for c in corners]
            for k in range(1, len(v) - 1):
                faces.append([v[0], v[k], v[k + 1]])
                faces_uv.append([t[0], t[k], t[k + 1]])
    if not uv or not faces:
        raise ValueError(f"{path}: no 'vt' or 'f' lines: not a textured OBJ")
    return np.asarray(uv, np.float32), np.asarray(faces, np.int64), np.asarray(faces_uv, np.int64)


def load_flame(path: Path, uv_obj: str | Path | None = None, masks: str | Path | None = None) -> HeadModel:
    """An official FLAME pickle → HeadModel (see module docstring)."""
    path = Path(path)
    raw = safe_load_pickle(path)
    if not isinstance(raw, dict):
        raise ValueError(f"{path} is not a FLAME model (expected a dict, found {type(raw).__name__})")
    missing = [k for k in ("v_template", "f", "shapedirs", "J_regressor", "kintree_table", "weights") if k not in raw]
    if missing:
        raise ValueError(f"{path} is not a FLAME model: missing {', '.join(missing)}")
    v_template = to_array(raw["v_template"], "v_template").astype(np.float64)
    faces = to_array(raw["f"], "f").astype(np.int64)
    dirs = to_array(raw["shapedirs"], "shapedirs")
    if dirs.ndim != 3 or dirs.shape[:2] != v_template.shape or dirs.shape[2] <= N_SHAPE:
        raise ValueError(f"{path}: shapedirs has shape {dirs.shape}, expected ({len(v_template)}, 3, >{N_SHAPE})")
    kintree = to_array(raw["kintree_table"], "kintree_table").astype(np.int64)
    parents = [-1] + [int(p) for p in kintree[0, 1:]]
    n_joints = kintree.shape[1]
    posedirs = to_array(raw["posedirs"], "posedirs") if "posedirs" in raw else None
    joint_names = JOINT_NAMES if n_joints == len(JOINT_NAMES) else [f"joint{k}" for k in range(n_joints)]

    uv_obj = Path(uv_obj) if uv_obj else path.with_name("head_template.obj")
    if uv_obj.exists():
        uv, obj_faces, faces_uv = read_obj_uv(uv_obj)
        if obj_faces.shape != faces.shape or not np.array_equal(obj_faces, faces):
            raise ValueError(f"{uv_obj}: its faces differ from {path.name}'s; give the head_template.obj that "
                             "belongs to this FLAME version")
    else:
        warnings.warn(f"no {uv_obj.name} beside {path.name}: UVs are a placeholder (pass uv_obj=...)", stacklevel=2)
        uv, faces_uv = np.zeros((1, 2), np.float32), np.zeros_like(faces)

    masks_path = Path(masks) if masks else path.with_name("FLAME_masks.pkl")
    regions = {}
    if masks_path.exists():
        vertex_masks = safe_load_pickle(masks_path)
        for region, sources in MASK_REGIONS.items():
            vertices = np.zeros(len(v_template), bool)
            for src in sources:
                if src in vertex_masks:
                    vertices[to_array(vertex_masks[src], src).astype(np.int64)] = True
            if vertices.any():
                regions[region] = vertices[faces].all(axis=1)

    landmark_faces = landmark_bary = None
    embedding = path.with_name("flame_static_embedding.pkl")
    if embedding.exists():
        emb = safe_load_pickle(embedding)
        landmark_faces = to_array(emb["lmk_face_idx"], "lmk_face_idx").astype(np.int64)
        landmark_bary = to_array(emb["lmk_b_coords"], "lmk_b_coords")

    return HeadModel(
        name=f"flame:{path.name}", license="FLAME (licensed by MPI-IS; not redistributable)",
        v_template=v_template, faces=faces, uv=uv, faces_uv=faces_uv,
        shapedirs=dirs[:, :, :N_SHAPE], exprdirs=dirs[:, :, N_SHAPE:],
        expression_names=[f"expr{k:03d}" for k in range(dirs.shape[2] - N_SHAPE)],
        J_regressor=to_array(raw["J_regressor"], "J_regressor"), parents=parents,
        lbs_weights=to_array(raw["weights"], "weights"), joint_names=joint_names, posedirs=posedirs,
        regions=regions, landmark_faces=landmark_faces, landmark_bary=landmark_bary)
