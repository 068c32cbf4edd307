"""Typed field access for JSON documents, with one-line errors naming the file and the field path.

    doc = JsonDoc.load(path)              # FileNotFoundError / ValueError (bad JSON) with the file name
    w = doc.integer(doc.root, "w", minimum=1) # ValueError "data/app0/transforms.json: w must be ≥ 1, got 0"
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

_MISSING = object()


class JsonDoc:
    """A parsed JSON file plus helpers that validate one field at a time (the first problem wins)."""

    def __init__(self, path: Path, root):
        self.path = path
        self.root = root

    @classmethod
    def load(cls, path: Path, what: str) -> "JsonDoc":
        if not path.is_file():
            raise FileNotFoundError(f"{path}: file not found ({what})")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: not UTF-8 text ({exc.reason})") from None
        try:
            root = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        if not isinstance(root, dict):
            raise ValueError(f"{path}: the top level must be a JSON object, got {type(root).__name__}")
        return cls(path, root)

    def fail(self, field: str, message: str):
        raise ValueError(f"{self.path}: {field} {message}")

    # ---- scalar fields; `field` is the printed path of `obj` + key -----------------------------------------
    def get(self, obj: dict, key: str, where: str = "", default=_MISSING):
        name = f"{where}.{key}" if where else key
        if key not in obj or obj[key] is None:
            if default is _MISSING:
                self.fail(name, "is missing")
            return default
        return obj[key]

    def string(self, obj, key, where="", default=_MISSING, choices=None):
        v = self.get(obj, key, where, default)
        if v is default and default is not _MISSING:
            return v
        name = f"{where}.{key}" if where else key
        if not isinstance(v, str):
            self.fail(name, f"must be a string, got {json.dumps(v)[:40]}")
        if choices is not None and v not in choices:
            self.fail(name, f"must be one of {', '.join(map(repr, choices))}, got {v!r}")
        return v

    def integer(self, obj, key, where="", default=_MISSING, minimum=None):
        v = self.get(obj, key, where, default)
        if v is default and default is not _MISSING:
            return v
        name = f"{where}.{key}" if where else key
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(name, f"must be an integer, got {json.dumps(v)[:40]}")
        if minimum is not None and v < minimum:
            self.fail(name, f"must be ≥ {minimum}, got {v}")
        return v

    def number(self, obj, key, where="", default=_MISSING, positive=False):
        v = self.get(obj, key, where, default)
        if v is default and default is not _MISSING:
            return v
        name = f"{where}.{key}" if where else key
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.fail(name, f"must be a number, got {json.dumps(v)[:40]}")
        if not math.isfinite(v):
            self.fail(name, f"is {v} (must be finite)")
        if positive and v <= 0:
            self.fail(name, f"must be > 0, got {v}")
        return float(v)

    # ---- arrays ----------------------------------------------------------------------------------------------
    def array(self, obj, key, where="", shape=None, default=_MISSING) -> np.ndarray:
        """A finite float64 array; `shape` entries may be None (any length)."""
        v = self.get(obj, key, where, default)
        if v is default and default is not _MISSING:
            return v
        return self.as_array(v, f"{where}.{key}" if where else key, shape)

    def as_array(self, v, name: str, shape=None) -> np.ndarray:
        if not isinstance(v, list):
            self.fail(name, f"must be a list of numbers, got {json.dumps(v)[:40]}")
        try:
            a = np.array(v, dtype=np.float64)
        except (TypeError, ValueError):
            self.fail(name, "must be a (nested) list of numbers of equal lengths")
        if any(isinstance(x, bool) for x in np.ravel(np.array(v, dtype=object))):
            self.fail(name, "must contain only numbers")
        wrong = shape is not None and (a.ndim != len(shape) or
                                       any(s is not None and s != n for s, n in zip(shape, a.shape)))
        if wrong:
            want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
            self.fail(name, f"has shape {a.shape}, expected {want}")
        if not np.isfinite(a).all():
            bad = "NaN" if np.isnan(a).any() else "an infinite value"
            self.fail(name, f"contains {bad}")
        return a

    def str_list(self, obj, key, where="") -> list[str]:
        v = self.get(obj, key, where)
        name = f"{where}.{key}" if where else key
        if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
            self.fail(name, "must be a list of strings")
        if len(set(v)) != len(v):
            self.fail(name, "contains duplicate names")
        return v

    def relpath(self, obj, key, where="", default=_MISSING) -> str | None:
        """A relative, forward-slash path that stays inside the document's folder."""
        v = self.string(obj, key, where, default)
        if v is None:
            return None
        name = f"{where}.{key}" if where else key
        parts = v.replace("\\", "/").split("/")
        if not v or v.startswith("/") or ":" in parts[0] or ".." in parts:
            self.fail(name, f"must be a relative path inside {self.path.parent}, got {v!r}")
        return v
