"""Build PAV's built-in head model (`assets/head/pav_head.npz`) from the `anny` body model.

    python -m pav.head.build_anny OUT.npz        # ~10 s on 2 CPU cores, after anny's one-off ~1 min cache

Source. anny 0.6 (NAVER LABS Europe; code Apache-2.0) is a MakeHuman-based body model whose assets
(`data/mpfb2`: base mesh, UVs, rig, skinning weights, shape targets, texture masks, from MPFB2) and 52
facial actions (`data/faceunits01`, the Face Units asset pack) are CC0 1.0. Only anny's own MakeHuman
topology (`topology="anny"`) is used — never its downloadable "smplx" topology (non-commercial). The
output is a pure function of anny's data and is distributable (see assets/head/LICENSE.md).

Derivation choices
- Base identity: anny's default phenotype (all 0.5) except age = 2/3, anny's "young" anchor: an adult
  (0.5 is a teenager between "child" and "young"). All arrays come from anny's *rest* vertices
  (blendshapes applied, no skinning), where shape and expression are exactly linear.
- Region kept: the faces anny's own head sub-model keeps (UV segmentation labels head — which includes
  the neck down to its base —, eye cavities, eyeballs front and back, mouth cavity, tongue); anny's
  triangles (its quads split consistently), outward winding; vertices re-indexed in anny's order.
- Head space (PAV/FLAME): metres, y up, face toward +z. anny is z up with the face toward −y, so
  p_head = R (p_anny − o), R = [[1,0,0],[0,0,1],[0,−1,0]] (a rotation, det +1), o = the midpoint of the
  two ears' centroids on the template: the origin sits between the ears. The subject's left (anny ".L")
  is +x.
- UVs: anny's per-corner coordinates (OBJ convention, v up), restricted to the kept corners. The head
  keeps its place in anny's full-body atlas.
- `exprdirs` (V,3,52): anny's ARKit-named facial actions (jawOpen, eyeBlinkLeft, mouthSmileLeft, …,
  tongueOut), exactly linear: column = rest(action = 1) − rest(0). Range [0, 1] per action.
- `shapedirs` (V,3,S): ONE-SIDED columns, every coefficient in [0, 1], 0 = the base identity,
  1 = anny's parameter at that end of its range. A column alone, any sum of local-change columns and
  any expression reproduce anny exactly; only products of two phenotypes (bilinear in anny) are
  approximated by the sum of their columns.
  * local changes whose name starts with SHAPE_PREFIXES (head, forehead, eyebrows, eyes, nose, mouth,
    cheeks, chin, ears, neck): anny applies the "-incr"-like target for a positive value p and the
    "-decr"-like one for a negative p (piecewise linear), so each gives two columns named after the two
    targets (nose-scale-horiz-incr = max(p, 0), nose-scale-horiz-decr = max(−p, 0)).
  * phenotypes, one column per direction (PHENOTYPE_COLUMNS): age-old (age 2/3 → 1), age-child
    (2/3 → 1/3), gender-male (0.5 → 0), gender-female (0.5 → 1), muscle/weight/height max and min,
    proportions uncommon/ideal, race-african/-asian/-caucasian (race weights from 1/3 each to that one).
  * columns that move the whole head in anny's body frame — the phenotypes (height: 0.5 m) and the
    head-trans-*, neck-*, measure-neck-* local changes — are re-centred: their ear midpoint's
    displacement is subtracted, so in head space they reshape the head (and move the neck below it)
    while the point between the ears stays at the origin. The other columns are anny's displacements
    as they are. Exactness above is up to that per-identity translation.
- Skinning, FLAME's joints and parents (global, neck, jaw, left_eye, right_eye; [-1, 0, 1, 1, 1]).
  `lbs_weights` come from the full MakeHuman rig's skinning weights shipped with anny
  (`data/mpfb2/rigs/standard/weights.default.json`, NAVER's symmetrized weights, CC0; anny's default
  rig prunes the face bones), summed per bone subtree: eyeball vertices → their eye, rigidly (weight 1;
  lids stay on the head); the jaw bone and its children (lips, chin, throat, tongue) → jaw; the head
  bone and its other children → neck; neck03 → ⅔ neck + ⅓ global; neck02 → ⅓ neck + ⅔ global; neck01
  and the spine → global. The skull follows the neck joint, as in FLAME (its children, jaw and eyes,
  must move with it). An equal split of a head turn over anny's neck02, neck03 and head bones turns the
  skull about neck03's head (their mean pivot): the neck joint sits there.
- Jaw pivot: anny's default rig has no jaw bone, and jawOpen is a blendshape. A rotation θ about +x
  through a midline pivot p is fitted by least squares to jawOpen's displacement of the lower jaw
  (jaw weight ≥ 0.8: chin, lower lip, tongue, floor of the mouth): d ≈ θ e_x × (v − p). The pivot
  lands just in front of and below the ears (the temporomandibular region), jawOpen = 1 ≈ 0.38 rad,
  and a POSITIVE rotation about +x opens the mouth (chin down and back), as in FLAME.
- `J_regressor` (5,V), rows convex (≥ 0, sum 1), so joints follow shape and expression: eyes = mean of
  the eyeball's vertices; global = mean of the neck cut's boundary loop (base of the neck); neck and
  jaw = the 32 skin vertices closest to the pivot in (y, z) — where its left-right axis leaves the skin
  (sides of the neck; cheeks in front of the ears) —, neck ones among skin no expression moves, weighted
  as close to uniform as reproduces the pivot exactly on the template (NNLS).
- Regions (per face). eyes = eyeballs; mouth_interior = mouth cavity + tongue; lips, ears and the
  face's extent from MPFB2's CC0 texture masks (mpfb_lips/ears/face.jpg at each face's UV centroid,
  ≥ 0.5). face = skin under the face mask, 1 cm or more in front of the ears, above the menton (chin
  bottom) and below an anthropometric hairline (glabella + half the glabella–menton height, receding at
  the temples), minus ears: the depth-loss region. The other skin: scalp above the ear lobes, neck
  below. beard = lower-face skin the jaw moves plus the upper lip, and the under-chin part of the neck.
  eyebrows = a band 1.4–2.7 cm above each eye centre.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NAME = "pav-head-anny-v1"
LICENSE = ("Derived from anny (NAVER LABS Europe, code Apache-2.0) and its CC0 1.0 MakeHuman/MPFB2 and "
           "Face Units assets; distributed under CC0 1.0 (see assets/head/LICENSE.md)")
JOINT_NAMES = ["global", "neck", "jaw", "left_eye", "right_eye"]
PARENTS = [-1, 0, 1, 1, 1]
BASE_PHENOTYPE = {"age": 2.0 / 3.0}  # the others stay at anny's default 0.5
HEAD_SEGMENTS = ["head", "eye_cavity.L", "eye_cavity.R", "mouth_cavity", "eye_front.L", "eye_back.L",
                 "eye_front.R", "eye_back.R", "tongue"]
SHAPE_PREFIXES = ("head-", "forehead-", "eyebrows-", "nose-", "mouth-", "chin-", "neck-", "measure-neck-",
                  "l-cheek-", "r-cheek-", "l-ear-", "r-ear-", "l-eye-", "r-eye-")
RECENTRED_PREFIXES = ("head-trans-", "neck-", "measure-neck-")  # local changes that move the whole head
PHENOTYPE_COLUMNS = {  # column → anny phenotypes at coefficient 1 (over BASE_PHENOTYPE); linear in between
    "age-old": {"age": 1.0}, "age-child": {"age": 1.0 / 3.0},
    "gender-male": {"gender": 0.0}, "gender-female": {"gender": 1.0},
    "muscle-max": {"muscle": 1.0}, "muscle-min": {"muscle": 0.0},
    "weight-max": {"weight": 1.0}, "weight-min": {"weight": 0.0},
    "height-max": {"height": 1.0}, "height-min": {"height": 0.0},
    "proportions-uncommon": {"proportions": 1.0}, "proportions-ideal": {"proportions": 0.0},
    "race-african": {"african": 1.0, "asian": 0.0, "caucasian": 0.0},
    "race-asian": {"african": 0.0, "asian": 1.0, "caucasian": 0.0},
    "race-caucasian": {"african": 0.0, "asian": 0.0, "caucasian": 1.0},
}
ANNY_TO_HEAD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
MASK_THRESHOLD = 0.5


@dataclass
class BuildResult:
    """What `build` wrote, plus what a comparison against anny needs."""
    arrays: dict             # the npz content
    vertex_ids: np.ndarray   # (V,) anny vertex index of each head vertex
    origin: np.ndarray       # (3,) o, anny coordinates: p_head = ANNY_TO_HEAD @ (p_anny − o) at the base
    jaw_per_jaw_open: float  # jaw rotation (rad, about +x) fitted to jawOpen = 1
    ears: tuple              # (left, right) head-vertex ids of the ears (re-centring anchor)
    model: object            # the anny model used (float64)


def load_anny():
    """anny's body (MakeHuman topology), all phenotypes, local changes and facial actions, float64."""
    import anny

    return anny.Anny(topology="anny", phenotypes="all", local_changes="default", facial_actions="all").double()


