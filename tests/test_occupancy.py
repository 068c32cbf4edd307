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


def test_vertex_extents_follow_the_occupied_cells(toy_head):
    import dataclasses

    from pav.nerf.avatar import Avatar
    from pav.train.occupancy import extent_probes, vertex_extents
    from test_avatar import small_config

    cfg = dataclasses.replace(small_config(), occupancy_resolution=40)  # 7 mm cells: finer than the shell
    avatar = Avatar(cfg, toy_head, torch.zeros(2), ["a"])
    G = avatar.occupancy.shape[0]
    cell = float(((avatar.aabb[1] - avatar.aabb[0]) / G).max())
    probes = extent_probes(avatar)
    # Everything occupied: the extent is the highest genuine probe + a cell; where no probe is cut off
    # (the toy head is convex enough: all of it) that is the whole shell.
    highest = torch.where(probes.genuine, probes.heights, torch.zeros(())).amax(1)
    ext = vertex_extents(avatar, probes)
    torch.testing.assert_close(ext, (highest + cell).clamp(max=cfg.shell_out), rtol=0, atol=1e-7)
    assert torch.allclose(ext[probes.genuine.all(1)], torch.tensor(cfg.shell_out))
    avatar.occupancy.zero_()
    ijk = (avatar.to_unit_cube(avatar.canonical_vertices) * G).long()
    avatar.occupancy[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = True  # only the cells the surface passes through
    ext = vertex_extents(avatar, probes)
    assert float(ext.min()) >= cell - 1e-6 and float(ext.max()) <= cell * (1 + 3 ** 0.5) + 1e-6


def test_per_vertex_shell_equals_scalar_shell_when_uniform(toy_head):
    from pav.camera import Camera, orbit
    from pav.nerf.sampling import ray_intervals

    cam = Camera.from_fov(orbit([0, 0, 0], 0.5, 10, 0).float(), 30, 24, 24)
    v, f = toy_head.v_template, toy_head.faces
    a = ray_intervals(v, f, cam, 0.02, 0.01, 0.05)
    b = ray_intervals(v, f, cam, torch.full((len(v),), 0.02), 0.01, 0.05)
    assert torch.equal(a.near, b.near) and torch.equal(a.far, b.far)
    c = ray_intervals(v, f, cam, 0.005, 0.01, 0.05)  # a thinner shell starts later on every hit ray
    both = a.hit & c.hit
    assert bool((c.near[both] >= a.near[both] - 1e-6).all()) and int(c.hit.sum()) < int(a.hit.sum())


def test_extent_probes_skip_points_closer_to_another_part():
    """On the built-in head, columns above the cheeks and lips run into the nose and the other lip: those
    probes must not count. Oracle: the exact float64 pure-torch distance."""
    from pav.geometry import closest_points
    from pav.head import load_head_model
    from pav.nerf.avatar import Avatar
    from pav.train.occupancy import extent_probes
    from pav.config import ModelConfig

    head = load_head_model("default")
    avatar = Avatar(ModelConfig(), head, torch.zeros(10), ["a"])  # the real 4.5 cm shell
    probes = extent_probes(avatar, steps=12)
    cell = float(((avatar.aabb[1] - avatar.aabb[0]) / avatar.occupancy.shape[0]).max())
    d = closest_points(probes.points.reshape(-1, 3).double(), avatar.canonical_vertices.double(), head.faces,
                       backend="torch").distance.abs().view(probes.genuine.shape)
    margin = d - (probes.heights.double() - cell)
    clear = margin.abs() > 1e-6
    assert torch.equal(probes.genuine[clear], (margin >= 0)[clear]) and probes.genuine[:, 0].all()
    cut = (~probes.genuine).any(1)
    assert 0.05 < float(cut.float().mean()) < 0.8  # ears, lips, eyes, neck: many columns, not all
