"""The metric pipeline end to end on a tiny generator, a real dataset zip and a test detector.

The detector is a fixed random projection of the gray pixels, so every statistic can be recomputed
here independently: images read from the zip with PIL, generated images from G directly, and FID
from the eigendecomposition form of the closed formula.
"""

from __future__ import annotations

import io
import json
import os
import socket
import zipfile
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
import torch.multiprocessing as mp

from ganforge.detectors import load_detector
from ganforge.detectors.base import Detector
from ganforge.errors import MetricError, OptionError
from ganforge.metrics.compute import compute_metrics, format_table, report
from ganforge.metrics.features import MetricOptions, dataset_features
from ganforge.metrics.inception_score import inception_score
from ganforge.metrics.kid import kernel_distance
from ganforge.metrics.precision_recall import precision_recall
from ganforge.models.stylegan2 import Generator
from ganforge.training.distributed import shutdown

RES = 16
PROJ = np.random.RandomState(0).randn(RES * RES, 6).astype(np.float32) / RES


class ProjectionDetector(Detector):
    """Features: gray pixels in [0, 1] times a fixed matrix; logits: the first 4 features."""

    name = "test-projection"
    feature_dim = 6
    num_classes = 4

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("proj", torch.from_numpy(PROJ))
        self.calls = 0

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        assert images.dtype == torch.uint8 and images.ndim == 4
        self.calls += 1
        features = (images.float().mean(dim=1) / 255).flatten(1) @ self.proj
        return {"features": features, "logits": features[:, :4] * 10}


class PixelDistance(torch.nn.Module):
    """A stand-in for LPIPS: mean squared difference of [0, 255] pixels."""

    def forward(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        return (img0 - img1).square().mean(dim=(1, 2, 3))


def numpy_features(images: np.ndarray) -> np.ndarray:
    """The detector written again in numpy, for uint8 images N x C x H x W."""
    gray = images.astype(np.float32).mean(axis=1) / 255
    return gray.reshape(len(images), -1) @ PROJ


def tiny_generator(c_dim: int = 0, res: int = RES, channels: int = 3) -> Generator:
    torch.manual_seed(0)
    return Generator(
        z_dim=8, c_dim=c_dim, w_dim=8, img_resolution=res, img_channels=channels,
        mapping_kwargs={"num_layers": 2}, synthesis_kwargs={"channel_base": 128, "channel_max": 8},
    ).eval()


def generated_images(G: Generator, num: int, c: torch.Tensor, seed: int = 0) -> np.ndarray:
    """G's images for the documented latents (torch.randn seeded with `seed`), uint8 NCHW."""
    z = torch.randn([num, G.z_dim], generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        img = G(z, c, noise_mode="none")  # a fresh G has noise strength 0: noise does not matter
    return (img * 127.5 + 128).clamp(0, 255).to(torch.uint8).numpy()


def write_zip(path: Path, count: int = 40) -> Path:
    rnd = np.random.RandomState(1)
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(count):
            pixels = (rnd.rand(RES, RES, 3) ** 2 * 255).astype(np.uint8)
            buf = io.BytesIO()
            PIL.Image.fromarray(pixels).save(buf, format="PNG")
            zf.writestr(f"00000/img{i:08d}.png", buf.getvalue())
    return path


def read_zip(path: Path) -> np.ndarray:
    with zipfile.ZipFile(path) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".png"))
        images = [np.asarray(PIL.Image.open(io.BytesIO(zf.read(n)))) for n in names]
    return np.stack(images).transpose(0, 3, 1, 2)


def closed_form_fid(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False, bias=True), np.cov(b, rowvar=False, bias=True)

    def sqrt_psd(m: np.ndarray) -> np.ndarray:
        vals, vecs = np.linalg.eigh(m)
        return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T

    r = sqrt_psd(s_a)
    cross = sqrt_psd(r @ s_b @ r)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * np.trace(cross))


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(path))
    return path


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_zip(tmp_path / "data.zip")


def run(names: list[str], G: Generator | None, data: Path | None, detector: torch.nn.Module, **kw) -> dict:
    loader = lambda _name, _path: detector  # noqa: E731
    results = compute_metrics(names, G, data, detector_loader=loader, batch_size=16, **kw)
    return {k: v for r in results for k, v in r["results"].items()}


def test_fid_matches_independent_computation(data: Path) -> None:
    G = tiny_generator()
    got = run(["fid2k_full"], G, data, ProjectionDetector(), num_gen=50)["fid2k_full"]
    real = numpy_features(read_zip(data))
    fake = numpy_features(generated_images(G, 50, torch.zeros([50, 0])))
    assert got == pytest.approx(closed_form_fid(fake, real), rel=1e-4)
    assert got > 0.01