def anny_rest(model, settings: list[dict], chunk: int = 64) -> np.ndarray:
    """anny's rest vertices (B, N, 3), anny frame, for settings
    [{"phenotype": {...}, "local": {...}, "expression": {...}}, ...]; what a setting leaves out is at the
    base: BASE_PHENOTYPE or 0.5 for phenotypes, 0 for local changes and expressions."""
    import torch

    def table(key, labels, default):
        return torch.tensor([[s.get(key, {}).get(k, default.get(k, 0.0)) for k in labels] for s in part],
                            dtype=torch.float64)

    out = []
    for start in range(0, len(settings), chunk):
        part = settings[start:start + chunk]
        phenotypes = table("phenotype", model.phenotype_labels, {k: BASE_PHENOTYPE.get(k, 0.5)
                                                                 for k in model.phenotype_labels})
        with torch.no_grad():
            res = model(phenotype_kwargs=phenotypes, facial_actions=table("expression", model.facial_action_labels, {}),
                        local_changes_kwargs=table("local", model.local_change_labels, {}))
        out.append(res["rest_vertices"].numpy())
    return np.concatenate(out)


def is_recentred(shape_name: str) -> bool:
    """Whether a shape column moves the whole head and is therefore re-centred between the ears."""
    return shape_name in PHENOTYPE_COLUMNS or shape_name.startswith(RECENTRED_PREFIXES)


