"""LPIPS, DISTS and FID against float64 implementations of the published formulas written here, with
backbones seeded by fixed random weights under torchvision's / pytorch-fid's file names and key names in a
temporary TORCH_HOME. No test may open a socket: any download attempt fails."""
import importlib
import importlib.util
import json
import socket
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from pav import cli
from pav.eval import learned
from pav.eval.inception import FIDInception
from pav.eval.learned import frechet_distance, load_learned_metrics
from pav.eval.metrics import learned_metrics_status

evaluate_module = importlib.import_module("pav.eval.evaluate")

ALEX_FILE, VGG_FILE, INCEPTION_FILE = ("alexnet-owt-7be5be79.pth", "vgg16-397923af.pth",
                                       "pt_inception-2015-12-05-6726825d.pth")
# torchvision AlexNet features: (index, in, out, kernel, stride, padding, max-pool after the ReLU)
ALEX = [(0, 3, 64, 11, 4, 2, True), (3, 64, 192, 5, 1, 2, True), (6, 192, 384, 3, 1, 1, False),
        (8, 384, 256, 3, 1, 1, False), (10, 256, 256, 3, 1, 1, False)]
VGG_BLOCKS = [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]  # 3×3 convolutions per block, width


def vgg_convs():
    """(torchvision index, in, out, block) of VGG16's 13 convolutions: conv, ReLU pairs, one pool per block."""
    out, index, width = [], 0, 3
    for block, (n, w) in enumerate(VGG_BLOCKS):
        for _ in range(n):
            out.append((index, width, w, block))
            index, width = index + 2, w
        index += 1
    return out


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted during a learned-metrics test")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """An empty TORCH_HOME, no PAV_WEIGHTS, no cached networks."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    monkeypatch.delenv("PAV_WEIGHTS", raising=False)
    learned._CACHE.clear()
    yield
    learned._CACHE.clear()


def he(shape, g):
    return torch.randn(shape, generator=g) * (2.0 / np.prod(shape[1:])) ** 0.5


@pytest.fixture(scope="module")
def torch_home(tmp_path_factory):
    """TORCH_HOME with seeded AlexNet (legacy serialisation, like torchvision's old files) and VGG16
    (zip serialisation) files holding torchvision's `features.*` keys plus an unused classifier entry."""
    home = tmp_path_factory.mktemp("torch_home")
    folder = home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    alex = {"classifier.1.weight": torch.zeros(4, 9216)}
    for i, cin, cout, k, *_ in ALEX:
        alex[f"features.{i}.weight"] = he((cout, cin, k, k), g)
        alex[f"features.{i}.bias"] = 0.05 * torch.randn(cout, generator=g)
    torch.save(alex, folder / ALEX_FILE, _use_new_zipfile_serialization=False)
    vgg = {"classifier.0.weight": torch.zeros(4, 25088)}
    for i, cin, cout, _ in vgg_convs():
        vgg[f"features.{i}.weight"] = he((cout, cin, 3, 3), g)
        vgg[f"features.{i}.bias"] = 0.05 * torch.randn(cout, generator=g)
    torch.save(vgg, folder / VGG_FILE)
    return home


def package_file(relative):
    return Path(list(importlib.util.find_spec("torchmetrics").submodule_search_locations)[0]) / relative


# ---- float64 references of the published formulas ------------------------------------------------------------

def alexnet64(x, s):
    taps = []
    for i, _, _, _, stride, pad, pool in ALEX:
        x = F.relu(F.conv2d(x, s[f"features.{i}.weight"].double(), s[f"features.{i}.bias"].double(), stride, pad))
        taps.append(x)
        x = F.max_pool2d(x, 3, 2) if pool else x
    return taps


def l2pool64(x):
    w = torch.tensor([0.5, 1.0, 0.5], dtype=torch.float64)
    h = torch.outer(w, w) / torch.outer(w, w).sum()
    return (F.conv2d(x ** 2, h.expand(x.shape[1], 1, 3, 3), stride=2, padding=1, groups=x.shape[1]) + 1e-12).sqrt()


def vgg64(x, s):
    taps, block = [], 0
    for i, _, _, b in vgg_convs():
        if b != block:
            taps.append(x)
            x, block = l2pool64(x), b
        x = F.relu(F.conv2d(x, s[f"features.{i}.weight"].double(), s[f"features.{i}.bias"].double(), padding=1))
    return taps + [x]


