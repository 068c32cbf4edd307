"""The four variants (DESIGN §1.9): each differs from `full` in the one thing its name says.

Module sets, optimiser groups and parameter counts are checked against closed forms written here from the
configs (layer widths, texture sizes), for both presets, on the toy head (the counts depend on the head
only through its number of expression coefficients, which is passed in).
"""
import ast
from pathlib import Path

import pytest
import torch

from pav.config import VARIANTS, TrainConfig, preset
from pav.nerf.avatar import Avatar
from pav.nerf.hashgrid import level_specs
from pav.nerf.textures import GlobalCodes, LatentTextures
from pav.train.trainer import make_optimizer

A = 3  # appearances


def linear(d_in, d_out, bias=True):
    return d_in * d_out + (d_out if bias else 0)


def conditioned_mlp(d_x, d_c, hidden, layers, d_out):
    """Parameters of ConditionedMLP: first layer on x, a bias-free layer on the condition, layers − 1 hidden
    layers, the output layer."""
    return linear(d_x, hidden) + linear(d_c, hidden, bias=False) + (layers - 1) * linear(hidden, hidden) \
        + linear(hidden, d_out)


class Expected:
    """Closed-form parameter counts of one model config with n_app appearances and E expression coefficients."""

    def __init__(self, model, E, n_app=A):
        f, C, R = model.field, model.texture_channels, model.texture_resolution
        self.C, self.E = C, E
        self.grid = sum(s.rows for s in level_specs(model.hashgrid)) * model.hashgrid.n_features_per_level
        self.mlp_d = conditioned_mlp(model.hashgrid.n_levels * model.hashgrid.n_features_per_level, E, f.hidden,
                                     f.density_layers, 1 + f.geo_features)
        self.mlp_o = conditioned_mlp(C, E, f.offset_hidden, f.offset_layers, 1)
        self.mlp_c_base = conditioned_mlp(f.sh_degree ** 2 + f.geo_features, 0, f.hidden, f.color_layers, 3)
        self.mlp_c_appearance = C * f.hidden  # MLP-C's first layer reads the C code channels too
        self.textures = n_app * C * R * R
        self.codes = n_app * C

    def total(self, variant):
        t = self.grid + self.mlp_d + self.mlp_c_base
        if variant in ("full", "no-offset"):
            t += self.textures + self.mlp_c_appearance
        if variant == "no-lnf":
            t += self.codes + self.mlp_c_appearance
        if variant in ("full", "no-lnf"):
            t += self.mlp_o
        return t


def build(toy_head, preset_name, variant):
    model, train = preset(preset_name, variant)
    torch.manual_seed(0)
    return Avatar(model, toy_head, torch.zeros(2), [f"look{i}" for i in range(A)]), train


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def param_shapes(avatar):
    return {name: tuple(p.shape) for name, p in avatar.named_parameters()}


@pytest.mark.parametrize("preset_name", ["cpu", "paper"])
def test_module_sets_and_parameter_counts_follow_the_closed_forms(toy_head, preset_name):
    avatars = {v: build(toy_head, preset_name, v)[0] for v in VARIANTS}
    model = avatars["full"].config
    ex = Expected(model, toy_head.n_expression)
    C, R, E, n_sh_geo = ex.C, model.texture_resolution, ex.E, model.field.sh_degree ** 2 + model.field.geo_features

    # (a) module sets
    full, no_offset, no_lnf, insta = (avatars[v] for v in VARIANTS)
    assert isinstance(full.codes, LatentTextures) and full.codes.textures.shape == (A, C, R, R)
    assert isinstance(no_offset.codes, LatentTextures) and no_offset.codes.textures.shape == (A, C, R, R)
    assert isinstance(no_lnf.codes, GlobalCodes) and no_lnf.codes.codes.shape == (A, C)
    assert insta.codes is None
    for a in (full, no_lnf):  # MLP-O([Z, e]): C code channels plus the expression as the per-frame condition
        assert a.field.mlp_o is not None
        assert (a.field.mlp_o.first.in_features, a.field.mlp_o.condition.in_features) == (C, E)
    assert no_offset.field.mlp_o is None and insta.field.mlp_o is None
    for a in (full, no_offset, no_lnf):
        assert a.field.mlp_c.first.in_features == n_sh_geo + C
    assert insta.field.mlp_c.first.in_features == n_sh_geo

    # "exactly one thing": the parameters (names and shapes) that differ from `full`
    ref = param_shapes(full)

    def changed(avatar):
        other = param_shapes(avatar)
        return sorted(k for k in ref.keys() | other.keys() if ref.get(k) != other.get(k))

    mlp_o = sorted(k for k in ref if k.startswith("field.mlp_o."))
    assert len(mlp_o) == 5  # first.weight/bias, condition.weight, last.weight/bias (offset_layers = 1)
    assert changed(no_offset) == mlp_o
    assert changed(no_lnf) == ["codes.codes", "codes.textures"]
    assert changed(insta) == sorted(["codes.textures", "field.mlp_c.first.weight"] + mlp_o)

    # (c) parameter counts: totals and the differences between variants, from the config
    for v, a in avatars.items():
        assert n_params(a) == ex.total(v), v
    assert n_params(full.field.mlp_o) == n_params(no_lnf.field.mlp_o) == ex.mlp_o
    assert n_params(full) - n_params(no_offset) == ex.mlp_o
    assert n_params(full) - n_params(no_lnf) == A * C * R * R - A * C
    assert n_params(no_lnf) - n_params(insta) == A * C + C * model.field.hidden + ex.mlp_o
    assert n_params(no_offset) - n_params(insta) == A * C * R * R + C * model.field.hidden


