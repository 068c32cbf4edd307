"""The one module that probes optional accelerators and decides which backend runs, per device.

`resolve_device("auto"|"cpu"|"cuda"|"cuda:N")` turns the `--device` flag (and `device=` arguments) into a
`torch.device`: `auto` is the first CUDA device when one is usable, else the CPU; asking for CUDA where
there is none is a one-line error naming the reason.

Each probe runs once per process and is cached, failures included; each answers with a flag and a
human-readable reason. Nothing optional is imported at `import pav`: `tinycudann` only when CUDA is
present (its import raises without a GPU), fcpw / point-cloud-utils / warp-lang at the first probe.

- Hash grid: PAV_BACKEND=torch|tcnn|warp|auto (default auto). For CUDA inputs `auto` takes tcnn when it
  works and torch otherwise (warning once, with the fix, when a GPU is present but tcnn is not); an
  explicit `tcnn` that cannot be honoured is an error. For CPU inputs (`hashgrid_cpu_backend`) `auto` takes
  the compiled warp-lang kernel when warp imports and F = 2 (2.3-2.7× the torch path's samples/s,
  docs/performance.md), else torch; `torch` forces the torch path everywhere.
- Nearest triangle (`nearest_backend(device)`): PAV_NEAREST=auto|fcpw|warp|pcu|torch (default auto), or
  the `backend=` argument of `pav.geometry.nearest_faces` / `closest_points` / `closest_points_fast`.
  `auto` on CUDA takes warp-lang (its BVH on the GPU); on the CPU, the order NEAREST_CPU_ORDER, set by the
  measurement in docs/geometry.md (`python -m pav.geometry.bench --nearest`); the exact pure-torch search
  last, with a one-time warning. An explicit backend that does not import is an error naming the fix.
- Rasterizer (`raster_backend(device)`, depth and masks of the training rays' shell): PAV_RASTER=auto|torch|
  warp|nvdiffrast (default auto), or the `backend=` argument of `pav.geometry.rasterize`. `auto` takes
  nvdiffrast's CUDA rasterizer for CUDA tensors when `nvdiffrast.torch` imports, else the pure-torch
  rasterizer on CUDA; on the CPU, the compiled warp-lang z-buffer when warp imports (the same pixels and
  faces as the torch twin, 5-35× faster: docs/performance.md), else pure torch. nvdiffrast and warp decide
  visibility only; the barycentrics and depths are the torch path's exact float64 ones
  (pav/geometry/_nvdiffrast.py, pav/geometry/_warp_raster.py).
"""
from __future__ import annotations

import functools
import importlib
import os
import warnings
from typing import NamedTuple

import torch

ENV_VAR = "PAV_BACKEND"
CHOICES = ("auto", "torch", "tcnn", "warp")
TCNN_FEATURES_PER_LEVEL = (1, 2, 4, 8)
TCNN_INSTALL_HINT = ("pip install git+https://github.com/NVlabs/tiny-cuda-nn/#subdirectory=bindings/torch "
                     "(needs the CUDA toolkit matching your torch build)")


class Probe(NamedTuple):
    available: bool
    reason: str


class BackendChoice(NamedTuple):
    name: str
    """hash grid: 'torch' or 'tcnn'; nearest triangle: 'fcpw', 'warp', 'pcu' or 'torch'."""
    reason: str
    """why, in words (shown by `python -m pav bench` and in logs)."""


@functools.cache
def cuda() -> Probe:
    """Is a CUDA device usable by torch?"""
    if not torch.cuda.is_available():
        build = torch.version.cuda
        why = "torch is a CPU-only build" if build is None else f"torch (CUDA {build}) sees no CUDA device"
        return Probe(False, why)
    return Probe(True, f"CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}")


DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