def ear_midpoint(points: np.ndarray, left_ear: np.ndarray, right_ear: np.ndarray) -> np.ndarray:
    """(V, 3, ...) → (3, ...): midpoint of the two ears' vertex centroids."""
    return 0.5 * (points[left_ear].mean(0) + points[right_ear].mean(0))


def _texture_mask(model, name: str) -> np.ndarray:
    """MPFB2 texture mask `mpfb_{name}.jpg` (0..1) sampled at each anny face's UV centroid."""
    from anny.paths import get_anny_root_dir
    from PIL import Image

    path = get_anny_root_dir() / f"data/mpfb2/textures/mpfb_{name}.jpg"
    image = np.asarray(Image.open(path).convert("L"), np.float64) / 255.0
    uv = model.texture_coordinates.numpy()[model.face_texture_coordinate_indices.numpy()].mean(1)
    h, w = image.shape
    return image[np.clip(((1.0 - uv[:, 1]) * h).astype(int), 0, h - 1), np.clip((uv[:, 0] * w).astype(int), 0, w - 1)]


def _rig_weights(model) -> dict[str, np.ndarray]:
    """Per anny vertex, the full MakeHuman rig's skinning weights summed over bone groups (rows sum to 1)."""
    from anny.paths import get_anny_root_dir

    rig_dir = get_anny_root_dir() / "data/mpfb2/rigs/standard"
    bones = json.loads((rig_dir / "rig.default.json").read_text())
    bones = bones.get("bones", bones)
    weights = json.loads((rig_dir / "weights.default.json").read_text())["weights"]
    parent = {b: bones[b].get("parent", "") for b in bones}

    def group(bone):
        chain, b = [], bone
        while b:
            chain.append(b)
            b = parent[b]
        if bone in ("eye.L", "eye.R", "neck01", "neck02", "neck03"):
            return bone
        return "jaw" if "jaw" in chain else "head" if "head" in chain else "body"

    groups = ["body", "neck01", "neck02", "neck03", "head", "jaw", "eye.L", "eye.R"]
    n_base = 1 + max(int(i) for pairs in weights.values() for i, _ in pairs)
    dense = np.zeros((n_base, len(groups)))
    for bone, pairs in weights.items():
        if pairs:
            idx, val = np.asarray(pairs).T
            np.add.at(dense[:, groups.index(group(bone))], idx.astype(int), val)
    dense = dense[model.base_mesh_vertex_indices.numpy()]
    dense /= dense.sum(1, keepdims=True)
    return {g: dense[:, i] for i, g in enumerate(groups)}