def lpips64(a, b, s):
    """Zhang et al. 2018: scaling layer on [−1, 1] input, unit-normalised channels per layer, squared
    difference, the layer's 1×1 linear head (v0.1 weights), spatial mean, sum over the layers."""
    heads = torch.load(package_file("functional/image/lpips_models/alex.pth"), map_location="cpu", weights_only=True)
    shift = torch.tensor([-0.030, -0.088, -0.188], dtype=torch.float64).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450], dtype=torch.float64).view(1, 3, 1, 1)
    fa, fb = [alexnet64(((2 * im.double().permute(2, 0, 1)[None] - 1) - shift) / scale, s) for im in (a, b)]
    total = 0.0
    for k, (x, y) in enumerate(zip(fa, fb)):
        x = x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        y = y / (y.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        w = heads[f"lin{k}.model.1.weight"].double().view(-1)
        total += float(torch.einsum("c,nchw->nhw", w, (x - y) ** 2).mean())
    return total


def dists64(a, b, s):
    """Ding et al. 2020: ImageNet-normalised VGG16 with L2 pooling; stages: the image and relu1_2 … relu5_3;
    per channel texture (means) and structure (covariance) terms weighted by α and β (sum-normalised)."""
    ab = torch.load(package_file("functional/image/dists_models/weights.pt"), map_location="cpu", weights_only=True)
    alpha, beta = ab["alpha"].double().view(-1), ab["beta"].double().view(-1)
    alpha, beta = alpha / (alpha.sum() + beta.sum()), beta / (alpha.sum() + beta.sum())
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, 3, 1, 1)
    fa, fb = [[x] + vgg64((x - mean) / std, s) for x in (im.double().permute(2, 0, 1)[None] for im in (a, b))]
    similarity, c, offset = 0.0, 1e-6, 0
    for x, y in zip(fa, fb):
        x, y = x[0].flatten(1), y[0].flatten(1)  # (C, HW)
        mx, my = x.mean(1), y.mean(1)
        vx, vy = x.var(1, unbiased=False), y.var(1, unbiased=False)
        cxy = ((x - mx[:, None]) * (y - my[:, None])).mean(1)
        texture = (2 * mx * my + c) / (mx ** 2 + my ** 2 + c)
        structure = (2 * cxy + c) / (vx + vy + c)
        n = len(mx)
        similarity += float((alpha[offset:offset + n] * texture).sum() + (beta[offset:offset + n] * structure).sum())
        offset += n
    assert offset == len(alpha)
    return 1.0 - similarity


def frechet_sqrtm(a, b):
    """Heusel et al. 2017 with scipy's matrix square root, float64."""
    mu1, mu2, s1, s2 = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(root).real)


def image_pairs():
    g = torch.Generator().manual_seed(7)
    smooth = lambda: F.interpolate(torch.rand(1, 3, 8, 8, generator=g), size=(64, 64), mode="bilinear",  # noqa: E731
                                   align_corners=False)[0].permute(1, 2, 0)
    a, b = smooth(), smooth()
    noisy = (a + 0.05 * torch.randn(a.shape, generator=g)).clamp(0, 1)
    return [(a, noisy), (a, torch.roll(a, 3, dims=1)), (a, b)]


# ---- tests ----------------------------------------------------------------------------------------------------

def test_sockets_cannot_open_here():
    with pytest.raises(OSError, match="network access"):
        socket.create_connection(("127.0.0.1", 9))
    with pytest.raises(OSError, match="network access"):
        socket.socket().connect(("127.0.0.1", 9))


