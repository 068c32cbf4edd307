"""pav.backends: one cached probe per accelerator, a reason for every answer, PAV_BACKEND honoured."""
import json
import subprocess
import sys

import pytest

from pav import backends


@pytest.fixture(autouse=True)
def fresh_probes(monkeypatch):
    monkeypatch.delenv(backends.ENV_VAR, raising=False)
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
    with pytest.raises(ValueError, match=r"\$PAV_BACKEND='cuda': expected one of auto, torch, tcnn"):
        backends.requested_backend()


def test_probes_are_cached_and_explain_themselves():
    assert backends.cuda() is backends.cuda() and backends.tcnn() is backends.tcnn()
    for probe in (backends.cuda(), backends.tcnn()):
        assert isinstance(probe.available, bool) and len(probe.reason) > 10
    if not backends.cuda().available:
        assert not backends.tcnn().available and "CUDA" in backends.tcnn().reason
    json.dumps(backends.summary())


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
