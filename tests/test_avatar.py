"""The avatar's render path against a float64 reference written here from the spec (hash grid, latent
textures, MLPs, SH, TruncExp, compositing), forward and backward; its shell cut, depth, blending and
checkpoints.

The reference reads the avatar's own weights out of its state dict and evaluates them with plain float64
ops; it shares no code with pav.nerf. Only the closest point's barycentrics and signed distance come from
pav.geometry (`closest_on_faces`, and `_sq_dist_to_faces` for the brute-force nearest-triangle check),
which tests/test_geometry_closest.py checks against an independent point-triangle formulation and brute
force; the nearest triangle is the renderer's own choice, verified here by brute force; the canonical map
itself is solved here.
"""
import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch

from pav.camera import Camera, orbit
from pav.checkpoint import load_avatar, read_metadata, save_avatar
from pav.config import ModelConfig
from pav.geometry import closest_on_faces
from pav.geometry.closest import _sq_dist_to_faces, nearest_faces_reference
from pav.nerf.avatar import Avatar
from pav.nerf.sampling import ray_intervals


def small_config(variant="full"):
    from pav.nerf.hashgrid import HashGridConfig

    return ModelConfig(variant=variant, hashgrid=HashGridConfig(n_levels=4, log2_hashmap_size=10, finest_resolution=64),
                       texture_resolution=16, texture_channels=4, samples_per_ray=8, occupancy_resolution=8)


def make_avatar(toy_head, variant="full", seed=0, config=None):
    torch.manual_seed(seed)
    avatar = Avatar(config or small_config(variant), toy_head, torch.tensor([0.1, -0.2]), ["beard", "short"])
    with torch.no_grad():  # visible density and colour from the start
        avatar.field.mlp_d.last.bias[0] = 4.0
        for p in avatar.parameters():
            if p.ndim == 4:  # latent textures: clearly different per appearance
                p.normal_(0, 1.0)
    return avatar


def make_reference_avatar(toy_head, variant="full", seed=0):
    """An avatar whose every part matters: a hash table of ±1 (not ±1e−4) and a non-zero MLP-O; a grid
    with growth 2 (8 → 64 over 4 levels): level 0 dense (8³ = 512 rows), levels 1-3 hashed (T = 2^10)."""
    from pav.nerf.hashgrid import HashGridConfig

    config = dataclasses.replace(small_config(variant), hashgrid=HashGridConfig(
        n_levels=4, base_resolution=8, log2_hashmap_size=10, finest_resolution=64))
    avatar = make_avatar(toy_head, variant, seed, config)
    with torch.no_grad():
        avatar.field.encoder.params.uniform_(-1.0, 1.0)
        if avatar.field.mlp_o is not None:  # MLP-O starts at zero: give it a visible Δσ
            avatar.field.mlp_o.last.weight.normal_(0, 0.5)
            avatar.field.mlp_o.last.bias.fill_(-0.3)
    return avatar


# ---- the float64 reference -----------------------------------------------------------------------------
def weights64(avatar):
    """The avatar's parameters as float64 leaves (name → tensor) for the reference to differentiate."""
    return {n: p.detach().double().requires_grad_() for n, p in avatar.named_parameters()}