def resolve_device(value: "str | torch.device | None" = "auto") -> torch.device:
    """The torch.device for a `--device` value: 'auto' (None too) → 'cuda' when usable else 'cpu';
    'cpu'; 'cuda' / 'cuda:N' (an error naming the reason when CUDA or that index is unavailable)."""
    if isinstance(value, torch.device):
        value = str(value)
    raw = "auto" if value is None else str(value).strip().lower()
    if raw == "auto":
        return torch.device("cuda") if cuda().available else torch.device("cpu")
    try:
        device = torch.device(raw)
    except RuntimeError:
        raise ValueError(f"--device {value!r}: expected {DEVICE_CHOICES}") from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type != "cuda":
        raise ValueError(f"--device {value!r}: expected {DEVICE_CHOICES}")
    gpu = cuda()
    if not gpu.available:
        raise ValueError(f"--device {value}: CUDA is unavailable ({gpu.reason}); use --device cpu or auto")
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise ValueError(f"--device {value}: this machine has {count} CUDA device(s), cuda:0..cuda:{count - 1}")
    return device


def add_device_argument(parser) -> None:
    """`--device auto|cpu|cuda|cuda:N` (default auto), shared by every command."""
    parser.add_argument("--device", default="auto", metavar="DEVICE",
                        help="where to compute: auto (CUDA when available, else CPU), cpu, cuda or cuda:N")


@functools.cache
def tcnn() -> Probe:
    """Does tiny-cuda-nn's torch binding import and work here? (Imported only when CUDA is present.)"""
    gpu = cuda()
    if not gpu.available:
        return Probe(False, f"tiny-cuda-nn needs CUDA: {gpu.reason}")
    try:
        import tinycudann  # noqa: F401
    except Exception as exc:  # ImportError, or EnvironmentError/OSError/RuntimeError from a broken build
        return Probe(False, f"tinycudann does not import ({type(exc).__name__}: {exc}); install: {TCNN_INSTALL_HINT}")
    return Probe(True, f"tinycudann {getattr(tinycudann, '__version__', '(unknown version)')} on {gpu.reason}")


def tcnn_module():
    """The imported `tinycudann` module; call only after `tcnn().available`."""
    probe = tcnn()
    if not probe.available:
        raise RuntimeError(probe.reason)
    import tinycudann
    return tinycudann


def _requested(value: str | None, env_var: str, choices) -> str:
    """`value`, else $`env_var`, else 'auto', validated against `choices` and lower-cased."""
    raw = value if value is not None else os.environ.get(env_var, "auto")
    name = raw.strip().lower()
    if name not in choices:
        origin = "backend argument" if value is not None else f"${env_var}"
        raise ValueError(f"{origin}={raw!r}: expected one of {', '.join(choices)}")
    return name


def requested_backend(value: str | None = None) -> str:
    """The hash-grid backend asked for: `value`, else $PAV_BACKEND, else 'auto' (validated, lower case)."""
    return _requested(value, ENV_VAR, CHOICES)


def choose_hashgrid_backend(value: str | None = None, *, n_features_per_level: int = 2) -> BackendChoice:
    """Decide the hash-grid backend once (see the module docstring for the policy)."""
    want = requested_backend(value)
    if want == "torch":
        return BackendChoice("torch", "pure torch (requested)")
    probe = tcnn()
    fits = n_features_per_level in TCNN_FEATURES_PER_LEVEL
    if probe.available and fits:
        return BackendChoice("tcnn", probe.reason)
    why = probe.reason if not probe.available else \
        f"tcnn supports n_features_per_level in {TCNN_FEATURES_PER_LEVEL}, not {n_features_per_level}"
    if want == "tcnn":
        raise RuntimeError(f"{ENV_VAR}=tcnn cannot be honoured: {why}")
    if cuda().available:
        _warn_once(f"PAV: hash grid runs in pure torch although a GPU is present ({why}).")
    return BackendChoice("torch", f"pure torch ({why})")


def hashgrid_cpu_backend(value: str | None = None, *, n_features_per_level: int = 2) -> BackendChoice:
    """The hash-grid kernel for CPU inputs: 'warp' (compiled, F = 2 only) or 'torch' (see the module
    docstring); an explicit 'warp' that cannot be honoured is an error."""
    want = requested_backend(value)
    if want == "torch":
        return BackendChoice("torch", "pure torch (requested)")
    warp = nearest_probe("warp")
    fits = n_features_per_level == 2
    if warp.available and fits:
        return BackendChoice("warp", f"{warp.reason}: compiled CPU kernel" + (" (requested)" if want == "warp" else ""))
    why = warp.reason if not warp.available else f"the warp kernel has F = 2, not {n_features_per_level}"
    if want == "warp":
        raise RuntimeError(f"{ENV_VAR}=warp cannot be honoured: {why}")
    return BackendChoice("torch", f"pure torch ({why})")