def test_mirrored_reals_count(data: Path) -> None:
    opts = MetricOptions(data=data, xflip=True, detector_loader=lambda _n, _p: ProjectionDetector())
    stats = dataset_features(opts, "digits", capture_all=True, capture_mean_cov=True)
    images = read_zip(data)
    both = numpy_features(np.concatenate([images, images[:, :, :, ::-1]]))
    assert stats.num_items == 80
    np.testing.assert_allclose(np.sort(stats.all(), axis=0), np.sort(both, axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats.mean_cov()[0], both.astype(np.float64).mean(0), rtol=1e-5)


def test_dataset_statistics_are_cached(data: Path, cache_dir: Path) -> None:
    G = tiny_generator()
    detector = ProjectionDetector()
    first = run(["fid2k_full"], G, data, detector, num_gen=32)
    assert detector.calls == 3 + 2  # 40 reals and 32 fakes in batches of 16
    assert len(list(cache_dir.glob("data-test-projection-*.npz"))) == 1

    detector.calls = 0
    second = run(["fid2k_full"], G, data, detector, num_gen=32)
    assert detector.calls == 2  # only the generated images
    assert second == first

    detector.calls = 0
    run(["fid50k"], G, data, detector, num_gen=32, xflip=True)  # mirrored reals, 50k at most: another entry
    assert detector.calls == 5 + 2
    assert len(list(cache_dir.glob("*.npz"))) == 2

    detector.calls = 0
    run(["fid2k_full", "kid50k_full"], G, data, detector, num_gen=32)  # kid: all rows, another entry
    assert detector.calls == 3 + 2  # the generated features are shared by fid and kid

    os.utime(data, (1_000_000_000, 1_000_000_000))  # the dataset changed: not served from the cache
    detector.calls = 0
    run(["fid2k_full"], G, data, detector, num_gen=32)
    assert detector.calls == 3 + 2


def test_full_metrics_never_mirror_and_legacy_ones_follow_the_run(data: Path) -> None:
    """As the official metric_main: `_full` metrics force xflip=False; fid50k/kid50k/pr50k3 keep it."""
    G = tiny_generator()
    images = read_zip(data)
    fake = numpy_features(generated_images(G, 32, torch.zeros([32, 0])))
    real = numpy_features(images)
    mirrored = numpy_features(np.concatenate([images, images[:, :, :, ::-1]]))
    names = ["fid2k_full", "kid50k_full", "pr50k3_full", "fid50k", "kid50k", "pr50k3"]
    plain = run(names, G, data, ProjectionDetector(), num_gen=32)
    flipped = run(names, G, data, ProjectionDetector(), num_gen=32, xflip=True)
    for name in ("fid2k_full", "kid50k_full", "pr50k3_full_precision", "pr50k3_full_recall"):
        assert flipped[name] == plain[name], name
    assert plain["fid50k"] == pytest.approx(closed_form_fid(fake, real), rel=1e-4)
    assert flipped["fid50k"] == pytest.approx(closed_form_fid(fake, mirrored), rel=1e-4)
    assert flipped["fid50k"] != pytest.approx(plain["fid50k"], rel=1e-3)
    assert flipped["kid50k"] == pytest.approx(kernel_distance(fake, mirrored, seed=0), rel=1e-4)
    precision, recall = precision_recall(torch.from_numpy(mirrored), torch.from_numpy(fake), k=3)
    assert (flipped["pr50k3_precision"], flipped["pr50k3_recall"]) == pytest.approx((precision, recall))


def test_kid_pr_is_match_independent_features(data: Path) -> None:
    G = tiny_generator()
    got = run(["kid50k_full", "pr50k3_full", "is50k"], G, data, ProjectionDetector(), num_gen=40)
    real = numpy_features(read_zip(data))
    fake = numpy_features(generated_images(G, 40, torch.zeros([40, 0])))
    assert got["kid50k_full"] == pytest.approx(kernel_distance(fake, real, seed=0), rel=1e-4)
    precision, recall = precision_recall(torch.from_numpy(real), torch.from_numpy(fake), k=3)
    assert got["pr50k3_full_precision"] == pytest.approx(precision)
    assert got["pr50k3_full_recall"] == pytest.approx(recall)
    mean, std = inception_score(fake[:, :4] * 10)
    assert got["is50k_mean"] == pytest.approx(mean, rel=1e-4)
    assert got["is50k_std"] == pytest.approx(std, abs=1e-4)


def test_class_accuracy_of_conditional_generator() -> None:
    """class_acc of a 32 x 32 gray 10-class G: the digits detector's verdicts on class-balanced samples."""
    G = tiny_generator(c_dim=10, res=32, channels=1)
    got = compute_metrics(["class_acc"], G, None, num_gen=40)[0]["results"]["class_acc"]
    classes = np.arange(40) % 10
    c = torch.nn.functional.one_hot(torch.from_numpy(classes), 10).float()
    with torch.no_grad():
        logits = load_detector("digits")(torch.from_numpy(generated_images(G, 40, c)))["logits"]
    assert got == pytest.approx(np.mean(logits.numpy().argmax(axis=1) == classes))


def test_conditional_generator_takes_labels_from_the_data(data: Path) -> None:
    with pytest.raises(MetricError, match="label"):
        run(["fid2k_full"], tiny_generator(c_dim=4), data, ProjectionDetector(), num_gen=16)


def test_ppl_runs_on_a_stylegan2_generator() -> None:
    """The PPL values themselves are checked in test_ppl.py; here: the real generator, repeatably."""
    G = tiny_generator()
    first = run(["ppl2_wend", "ppl_zfull"], G, None, PixelDistance(), num_gen=12)
    again = run(["ppl2_wend", "ppl_zfull"], G, None, PixelDistance(), num_gen=12)
    assert all(np.isfinite(v) and v > 0 for v in first.values()) and first == again


def test_ppl_with_the_lpips_module() -> None:
    """The real LPIPS class (untrained weights: only its interface matters here) takes PPL's images."""
    from ganforge.detectors.lpips import LPIPS

    torch.manual_seed(0)
    lpips = LPIPS()
    with torch.no_grad():
        for lin in lpips.lins:
            lin.weight.abs_()  # trained LPIPS weights are non-negative
    value = run(["ppl2_wend"], tiny_generator(), None, lpips, num_gen=4)["ppl2_wend"]
    assert np.isfinite(value) and value > 0


def test_errors_before_any_work(data: Path) -> None:
    G = tiny_generator()
    detector = ProjectionDetector()
    with pytest.raises(MetricError, match="Unknown metric 'fid1k'"):
        run(["fid1k"], G, data, detector)
    with pytest.raises(OptionError, match=r"^data: fid2k_full compares with the real images; pass"):
        run(["fid2k_full"], G, None, detector)
    with pytest.raises(OptionError, match=r"^data: fid2k_full, kid50k_full compare with the real images"):
        run(["fid2k_full", "kid50k_full"], G, None, detector)
    with pytest.raises(OptionError, match="^detector_path: these metrics use several detectors"):
        run(["fid50k_full", "pr50k3_full"], G, data, detector, detector_path="x.pth")
    with pytest.raises(OptionError, match=r"^num_gen: is50k needs at least 10 generated samples, got 9\.$"):
        run(["fid2k_full", "is50k"], G, data, detector, num_gen=9)
    with pytest.raises(OptionError, match=r"^num_gen: pr50k3_full needs at least 4 generated samples"):
        run(["pr50k3_full"], G, data, detector, num_gen=3)
    assert detector.calls == 0


def test_report_appends_json_lines(tmp_path: Path, data: Path) -> None:
    results = compute_metrics(
        ["fid2k_full", "kid50k_full"], tiny_generator(), data,
        detector_loader=lambda _n, _p: ProjectionDetector(), num_gen=20,
    )
    for _ in range(2):
        report(results[0], run_dir=tmp_path, snapshot_pkl=str(tmp_path / "network-snapshot-000000.pt"))
    lines = (tmp_path / "metric-fid2k_full.jsonl").read_text().splitlines()
    assert len(lines) == 2
    entry = json.loads(lines[0])
    assert set(entry) >= {"results", "metric", "total_time", "num_gpus", "snapshot_pkl", "timestamp"}
    assert entry["metric"] == "fid2k_full" and entry["snapshot_pkl"] == "network-snapshot-000000.pt"
    assert entry["results"]["fid2k_full"] == results[0]["results"]["fid2k_full"]
    table = format_table(results).splitlines()
    assert table[0].split() == ["metric", "value", "time"]
    assert table[2].startswith("fid2k_full") and table[3].startswith("kid50k_full")


SHARDED = ["fid2k_full", "kid50k_full", "pr50k3_full"]


def _sharded_worker(rank: int, port: int, data: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=2)
    finished = False
    try:
        results = run(SHARDED, tiny_generator(), Path(data), ProjectionDetector(), num_gen=40,
                      rank=rank, num_gpus=2)
        Path(out, f"rank{rank}.json").write_text(json.dumps(results))
        finished = True
    finally:
        shutdown(finished)  # a rank leaving gloo while a peer still uses it may abort the process


def test_two_ranks_give_the_single_process_results(tmp_path: Path) -> None:
    data = write_zip(tmp_path / "data48.zip", count=48)  # 3 real and 3 generated batches of 16
    single = run(SHARDED, tiny_generator(), data, ProjectionDetector(), num_gen=40, cache=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.spawn(_sharded_worker, args=(port, str(data), str(tmp_path)), nprocs=2, join=True)
    for rank in range(2):
        sharded = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert sharded.keys() == single.keys()
        for key, value in single.items():
            assert sharded[key] == pytest.approx(value, rel=1e-6), key
