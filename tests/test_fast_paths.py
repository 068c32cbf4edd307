"""The render path's fast paths against their plain twins and brute force (issue 17, docs/performance.md).

- `PosedMesh.closest_in_shell` (warp's BVH, searching only the ball that must hold the nearest point, along
  each ray): on every pixel's samples of several frames of the built-in head, the triangle it returns is
  a nearest one by float64 brute force, its barycentrics and signed distance are those of
  `closest_on_faces` on that triangle, and it answers "outside" (−1) only where brute force finds no
  surface point within the radius.
- `rasterize`'s compiled warp z-buffer (`_warp_raster.visible_warp`) against the torch z-buffer
  (`raster._visible`), both bit for bit: the same covered pixels and the same face at each, for the
  built-in head (bare and inflated, as `ray_intervals` draws it) from several orbits and sizes, and for a
  soup of overlapping triangles with exact depth ties; in one band and in several.
- `ConditionedMLP.forward` (fused addmm + in-place ReLU, broadcast group bias) against `reference_forward`,
  values and gradients, for one group, several groups and per-row conditions.
"""
from __future__ import annotations

import pytest
import torch

from pav.camera import Camera, orbit
from pav.geometry import closest_on_faces
from pav.geometry import raster
from pav.geometry.closest import _sq_dist_to_faces
from pav.geometry.posed import closest_in_shell_reference, pose_mesh
from pav.head import load_head_model
from pav.nerf.field import ConditionedMLP
from pav.nerf.sampling import ray_intervals, stratified_samples


@pytest.fixture(scope="module")
def head():
    return load_head_model("default")


def brute_force(points, vertices, faces):
    """Float64 distance (N,) from each point to its nearest triangle: every triangle whose bounding sphere
    does not rule it out (|q − centre| − radius > the distance to the triangle of the nearest centre) is
    measured exactly."""
    q, tri = points.double(), vertices.double()[faces.long()]
    centre = tri.mean(1)
    radius = (tri - centre[:, None]).norm(dim=-1).amax(1)
    gap = torch.cdist(q, centre) - radius  # (N, F) lower bounds
    upper = _sq_dist_to_faces(q, tri[gap.argmin(1)]).sqrt()
    pair, face = (gap <= upper[:, None] + 1e-9).nonzero(as_tuple=True)
    d = _sq_dist_to_faces(q[pair], tri[face]).sqrt()
    return torch.full((len(q),), float("inf"), dtype=torch.float64).scatter_reduce(0, pair, d, "amin")


def frame_samples(head, yaw, expression_scale, size=32, samples=8):
    """Samples (R, K, 3) along every ray of a size² image that enters the 4.5 cm shell, and the mesh."""
    g = torch.Generator().manual_seed(int(yaw))
    e = torch.randn(1, head.n_expression, generator=g) * expression_scale
    pose = torch.zeros(1, head.n_joints, 3)
    pose[0, 0, 1] = 0.1 * expression_scale
    vertices = head(expression=e, pose=pose).vertices[0]
    centre = vertices.mean(0)
    cam = Camera.from_fov(orbit(centre.tolist(), 0.6, yaw, 5.0).float(), 25, size, size)
    iv = ray_intervals(vertices, head.faces, cam, 0.045, 0.01, 0.06)
    o, d = cam.rays()
    hit = iv.hit.reshape(-1)
    s = stratified_samples(iv.near.reshape(-1)[hit], iv.far.reshape(-1)[hit], samples, jitter=False)
    x = o.reshape(-1, 3)[hit][:, None] + s.t[..., None] * d.reshape(-1, 3)[hit][:, None]
    return x, vertices


@pytest.mark.parametrize("yaw,expression_scale", [(0.0, 0.0), (35.0, 1.0), (-70.0, 2.0)])
def test_closest_in_shell_is_exact_on_every_pixel(head, yaw, expression_scale):
    x, vertices = frame_samples(head, yaw, expression_scale)
    radius = 0.02  # smaller than the shell, so both answers ("inside" and "outside") occur
    mesh = pose_mesh(vertices, vertices, head.faces, backend="warp")
    assert mesh._warp is not None, "the warp path must be the one under test"
    hits = mesh.closest_in_shell(x, radius)
    points = x.reshape(-1, 3)
    best = brute_force(points, vertices, head.faces)
    inside, outside = best < radius * (1 - 1e-5), best > radius * (1 + 1e-5)
    assert inside.float().mean() > 0.2 and outside.any()  # both cases are exercised
    assert bool((hits.face_id[outside] == -1).all())
    assert bool((hits.face_id[inside] >= 0).all())
    f = hits.face_id[inside]
    chosen = _sq_dist_to_faces(points[inside].double(), vertices.double()[head.faces][f]).sqrt()
    torch.testing.assert_close(chosen, best[inside], atol=2e-7, rtol=0)  # a nearest triangle (ties: any)
    ref = closest_on_faces(points[inside], vertices, head.faces, f)
    torch.testing.assert_close(hits.distance[inside], ref.distance, atol=2e-6, rtol=0)
    torch.testing.assert_close(hits.bary[inside], ref.bary, atol=2e-4, rtol=0)
    twin = closest_in_shell_reference(points, vertices, head.faces, radius)
    assert bool(((twin.face_id >= 0) == (hits.face_id >= 0))[inside | outside].all())