@functools.cache
def _warn_once(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


NEAREST_ENV_VAR = "PAV_NEAREST"
NEAREST_CHOICES = ("auto", "fcpw", "warp", "pcu", "torch")
NEAREST_CPU_ORDER = ("warp", "fcpw", "pcu")
"""CPU preference (docs/geometry.md, "Nearest-triangle backends"). warp first: it releases the GIL during
its queries, so the viewer's UI thread keeps running while a frame renders (the soak test's 200 ms frame
limit), and its speed is within noise of fcpw's: 1.3-1.7× fcpw's queries/s on the loaded machine, 0.88×
(0.67 vs 0.76 M/s) in a quiet `bench --quick`; 100 training steps took 84.0 s with warp, 81.5 s with fcpw."""
NEAREST_CPU_WHY = "preferred on the CPU (docs/geometry.md)"
_NEAREST_MODULES = {"fcpw": ("fcpw", "scene_3D", "pip install fcpw"),
                    "pcu": ("point_cloud_utils", "closest_points_on_mesh", "pip install point-cloud-utils"),
                    "warp": ("warp", "Mesh", "pip install warp-lang")}


@functools.cache
def nearest_probe(name: str) -> Probe:
    """Does the nearest-triangle accelerator `name` ('fcpw', 'pcu' or 'warp') import here?"""
    module_name, needed, install = _NEAREST_MODULES[name]
    try:
        module = importlib.import_module(module_name)
        getattr(module, needed)
    except Exception as exc:  # ImportError, or a broken binary wheel
        return Probe(False, f"{module_name} does not import ({type(exc).__name__}: {exc}); install: {install}")
    version = getattr(module, "__version__", None) or _dist_version(name)
    return Probe(True, f"{module_name} {version}")


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version({"pcu": "point-cloud-utils", "warp": "warp-lang"}.get(name, name))
    except PackageNotFoundError:
        return "(unknown version)"


def nearest_module(name: str):
    """The imported module of accelerator `name`; raises RuntimeError with the probe's reason if absent."""
    probe = nearest_probe(name)
    if not probe.available:
        raise RuntimeError(f"nearest-triangle backend '{name}' is unavailable: {probe.reason}")
    return importlib.import_module(_NEAREST_MODULES[name][0])


def requested_nearest(value: str | None = None) -> str:
    """The nearest-triangle backend asked for: `value`, else $PAV_NEAREST, else 'auto' (validated)."""
    return _requested(value, NEAREST_ENV_VAR, NEAREST_CHOICES)


def nearest_backend(device: torch.device | str | None = None, value: str | None = None) -> BackendChoice:
    """The nearest-triangle backend for queries on `device` (default CPU), with the reason (see the
    module docstring for the policy). `value` (or $PAV_NEAREST) forces one; 'auto' chooses."""
    device = torch.device("cpu" if device is None else device)
    want = requested_nearest(value)
    if want == "torch":
        return BackendChoice("torch", "exact pure-torch search (requested)")
    if want != "auto":
        probe = nearest_probe(want)
        if not probe.available:
            origin = f"{NEAREST_ENV_VAR}={want}" if value is None else f"backend '{want}'"
            raise RuntimeError(f"{origin} cannot be honoured: {probe.reason}")
        return BackendChoice(want, f"{probe.reason} (requested)")
    if device.type == "cuda":
        warp = nearest_probe("warp")
        if warp.available:
            return BackendChoice("warp", f"{warp.reason}: BVH queries on {device}")
        cpu = nearest_backend("cpu", value)
        return BackendChoice(cpu.name, f"{cpu.reason}, copying to and from {device} ({warp.reason})")
    for name in NEAREST_CPU_ORDER:
        if nearest_probe(name).available:
            skipped = [f"{n}: {nearest_probe(n).reason}" for n in NEAREST_CPU_ORDER[:NEAREST_CPU_ORDER.index(name)]]
            return BackendChoice(name, f"{nearest_probe(name).reason}, {NEAREST_CPU_WHY}"
                                 + (f" of those that import ({'; '.join(skipped)})" if skipped else ""))
    why = "; ".join(nearest_probe(n).reason for n in NEAREST_CPU_ORDER)
    _warn_once(f"pav.geometry: no nearest-triangle accelerator ({why}); using the exact but much slower "
               "pure-torch search. Fix: pip install fcpw warp-lang")
    return BackendChoice("torch", f"exact pure-torch search, no accelerator imports ({why})")


RASTER_ENV_VAR = "PAV_RASTER"
RASTER_CHOICES = ("auto", "torch", "warp", "nvdiffrast")
NVDIFFRAST_INSTALL_HINT = ("pip install git+https://github.com/NVlabs/nvdiffrast (needs the CUDA toolkit "
                           "matching your torch build)")


@functools.cache
def nvdiffrast() -> Probe:
    """Does nvdiffrast's torch binding import here? (Tried only when CUDA is present.)"""
    gpu = cuda()
    if not gpu.available:
        return Probe(False, f"nvdiffrast needs CUDA: {gpu.reason}")
    try:
        import nvdiffrast.torch as dr
        dr.RasterizeCudaContext  # noqa: B018  (its CUDA rasterizer; older versions have only OpenGL's)
    except Exception as exc:  # ImportError, AttributeError, or a broken build
        return Probe(False, f"nvdiffrast.torch does not import ({type(exc).__name__}: {exc}); install: "
                            f"{NVDIFFRAST_INSTALL_HINT}")
    return Probe(True, f"nvdiffrast {_module_version('nvdiffrast')} on {gpu.reason}")


def _module_version(name: str) -> str:
    module = importlib.import_module(name)
    return str(getattr(module, "__version__", "(unknown version)"))


def raster_backend(device: torch.device | str | None = None, value: str | None = None) -> BackendChoice:
    """The rasterizer for meshes on `device` (default CPU), with the reason (see the module docstring).
    `value` (or $PAV_RASTER) forces one; an explicit 'nvdiffrast' that cannot run here is an error."""
    device = torch.device("cpu" if device is None else device)
    want = _requested(value, RASTER_ENV_VAR, RASTER_CHOICES)
    if want == "torch":
        return BackendChoice("torch", "pure torch (requested)")
    if device.type == "cpu" and want in ("auto", "warp"):
        warp = nearest_probe("warp")
        if warp.available:
            return BackendChoice("warp", f"{warp.reason}: compiled CPU z-buffer"
                                 + (" (requested)" if want == "warp" else ""))
        if want == "warp":
            raise RuntimeError(f"{RASTER_ENV_VAR}=warp cannot be honoured: {warp.reason}")
    if want == "warp":
        raise RuntimeError(f"{RASTER_ENV_VAR}=warp cannot be honoured: the warp z-buffer runs on the CPU, "
                           f"these tensors are on {device}")
    if device.type != "cuda":
        why = f"nvdiffrast rasterizes CUDA tensors only, these are on {device}"
    elif not (probe := nvdiffrast()).available:
        why = probe.reason
    else:
        return BackendChoice("nvdiffrast", probe.reason + (" (requested)" if want == "nvdiffrast" else ""))
    if want == "nvdiffrast":
        origin = f"{RASTER_ENV_VAR}=nvdiffrast" if value is None else "backend 'nvdiffrast'"
        raise RuntimeError(f"{origin} cannot be honoured: {why}")
    return BackendChoice("torch", f"pure torch ({why})")


def summary() -> dict:
    """Probe results as a JSON-friendly dict (for `python -m pav bench` and bug reports)."""
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "auto_device": str(resolve_device()),
            "cuda": cuda()._asdict(), "tcnn": tcnn()._asdict(),
            "nearest": {name: nearest_probe(name)._asdict() for name in _NEAREST_MODULES},
            "nearest_cpu": nearest_backend("cpu")._asdict(), "nvdiffrast": nvdiffrast()._asdict()}


def clear_cache() -> None:
    """Forget all probe results (tests, or after installing something in a running session)."""
    for fn in (cuda, tcnn, nearest_probe, nvdiffrast, _warn_once):
        fn.cache_clear()