def test_lpips_and_dists_equal_float64_references(torch_home, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    assert learned_metrics_status() == {"lpips": None, "dists": None, "fid": learned_metrics_status()["fid"]}
    nets = load_learned_metrics()
    s_alex = torch.load(torch_home / "hub/checkpoints" / ALEX_FILE, weights_only=True)
    s_vgg = torch.load(torch_home / "hub/checkpoints" / VGG_FILE, weights_only=True)
    seen = []
    for a, b in image_pairs():
        ref_l, ref_d = lpips64(a, b, s_alex), dists64(a, b, s_vgg)
        got_l, got_d = nets.lpips(a, b), nets.dists(a, b)
        seen.append((ref_l, ref_d))
        assert got_l == pytest.approx(ref_l, rel=1e-5, abs=1e-7)
        assert got_d == pytest.approx(ref_d, rel=1e-5, abs=1e-7)
        assert nets.lpips(a, a) == pytest.approx(0.0, abs=1e-7) and nets.dists(a, a) == pytest.approx(0.0, abs=1e-6)
    # the pairs are told apart: references differ by far more than the tolerance
    assert min(abs(x[0] - y[0]) for x, y in zip(seen, seen[1:])) > 1e-3
    assert min(abs(x[1] - y[1]) for x, y in zip(seen, seen[1:])) > 1e-3


def test_unavailable_is_null_with_the_file_and_folder(tmp_path, monkeypatch):
    status = learned_metrics_status()
    hub = tmp_path / "empty_torch_home" / "hub" / "checkpoints"
    for metric, name in (("lpips", ALEX_FILE), ("dists", VGG_FILE), ("fid", INCEPTION_FILE)):
        assert name in status[metric] and f"put the file in {hub}" in status[metric]
    folder = tmp_path / "mine"
    folder.mkdir()
    assert f"put the file in {folder} " in learned_metrics_status(folder)["lpips"]
    monkeypatch.setenv("PAV_WEIGHTS", str(folder))
    assert f"put the file in {folder} " in learned_metrics_status()["dists"]
    monkeypatch.setenv("PAV_WEIGHTS", str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="PAV_WEIGHTS.*absent.*is not a folder"):
        learned_metrics_status()


def test_weights_folder_is_searched_before_the_hub_cache(torch_home, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / ALEX_FILE).write_bytes((torch_home / "hub/checkpoints" / ALEX_FILE).read_bytes())
    assert learned.find_learned_weights(mine)["lpips"].path[0] == mine / ALEX_FILE
    assert learned.find_learned_weights(mine)["dists"].path[0] == torch_home / "hub/checkpoints" / VGG_FILE
    monkeypatch.setenv("PAV_WEIGHTS", str(mine))
    assert learned.find_learned_weights()["lpips"].path[0] == mine / ALEX_FILE


def test_a_wrong_file_is_named(torch_home, tmp_path):
    (tmp_path / ALEX_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=f"cannot read weight file .*{ALEX_FILE}"):
        load_learned_metrics(tmp_path)
    state = torch.load(torch_home / "hub/checkpoints" / ALEX_FILE, weights_only=True)
    del state["features.8.weight"]
    torch.save(state, tmp_path / ALEX_FILE)
    with pytest.raises(ValueError, match=r"features\.8\.weight is missing"):
        load_learned_metrics(tmp_path)


def test_frechet_distance_equals_the_sqrtm_formula():
    rng = np.random.default_rng(3)
    for n, m, d in ((40, 30, 6), (5, 7, 12)):  # more samples than dimensions, and fewer (singular covariances)
        a = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
        b = rng.normal(size=(m, d)) * 2 + 1
        assert frechet_distance(a, b) == pytest.approx(frechet_sqrtm(a, b), rel=1e-6, abs=1e-6)
    # closed form for diagonal covariances: Σ (μ1−μ2)² + (σ1 − σ2)² per dimension
    a = rng.normal(size=(4000, 3))
    z = (a - a.mean(0)) / a.std(0, ddof=1)
    b = z * np.array([2.0, 0.5, 1.0]) + np.array([1.0, 0.0, -2.0])
    assert frechet_distance(z, b) == pytest.approx(1 + 4 + 1 + 0.25, abs=0.05)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="N≥2"):
        frechet_distance(a[:1], a)


def test_fid_inception_has_pytorch_fid_layout():
    # torchvision documents Inception-v3 with 27,161,264 parameters; the FID file has neither AuxLogits
    # (BasicConv 768→128 1×1 + BasicConv 128→768 5×5 + fc 768→1000) nor the classifier fc 2048→1000 we drop
    aux = (768 * 128 + 2 * 128) + (128 * 768 * 25 + 2 * 768) + (768 * 1000 + 1000)
    assert sum(p.numel() for p in FIDInception().parameters()) == 27_161_264 - aux - (2048 * 1000 + 1000)


def test_fid_average_pool_ignores_the_padding():
    from pav.eval.inception import avg_pool

    x = torch.arange(16.0).view(1, 1, 4, 4)
    # TensorFlow's 3×3 average at a corner: the mean of the 4 pixels inside the image, not their sum / 9
    assert avg_pool(x)[0, 0, 0, 0] == pytest.approx((0 + 1 + 4 + 5) / 4)
    assert avg_pool(x)[0, 0, 1, 1] == pytest.approx(x[0, 0, :3, :3].mean())


def small_avatar(collection):
    from pav.config import ModelConfig
    from pav.head import load_head_model
    from pav.nerf.avatar import Avatar
    from pav.nerf.hashgrid import HashGridConfig

    torch.manual_seed(0)
    config = ModelConfig(hashgrid=HashGridConfig(n_levels=4, log2_hashmap_size=10, finest_resolution=64),
                         texture_resolution=16, texture_channels=4, samples_per_ray=8, occupancy_resolution=8)
    return Avatar(config, load_head_model("default"), torch.tensor(collection.manifest.shape),
                  collection.appearance_names)