def test_split_work_and_run_parts_cover_every_item_once():
    """The warp kernels' CPU parallelism (nearest triangle, hash grid, z-buffer): parts are contiguous, cover
    [0, n) exactly, are no smaller than asked, and part 0 runs on the calling thread, the others on the pool."""
    import threading

    from pav.geometry._warp import run_parts, split_work

    assert split_work(500, 4, 1000) == [(0, 500)]
    assert split_work(0, 2, 256) == [(0, 0)]
    parts = split_work(10_000, 3, 1000)
    assert parts == [(0, 3333), (3333, 6666), (6666, 10_000)]
    assert split_work(2500, 8, 1000) == [(0, 1250), (1250, 2500)]
    seen, threads = torch.zeros(10_000, dtype=torch.long), {}

    def launch(k, a, b):
        seen[a:b] += 1
        threads[k] = threading.current_thread()

    run_parts(launch, parts)
    assert bool((seen == 1).all()) and sorted(threads) == [0, 1, 2]
    assert threads[0] is threading.current_thread() and threads[1] is not threading.current_thread()


def test_warp_queries_release_the_gil(head):
    """The viewer renders large chunks of rays because warp's query lets other Python threads (the UI) run
    meanwhile (viewer.scenes.render_chunk): a ticker thread keeps ticking through a long query."""
    import threading
    import time

    x, vertices = frame_samples(head, 20.0, 1.0, size=160, samples=24)
    mesh = pose_mesh(vertices, vertices, head.faces, backend="warp")
    assert mesh._warp is not None
    ticks, stop = [], threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    ticker = threading.Thread(target=tick)
    ticker.start()
    time.sleep(0.02)
    start = time.perf_counter()
    mesh.closest_in_shell(x, 0.05)
    end = time.perf_counter()
    stop.set()
    ticker.join()
    during = [t for t in ticks if start <= t <= end]
    assert end - start > 0.05, "too few queries to tell"
    assert len(during) >= 100 * (end - start)  # ≥ 100 ticks/s of ~1000 (a GIL held through the query: 0-1 ticks)


def test_closest_in_shell_rejects_flat_points(head):
    vertices = head().vertices[0]
    mesh = pose_mesh(vertices, vertices, head.faces)
    with pytest.raises(ValueError, match=r"\(R, K, 3\)"):
        mesh.closest_in_shell(torch.zeros(10, 3), 0.01)


@pytest.mark.parametrize("groups", [1, 3, None])
def test_conditioned_mlp_fast_path_equals_reference(groups):
    torch.manual_seed(0)
    mlp = ConditionedMLP(d_x=7, d_c=5, hidden=16, layers=3, d_out=4).double()
    n = 50
    x = torch.randn(n, 7, dtype=torch.float64, requires_grad=True)
    if groups is None:
        cond, group = torch.randn(n, 5, dtype=torch.float64, requires_grad=True), None
    else:
        cond = torch.randn(groups, 5, dtype=torch.float64, requires_grad=True)
        group = torch.randint(0, groups, (n,))
    upstream = torch.randn(n, 4, dtype=torch.float64)
    results = []
    for forward in (mlp.forward, mlp.reference_forward):
        mlp.zero_grad()
        x.grad = cond.grad = None
        y = forward(x, cond, group)
        (y * upstream).sum().backward()
        results.append((y.detach(), x.grad.clone(), cond.grad.clone(),
                        [p.grad.clone() for p in mlp.parameters()]))
    (y0, gx0, gc0, gp0), (y1, gx1, gc1, gp1) = results
    torch.testing.assert_close(y0, y1, atol=1e-12, rtol=0)
    torch.testing.assert_close(gx0, gx1, atol=1e-12, rtol=0)
    torch.testing.assert_close(gc0, gc1, atol=1e-12, rtol=0)
    for a, b in zip(gp0, gp1):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


@pytest.fixture(scope="module")
def demo():
    from pav.bench import DEMO
    from pav.checkpoint import load_avatar

    return load_avatar(DEMO, device="cpu")


@pytest.mark.parametrize("samples", [6, None])
def test_faint_samples_skip_colour_within_the_bound(demo, samples):
    """render() evaluates colour only where the weight exceeds FAINT_WEIGHT; against the plain twin (every
    sample's colour) no pixel moves by more than 0.5·K·FAINT_WEIGHT, and colour is in fact skipped."""
    from pav.export import orbit_camera
    from pav.nerf.avatar import FAINT_WEIGHT

    e, p = torch.zeros(demo.head.n_expression), torch.zeros(demo.head.n_joints, 3)
    cam = orbit_camera(demo, 48, yaw=30.0, pitch=5.0)
    calls, color = [], demo.field.color
    demo.field.color = lambda d, *rest: calls.append(len(d)) or color(d, *rest)
    try:
        fast = demo.render(cam, e, p, 1, samples_per_ray=samples).rgb
    finally:
        del demo.field.color
    plain = demo.render(cam, e, p, 1, samples_per_ray=samples, skip_faint_color=False).rgb
    K = samples or demo.config.samples_per_ray
    assert float((fast - plain).abs().max()) <= 0.5 * K * FAINT_WEIGHT + 1e-6
    assert float((fast - plain).abs().max()) > 0  # the fast path ran (its grey stands in somewhere)
    assert sum(calls) > 0


