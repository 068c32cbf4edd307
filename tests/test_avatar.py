"""The avatar's render path against a plain per-sample reference, its shell cut, blending and checkpoints."""

import pytest
import torch

from pav.camera import Camera, orbit
from pav.checkpoint import load_avatar, read_metadata, save_avatar
from pav.config import ModelConfig
from pav.geometry import canonicalize
from pav.geometry import closest_on_faces
from pav.geometry import nearest_faces
from pav.geometry.closest import _sq_dist_to_faces
from pav.nerf.avatar import Avatar
from pav.nerf.sampling import stratified_samples
from pav.nerf.volume import composite


def small_config(variant="full"):
    from pav.nerf.hashgrid import HashGridConfig

    return ModelConfig(variant=variant, hashgrid=HashGridConfig(n_levels=4, log2_hashmap_size=10, finest_resolution=64),
                       texture_resolution=16, texture_channels=4, samples_per_ray=8, occupancy_resolution=8)


def make_avatar(toy_head, variant="full", seed=0):
    torch.manual_seed(seed)
    avatar = Avatar(small_config(variant), toy_head, torch.tensor([0.1, -0.2]), ["beard", "short"])
    with torch.no_grad():  # visible density and colour from the start
        avatar.field.mlp_d.last.bias[0] = 4.0
        for p in avatar.parameters():
            if p.ndim == 4:  # latent textures: clearly different per appearance
                p.normal_(0, 1.0)
    return avatar


def reference_render_rays(avatar, origins, dirs, near, far, vertices, expression, appearance, background):
    """Per-frame, per-sample plain reference: brute-force nearest triangle, geometry.canonicalize, field,
    then compositing — no occupancy grid, no packing."""
    cfg = avatar.config
    s = stratified_samples(near, far, cfg.samples_per_ray, jitter=False)
    R, K = s.t.shape
    x = (origins[:, None] + s.t[..., None] * dirs[:, None]).reshape(-1, 3).double()
    d = dirs[:, None].expand(R, K, 3).reshape(-1, 3).double()
    v = vertices[0].double()
    # Off the surface, the nearest feature is often a shared vertex or edge: several triangles tie. Accept
    # the accelerated search's choice where it is one of the nearest (brute force decides), then use it.
    dist = _sq_dist_to_faces(x[:, None], v[avatar.head.faces][None]).sqrt()  # (N, F) brute force
    face = nearest_faces(x.float(), vertices[0], avatar.head.faces)
    gap = dist.gather(1, face[:, None])[:, 0] - dist.min(1).values
    assert float(gap.max()) <= 1e-6, "the accelerated nearest-triangle search missed the nearest triangle"
    c = canonicalize(x, v, avatar.canonical_vertices.double(), avatar.head.faces, directions=d,
                     closest=closest_on_faces(x, v, avatar.head.faces, face))
    inside = (c.distance <= cfg.shell_out) & (c.distance >= -cfg.shell_in)
    uv = (c.bary[:, :, None] * avatar.face_uv[c.face_id].double()).sum(1)
    x01 = avatar.to_unit_cube(c.points.float())
    z = avatar.codes.lookup(uv.float(), torch.full((R * K,), appearance)) if avatar.codes is not None else None
    out = avatar.field(x01.clamp(0, 1), c.directions.float(), expression, torch.zeros(R * K, dtype=torch.long), z)
    sigma = torch.where(inside, out.sigma.double(), 0.0).view(R, K)
    return composite(sigma, out.rgb.double().view(R, K, 3), s.t.double(), s.dt.double(), background.double())


def frame_rays(avatar, n=64):
    cam = Camera.from_fov(orbit([0, 0, 0], 0.5, 25, 10).float(), 30, 32, 32)
    o, d = cam.rays()
    idx = torch.randperm(32 * 32, generator=torch.Generator().manual_seed(0))[:n]
    o, d = o.reshape(-1, 3)[idx], d.reshape(-1, 3)[idx]
    t_c = -(o * d).sum(-1)  # distance to the closest approach to the origin
    return o, d, t_c - 0.12, t_c + 0.12


@pytest.mark.parametrize("variant", ["full", "no-lnf", "insta"])
def test_render_rays_matches_reference(toy_head, variant):
    avatar = make_avatar(toy_head, variant)
    e = torch.tensor([[0.6, -0.3]])
    pose = torch.zeros(1, 5, 3)
    pose[0, 2, 0] = 0.2
    vertices = avatar.deform(e, pose)
    o, d, near, far = frame_rays(avatar)
    bg = torch.tensor([0.2, 0.5, 0.9])
    with torch.no_grad():
        out = avatar.render_rays(o, d, near, far, torch.zeros(len(o), dtype=torch.long), vertices, e,
                                 torch.tensor([1]), bg, use_occupancy=False)
        ref = reference_render_rays(avatar, o, d, near, far, vertices, e, 1, bg)
    assert float(ref.alpha.max()) > 0.5 and float(ref.alpha.min()) == 0.0  # hits and misses
    torch.testing.assert_close(out.rgb.double(), ref.rgb, atol=2e-5, rtol=0)
    torch.testing.assert_close(out.alpha.double(), ref.alpha, atol=2e-5, rtol=0)


