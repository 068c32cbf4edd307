"""pav.backends: one cached probe per accelerator, a reason for every answer, PAV_BACKEND honoured."""
import json
import subprocess
import sys
import types
import warnings

import pytest
import torch

from pav import backends


@pytest.fixture(autouse=True)
def fresh_probes():
    """Fresh probe caches, no PAV_BACKEND/PAV_NEAREST; set up before (so undone after) a test's monkeypatch."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(backends.ENV_VAR, raising=False)
        mp.delenv(backends.NEAREST_ENV_VAR, raising=False)
        backends.clear_cache()
        yield
        backends.clear_cache()


def test_requested_backend_parsing(monkeypatch):
    assert backends.requested_backend() == "auto"
    assert backends.requested_backend(" Torch ") == "torch"
    monkeypatch.setenv(backends.ENV_VAR, "TCNN")
    assert backends.requested_backend() == "tcnn"
    assert backends.requested_backend("torch") == "torch"              # an argument beats the env
    monkeypatch.setenv(backends.ENV_VAR, "cuda")
    with pytest.raises(ValueError, match=r"\$PAV_BACKEND='cuda': expected one of auto, torch, tcnn, warp"):
        backends.requested_backend()


def test_probes_are_cached_and_explain_themselves():
    assert backends.cuda() is backends.cuda() and backends.tcnn() is backends.tcnn()
    for probe in (backends.cuda(), backends.tcnn()):
        assert isinstance(probe.available, bool) and len(probe.reason) > 10
    if not backends.cuda().available:
        assert not backends.tcnn().available and "CUDA" in backends.tcnn().reason
    json.dumps(backends.summary())


def test_hashgrid_cpu_backend_policy(monkeypatch):
    assert backends.hashgrid_cpu_backend("torch") == ("torch", "pure torch (requested)")
    assert backends.hashgrid_cpu_backend(n_features_per_level=4).name == "torch"
    if backends.nearest_probe("warp").available:
        assert backends.hashgrid_cpu_backend().name == "warp"
        with pytest.raises(RuntimeError, match="PAV_BACKEND=warp cannot be honoured: the warp kernel has F = 2"):
            backends.hashgrid_cpu_backend("warp", n_features_per_level=4)
    monkeypatch.setenv(backends.ENV_VAR, "torch")
    assert backends.hashgrid_cpu_backend().name == "torch"


def test_backend_choice_policy(monkeypatch):
    assert backends.choose_hashgrid_backend("torch") == ("torch", "pure torch (requested)")
    auto = backends.choose_hashgrid_backend()
    if backends.tcnn().available:
        assert auto.name == "tcnn"
        assert backends.choose_hashgrid_backend(n_features_per_level=3).name == "torch"
    else:
        assert auto.name == "torch" and backends.tcnn().reason in auto.reason
        with pytest.raises(RuntimeError, match="PAV_BACKEND=tcnn cannot be honoured"):
            backends.choose_hashgrid_backend("tcnn")
        monkeypatch.setenv(backends.ENV_VAR, "tcnn")
        with pytest.raises(RuntimeError, match="cannot be honoured"):
            backends.choose_hashgrid_backend()


@pytest.mark.skipif(backends.cuda().available, reason="checks the CPU-only import path")
def test_cpu_machine_never_imports_tinycudann():
    code = ("import sys, pav.nerf; g = pav.nerf.HashGrid(); "
            "print(g.backend, 'tinycudann' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["torch", "False"]


def _fake_gpu(monkeypatch, available=True, build="12.4"):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.version, "cuda", build)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "Fake GPU 80GB")


@pytest.mark.parametrize("available, build, reason", [
    (False, None, "torch is a CPU-only build"),
    (False, "12.4", "torch (CUDA 12.4) sees no CUDA device"),
    (True, "12.4", "CUDA 12.4, Fake GPU 80GB")])
def test_cuda_reasons(monkeypatch, available, build, reason):
    _fake_gpu(monkeypatch, available, build)
    assert backends.cuda() == (available, reason)
    if not available:
        assert backends.tcnn() == (False, f"tiny-cuda-nn needs CUDA: {reason}")


def test_tcnn_reasons_and_choice_with_a_gpu(monkeypatch):
    _fake_gpu(monkeypatch)
    monkeypatch.setitem(sys.modules, "tinycudann", None)  # `import tinycudann` raises ImportError
    probe = backends.tcnn()
    assert not probe.available and probe.reason.startswith("tinycudann does not import (ModuleNotFoundError: ")
    assert probe.reason.endswith("; install: " + backends.TCNN_INSTALL_HINT)
    with pytest.warns(RuntimeWarning, match=r"hash grid runs in pure torch although a GPU is present \(tinycudann"):
        assert backends.choose_hashgrid_backend() == ("torch", f"pure torch ({probe.reason})")

    backends.clear_cache()
    monkeypatch.setitem(sys.modules, "tinycudann", types.SimpleNamespace(__version__="1.7"))
    assert backends.tcnn() == (True, "tinycudann 1.7 on CUDA 12.4, Fake GPU 80GB")
    assert backends.choose_hashgrid_backend() == ("tcnn", "tinycudann 1.7 on CUDA 12.4, Fake GPU 80GB")
    with pytest.warns(RuntimeWarning, match="although a GPU is present"):
        assert backends.choose_hashgrid_backend(n_features_per_level=3) == (
            "torch", "pure torch (tcnn supports n_features_per_level in (1, 2, 4, 8), not 3)")


def test_nearest_probe_reasons(monkeypatch):
    monkeypatch.setitem(sys.modules, "fcpw", None)
    probe = backends.nearest_probe("fcpw")
    assert not probe.available
    assert probe.reason.startswith("fcpw does not import (ModuleNotFoundError: ")
    assert probe.reason.endswith("; install: pip install fcpw")
    monkeypatch.setitem(sys.modules, "warp", types.SimpleNamespace(__version__="9.9", Mesh=object))
    assert backends.nearest_probe("warp") == (True, "warp 9.9")
    with pytest.raises(RuntimeError, match=r"nearest-triangle backend 'fcpw' is unavailable: fcpw does not import"):
        backends.nearest_module("fcpw")


def _nearest_available(monkeypatch, *names):
    monkeypatch.setattr(backends, "nearest_probe", lambda n: backends.Probe(True, f"{n} 9.9") if n in names
                        else backends.Probe(False, f"{n} missing"))


def test_nearest_choice_and_reasons(monkeypatch):
    _nearest_available(monkeypatch, "fcpw", "warp", "pcu")
    assert backends.NEAREST_CPU_ORDER == ("warp", "fcpw", "pcu")
    assert backends.nearest_backend() == ("warp", "warp 9.9, preferred on the CPU (docs/geometry.md)")
    assert backends.nearest_backend("cuda:1") == ("warp", "warp 9.9: BVH queries on cuda:1")
    assert backends.nearest_backend("cpu", "pcu") == ("pcu", "pcu 9.9 (requested)")
    assert backends.nearest_backend("cuda", "torch") == ("torch", "exact pure-torch search (requested)")
    monkeypatch.setenv(backends.NEAREST_ENV_VAR, " FCPW ")
    assert backends.nearest_backend("cuda") == ("fcpw", "fcpw 9.9 (requested)")
    assert backends.nearest_backend("cpu", "warp").name == "warp"  # the argument beats the environment

    _nearest_available(monkeypatch, "fcpw", "pcu")
    monkeypatch.delenv(backends.NEAREST_ENV_VAR)
    assert backends.nearest_backend("cpu") == ("fcpw", "fcpw 9.9, preferred on the CPU "
                                               "(docs/geometry.md) of those that import (warp: warp missing)")
    assert backends.nearest_backend("cuda:0") == (
        "fcpw", "fcpw 9.9, preferred on the CPU (docs/geometry.md) of those that import "
        "(warp: warp missing), copying to and from cuda:0 (warp missing)")
    with pytest.raises(RuntimeError, match=r"^backend 'warp' cannot be honoured: warp missing$"):
        backends.nearest_backend("cpu", "warp")
    monkeypatch.setenv(backends.NEAREST_ENV_VAR, "warp")
    with pytest.raises(RuntimeError, match=r"^PAV_NEAREST=warp cannot be honoured: warp missing$"):
        backends.nearest_backend("cpu")

    _nearest_available(monkeypatch)
    monkeypatch.delenv(backends.NEAREST_ENV_VAR)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        choice = backends.nearest_backend("cpu")
        backends.nearest_backend("cpu")
    assert choice == ("torch", "exact pure-torch search, no accelerator imports "
                               "(warp missing; fcpw missing; pcu missing)")
    assert [str(w.message) for w in caught] == [
        "pav.geometry: no nearest-triangle accelerator (warp missing; fcpw missing; pcu missing); using the exact "
        "but much slower pure-torch search. Fix: pip install fcpw warp-lang"]
