"""Read and validate a collection folder (format in docs/collection-format.md).

`read_collection(root)` checks every manifest and transforms.json field and, unless `check_images=False`,
that every referenced PNG exists with the right size and channels (header only; pixels load on demand).
The first problem is raised as one line naming the file and the field, e.g.
"data/app0/transforms.json: frames[3].expression contains NaN".
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .collection import (DEFAULT_DEPTH_SCALE, FORMAT_NAME, FORMAT_VERSION, MANIFEST, SPLITS, TRANSFORMS,
                         Appearance, AppearanceEntry, Collection, Frame, HeadModelRef, Manifest, View)
from .imagecheck import check_header
from .jsonfields import JsonDoc

TOP_KEYS = {"w", "h", "fl_x", "fl_y", "cx", "cy", "camera_angle_x", "camera_angle_y", "camera_convention",
            "integer_depth_scale", "fps", "expression_names", "joint_names", "background_path",
            "background_color", "frames"}
IMAGE_FIELDS = (("file_path", "RGB"), ("mask_path", "L"), ("face_mask_path", "L"), ("depth_path", "I;16"))


def read_manifest(root: Path) -> Manifest:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: collection folder not found")
    doc = JsonDoc.load(root / MANIFEST, "the collection manifest; is this a PAV collection folder?")
    r = doc.root
    fmt = doc.string(r, "format")
    if fmt != FORMAT_NAME:
        doc.fail("format", f"must be {FORMAT_NAME!r}, got {fmt!r}")
    version = doc.integer(r, "version", minimum=1)
    if version > FORMAT_VERSION:
        doc.fail("version", f"is {version}: written by a newer PAV (this one reads version {FORMAT_VERSION})")
    hm = doc.get(r, "head_model")
    if not isinstance(hm, dict):
        doc.fail("head_model", "must be an object with spec, name and checksum")
    head = HeadModelRef(doc.string(hm, "spec", "head_model"), doc.string(hm, "name", "head_model"),
                        doc.string(hm, "checksum", "head_model"))
    shape = doc.array(r, "shape", shape=(None,))
    apps = doc.get(r, "appearances")
    if not isinstance(apps, list) or not apps:
        doc.fail("appearances", "must be a non-empty list of {name, folder}")
    entries = []
    for k, a in enumerate(apps):
        where = f"appearances[{k}]"
        if not isinstance(a, dict):
            doc.fail(where, "must be an object with name and folder")
        entry = AppearanceEntry(doc.string(a, "name", where), doc.relpath(a, "folder", where))
        if not entry.name.strip():
            doc.fail(f"{where}.name", "is empty")
        for other in entries:
            if other.name == entry.name:
                doc.fail(f"{where}.name", f"{entry.name!r} is used twice")
            if Path(other.folder) == Path(entry.folder):
                doc.fail(f"{where}.folder", f"{entry.folder!r} is used twice")
        entries.append(entry)
    return Manifest(doc.string(r, "subject"), head, [float(x) for x in shape], entries,
                    doc.string(r, "description", default=""))


def _read_view(doc: JsonDoc, f: dict, where: str) -> View | None:
    """The optional `view` record of a novel frame with ground truth: finite angles in range, a centre."""
    raw = doc.get(f, "view", where, default=None)
    if raw is None:
        return None
    where = f"{where}.view"
    if not isinstance(raw, dict):
        doc.fail(where, "must be an object {yaw, pitch, center, test_frame}")
    yaw, pitch = doc.number(raw, "yaw", where), doc.number(raw, "pitch", where)
    if not -180.0 <= yaw <= 180.0:
        doc.fail(f"{where}.yaw", f"must be in [-180, 180] degrees, got {yaw}")
    if not -90.0 < pitch < 90.0:
        doc.fail(f"{where}.pitch", f"must be in (-90, 90) degrees, got {pitch}")
    center = doc.array(raw, "center", where, shape=(3,))
    return View(yaw, pitch, tuple(center.tolist()), doc.integer(raw, "test_frame", where, minimum=0))


def _read_frame(doc: JsonDoc, f, k: int, defaults: dict, E: int, joint_names: list[str]) -> Frame:
    where = f"frames[{k}]"
    if not isinstance(f, dict):
        doc.fail(where, "must be an object")
    split = doc.string(f, "split", where, choices=SPLITS)
    index = doc.integer(f, "frame_index", where, minimum=0)
    c2w = doc.array(f, "transform_matrix", where, shape=(4, 4))
    if np.abs(c2w[3] - [0, 0, 0, 1]).max() > 1e-6:
        doc.fail(f"{where}.transform_matrix", f"last row must be [0, 0, 0, 1], got {c2w[3].tolist()}")
    R = c2w[:3, :3]
    if np.abs(R.T @ R - np.eye(3)).max() > 1e-4 or np.linalg.det(R) < 0:
        doc.fail(f"{where}.transform_matrix", "rotation part is not a rotation (orthonormal, det +1)")
    expression = doc.array(f, "expression", where, shape=(E,))
    pose_raw = doc.get(f, "pose", where)
    if isinstance(pose_raw, dict):  # {joint_name: [x, y, z]}; joints left out are zero
        unknown = sorted(set(pose_raw) - set(joint_names))
        if unknown:
            doc.fail(f"{where}.pose", f"names unknown joints {unknown} (joint_names: {joint_names})")
        pose = np.zeros((len(joint_names), 3))
        for j, name in enumerate(joint_names):
            if name in pose_raw:
                pose[j] = doc.as_array(pose_raw[name], f"{where}.pose.{name}", (3,))
    else:
        pose = doc.as_array(pose_raw, f"{where}.pose", (len(joint_names), 3))
    translation = doc.array(f, "translation", where, shape=(3,))
    intr = {key: doc.number(f, key, where, default=defaults[key], positive=key.startswith("fl"))
            for key in ("fl_x", "fl_y", "cx", "cy")}
    paths = {key: doc.relpath(f, key, where, default=None) for key, _ in IMAGE_FIELDS}
    view = _read_view(doc, f, where)
    if view is not None and split != "novel":
        doc.fail(f"{where}.view", f"is only allowed on novel frames (this one is {split})")
    if split != "novel" or view is not None:  # ground truth ⇔ images (novel: ⇔ a view record)
        for key in ("file_path", "mask_path", "face_mask_path"):
            if paths[key] is None:
                kind = f"{split} frames" if view is None else "novel frames with a view (ground truth)"
                doc.fail(f"{where}.{key}", f"is missing (required for {kind})")
    else:
        for key, _ in IMAGE_FIELDS:
            if paths[key] is not None:
                doc.fail(f"{where}.{key}", "is set on a novel frame without a view record: images of a novel "
                                           "frame are ground truth and need its view {yaw, pitch, center, test_frame}")
    return Frame(index=index, timestamp=doc.number(f, "timestamp", where, default=index / defaults["fps"]),
                 split=split, c2w=c2w, fx=intr["fl_x"], fy=intr["fl_y"], cx=intr["cx"], cy=intr["cy"],
                 expression=expression, pose=pose, translation=translation,
                 source=doc.string(f, "source", where, default=None), view=view, **paths)


def read_appearance(entry: AppearanceEntry, folder: Path, check_images: bool = True) -> Appearance:
    """Parse and validate `folder/transforms.json` (and, optionally, the PNG headers it points to)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: appearance folder of '{entry.name}' not found")
    doc = JsonDoc.load(folder / TRANSFORMS, f"camera and head parameters of appearance '{entry.name}'")
    r = doc.root
    W, H = doc.integer(r, "w", minimum=1), doc.integer(r, "h", minimum=1)
    defaults = {"fl_x": doc.number(r, "fl_x", positive=True), "fl_y": doc.number(r, "fl_y", positive=True),
                "cx": doc.number(r, "cx"), "cy": doc.number(r, "cy"),
                "fps": doc.number(r, "fps", default=25.0, positive=True)}
    doc.string(r, "camera_convention", default="opencv", choices=("opencv",))
    expression_names, joint_names = doc.str_list(r, "expression_names"), doc.str_list(r, "joint_names")
    color = doc.array(r, "background_color", shape=(3,), default=None)
    if color is not None and not ((color >= 0) & (color <= 1)).all():
        doc.fail("background_color", f"must be RGB in [0, 1], got {color.tolist()}")
    frames_raw = doc.get(r, "frames")
    if not isinstance(frames_raw, list) or not frames_raw:
        doc.fail("frames", "must be a non-empty list")
    frames, seen = [], {}
    for k, f in enumerate(frames_raw):
        frame = _read_frame(doc, f, k, defaults, len(expression_names), joint_names)
        if frame.index in seen:
            doc.fail(f"frames[{k}].frame_index", f"{frame.index} repeats frames[{seen[frame.index]}]")
        seen[frame.index] = k
        frames.append(frame)
    tests = {f.index for f in frames if f.split == "test"}
    for k, frame in enumerate(frames):
        if frame.view is not None and frame.view.test_frame not in tests:
            doc.fail(f"frames[{k}].view.test_frame", f"{frame.view.test_frame} is not the frame_index of a test "
                                                     "frame of this appearance")
    app = Appearance(name=entry.name, folder=folder, width=W, height=H, fx=defaults["fl_x"], fy=defaults["fl_y"],
                     cx=defaults["cx"], cy=defaults["cy"], expression_names=expression_names,
                     joint_names=joint_names, frames=frames, fps=defaults["fps"],
                     depth_scale=doc.number(r, "integer_depth_scale", default=DEFAULT_DEPTH_SCALE, positive=True),
                     background_path=doc.relpath(r, "background_path", default=None),
                     background_color=tuple(color.tolist()) if color is not None else None,
                     extra={k: v for k, v in r.items() if k not in TOP_KEYS})
    if check_images:
        if app.background_path is not None:
            check_header(folder / app.background_path, "RGB", W, H, "background_path")
        for k, frame in enumerate(frames):
            for key, mode in IMAGE_FIELDS:
                if getattr(frame, key) is not None:
                    check_header(folder / getattr(frame, key), mode, W, H, f"frames[{k}].{key}")
    return app