def _convex_regressor(points: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Weights w ≥ 0, Σw = 1, Σ w_i p_i = target, otherwise as close to uniform as possible (NNLS with
    the constraints weighted 10⁶)."""
    from scipy.optimize import nnls

    A = np.vstack([points.T, np.ones(len(points))])
    uniform = np.full(len(points), 1.0 / len(points))
    w = nnls(np.vstack([1e6 * A, np.eye(len(points))]), np.concatenate([1e6 * np.append(target, 1.0), uniform]))[0]
    w /= w.sum()
    if np.abs(points.T @ w - target).max() > 1e-6:
        raise RuntimeError(f"pivot {target} is outside the convex hull of its candidate vertices")
    return w


def _lowest_boundary_loop(faces: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vertex ids of the open boundary loop with the lowest mean height (the neck cut)."""
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    unique, count = np.unique(edges, axis=0, return_counts=True)
    root = {int(i): int(i) for i in unique[count == 1].ravel()}  # union-find over boundary edges

    def find(i):
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    for a, b in unique[count == 1]:
        root[find(int(a))] = find(int(b))
    loops: dict[int, list[int]] = {}
    for i in root:
        loops.setdefault(find(i), []).append(i)
    return np.array(min(loops.values(), key=lambda ids: v[ids, 1].mean()))


def _fit_hinge(v: np.ndarray, d: np.ndarray) -> tuple[float, np.ndarray]:
    """Least-squares θ and midline pivot p with d ≈ θ e_x × (v − p), where e_x × r = (0, −r_z, r_y)."""
    n = len(v)
    A = np.zeros((2 * n, 3))
    A[0::2] = np.c_[-v[:, 2], np.ones(n), np.zeros(n)]  # d_y = −θ v_z + (θ p_z)
    A[1::2] = np.c_[v[:, 1], np.zeros(n), -np.ones(n)]  # d_z =  θ v_y − (θ p_y)
    theta, tpz, tpy = np.linalg.lstsq(A, np.stack([d[:, 1], d[:, 2]], 1).ravel(), rcond=None)[0]
    return float(theta), np.array([0.0, tpy / theta, tpz / theta])


def build(out_path: str | Path, model=None, verbose: bool = True) -> BuildResult:
    """Derive the head model from anny (`model` from `load_anny`, built if None) and write it to
    `out_path` (compressed npz)."""
    import torch
    from anny.face_segmentation import get_face_segmentation_mask

    log = print if verbose else (lambda *a, **k: None)
    model = model if model is not None else load_anny()
    anny_faces = model.faces.numpy()

    # ---- kept region and per-face labels ---------------------------------------------------------------
    seg = {s: get_face_segmentation_mask(model, [s]).numpy() for s in HEAD_SEGMENTS}
    keep = np.logical_or.reduce(list(seg.values()))
    vertex_ids = np.unique(anny_faces[keep])
    remap = np.full(len(model.template_vertices), -1)
    remap[vertex_ids] = np.arange(len(vertex_ids))
    faces = remap[anny_faces[keep]]
    seg = {s: mask[keep] for s, mask in seg.items()}
    tex = {k: _texture_mask(model, k)[keep] for k in ("face", "lips", "ears")}
    rig = {k: w[vertex_ids] for k, w in _rig_weights(model).items()}

    # ---- linear bases: differences of anny rest states ----------------------------------------------------
    targets = [label.split(":", 1)[1] for label in model.blendshape_labels if label.startswith("local_change:")]
    settings, shape_names = [{}], []
    for i, label in enumerate(model.local_change_labels):  # targets[2i], targets[2i+1]: positive, negative
        if label.startswith(SHAPE_PREFIXES):
            settings += [{"local": {label: 1.0}}, {"local": {label: -1.0}}]
            shape_names += targets[2 * i:2 * i + 2]
    settings += [{"phenotype": p} for p in PHENOTYPE_COLUMNS.values()]
    shape_names += list(PHENOTYPE_COLUMNS)
    expression_names = list(model.facial_action_labels)
    settings += [{"expression": {e: 1.0}} for e in expression_names]
    log(f"anny: {len(settings)} rest evaluations …")
    rest = anny_rest(model, settings)[:, vertex_ids] @ ANNY_TO_HEAD.T
    deltas = (rest[1:] - rest[:1]).transpose(1, 2, 0)
    shapedirs, exprdirs = deltas[..., :len(shape_names)], deltas[..., len(shape_names):]

    ears = np.unique(faces[seg["head"] & (tex["ears"] >= MASK_THRESHOLD)])
    left = rest[0, ears, 0] > 0
    origin_head = ear_midpoint(rest[0], ears[left], ears[~left]) * [0.0, 1.0, 1.0]
    template = rest[0] - origin_head
    recentred = [i for i, name in enumerate(shape_names) if is_recentred(name)]
    shapedirs[..., recentred] -= ear_midpoint(shapedirs[..., recentred], ears[left], ears[~left])

    # ---- skinning weights -----------------------------------------------------------------------------------
    V = len(vertex_ids)
    eyeball = {side: np.unique(faces[seg[f"eye_front.{side}"] | seg[f"eye_back.{side}"]]) for side in "LR"}
    weights = np.zeros((V, 5))
    weights[:, 0] = rig["body"] + rig["neck01"] + rig["neck02"] * 2 / 3 + rig["neck03"] / 3
    weights[:, 1] = rig["head"] + rig["eye.L"] + rig["eye.R"] + rig["neck02"] / 3 + rig["neck03"] * 2 / 3
    weights[:, 2] = rig["jaw"]
    for j, side in ((3, "L"), (4, "R")):
        weights[eyeball[side]] = np.eye(5)[j]

    # ---- joints -----------------------------------------------------------------------------------------------
    skin = np.unique(faces[seg["head"]])
    still = skin[np.abs(exprdirs[skin]).max(axis=(1, 2)) < 1e-9]  # skin no expression moves
    jaw_open = exprdirs[..., expression_names.index("jawOpen")]
    lower_jaw = np.flatnonzero(weights[:, 2] >= 0.8)
    theta, jaw_pivot = _fit_hinge(template[lower_jaw], jaw_open[lower_jaw])
    with torch.no_grad():
        bone_heads = model(phenotype_kwargs=BASE_PHENOTYPE)["rest_bone_heads"][0].numpy()
    bone_heads = bone_heads @ ANNY_TO_HEAD.T - origin_head
    neck_pivot = bone_heads[list(model.bone_labels).index("neck03")] * [0.0, 1.0, 1.0]
    J_regressor = np.zeros((5, V))
    neck_loop = _lowest_boundary_loop(faces[seg["head"]], template)
    J_regressor[0, neck_loop] = 1.0 / len(neck_loop)
    for j, pivot, candidates in ((1, neck_pivot, still), (2, jaw_pivot, skin)):
        near = candidates[np.argsort(np.linalg.norm(template[candidates, 1:] - pivot[1:], axis=1))[:32]]
        J_regressor[j, near] = _convex_regressor(template[near], pivot)
    for j, side in ((3, "L"), (4, "R")):
        J_regressor[j, eyeball[side]] = 1.0 / len(eyeball[side])
    log("joints (head space, m): " + ", ".join(f"{n} {np.round(p, 4).tolist()}"
                                                for n, p in zip(JOINT_NAMES, J_regressor @ template)))
    log(f"jaw: jawOpen = 1 ≈ {theta:.3f} rad about +x (positive opens the mouth)")

    # ---- regions, UVs, output -------------------------------------------------------------------------------
    regions = _regions(template, faces, seg, tex, weights, eyeball)
    used_uv, faces_uv = np.unique(model.face_texture_coordinate_indices.numpy()[keep], return_inverse=True)
    arrays = {
        "v_template": template.astype(np.float32), "faces": faces.astype(np.int32),
        "uv": model.texture_coordinates.numpy()[used_uv].astype(np.float32),
        "faces_uv": faces_uv.reshape(-1, 3).astype(np.int32),
        "shapedirs": shapedirs.astype(np.float32), "shape_names": np.asarray(shape_names),
        "exprdirs": exprdirs.astype(np.float32), "expression_names": np.asarray(expression_names),
        "joint_names": np.asarray(JOINT_NAMES), "parents": np.asarray(PARENTS, np.int32),
        "J_regressor": J_regressor.astype(np.float32), "lbs_weights": weights.astype(np.float32),
        "region_names": np.asarray(list(regions)), "region_faces": np.stack(list(regions.values())),
        "name": np.asarray(NAME), "license": np.asarray(LICENSE),
    }
    assert all(np.isfinite(a).all() for a in arrays.values() if a.dtype.kind == "f")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    arrays |= _kept_landmark_embedding(out_path, arrays["faces"])
    np.savez_compressed(out_path, **arrays)
    log(f"wrote {out_path} ({out_path.stat().st_size / 1e6:.1f} MB): V={V} F={len(faces)} T={len(used_uv)} "
        f"S={len(shape_names)} E={len(expression_names)}; region faces "
        + ", ".join(f"{k} {int(m.sum())}" for k, m in regions.items()))
    return BuildResult(arrays, vertex_ids, ANNY_TO_HEAD.T @ origin_head, theta, (ears[left], ears[~left]), model)


def _kept_landmark_embedding(path: Path, faces: np.ndarray) -> dict[str, np.ndarray]:
    """The landmark embedding (`python -m pav.track.build_embedding`, built on this model's renders) of an
    existing model file at `path` with the same faces, so a rebuild keeps it; else {} (run that command
    after the build)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if "landmark_faces" in z.files and np.array_equal(z["faces"], faces):
                return {"landmark_faces": z["landmark_faces"], "landmark_bary": z["landmark_bary"]}
    except (OSError, ValueError, KeyError):
        pass
    return {}


def _regions(v, faces, seg, tex, weights, eyeball) -> dict[str, np.ndarray]:
    """Per-face region masks (definitions in the module docstring)."""
    centroid = v[faces].mean(1)
    x, y, z = np.abs(centroid[:, 0]), centroid[:, 1], centroid[:, 2]
    skin = seg["head"]
    eye = v[eyeball["L"]].mean(0)
    lips = skin & (tex["lips"] >= MASK_THRESHOLD)
    ears = skin & (tex["ears"] >= MASK_THRESHOLD)
    ear_v = v[np.unique(faces[ears])]
    chin_front = (np.abs(v[:, 0]) < 0.004) & (weights[:, 2] > 0.5) & (v[:, 2] > eye[2] - 0.01)
    glabella, menton = eye[1] + 0.01, v[chin_front, 1].min()
    hairline = glabella + 0.5 * (glabella - menton) - 0.8 * np.maximum(x - 0.035, 0.0)
    face = (skin & (tex["face"] >= MASK_THRESHOLD) & ~ears & (y <= hairline) & (y >= menton)
            & (z > ear_v[:, 2].max() + 0.01))
    other = skin & ~face & ~ears
    scalp = other & (y >= ear_v[:, 1].min())
    neck = other & ~scalp
    lips_v = v[np.unique(faces[lips])]
    nose_base = lips_v[:, 1].max() + 0.012
    jaw = weights[faces, 2].mean(1)
    upper_lip = x < np.abs(lips_v[:, 0]).max() + 0.005
    beard = skin & ~lips & (y < nose_base) & ((face & ((jaw > 0.02) | upper_lip)) | (neck & (jaw > 0.2)))
    brow = (np.abs(x - eye[0]) < 0.024) & (x > 0.012) & (y - eye[1] > 0.014) & (y - eye[1] < 0.027)
    return {"face": face, "lips": lips, "eyes": seg["eye_front.L"] | seg["eye_back.L"] | seg["eye_front.R"]
            | seg["eye_back.R"], "scalp": scalp, "neck": neck, "ears": ears, "beard": beard,
            "eyebrows": face & brow & (z > eye[2] - 0.015), "mouth_interior": seg["mouth_cavity"] | seg["tongue"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pav.head.build_anny",
                                     description="Build PAV's built-in head model from the anny body model.")
    parser.add_argument("out", help="output .npz path (the built-in model is assets/head/pav_head.npz)")
    args = parser.parse_args(argv)
    try:
        import anny  # noqa: F401
    except ImportError:
        print("error: building the head model needs the `anny` package (pip install anny)", file=sys.stderr)
        return 2
    build(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