def reference_hashgrid(table, x, config):
    """Instant-NGP / tcnn hash encoding (docs/hashgrid.md), one level and one corner at a time, in float64.
    table (rows, F) is the canonical flat table; x (N, 3) in [0, 1]. With growth 2 every float32 scale
    N_min·2^l − 1 is exact, so the level geometry is computed here in plain Python."""
    assert config.growth == 2.0 and config.n_levels == 4
    T, out, offset = 2 ** config.log2_hashmap_size, [], 0
    for level in range(config.n_levels):
        scale = config.base_resolution * 2 ** level - 1
        res = scale + 1                                  # ceil(scale) + 1 vertices per axis
        rows = min(-(-res ** 3 // 8) * 8, T)             # padded to a multiple of 8, at most T
        pos = x * scale + 0.5
        cell = pos.floor()
        frac = pos - cell
        y = 0.0
        for bits in itertools.product((0, 1), repeat=3):  # (bit x, bit y, bit z)
            c = [int(b) + cell[:, d].long() for d, b in enumerate(bits)]
            if res ** 3 <= T:   # dense, x fastest
                index = (c[0] + c[1] * res + c[2] * res * res) % rows
            else:               # tcnn's coherent-prime hash, mod 2^32
                index = ((c[0] * 1) ^ (c[1] * 2654435761) ^ (c[2] * 805459861)) % 2 ** 32 % rows
            weight = 1.0
            for d, b in enumerate(bits):
                weight = weight * (frac[:, d] if b else 1.0 - frac[:, d])
            y = y + weight[:, None] * table[offset + index]
        out.append(y)
        offset += rows
    assert offset == table.shape[0], "the table does not have the spec's rows"
    return torch.cat(out, 1)  # (N, L·F), level-major


def reference_sh(d, bands):
    """Real spherical harmonics from the general formula, float64: for l < bands, m = −l..l,
    Y_lm = K_lm · P_l^|m|(cos θ) · (√2 cos mφ | 1 | √2 sin |m|φ) for m > 0 | m = 0 | m < 0,
    K_lm = √((2l+1)/4π · (l−|m|)!/(l+|m|)!), P_l^m without the Condon–Shortley phase (so Y_1 = K·(y, z, x),
    all positive). The coefficients are not written out: they come from numpy's Legendre polynomials."""
    x, y, z = d.detach().double().numpy().T
    phi, sin_theta = np.arctan2(y, x), np.hypot(x, y)
    out = []
    for l in range(bands):
        for m in range(-l, l + 1):
            am = abs(m)
            legendre = np.polynomial.legendre.Legendre.basis(l).deriv(am)(z) * sin_theta ** am
            k = math.sqrt((2 * l + 1) / (4 * math.pi) * math.factorial(l - am) / math.factorial(l + am))
            ang = math.sqrt(2) * np.cos(m * phi) if m > 0 else math.sqrt(2) * np.sin(am * phi) if m < 0 else 1.0
            out.append(k * legendre * ang)
    return torch.from_numpy(np.stack(out, 1))


def reference_bilinear(texture, uv):
    """texture (C, H, W), OBJ uv (N, 2) → (N, C): texel (i, j) centred at u = (j + ½)/W, v = 1 − (i + ½)/H,
    bilinear between the four nearest texel centres, clamped at the border."""
    C, H, W = texture.shape
    px = (uv[:, 0] * W - 0.5).clamp(0, W - 1)
    py = ((1 - uv[:, 1]) * H - 0.5).clamp(0, H - 1)
    j0, i0 = px.floor().long().clamp(max=W - 2), py.floor().long().clamp(max=H - 2)
    fx, fy = px - j0, py - i0
    return ((1 - fy) * (1 - fx) * texture[:, i0, j0] + (1 - fy) * fx * texture[:, i0, j0 + 1]
            + fy * (1 - fx) * texture[:, i0 + 1, j0] + fy * fx * texture[:, i0 + 1, j0 + 1]).T


def reference_mlp(P, name, x, condition=None):
    """One weight matrix on the concatenated input [x, condition] (N, D_x + D_c), ReLU hidden layers."""
    w, inp = P[f"{name}.first.weight"], x
    if condition is not None:
        w, inp = torch.cat([w, P[f"{name}.condition.weight"]], 1), torch.cat([x, condition], 1)
    h = torch.relu(inp @ w.T + P[f"{name}.first.bias"])
    for i in itertools.count():
        if f"{name}.hidden.{i}.weight" not in P:
            break
        h = torch.relu(h @ P[f"{name}.hidden.{i}.weight"].T + P[f"{name}.hidden.{i}.bias"])
    return h @ P[f"{name}.last.weight"].T + P[f"{name}.last.bias"]


def trunc_exp(s):
    """exp(s) forward; backward with exp(min(s, 15)) (Instant-NGP's truncated exp), as a straight-through."""
    return torch.exp(s).detach() + (s - s.detach()) * torch.exp(s.clamp(max=15.0)).detach()


def reference_field(P, avatar, x01, d_c, e, z):
    """x01 (N, 3), unit d_c (N, 3), per-sample expression e (N, E), Z^x (N, C) or None → σ, rgb, Δσ:
    (σ_raw, g) = MLP-D([φ(x), e]); Δσ = MLP-O([Z^x, e]); σ = exp(σ_raw + Δσ) (TruncExp);
    rgb = sigmoid(MLP-C([SH(d), g, Z^x])) — MLP-C's input columns in that order."""
    h = reference_mlp(P, "field.mlp_d", reference_hashgrid(P["field.encoder.params"], x01, avatar.config.hashgrid), e)
    delta = reference_mlp(P, "field.mlp_o", z, e)[:, 0] if avatar.field.mlp_o is not None else torch.zeros_like(h[:, 0])
    color_in = [reference_sh(d_c, avatar.config.field.sh_degree), h[:, 1:]] + ([z] if z is not None else [])
    rgb = torch.sigmoid(reference_mlp(P, "field.mlp_c", torch.cat(color_in, 1)))
    return trunc_exp(h[:, 0] + delta), rgb, delta


def latent_codes(P, avatar, uv, appearance):
    """Z^x (N, C): per-sample appearance indices (N,) int64, or weights (A,): Σ_a w_a · lookup(Z_a)."""
    if avatar.codes is None:
        return None
    if "codes.codes" in P:  # no-lnf: one global vector per appearance
        codes = P["codes.codes"]
        if appearance.is_floating_point():
            return (appearance.double() @ codes).expand(len(uv), -1)
        return codes[appearance]
    tex = P["codes.textures"]
    if appearance.is_floating_point():
        return sum(w * reference_bilinear(tex[a], uv) for a, w in enumerate(appearance.tolist()))
    out = torch.zeros(len(uv), tex.shape[1], dtype=torch.float64)
    for a in range(tex.shape[0]):
        out = torch.where((appearance == a)[:, None], reference_bilinear(tex[a], uv), out)
    return out


def frames(vertices, faces):
    """(F, 3, 3) per-triangle frames [b − a | c − a | unit normal] as columns."""
    a, b, c = vertices[faces].unbind(1)
    n = torch.linalg.cross(b - a, c - a)
    return torch.stack([b - a, c - a, n / n.norm(dim=-1, keepdim=True)], -1)


def record_nearest_faces(monkeypatch):
    """Spy on the renderer's nearest-triangle search: a list that receives each call's face ids (N,). Where
    the search answers "no surface point within the radius" (−1), brute force checks that answer and the
    list receives the true nearest triangle instead (the reference needs one to decide "outside the shell")."""
    from pav.geometry.posed import PosedMesh

    calls, search = [], PosedMesh.closest_in_shell

    def spy(self, points, radius):
        found = search(self, points, radius)
        face = found.face_id.clone()
        far = face < 0
        if far.any():
            p = points.reshape(-1, 3)[far]
            nearest = nearest_faces_reference(p, self.vertices, self.faces)
            distance = _sq_dist_to_faces(p.double(), self.vertices.double()[self.faces][nearest]).sqrt()
            assert bool((distance >= radius * (1 - 1e-6)).all()), "a sample within the radius was answered as outside"
            face[far] = nearest
        calls.append(face)
        return found

    monkeypatch.setattr(PosedMesh, "closest_in_shell", spy)
    return calls


def reference_geometry(avatar, x, d, vertices, face):
    """One frame's samples x (N, 3) and ray directions d (N, 3), float64, with the renderer's nearest
    triangles face (N,) → canonical unit-cube points, canonical unit directions, UVs, and the shell mask.
    x_c = T_c T_d⁻¹ (x − a_d) + a_c (solved here)."""
    faces, v, v_c = avatar.head.faces, vertices.double(), avatar.canonical_vertices.double()
    # Off the surface the nearest feature is often a vertex or edge shared by several triangles, whose
    # maps differ: any of them is correct, and a last-bit change of x may flip the choice. So use the
    # renderer's own choice, and check by brute force that it is one of the nearest: no triangle is closer
    # (exact distances to every triangle whose bounding sphere does not already rule it out).
    tri = v[faces]
    centre = tri.mean(1)
    radius = (tri - centre[:, None]).norm(dim=-1).amax(1)
    chosen = _sq_dist_to_faces(x, tri[face]).sqrt()
    pair, other = ((torch.cdist(x, centre) - radius) < chosen[:, None] - 1e-6).nonzero(as_tuple=True)
    assert bool((_sq_dist_to_faces(x[pair], tri[other]).sqrt() >= chosen[pair] - 1e-6).all())
    cp = closest_on_faces(x, v, faces, face)
    cfg = avatar.config
    margin = torch.minimum((cp.distance - cfg.shell_out).abs(), (cp.distance + cfg.shell_in).abs())
    assert float(margin.min()) > 1e-6, "a sample sits on the shell boundary: float32 and float64 may disagree"
    inside = (cp.distance <= cfg.shell_out) & (cp.distance >= -cfg.shell_in)
    t_d, t_c = frames(v, faces)[face], frames(v_c, faces)[face]
    a_d, a_c = v[faces[face, 0]], v_c[faces[face, 0]]
    x_c = (t_c @ torch.linalg.solve(t_d, (x - a_d)[..., None]))[..., 0] + a_c
    d_c = (t_c @ torch.linalg.solve(t_d, d[..., None]))[..., 0]
    lo, hi = avatar.aabb.double()
    uv = (cp.bary[:, :, None] * avatar.face_uv[face].double()).sum(1)
    return (x_c - lo) / (hi - lo), d_c / d_c.norm(dim=-1, keepdim=True), uv, inside


def reference_render_rays(avatar, P, origins, dirs, near, far, group, vertices, expression, appearance, background,
                          chosen_faces):
    """Per-sample float64 render: K bin-centre samples in [near, far], the frame's canonical map, the shell
    cut, the reference field, then front-to-back compositing over the background (no occupancy grid).
    chosen_faces: per frame g (in increasing order), the renderer's nearest triangle of each sample (R_g·K,).
    Returns rgb (R, 3), alpha (R,), depth (R,) = Σ w t / max(Σ w, 1e−6) (ray distance)."""
    R, K = len(origins), avatar.config.samples_per_ray
    step = (far.double() - near.double()) / K
    t = near.double()[:, None] + (torch.arange(K, dtype=torch.float64) + 0.5) * step[:, None]  # (R, K)
    sigma = torch.zeros(R, K, dtype=torch.float64)
    rgb = torch.zeros(R, K, 3, dtype=torch.float64)
    for g, face in zip(group.unique().tolist(), chosen_faces, strict=True):
        rays = (group == g).nonzero()[:, 0]
        x = (origins[rays].double()[:, None] + t[rays, :, None] * dirs[rays].double()[:, None]).reshape(-1, 3)
        d = dirs[rays].double()[:, None].expand(-1, K, 3).reshape(-1, 3)
        x01, d_c, uv, inside = reference_geometry(avatar, x, d, vertices[g], face)
        assert bool(((x01[inside] >= 0) & (x01[inside] <= 1)).all())  # the shell lies in the field's box
        n = int(inside.sum())
        a = appearance if appearance.is_floating_point() else appearance[g].expand(n)
        s, c, _ = reference_field(P, avatar, x01[inside], d_c[inside], expression[g].double().expand(n, -1),
                                  latent_codes(P, avatar, uv[inside], a))
        cols = torch.arange(K).repeat(len(rays))[inside]
        sigma = sigma.index_put((rays.repeat_interleave(K)[inside], cols), s)
        rgb = rgb.index_put((rays.repeat_interleave(K)[inside], cols), c)
    bg = background.double().expand(R, 3)
    transmittance, color, acc, t_sum = torch.ones(R, dtype=torch.float64), 0.0, 0.0, 0.0
    for k in range(K):
        alpha_k = 1.0 - torch.exp(-sigma[:, k] * step)
        w = transmittance * alpha_k
        color, acc, t_sum = color + w[:, None] * rgb[:, k], acc + w, t_sum + w * t[:, k]
        transmittance = transmittance * (1.0 - alpha_k)
    return color + transmittance[:, None] * bg, acc, t_sum / acc.clamp_min(1e-6)


def frame_rays(n=64):
    cam = Camera.from_fov(orbit([0, 0, 0], 0.5, 25, 10).float(), 30, 32, 32)
    o, d = cam.rays()
    idx = torch.randperm(32 * 32, generator=torch.Generator().manual_seed(0))[:n]
    o, d = o.reshape(-1, 3)[idx], d.reshape(-1, 3)[idx]
    t_c = -(o * d).sum(-1)  # distance to the closest approach to the origin
    return o, d, t_c - 0.12, t_c + 0.12


def two_frames(avatar):
    """Two frames with different expressions and poses: expression (2, E), vertices (2, V, 3)."""
    e = torch.tensor([[0.6, -0.3], [-0.4, 0.8]])
    pose = torch.zeros(2, 5, 3)
    pose[0, 2, 0], pose[1, 1, 1] = 0.2, 0.15
    return e, avatar.deform(e, pose)


def assert_grads_close(avatar, P, atol_scale=1e-4, rtol=1e-4):
    """Every parameter's gradient (zero where none arrived) against the float64 reference's."""
    for name, p in avatar.named_parameters():
        ref = P[name].grad if P[name].grad is not None else torch.zeros_like(P[name])
        got = p.grad.double() if p.grad is not None else torch.zeros_like(ref)
        torch.testing.assert_close(got, ref, rtol=rtol, atol=atol_scale * float(ref.abs().max()) + 1e-12,
                                   msg=lambda m: f"gradient of {name}: {m}")


@pytest.mark.parametrize("variant,appearance", [("full", [1, 0]), ("full", [0.3, 0.7]), ("no-offset", [0, 1]),
                                                ("no-lnf", [1, 0]), ("no-lnf", [0.3, 0.7]), ("insta", [0, 0])])
def test_render_rays_matches_float64_reference(toy_head, monkeypatch, variant, appearance):
    """render_rays on rays of two frames (alternating) against the reference: colour, alpha, depth, and the
    gradients of every parameter (hash table, latent textures or codes, MLP-D/O/C) for a random upstream."""
    avatar = make_reference_avatar(toy_head, variant)
    e, vertices = two_frames(avatar)
    o, d, near, far = frame_rays()
    group = torch.arange(len(o)) % 2
    appearance = torch.tensor(appearance)  # per frame (int) or blend weights (float)
    bg = torch.rand(len(o), 3, generator=torch.Generator().manual_seed(1))
    chosen = record_nearest_faces(monkeypatch)
    out = avatar.render_rays(o, d, near, far, group, vertices, e, appearance, bg, use_occupancy=False)
    P = weights64(avatar)
    ref_rgb, ref_alpha, ref_depth = reference_render_rays(avatar, P, o, d, near, far, group, vertices, e,
                                                          appearance, bg, chosen)
    assert float(ref_alpha.detach().max()) > 0.9 and float(ref_alpha.detach().min()) == 0.0  # hits and misses
    torch.testing.assert_close(out.rgb.double(), ref_rgb, atol=2e-5, rtol=0)
    torch.testing.assert_close(out.alpha.double(), ref_alpha, atol=2e-5, rtol=0)
    hit = ref_alpha.detach() > 1e-3  # depth is Σ w t / max(Σ w, 1e−6): ill-conditioned where nothing is hit
    torch.testing.assert_close(out.depth.double()[hit], ref_depth[hit], atol=2e-5, rtol=0)
    gen = torch.Generator().manual_seed(2)
    g_rgb, g_alpha, g_depth = torch.randn(len(o), 3, generator=gen), torch.randn(len(o), generator=gen), \
        torch.randn(len(o), generator=gen) * hit
    ((out.rgb * g_rgb).sum() + (out.alpha * g_alpha).sum() + (out.depth * g_depth).sum()).backward()
    ((ref_rgb * g_rgb).sum() + (ref_alpha * g_alpha).sum() + (ref_depth * g_depth).sum()).backward()
    assert_grads_close(avatar, P)


def test_field_matches_float64_reference_with_truncated_exp(toy_head):
    """The field alone, densities straddling the TruncExp clamp (σ_raw + Δσ from ~12 to ~18): σ, Δσ, rgb
    and every parameter gradient; above 15 the gradient uses exp(15), not exp(σ_raw + Δσ)."""
    avatar = make_reference_avatar(toy_head)
    gen = torch.Generator().manual_seed(3)
    N = 300
    x01 = torch.rand(N, 3, generator=gen) * 0.9 + 0.05
    d = torch.nn.functional.normalize(torch.randn(N, 3, generator=gen), dim=-1)
    e = torch.randn(2, 2, generator=gen)
    group = torch.randint(0, 2, (N,), generator=gen)
    z = torch.randn(N, 4, generator=gen)
    with torch.no_grad():  # a wide spread of σ_raw + Δσ, centred on the clamp at 15
        avatar.field.mlp_d.last.weight[0] *= 16.0
        s = torch.log(avatar.field(x01, d, e, group, z).sigma)
        avatar.field.mlp_d.last.bias[0] += 15.0 - s.median()
    out = avatar.field(x01, d, e, group, z)
    P = weights64(avatar)
    z64 = z.double().requires_grad_()
    sigma, rgb, delta = reference_field(P, avatar, x01.double(), d.double(), e.double()[group], z64)
    s = torch.log(sigma.detach())
    assert int((s > 15.5).sum()) > 30 and int((s < 14.5).sum()) > 30, "samples must straddle the clamp"
    torch.testing.assert_close(out.sigma.double(), sigma, rtol=1e-5, atol=0)
    torch.testing.assert_close(out.delta_sigma.double(), delta, rtol=0, atol=1e-5)
    torch.testing.assert_close(out.rgb.double(), rgb, rtol=0, atol=1e-6)
    g_sigma, g_rgb = torch.randn(N, generator=gen) / sigma.detach().float(), torch.randn(N, 3, generator=gen)
    ((out.sigma * g_sigma).sum() + (out.rgb * g_rgb).sum()).backward()
    ((sigma * g_sigma).sum() + (rgb * g_rgb).sum()).backward()
    assert_grads_close(avatar, P)


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


def test_blending_renders_the_weighted_texture(toy_head):
    """Weights (1, 3) render exactly what one appearance whose texture is ¼ Z_0 + ¾ Z_1 renders."""
    avatar = make_reference_avatar(toy_head)  # MLP-O on: the blend changes density too
    cam = Camera.from_fov(orbit([0, 0, 0], 0.5, 0, 0).float(), 30, 16, 16)
    e, p = torch.zeros(2), torch.zeros(5, 3)
    blend = avatar.render(cam, e, p, [1.0, 3.0])
    pure = [avatar.render(cam, e, p, a) for a in ("beard", "short")]
    by_index = avatar.render(cam, e, p, 1)
    torch.testing.assert_close(pure[1].rgb, by_index.rgb, rtol=0, atol=0)
    torch.testing.assert_close(pure[1].rgb, avatar.render(cam, e, p, [0.0, 2.0]).rgb, rtol=0, atol=0)
    with torch.no_grad():
        tex = avatar.codes.textures
        tex[0] = (0.25 * tex[0].double() + 0.75 * tex[1].double()).float()
    mixed = avatar.render(cam, e, p, 0)
    torch.testing.assert_close(blend.rgb, mixed.rgb, rtol=0, atol=1e-6)
    torch.testing.assert_close(blend.alpha, mixed.alpha, rtol=0, atol=1e-6)
    for other in pure:  # …and that is neither pure appearance (colour, and density through MLP-O)
        assert float((other.rgb - blend.rgb).abs().max()) > 0.03
        assert float((other.alpha - blend.alpha).abs().max()) > 0.05
    for bad, msg in (("long", "not one of"), (5, "out of range"), ([1.0], "2 non-negative"),
                     ([float("nan"), 1.0], "finite")):
        with pytest.raises(ValueError, match=msg):
            avatar.render(cam, e, p, bad)


def test_render_depth_is_camera_z_of_the_expected_termination(toy_head, monkeypatch):
    """Off-centre pixels, where ray distance t and camera z differ: depth = (Σ w t / Σ w) · cos, with cos the
    cosine of the angle between the pixel's ray and the optical axis (from the intrinsics), t from the
    reference render."""
    avatar = make_reference_avatar(toy_head)
    cam = Camera.from_fov(orbit([0, 0, 0], 0.45, 0, 0).float(), 40, 16, 16)
    chosen = record_nearest_faces(monkeypatch)
    out = avatar.render(cam, torch.zeros(2), torch.zeros(5, 3), [0.0, 1.0])
    pixels = torch.tensor([[8, 8], [5, 6], [10, 4], [11, 11], [6, 10]])  # (row, column)
    i, j = pixels.unbind(1)
    d_cam = torch.stack([(j + 0.5 - cam.cx) / cam.fx, (i + 0.5 - cam.cy) / cam.fy, torch.ones(len(i))], 1).double()
    cos = 1.0 / d_cam.norm(dim=-1)
    dirs = (d_cam * cos[:, None]) @ cam.c2w[:3, :3].double().T
    vertices = avatar.deform(torch.zeros(1, 2), torch.zeros(1, 5, 3))
    cfg = avatar.config
    iv = ray_intervals(vertices[0], avatar.head.faces, cam, avatar.vertex_extent, cfg.shell_in, cfg.max_chord)
    K, hits = cfg.samples_per_ray, iv.hit.reshape(-1).nonzero()[:, 0].tolist()  # render() renders the hits in order
    (faces,) = chosen
    faces = torch.cat([faces[hits.index(p) * K:(hits.index(p) + 1) * K] for p in (i * cam.width + j).tolist()])
    with torch.no_grad():
        _, alpha, t = reference_render_rays(avatar, weights64(avatar), cam.c2w[:3, 3].expand(len(i), 3),
                                            dirs.float(), iv.near[i, j], iv.far[i, j],
                                            torch.zeros(len(i), dtype=torch.long), vertices, torch.zeros(1, 2),
                                            torch.tensor([0.0, 1.0]), torch.ones(3), [faces])
    assert float(alpha.min()) > 0.5  # every chosen pixel sees the head
    z = t * cos
    assert float((t - z)[1:].abs().min()) > 2e-3  # off centre, t and z differ by far more than the tolerance
    torch.testing.assert_close(out.depth[i, j].double(), z, rtol=0, atol=5e-5)
    torch.testing.assert_close(out.alpha[i, j].double(), alpha, rtol=0, atol=5e-5)


def test_render_is_the_same_in_any_chunking(toy_head):
    """`render` splits the rays into chunks; each ray is rendered on its own, so a chunk of 7 rays (many
    calls, a short last one) and one chunk for all give the same image."""
    avatar = make_reference_avatar(toy_head)
    cam = Camera.from_fov(orbit([0, 0, 0], 0.45, 25, 5).float(), 40, 20, 20)
    whole = avatar.render(cam, torch.tensor([0.3, -0.2]), torch.zeros(5, 3), [0.3, 0.7], chunk=1 << 20)
    parts = avatar.render(cam, torch.tensor([0.3, -0.2]), torch.zeros(5, 3), [0.3, 0.7], chunk=7)
    assert float(whole.alpha.max()) > 0.5 and int((whole.alpha > 0).sum()) > 7 * 10  # many chunks, a visible head
    for a, b in zip(whole, parts):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_render_chunks_hold_a_fixed_number_of_samples(toy_head, monkeypatch):
    """By default a render call gets RENDER_CHUNK_SAMPLES ÷ samples-per-ray rays: previews (few samples) in
    few calls, finals in calls of the same memory."""
    import math

    import pav.nerf.avatar as module

    avatar = make_reference_avatar(toy_head)
    cam = Camera.from_fov(orbit([0, 0, 0], 0.45, 25, 5).float(), 40, 20, 20)
    monkeypatch.setattr(module, "RENDER_CHUNK_SAMPLES", 240)
    calls, render_rays = [], avatar.render_rays
    avatar.render_rays = lambda origins, *a, **kw: calls.append(len(origins)) or render_rays(origins, *a, **kw)
    for k in (4, 8, 24):
        calls.clear()
        avatar.render(cam, torch.zeros(2), torch.zeros(5, 3), 0, samples_per_ray=k)
        per_call = 240 // k
        assert max(calls) == per_call and len(calls) == math.ceil(sum(calls) / per_call) > 1, (k, calls)
    calls.clear()
    avatar.render(cam, torch.zeros(2), torch.zeros(5, 3), 0)  # the config's samples per ray
    assert max(calls) == 240 // avatar.config.samples_per_ray


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
