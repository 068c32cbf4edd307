"""HeadModel: a parametric head with FLAME's layout, and `load_head_model(spec)`.

Head space: metres, y up, the face looks toward +z. A model holds
- `v_template` (V, 3), `faces` (F, 3), per-corner UVs `uv` (T, 2) (OBJ convention: v up) + `faces_uv` (F, 3);
- `shapedirs` (V, 3, S) identity basis, `exprdirs` (V, 3, E) expression basis with `expression_names`;
- joints `joint_names` with `parents`, a `J_regressor` (J, V) (joints follow shape and expression),
  skinning `lbs_weights` (V, J) and optional pose correctives `posedirs` (V, 3, 9·(J−1));
- named face regions `regions[name]` (F,) bool — at least face, lips, eyes, scalp, neck when known;
- an optional landmark embedding `landmark_faces` (L,) + `landmark_bary` (L, 3).

On disk (the built-in model, `assets/head/pav_head.npz`) the same names are npz keys, read with
allow_pickle=False; regions are `region_names` (R,) + `region_faces` (R, F).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from .lbs import blend_shapes, skin

ASSETS = Path(__file__).resolve().parents[2] / "assets"
DEFAULT_MODEL = ASSETS / "head" / "pav_head.npz"


class HeadOutput(NamedTuple):
    vertices: torch.Tensor
    """(B, V, 3) posed vertices, head space."""
    joints: torch.Tensor
    """(B, J, 3) posed joints, in `joint_names` order."""
    landmarks: torch.Tensor | None
    """(B, L, 3) landmark positions on the posed surface, or None without a landmark embedding."""


class HeadModel(nn.Module):
    """A FLAME-layout head model. Build with `load_head_model`; arrays as described in the module doc."""

    def __init__(self, *, name: str, v_template, faces, uv, faces_uv, shapedirs, exprdirs, J_regressor,
                 parents, lbs_weights, joint_names, expression_names, posedirs=None, shape_names=None,
                 regions=None, landmark_faces=None, landmark_bary=None, license: str = ""):
        super().__init__()
        f32 = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32), device="cpu")  # noqa: E731
        i64 = lambda a: torch.as_tensor(np.asarray(a, dtype=np.int64), device="cpu")  # noqa: E731
        V = len(v_template)
        J = len(joint_names)
        checks = {"v_template": (np.shape(v_template), (V, 3)),
                  "shapedirs": (np.shape(shapedirs)[:2], (V, 3)),
                  "exprdirs": (np.shape(exprdirs), (V, 3, len(expression_names))),
                  "J_regressor": (np.shape(J_regressor), (J, V)),
                  "lbs_weights": (np.shape(lbs_weights), (V, J)),
                  "parents": (np.shape(parents), (J,)),
                  "faces_uv": (np.shape(faces_uv), np.shape(faces))}
        if posedirs is not None:
            checks["posedirs"] = (np.shape(posedirs), (V, 3, 9 * (J - 1)))
        for key, (got, want) in checks.items():
            if tuple(got) != tuple(want):
                raise ValueError(f"head model '{name}': {key} has shape {tuple(got)}, expected {tuple(want)}")
        parents = [int(p) for p in parents]
        if parents[0] != -1 or any(not 0 <= p < k for k, p in enumerate(parents) if k > 0):
            raise ValueError(f"head model '{name}': parents {parents} must start with -1 and list each "
                             "parent before its child")
        self.name = name
        self.license = license
        self.joint_names = [str(n) for n in joint_names]
        self.expression_names = [str(n) for n in expression_names]
        self.shape_names = [str(n) for n in shape_names] if shape_names is not None else \
            [f"shape{k:03d}" for k in range(np.shape(shapedirs)[2])]
        self.parents = parents
        self.register_buffer("v_template", f32(v_template))
        self.register_buffer("faces", i64(faces))
        self.register_buffer("uv", f32(uv))
        self.register_buffer("faces_uv", i64(faces_uv))
        self.register_buffer("shapedirs", f32(shapedirs))
        self.register_buffer("exprdirs", f32(exprdirs))
        self.register_buffer("J_regressor", f32(J_regressor))
        self.register_buffer("lbs_weights", f32(lbs_weights))
        self.register_buffer("posedirs", f32(posedirs) if posedirs is not None else None)
        self.regions = {str(k): torch.as_tensor(np.asarray(v, dtype=bool), device="cpu")
                        for k, v in (regions or {}).items()}
        for key, mask in self.regions.items():
            if mask.shape != (len(faces),):
                raise ValueError(f"head model '{name}': region '{key}' has shape {tuple(mask.shape)}, "
                                 f"expected ({len(faces)},)")
        self.register_buffer("landmark_faces", i64(landmark_faces) if landmark_faces is not None else None)
        self.register_buffer("landmark_bary", f32(landmark_bary) if landmark_bary is not None else None)

    def _apply(self, fn, recurse=True):
        """`.to(device)` & co. also move the region masks (a plain dict, not buffers)."""
        super()._apply(fn, recurse)
        self.regions = {k: fn(v) for k, v in self.regions.items()}
        return self

    @property
    def device(self) -> torch.device:
        return self.v_template.device

    # ---- sizes -------------------------------------------------------------------------------------------
    @property
    def n_vertices(self) -> int:
        return self.v_template.shape[0]

    @property
    def n_shape(self) -> int:
        return self.shapedirs.shape[2]

    @property
    def n_expression(self) -> int:
        return self.exprdirs.shape[2]

    @property
    def n_joints(self) -> int:
        return len(self.joint_names)

    def checksum(self) -> str:
        """sha256 of the arrays that define the geometry (identifies the model inside checkpoints)."""
        h = hashlib.sha256()
        for t in (self.v_template, self.faces, self.uv, self.faces_uv, self.shapedirs, self.exprdirs,
                  self.J_regressor, self.lbs_weights, self.posedirs):
            if t is not None:
                h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()

    # ---- forward -------------------------------------------------------------------------------------------
    def forward(self, shape=None, expression=None, pose=None, translation=None) -> HeadOutput:
        """Posed head.

        shape (B, S') with S' ≤ n_shape (missing coefficients are zero); expression (B, E') with
        E' ≤ n_expression; pose (B, J, 3) axis-angle per joint in `joint_names` order; translation (B, 3).
        Any may be None (zeros); B comes from the first one given (1 if none). Zero everything → template.
        """
        given = [t for t in (shape, expression, pose, translation) if t is not None]
        B = given[0].shape[0] if given else 1
        dtype, device = self.v_template.dtype, self.v_template.device
        if given:
            dtype = given[0].dtype if given[0].is_floating_point() else dtype
        v_shaped = self.v_template.to(dtype).expand(B, -1, -1)
        if shape is not None:
            v_shaped = v_shaped + blend_shapes(self._coefficients(shape, B, self.n_shape, "shape"),
                                               self.shapedirs[..., :shape.shape[1]].to(dtype))
        if expression is not None:
            v_shaped = v_shaped + blend_shapes(self._coefficients(expression, B, self.n_expression, "expression"),
                                               self.exprdirs[..., :expression.shape[1]].to(dtype))
        if pose is None:
            pose = torch.zeros(B, self.n_joints, 3, dtype=dtype, device=device)
        elif tuple(pose.shape) != (B, self.n_joints, 3):
            raise ValueError(f"pose must be (B={B}, J={self.n_joints}, 3) axis-angle in order "
                             f"{self.joint_names}, got {tuple(pose.shape)}")
        posedirs = self.posedirs.to(dtype) if self.posedirs is not None else None
        out = skin(v_shaped, self.J_regressor.to(dtype), self.parents, self.lbs_weights.to(dtype), pose.to(dtype),
                   posedirs)
        vertices, joints = out.vertices, out.joints
        if translation is not None:
            if tuple(translation.shape) != (B, 3):
                raise ValueError(f"translation must be (B={B}, 3), got {tuple(translation.shape)}")
            vertices = vertices + translation[:, None].to(dtype)
            joints = joints + translation[:, None].to(dtype)
        return HeadOutput(vertices, joints, self.landmarks(vertices))

    def landmarks(self, vertices: torch.Tensor) -> torch.Tensor | None:
        """(B, V, 3) → (B, L, 3) landmark points via the embedding, or None without one."""
        if self.landmark_faces is None:
            return None
        corners = vertices[:, self.faces[self.landmark_faces]]  # (B, L, 3, 3)
        return (corners * self.landmark_bary.to(vertices.dtype)[None, :, :, None]).sum(2)

    @staticmethod
    def _coefficients(x: torch.Tensor, B: int, limit: int, what: str) -> torch.Tensor:
        if x.ndim != 2 or x.shape[0] != B or x.shape[1] > limit:
            raise ValueError(f"{what} must be (B={B}, ≤{limit}), got {tuple(x.shape)}")
        return x

    # ---- persistence ---------------------------------------------------------------------------------------
    def to_npz_dict(self) -> dict[str, np.ndarray]:
        """Arrays in the on-disk npz layout (see module docstring)."""
        d = {k: getattr(self, k).cpu().numpy() for k in ("v_template", "uv", "shapedirs", "exprdirs",
                                                           "J_regressor", "lbs_weights")}
        d |= {"faces": self.faces.numpy().astype(np.int32), "faces_uv": self.faces_uv.numpy().astype(np.int32),
              "parents": np.asarray(self.parents, np.int32), "joint_names": np.asarray(self.joint_names),
              "expression_names": np.asarray(self.expression_names), "shape_names": np.asarray(self.shape_names),
              "name": np.asarray(self.name), "license": np.asarray(self.license)}
        if self.posedirs is not None:
            d["posedirs"] = self.posedirs.numpy()
        if self.regions:
            d["region_names"] = np.asarray(list(self.regions))
            d["region_faces"] = np.stack([m.numpy() for m in self.regions.values()])
        if self.landmark_faces is not None:
            d["landmark_faces"] = self.landmark_faces.numpy().astype(np.int32)
            d["landmark_bary"] = self.landmark_bary.numpy()
        return d

    @classmethod
    def from_npz(cls, path: str | Path) -> "HeadModel":
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                d = {k: z[k] for k in z.files}
        except FileNotFoundError:
            raise FileNotFoundError(f"head model file not found: {path}") from None
        except ValueError as exc:
            if "pickle" not in str(exc):
                raise ValueError(f"head model file {path} is not a readable npz ({exc})") from None
            raise ValueError(f"head model file {path} holds pickled objects, which PAV never loads: it is not a "
                             "PAV head model") from None
        except Exception as exc:
            raise ValueError(f"head model file {path} is not a readable npz ({exc})") from None
        missing = [k for k in ("v_template", "faces", "uv", "faces_uv", "shapedirs", "exprdirs", "J_regressor",
                               "parents", "lbs_weights", "joint_names", "expression_names") if k not in d]
        if missing:
            raise ValueError(f"head model file {path} lacks {', '.join(missing)}: rebuild it with "
                             "`python -m pav.head.build_anny`")
        regions = dict(zip(d.pop("region_names", []), d.pop("region_faces", [])))
        name = str(d.pop("name", path.stem))
        license_ = str(d.pop("license", ""))
        return cls(name=name, license=license_, regions=regions, **d)


def load_head_model(spec: str | Path = "default", *, uv_obj: str | Path | None = None,
                    masks: str | Path | None = None, device: str | torch.device = "cpu") -> HeadModel:
    """Load a head model onto `device` (a torch.device or a `--device` value such as 'auto', 'cuda:1').

    spec: "default" (the built-in model in assets/head/pav_head.npz), a path to an official FLAME
    `generic_model.pkl` (2020/2023; UVs from `head_template.obj` beside it or `uv_obj`, regions from
    `FLAME_masks.pkl` beside it or `masks`), or a path to a PAV head-model `.npz`.
    """
    from ..backends import resolve_device

    return _load_head_model(spec, uv_obj, masks).to(resolve_device(device))


def _load_head_model(spec, uv_obj, masks) -> HeadModel:
    if str(spec) == "default":
        if not DEFAULT_MODEL.exists():
            raise FileNotFoundError(f"built-in head model missing: {DEFAULT_MODEL}; rebuild it with "
                                    f"`python -m pav.head.build_anny {DEFAULT_MODEL}`")
        return HeadModel.from_npz(DEFAULT_MODEL)
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(f"head model not found: {path} (use 'default' or a FLAME generic_model.pkl)")
    if path.suffix == ".npz":
        return HeadModel.from_npz(path)
    from .flame import load_flame  # only when a FLAME file is asked for

    return load_flame(path, uv_obj=uv_obj, masks=masks)