def read_collection(root: str | Path, check_images: bool = True) -> Collection:
    """Read and validate a collection; raises FileNotFoundError / ValueError (one line) on the first problem."""
    root = Path(root)
    manifest = read_manifest(root)
    appearances = [read_appearance(e, root / e.folder, check_images) for e in manifest.appearances]
    first = appearances[0]
    for app in appearances[1:]:
        for key in ("expression_names", "joint_names"):
            if getattr(app, key) != getattr(first, key):
                raise ValueError(f"{app.folder / TRANSFORMS}: {key} differ from those of appearance "
                                 f"'{first.name}' (all appearances must use the same head model)")
    return Collection(root, manifest, appearances)


def check_head_model(collection: Collection, model) -> None:
    """ValueError unless `model` (a HeadModel) matches the manifest's checksum, names and shape size."""
    where = collection.root / MANIFEST
    ref = collection.manifest.head_model
    if model.checksum() != ref.checksum:
        raise ValueError(f"{where}: head_model.checksum {ref.checksum[:12]}… ('{ref.name}') does not match "
                         f"the loaded head model '{model.name}' ({model.checksum()[:12]}…)")
    if len(collection.manifest.shape) > model.n_shape:
        raise ValueError(f"{where}: shape has {len(collection.manifest.shape)} coefficients, the head model "
                         f"has {model.n_shape}")
    app = collection.appearances[0]
    if app.joint_names != model.joint_names:
        raise ValueError(f"{app.folder / TRANSFORMS}: joint_names {app.joint_names} differ from the head "
                         f"model's {model.joint_names}")
    if app.expression_names != model.expression_names[:len(app.expression_names)]:
        raise ValueError(f"{app.folder / TRANSFORMS}: expression_names differ from the head model's")