@pytest.mark.parametrize("preset_name", ["cpu", "paper"])
def test_optimiser_groups_and_learning_rates(toy_head, preset_name):
    for variant in VARIANTS:
        avatar, train = build(toy_head, preset_name, variant)
        opt = make_optimizer(avatar, train)
        groups = opt.param_groups
        has_offset = variant in ("full", "no-lnf")
        assert len(groups) == (2 if has_offset else 1), variant
        assert groups[0]["lr"] == train.lr and groups[0]["betas"] == train.betas and groups[0]["eps"] == 1e-15
        everything = {id(p) for p in avatar.parameters()}
        if has_offset:
            offset = {id(p) for p in avatar.field.mlp_o.parameters()}
            assert {id(p) for p in groups[1]["params"]} == offset
            assert groups[1]["lr"] == train.lr_offset and groups[1]["betas"] == train.betas
            assert {id(p) for p in groups[0]["params"]} == everything - offset
        else:
            assert {id(p) for p in groups[0]["params"]} == everything
        assert sum(len(g["params"]) for g in groups) == len(list(avatar.parameters()))


def test_preset_training_numbers():
    """The paper preset is DESIGN §1.8's numbers; the cpu preset changes only MLP-O's rate (fewer steps)."""
    _, paper = preset("paper")
    assert (paper.lr, paper.lr_offset, paper.betas) == (2.5e-3, 2.5e-4, (0.9, 0.99))
    assert (paper.lambda_color, paper.lambda_depth, paper.steps) == (50.0, 10.0, 15000)
    _, cpu = preset("cpu")
    assert (cpu.lr, cpu.lr_offset, cpu.betas) == (2.5e-3, 1e-3, (0.9, 0.99))
    assert (cpu.lambda_color, cpu.lambda_depth) == (50.0, 10.0)
    assert TrainConfig().lr_offset == cpu.lr_offset


def test_no_lnf_density_offset_is_mlp_o_of_the_global_code(toy_head):
    """no-lnf's Δσ = MLP-O([Z_a, e]) with Z_a the appearance's global code: a float64 hand evaluation."""
    avatar, _ = build(toy_head, "cpu", "no-lnf")
    mlp_o = avatar.field.mlp_o
    with torch.no_grad():
        for p in mlp_o.parameters():
            p.normal_(0, 0.5)
    N, G = 6, 2
    x01 = torch.rand(N, 3, generator=torch.Generator().manual_seed(1))
    d = torch.nn.functional.normalize(torch.randn(N, 3, generator=torch.Generator().manual_seed(2)), dim=-1)
    e = torch.randn(G, toy_head.n_expression, generator=torch.Generator().manual_seed(3))
    group = torch.tensor([0, 0, 0, 1, 1, 1])
    appearance = torch.tensor([0, 1, 2, 0, 1, 2])
    z = avatar.codes.lookup(torch.zeros(N, 2), appearance)
    out = avatar.field(x01, d, e, group, z)

    w = {k: v.double() for k, v in mlp_o.state_dict().items()}
    Z = avatar.codes.codes.double()[appearance]
    h = torch.relu(Z @ w["first.weight"].T + w["first.bias"] + (e.double() @ w["condition.weight"].T)[group])
    expected = (h @ w["last.weight"].T + w["last.bias"])[:, 0]
    torch.testing.assert_close(out.delta_sigma.double(), expected, atol=1e-5, rtol=1e-5)
    assert len(set(out.delta_sigma[:3].tolist())) == 3  # three appearances, three offsets


def test_config_module_is_inert():
    """pav/config.py imports nothing from pav (the nerf modules import their configs from it)."""
    tree = ast.parse((Path(__file__).resolve().parents[1] / "pav" / "config.py").read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)] + \
        [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m.startswith(("pav", "."))] and all(
        n.level == 0 for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)), imported
    from pav.config import FieldConfig, HashGridConfig
    from pav.nerf import field, hashgrid

    assert field.FieldConfig is FieldConfig and hashgrid.HashGridConfig is HashGridConfig


def test_documented_parameter_counts():
    """docs/avatar.md's counts (cpu preset, built-in head, 5 appearances) are the closed forms above."""
    import re

    from pav.head import load_head_model

    text = (Path(__file__).resolve().parents[1] / "docs" / "avatar.md").read_text()
    stated = re.findall(r"(full|no-offset|no-lnf|insta) ([\d,]+)[;\s]", text.split("5 appearances:")[1][:200])
    ex = Expected(preset("cpu")[0], load_head_model("default").n_expression, n_app=5)
    assert {v: int(n.replace(",", "")) for v, n in stated} == {v: ex.total(v) for v in VARIANTS}
    assert f"|MLP-O| = {ex.mlp_o:,}" in text
