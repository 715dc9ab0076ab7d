"""Public detectors (FID Inception, VGG16, LPIPS) and their weight files.

No published weights exist on the build machine, so the networks are built untrained, saved under
the published files' key names (pytorch-fid, torchvision, lpips) and loaded back through the real
loaders. GANFORGE_OFFLINE=1 keeps every test off the network.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganforge.detectors import load_detector
from ganforge.detectors import weights as weights_mod
from ganforge.detectors.inception import (
    InceptionV3FID,
    _avg_pool_tf,
    load_inception,
    pt_inception_key_map,
    resize_like_tf1,
)
from ganforge.detectors.lpips import LPIPS, load_lpips, lpips_key_map
from ganforge.detectors.vgg16 import (
    VGG16,
    VGG16Trunk,
    load_vgg16,
    torchvision_trunk_key_map,
    torchvision_vgg16_key_map,
)
from ganforge.detectors.weights import KNOWN_WEIGHTS, WeightsFile, resolve_weights
from ganforge.errors import MetricError

# torchvision's inception_v3 has 27,161,264 parameters; without AuxLogits (conv 768->128 1x1,
# conv 128->768 5x5, each with BN, fc 768->1000: 3,326,696) and with 1008 classes (+8 * 2049).
INCEPTION_FID_PARAMS = 27_161_264 - 3_326_696 + 8 * 2049
VGG16_PARAMS = 138_357_544  # torchvision vgg16


@pytest.fixture(autouse=True)
def offline_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No downloads; detector folder and home inside tmp so no real cache is seen."""
    monkeypatch.setenv("GANFORGE_OFFLINE", "1")
    monkeypatch.setenv("GANFORGE_DETECTOR_DIR", str(tmp_path / "detectors"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "detectors"


def randomize_bn_stats(model: torch.nn.Module, seed: int = 0) -> None:
    """Give BatchNorm layers non-trivial statistics so a lost buffer would change outputs."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)


def save_renamed(model: torch.nn.Module, key_map: dict[str, str], path: Path, drop: str = "") -> Path:
    """Save `model`'s weights under the published file's key names (the inverse of `key_map`)."""
    own = model.state_dict()
    state = {k: own[v].clone() for k, v in key_map.items() if not (drop and drop in k)}
    torch.save(state, path)
    return path


def images(n: int, c: int, size: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, size, size), generator=gen, dtype=torch.uint8)


# ---------------------------------------------------------------- TF1 resize


def tf1_resize_reference(x: np.ndarray, size: int) -> np.ndarray:
    """TF1 resize_bilinear(align_corners=False) written out pixel by pixel: y[i, j] samples (i*h/s, j*w/s)."""
    h, w = x.shape
    out = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            sy, sx = i * h / size, j * w / size
            y0, x0 = int(np.floor(sy)), int(np.floor(sx))
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            fy, fx = sy - y0, sx - x0
            top = x[y0, x0] * (1 - fx) + x[y0, x1] * fx
            bottom = x[y1, x0] * (1 - fx) + x[y1, x1] * fx
            out[i, j] = top * (1 - fy) + bottom * fy
    return out


@pytest.mark.parametrize(("h", "w", "size"), [(5, 7, 9), (12, 12, 5), (8, 3, 8)])
def test_resize_like_tf1_matches_reference(h: int, w: int, size: int) -> None:
    x = torch.randn(1, 1, h, w, generator=torch.Generator().manual_seed(h * w), dtype=torch.float64)
    got = resize_like_tf1(x, size)[0, 0].numpy()
    np.testing.assert_allclose(got, tf1_resize_reference(x[0, 0].numpy(), size), atol=1e-6)


def test_resize_like_tf1_doubling_has_no_half_pixel_offset() -> None:
    x = torch.tensor([[[[0.0, 10.0, 20.0]]]]).expand(1, 1, 3, 3)
    y = resize_like_tf1(x, 6)
    assert y[0, 0, 0].tolist() == [0.0, 5.0, 10.0, 15.0, 20.0, 20.0]
    assert torch.equal(resize_like_tf1(x, 3), x)


# ---------------------------------------------------------------- Inception


def test_inception_structure_matches_fid_graph() -> None:
    model = InceptionV3FID()
    assert sum(p.numel() for p in model.parameters()) == INCEPTION_FID_PARAMS == 23_850_960
    assert model.fc.out_features == 1008 and model.feature_dim == 2048 and model.num_classes == 1008
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 94 and all(m.eps == 1e-3 for m in norms)
    assert not model.mixed7b.max_pool and model.mixed7c.max_pool


def test_tf_average_pool_ignores_padding() -> None:
    x = torch.ones(1, 2, 5, 5)
    assert torch.equal(_avg_pool_tf(x), x)  # zero padding counted would give 4/9 in the corners
    block = InceptionV3FID().mixed5b
    with torch.no_grad():
        y = block(torch.randn(1, 192, 7, 7))
    assert y.shape == (1, 64 + 64 + 96 + 32, 7, 7)


def test_inception_key_map_covers_every_tensor_with_torchvision_names() -> None:
    model = InceptionV3FID()
    key_map = pt_inception_key_map(model)
    assert sorted(key_map.values()) == sorted(model.state_dict())
    assert len(key_map) == 94 * 6 + 2
    assert key_map["Conv2d_1a_3x3.conv.weight"] == "conv1a.conv.weight"
    assert key_map["Mixed_5b.branch_pool.bn.running_var"] == "mixed5b.pool_proj.0.norm.running_var"
    assert key_map["Mixed_6e.branch7x7dbl_5.conv.weight"] == "mixed6e.b7x7dbl.4.conv.weight"
    assert key_map["Mixed_7a.branch7x7x3_4.bn.bias"] == "mixed7a.b7x7x3.3.norm.bias"
    assert key_map["Mixed_7c.branch3x3dbl_3b.conv.weight"] == "mixed7c.b3x3dbl_col.conv.weight"
    state = model.state_dict()
    assert state["mixed7c.b3x3dbl_col.conv.weight"].shape == (384, 384, 3, 1)
    assert state["mixed6b.b7x7.1.conv.weight"].shape == (128, 128, 1, 7)


def test_inception_round_trip_through_pt_inception_file(tmp_path: Path) -> None:
    model = InceptionV3FID().eval()
    randomize_bn_stats(model)
    # Older pytorch-fid files have no num_batches_tracked counters: they must still load.
    file = save_renamed(model, pt_inception_key_map(model), tmp_path / "pt_inception.pth", drop="num_batches")
    loaded = load_detector("inception", str(file))
    assert isinstance(loaded, InceptionV3FID) and not loaded.training
    assert loaded.name == "inception-2015-12-05"
    gray = images(2, 1, 24)
    with torch.no_grad():
        want = model(gray.expand(-1, 3, -1, -1).contiguous())
        got = loaded(gray)
    assert got["features"].shape == (2, 2048) and got["logits"].shape == (2, 1008)
    assert got["features"].dtype == torch.float32
    torch.testing.assert_close(got["features"], want["features"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got["logits"], want["logits"], rtol=1e-5, atol=1e-5)
    # Logits leave out the fc bias (the Inception Score convention).
    torch.testing.assert_close(got["logits"], got["features"] @ loaded.fc.weight.t())


def test_inception_refuses_missing_extra_and_misshaped_keys(tmp_path: Path) -> None:
    model = InceptionV3FID()
    key_map = pt_inception_key_map(model)
    state = {k: model.state_dict()[v] for k, v in key_map.items()}
    broken = dict(state)
    del broken["Mixed_6c.branch7x7_2.conv.weight"]
    broken["AuxLogits.fc.weight"] = torch.zeros(1008, 768)
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(MetricError, match=r"missing keys Mixed_6c\.branch7x7_2\.conv\.weight") as info:
        load_inception(tmp_path / "broken.pth")
    assert "unexpected keys AuxLogits.fc.weight" in str(info.value)
    assert "broken.pth" in str(info.value)
    misshaped = dict(state, **{"fc.weight": torch.zeros(1000, 2048), "fc.bias": torch.zeros(1000)})
    torch.save(misshaped, tmp_path / "torchvision_1000.pth")
    with pytest.raises(MetricError, match=r"fc\.weight has shape \(1000, 2048\), expected \(1008, 2048\)"):
        load_inception(tmp_path / "torchvision_1000.pth")


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:'torch.load' received a zip file")
def test_inception_refuses_files_that_are_not_state_dicts(tmp_path: Path) -> None:
    torch.jit.script(torch.nn.Linear(2, 2)).save(str(tmp_path / "inception-2015-12-05.pt"))
    with pytest.raises(MetricError, match="plain weights files only.*pt_inception-2015-12-05-6726825d.pth"):
        load_inception(tmp_path / "inception-2015-12-05.pt")
    torch.save({"net": {"nested": torch.zeros(1)}}, tmp_path / "nested.pth")
    with pytest.raises(MetricError, match="not a .* state dict"):
        load_inception(tmp_path / "nested.pth")


# ---------------------------------------------------------------- VGG16


def test_vgg16_structure_and_torchvision_names() -> None:
    model = VGG16()
    assert sum(p.numel() for p in model.parameters()) == VGG16_PARAMS
    key_map = torchvision_vgg16_key_map()
    assert sorted(key_map.values()) == sorted(model.state_dict())
    conv_indices = sorted({int(k.split(".")[1]) for k in key_map if k.startswith("features.")})
    assert conv_indices == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    assert key_map["features.28.bias"] == "trunk.stages.4.2.bias"
    assert key_map["classifier.3.weight"] == "fc2.weight"
    assert key_map["classifier.6.bias"] == "fc3.bias"


def test_vgg16_round_trip_and_features(tmp_path: Path) -> None:
    model = VGG16().eval()
    file = save_renamed(model, torchvision_vgg16_key_map(), tmp_path / "vgg16-397923af.pth")
    loaded = load_vgg16(file)
    x = images(1, 3, 40, seed=1)
    with torch.no_grad():
        want, got = model(x), loaded(x)
    assert got["features"].shape == (1, 4096) and got["logits"].shape == (1, 1000)
    assert got["features"].min() >= 0  # fc2 after its ReLU
    torch.testing.assert_close(got["features"], want["features"])
    torch.testing.assert_close(got["logits"], want["logits"])


# ---------------------------------------------------------------- LPIPS


def save_trunk(path: Path) -> Path:
    """A torchvision VGG16 file holding the trunk; its classifier (which LPIPS ignores) is a stand-in."""
    trunk = VGG16Trunk()
    own = trunk.state_dict()
    state = {k: own[v] for k, v in torchvision_trunk_key_map("").items()}
    state.update({f"classifier.{i}.weight": torch.zeros(1) for i in (0, 3, 6)})
    torch.save(state, path)
    return path


def lpips_reference(tv_state: dict, lin_state: dict, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """LPIPS written directly from the published files' tensors (torchvision and lpips names)."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    layers = [0, 2, "M", 5, 7, "M", 10, 12, 14, "M", 17, 19, 21, "M", 24, 26, 28]
    taps = {2, 7, 14, 21, 28}  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3

    def stage_features(x: torch.Tensor) -> list[torch.Tensor]:
        h = (x.float() / 127.5 - 1 - shift) / scale
        out = []
        for layer in layers:
            if layer == "M":
                h = F.max_pool2d(h, 2, 2)
                continue
            weight, bias = tv_state[f"features.{layer}.weight"], tv_state[f"features.{layer}.bias"]
            h = F.relu(F.conv2d(h, weight, bias, padding=1))
            if layer in taps:
                out.append(h)
        return out

    total = torch.zeros(len(x0))
    for i, (f0, f1) in enumerate(zip(stage_features(x0), stage_features(x1), strict=True)):
        f0 = f0 / (f0.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        f1 = f1 / (f1.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        w = lin_state[f"lin{i}.model.1.weight"]
        total += ((f0 - f1) ** 2 * w.view(1, -1, 1, 1)).sum(1).mean(dim=(1, 2))
    return total


def test_lpips_loads_published_layouts_and_matches_direct_computation(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(3)
    tv_file = save_trunk(tmp_path / "vgg16-397923af.pth")
    lin_state = {k: torch.rand(1, c, 1, 1, generator=gen) for k, c in
                 zip(lpips_key_map(), (64, 128, 256, 512, 512), strict=True)}
    torch.save(lin_state, tmp_path / "vgg.pth")
    lpips = load_lpips(tmp_path / "vgg.pth", vgg16_path=tv_file)
    assert isinstance(lpips, LPIPS) and not lpips.training
    x0, x1 = images(2, 3, 32, seed=4), images(2, 3, 32, seed=5)
    with torch.no_grad():
        d = lpips(x0, x1)
        want = lpips_reference(torch.load(tv_file, weights_only=True), lin_state, x0, x1)
        assert d.shape == (2,)
        torch.testing.assert_close(d, want, rtol=1e-4, atol=1e-6)
        assert torch.all(d > 0)
        torch.testing.assert_close(lpips(x1, x0), d)
        assert torch.equal(lpips(x0, x0), torch.zeros(2))
        torch.testing.assert_close(lpips(x0.float(), x1.float()), d)  # float in [0, 255] as uint8
        gray0, gray1 = x0[:, :1], x1[:, :1]
        rgb0, rgb1 = gray0.expand(-1, 3, -1, -1), gray1.expand(-1, 3, -1, -1)
        torch.testing.assert_close(lpips(gray0, gray1), lpips(rgb0, rgb1))


def test_lpips_loads_both_files_from_one_folder(tmp_path: Path) -> None:
    tv_file = save_trunk(tmp_path / KNOWN_WEIGHTS["vgg16"].file_name)
    widths = (64, 128, 256, 512, 512)
    lin_state = {k: torch.ones(1, c, 1, 1) for k, c in zip(lpips_key_map(), widths, strict=True)}
    torch.save(lin_state, tmp_path / KNOWN_WEIGHTS["lpips"].file_name)
    lpips = load_detector("lpips", str(tmp_path))
    conv5_3 = torch.load(tv_file, weights_only=True)["features.28.weight"]
    assert torch.equal(lpips.trunk.stages[4][2].weight, conv5_3)
    assert torch.equal(lpips.lins[3].weight, torch.ones(1, 512, 1, 1))


def test_lpips_refuses_wrong_linear_file(tmp_path: Path) -> None:
    tv_file = save_trunk(tmp_path / "vgg16-397923af.pth")
    torch.save({"lin0.model.1.weight": torch.ones(1, 64, 1, 1)}, tmp_path / "partial.pth")
    with pytest.raises(MetricError, match=r"partial\.pth is not a LPIPS .*missing keys lin1\.model\.1\."):
        load_lpips(tmp_path / "partial.pth", vgg16_path=tv_file)


# ---------------------------------------------------------------- weight resolution


def test_resolve_weights_explicit_path_and_folder(tmp_path: Path) -> None:
    file = tmp_path / "my-inception.pth"
    file.write_bytes(b"x")
    assert resolve_weights("inception", file) == file
    assert resolve_weights("inception", str(file)) == file
    (tmp_path / KNOWN_WEIGHTS["vgg16"].file_name).write_bytes(b"x")
    assert resolve_weights("vgg16", tmp_path) == tmp_path / "vgg16-397923af.pth"
    with pytest.raises(MetricError, match=r"nope\.pth does not exist.*download https://github.com/mseitzer"):
        resolve_weights("inception", tmp_path / "nope.pth")
    with pytest.raises(MetricError, match="Unknown detector weights 'alexnet'"):
        resolve_weights("alexnet")


def test_resolve_weights_finds_env_folder_and_home_cache(offline_env: Path, tmp_path: Path) -> None:
    home_file = tmp_path / "home" / ".cache" / "ganforge" / "detectors" / "lpips-vgg-v0.1.pth"
    home_file.parent.mkdir(parents=True)
    home_file.write_bytes(b"x")
    assert resolve_weights("lpips") == home_file
    env_file = offline_env / "lpips-vgg-v0.1.pth"
    env_file.parent.mkdir(parents=True)
    env_file.write_bytes(b"x")
    assert resolve_weights("lpips") == env_file  # the env folder comes first


def test_offline_without_weights_says_what_to_download_and_where(offline_env: Path) -> None:
    with pytest.raises(MetricError) as info:
        resolve_weights("inception")
    msg = str(info.value)
    assert "pt_inception-2015-12-05-6726825d.pth" in msg
    assert "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" in msg
    assert str(offline_env / "pt_inception-2015-12-05-6726825d.pth") in msg
    assert "GANFORGE_OFFLINE" in msg and "--detector" in msg
    for name in ("inception", "vgg16", "lpips"):  # never random weights
        with pytest.raises(MetricError, match=KNOWN_WEIGHTS["vgg16" if name == "lpips" else name].file_name):
            load_detector(name)


def test_download_writes_atomically_and_checks_hash_prefix(
    offline_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GANFORGE_OFFLINE")
    payload = tmp_path / "published.pth"
    torch.save({"w": torch.arange(4.0)}, payload)
    prefix = hashlib.sha256(payload.read_bytes()).hexdigest()[:8]
    # A file:// URL exercises the real download path without a network.
    monkeypatch.setitem(KNOWN_WEIGHTS, "vgg16", WeightsFile(f"good-{prefix}.pth", payload.as_uri(), "test"))
    got = resolve_weights("vgg16")
    assert got == offline_env / f"good-{prefix}.pth" and got.read_bytes() == payload.read_bytes()
    assert resolve_weights("vgg16") == got  # found in the folder the second time
    monkeypatch.setitem(KNOWN_WEIGHTS, "vgg16", WeightsFile("bad-00000000.pth", payload.as_uri(), "test"))
    with pytest.raises(MetricError, match="sha256 does not start with 00000000"):
        resolve_weights("vgg16")
    assert sorted(p.name for p in offline_env.iterdir()) == [f"good-{prefix}.pth"]
    missing = (tmp_path / "gone.pth").as_uri()
    monkeypatch.setitem(KNOWN_WEIGHTS, "vgg16", WeightsFile("gone.pth", missing, "test"))
    with pytest.raises(MetricError, match=f"downloading {missing} failed.*save it as"):
        resolve_weights("vgg16")
    assert weights_mod.default_detector_dir() == offline_env
