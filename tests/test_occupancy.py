"""The occupancy grid: reachable cells against a brute-force distance, and the update rule."""
import torch

from pav.train.occupancy import cell_centres, shell_cells, update_occupancy
from test_avatar import make_avatar


def test_shell_cells_equal_brute_force(toy_head):
    from pav.geometry import closest_points

    avatar = make_avatar(toy_head)
    G, cfg = avatar.occupancy.shape[0], avatar.config
    centres = cell_centres(G, avatar.aabb)
    d = closest_points(centres, avatar.canonical_vertices, avatar.head.faces, backend="torch").distance
    half_diag = 0.5 * float(((avatar.aabb[1] - avatar.aabb[0]) / G).norm())
    expected = ((d <= cfg.shell_out + half_diag) & (d >= -cfg.shell_in - half_diag)).view(G, G, G)
    got = shell_cells(avatar)
    assert torch.equal(got, expected) and 0 < int(got.sum()) < G ** 3


def test_update_keeps_dense_cells_and_drops_empty_ones(toy_head):
    avatar = make_avatar(toy_head)  # density exp(4) ≈ 55 everywhere: every reachable cell stays occupied
    reachable = shell_cells(avatar)
    g = torch.Generator().manual_seed(0)
    frac = update_occupancy(avatar, reachable, torch.zeros(3, 2), g)
    assert frac == 1.0 and torch.equal(avatar.occupancy, reachable)
    with torch.no_grad():
        avatar.field.mlp_d.last.bias[0] = -30.0  # empty field: the max-decay estimate falls below 1
    for _ in range(80):  # 55 · 0.95^80 ≈ 0.9 < 1
        frac = update_occupancy(avatar, reachable, torch.zeros(3, 2), g)
    assert frac == 0.0 and not avatar.occupancy.any()