def test_nothing_outside_the_shell(toy_head):
    avatar = make_avatar(toy_head)
    vertices = avatar.deform(torch.zeros(1, 2), torch.zeros(1, 5, 3))
    # rays passing 0.2 m beside the head never come within the 3 cm shell
    o = torch.tensor([[0.3, 0.0, 0.5], [-0.3, 0.1, 0.5]])
    d = torch.tensor([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0]])
    out = avatar.render_rays(o, d, torch.full((2,), 0.2), torch.full((2,), 0.8), torch.zeros(2, dtype=torch.long),
                             vertices, torch.zeros(1, 2), torch.tensor([0]), torch.tensor([0.1, 0.2, 0.3]))
    assert out.alpha.tolist() == [0.0, 0.0] and out.n_field_samples == 0
    torch.testing.assert_close(out.rgb, torch.tensor([[0.1, 0.2, 0.3]] * 2))


def test_appearance_selection_and_blending(toy_head):
    avatar = make_avatar(toy_head)
    cam = Camera.from_fov(orbit([0, 0, 0], 0.5, 0, 0).float(), 30, 24, 24)
    e, p = torch.zeros(2), torch.zeros(5, 3)
    by_name = avatar.render(cam, e, p, "short")
    by_index = avatar.render(cam, e, p, 1)
    by_weights = avatar.render(cam, e, p, [0.0, 2.0])
    torch.testing.assert_close(by_name.rgb, by_index.rgb)
    torch.testing.assert_close(by_name.rgb, by_weights.rgb)
    other = avatar.render(cam, e, p, "beard")
    assert (other.rgb - by_name.rgb).abs().max() > 0.005  # appearances differ
    half = avatar.render(cam, e, p, [0.5, 0.5])
    assert float((half.rgb - by_name.rgb).abs().mean()) < float((other.rgb - by_name.rgb).abs().mean())
    for bad, msg in (("long", "not one of"), (5, "out of range"), ([1.0], "2 non-negative"),
                     ([float("nan"), 1.0], "finite")):
        with pytest.raises(ValueError, match=msg):
            avatar.render(cam, e, p, bad)


def test_render_depth_is_camera_z_of_the_surface(toy_head):
    avatar = make_avatar(toy_head)
    with torch.no_grad():
        avatar.field.mlp_d.last.bias[0] = 12.0  # nearly opaque right at the shell entry
    cam = Camera.from_fov(orbit([0, 0, 0], 0.5, 0, 0).float(), 20, 16, 16)
    out = avatar.render(cam, torch.zeros(2), torch.zeros(5, 3), 0)
    centre = float(out.depth[8, 8])
    # the front of the toy head (nose tip) is at z ≈ 0.11·0.9·1.25 m: the depth is within the shell in front
    nose_z = float(toy_head.v_template[:, 2].max())
    assert 0.5 - nose_z - avatar.config.shell_out - 0.005 <= centre <= 0.5 - nose_z + 0.005


def test_checkpoint_round_trip_and_errors(tmp_path, toy_head):
    avatar = make_avatar(toy_head)
    path = tmp_path / "a.pav"
    head_file = tmp_path / "toy.npz"
    import numpy as np
    np.savez(head_file, **toy_head.to_npz_dict())
    save_avatar(avatar, path, head_spec=str(head_file), info={"steps": 3})
    meta = read_metadata(path)
    assert meta["appearances"] == ["beard", "short"] and meta["info"] == {"steps": 3}
    import pav
    loaded = pav.load_avatar(path)
    assert loaded.appearances == ["beard", "short"]
    cam = Camera.from_fov(orbit([0, 0, 0], 0.5, 30, 0).float(), 30, 16, 16)
    a = avatar.render(cam, torch.zeros(2), torch.zeros(5, 3), 1).rgb
    b = loaded.render(cam, torch.zeros(2), torch.zeros(5, 3), 1).rgb
    assert torch.equal(a, b)
    cut = tmp_path / "cut.pav"
    cut.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ValueError, match="not a readable PAV checkpoint"):
        load_avatar(cut)
    text = tmp_path / "notes.pav"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a readable PAV checkpoint"):
        load_avatar(text)
    from safetensors.torch import save_file
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(ValueError, match="not a PAV avatar checkpoint"):
        load_avatar(foreign)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_avatar(tmp_path / "missing.pav")
    with pytest.raises(ValueError, match="was trained with head model 'toy-head'"):
        load_avatar(path, head_model="default")