def test_a_rendered_avatar_still_copies_and_pickles(demo):
    """render() keeps the posed mesh (warp's native BVH) on the avatar; a deep copy (the viewer's export
    thread takes one) and a pickle leave it behind and render the same picture."""
    import copy
    import pickle

    from pav.export import orbit_camera

    e, p = torch.zeros(demo.head.n_expression), torch.zeros(demo.head.n_joints, 3)
    cam = orbit_camera(demo, 24, yaw=10.0, pitch=0.0)
    first = demo.render(cam, e, p, 0).rgb
    assert getattr(demo, "_posed", None) is not None
    for twin in (copy.deepcopy(demo), pickle.loads(pickle.dumps(demo))):
        assert getattr(twin, "_posed", None) is None
        torch.testing.assert_close(twin.render(cam, e, p, 0).rgb, first, atol=0, rtol=0)


def _z_buffer_inputs(vertices, faces, cam):
    """What `rasterize` hands its z-buffer: the projected visible triangles, their ids and signed areas."""
    tri = raster.project(vertices.double(), cam)[faces.long()]
    area = raster._edges(tri, tri[:, 0, 0], tri[:, 0, 1])[:, 0]
    fid = ((tri[..., 2] > 1e-6).all(1) & (area != 0)).nonzero()[:, 0]
    return tri[fid], fid, area[fid], cam.width, cam.height


@pytest.mark.parametrize("yaw, size", [(0.0, 64), (35.0, 96), (90.0, 128), (-150.0, 80)])
@pytest.mark.parametrize("inflate", [0.0, 0.03])
def test_warp_z_buffer_equals_the_torch_z_buffer(head, yaw, size, inflate):
    from pav.geometry._warp_raster import visible_warp
    from pav.geometry.normals import vertex_normals

    vertices = head(expression=torch.zeros(1, head.n_expression), pose=torch.zeros(1, head.n_joints, 3)).vertices[0]
    vertices = vertices + inflate * vertex_normals(vertices, head.faces)
    cam = Camera.from_fov(orbit(vertices.mean(0).tolist(), 0.5, yaw, 10.0).float(), 25, size, size + 8)
    args = _z_buffer_inputs(vertices, head.faces, cam)
    hit, win = raster._visible(*args, chunk_pairs=1 << 20)
    assert len(hit) > 0.2 * size * size
    for threads in (1, 3):
        got_hit, got_win = visible_warp(*args, threads=threads)
        assert torch.equal(got_hit, hit) and torch.equal(got_win, win)


def test_warp_z_buffer_breaks_exact_ties_like_the_torch_z_buffer():
    from pav.geometry._warp_raster import visible_warp

    g = torch.Generator().manual_seed(5)
    v = torch.randn(60, 3, generator=g, dtype=torch.float64) * torch.tensor([0.3, 0.3, 0.1], dtype=torch.float64)
    v[:, 2] += 1.0
    f = torch.randint(0, 60, (80, 3), generator=g)
    f = torch.cat([f, f[:20]])  # 20 triangles twice: exact depth ties, the lower face id must win
    cam = Camera(torch.eye(4), 40.0, 40.0, 23.7, 19.2, 48, 40)
    args = _z_buffer_inputs(v, f, cam)
    hit, win = raster._visible(*args, chunk_pairs=1 << 20)
    got_hit, got_win = visible_warp(*args, threads=2)
    assert torch.equal(got_hit, hit) and torch.equal(got_win, win)
    assert bool((win < 80).all())  # no duplicate (id ≥ 80) ever beats its original
    assert len(hit) > 500
    # pixel centres exactly ON each of the three edges (rows, columns and the diagonal i + j = 8) are covered
    # (both windings): the inclusive edge test, pixel for pixel
    v = torch.tensor([[0.5, 0.5, 1.0], [8.5, 0.5, 1.0], [0.5, 8.5, 1.0]], dtype=torch.float64)
    cam = Camera(torch.eye(4), 1.0, 1.0, 0.0, 0.0, 12, 12)
    for f in (torch.tensor([[0, 1, 2]]), torch.tensor([[0, 2, 1]])):
        got_hit, got_win = visible_warp(*_z_buffer_inputs(v, f, cam), threads=1)
        i, j = got_hit // 12, got_hit % 12
        assert len(got_hit) == 45 and bool((i + j <= 8).all())  # the 9·10/2 centres with i + j ≤ 8