@pytest.mark.slow
def test_eval_reports_the_learned_metrics_of_its_frames(torch_home, tmp_path, monkeypatch):
    from pav.checkpoint import save_avatar
    from pav.data import read_collection
    from pav.data.synth.config import SynthConfig
    from pav.data.synth.generate import generate

    data = tmp_path / "data"
    generate(SynthConfig(appearances=2, frames=6, size=48, supersample=1, texture_size=64, seed=3), data)
    collection = read_collection(data)
    weights = tmp_path / "weights"
    weights.mkdir()
    g = torch.Generator().manual_seed(1)  # He-scaled convolutions: the features keep their scale through 94 layers
    inception = {k: he(v.shape, g) if k.endswith("conv.weight") else v for k, v in FIDInception().state_dict().items()}
    inception |= {"fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)}
    torch.save(inception, weights / INCEPTION_FILE)
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    pairs, features = [], []  # (render, truth) as scored by PSNR; (image, Inception features) as computed
    real_psnr, real_features = evaluate_module.psnr, learned.LearnedMetrics.inception_features
    monkeypatch.setattr(evaluate_module, "psnr", lambda p, t: pairs.append((p, t)) or real_psnr(p, t))
    monkeypatch.setattr(learned.LearnedMetrics, "inception_features",
                        lambda self, im: features.append((im, real_features(self, im))) or features[-1][1])
    result = evaluate_module.evaluate(small_avatar(collection), collection, "test", progress=False, weights=weights)
    assert result["unavailable"] == {} and len(pairs) == result["frames"] >= 2
    s_alex = torch.load(torch_home / "hub/checkpoints" / ALEX_FILE, weights_only=True)
    s_vgg = torch.load(torch_home / "hub/checkpoints" / VGG_FILE, weights_only=True)
    assert result["lpips"] == pytest.approx(np.mean([lpips64(p, t, s_alex) for p, t in pairs]), rel=1e-5)
    assert result["dists"] == pytest.approx(np.mean([dists64(p, t, s_vgg) for p, t in pairs]), rel=1e-5)
    # FID: renders against ground truths, every frame once (frechet_distance = the sqrtm formula: tested above;
    # scipy's sqrtm of the 2048² product takes minutes on one core)
    assert [im for im, _ in features] == [im for pair in pairs for im in pair]
    render, truth = np.stack([f for _, f in features[0::2]]), np.stack([f for _, f in features[1::2]])
    assert result["fid"] == pytest.approx(frechet_distance(render, truth), rel=1e-12) and result["fid"] > 1e-3
    print("eval with seeded weights:", {m: result[m] for m in ("lpips", "dists", "fid")})
    # the CLI: JSON keys, --weights (a folder without the Inception file: FID null with the reason), a bad
    # --weights in one line with exit code 2
    ckpt, out, no_inception = tmp_path / "a.pav", tmp_path / "eval.json", tmp_path / "no_inception"
    save_avatar(small_avatar(collection), ckpt)
    no_inception.mkdir()
    assert cli.main(["eval", str(ckpt), str(data), "--weights", str(no_inception), "--json", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert saved["lpips"] == pytest.approx(result["lpips"], rel=1e-6)
    assert saved["dists"] == pytest.approx(result["dists"], rel=1e-6)
    assert saved["fid"] is None and list(saved["unavailable"]) == ["fid"]
    assert f"{INCEPTION_FILE}: not found, put the file in {no_inception} " in saved["unavailable"]["fid"]
    assert all(isinstance(v[m], float) for v in saved["per_appearance"].values() for m in ("lpips", "dists"))
    assert cli.main(["eval", str(ckpt), str(data), "--weights", str(tmp_path / "nowhere")]) == 2


def test_reproduce_tables_gain_learned_columns_when_present():
    from pav.eval.reproduce import render_tables

    def model(psnr, lpips):
        return {"psnr": psnr, "ssim": 0.9, "lpips": lpips, "dists": None, "fid": None, "steps": 1, "parameters": 10,
                "size_mb": 1.0, "train_minutes": 1.0, "unavailable": {"dists": "needs vgg", "fid": "needs inception"},
                "per_appearance": {"x": {"psnr": psnr, "ssim": 0.9, "lpips": lpips, "dists": None}}}
    full = model(20.0, 0.25)
    results = {"minutes_per_model": 1, "minutes_per_model_b": 1, "protocol_a": {"full": full},
               "protocol_b": {"x": {"separate": model(21.0, 0.125), "unified": full["per_appearance"]["x"]}}}
    tables = render_tables(results)
    assert "| full | 20.00 | 0.9000 | 0.2500 | n/a | n/a |" in tables
    assert "- DISTS: unavailable — needs vgg" in tables
    assert "mean LPIPS ↓ |" in tables and "DISTS ↓ |" not in tables.split("Table 3")[1]
    assert "| x | 21.00 | 20.00 | 0.9000 | 0.9000 | 0.1250 | 0.2500 |" in tables
