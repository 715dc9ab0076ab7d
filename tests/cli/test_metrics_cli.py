"""`ganforge metrics` end to end: the bundled digits detector on a tiny generator and a real digits zip."""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from click.testing import CliRunner

from ganforge.cli.main import cli, main
from ganforge.cli.metrics import metrics_command, parse_metric_names
from ganforge.compat.checkpoint import save_network
from ganforge.data.sources import open_source
from ganforge.errors import MetricError
from ganforge.metrics import compute
from ganforge.models.stylegan2 import Generator

HAVE_DIGITS = (resources.files("ganforge.detectors") / "digits-v1.npz").is_file()
needs_digits = pytest.mark.skipif(not HAVE_DIGITS, reason="digits-v1.npz weights not committed yet")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Own cache folders and no downloads: nothing outside tmp_path is read or written."""
    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GANFORGE_DETECTOR_DIR", str(tmp_path / "detectors"))
    monkeypatch.setenv("GANFORGE_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def digits_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 150 bundled digits as a labelled dataset zip."""
    path = tmp_path_factory.mktemp("data") / "digits150.zip"
    items = open_source("demo:digits")[:150]
    with zipfile.ZipFile(path, "w") as zf:
        labels = []
        for i, item in enumerate(items):
            buf = io.BytesIO()
            PIL.Image.fromarray(item.load()[:, :, 0]).save(buf, format="PNG")
            name = f"00000/img{i:08d}.png"
            zf.writestr(name, buf.getvalue())
            labels.append([name, int(item.label)])
        zf.writestr("dataset.json", json.dumps({"labels": labels}))
    return path


def write_run(folder: Path, data: Path, c_dim: int = 0, mirror: bool = False) -> Path:
    """A run folder holding a snapshot of a tiny 32 x 32 gray generator that records its dataset."""
    folder.mkdir(parents=True)
    (folder / "training_options.json").write_text("{}")
    torch.manual_seed(0)
    G = Generator(z_dim=8, c_dim=c_dim, w_dim=8, img_resolution=32, img_channels=1,
                  mapping_kwargs={"num_layers": 2}, synthesis_kwargs={"channel_base": 128, "channel_max": 8})
    path = folder / "network-snapshot-000000.pt"
    extra = {"training_set_kwargs": {"path": str(data), "xflip": mirror, "use_labels": c_dim > 0}}
    save_network(path, extra=extra, G=G, G_ema=G)
    return path


def invoke(*args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(metrics_command, [*args, "--device", "cpu"])
    return result.exit_code, result.output, result.exception


@needs_digits
@pytest.mark.slow  # 20-30 s: five runs of the digits detector over 150 reals and up to 500 fakes
@pytest.mark.filterwarnings("ignore:Matrix is singular")  # 150 reals: a rank-deficient covariance
def test_digits_metrics_end_to_end(tmp_path: Path, digits_zip: Path) -> None:
    network = write_run(tmp_path / "00000-run", digits_zip)
    code, output, exc = invoke("--network", str(network), "--metrics", "fid_digits,kid_digits",
                               "--num-gen", "500")
    assert code == 0, (output, exc)
    lines = output.splitlines()
    assert lines[0].split() == ["metric", "value", "time"]
    values = {line.split()[0]: float(line.split()[1]) for line in lines[2:4]}
    assert set(values) == {"fid_digits", "kid_digits"}
    assert values["fid_digits"] > 1 and np.isfinite(values["kid_digits"])  # an untrained G is far off

    for name in ("fid_digits", "kid_digits"):
        entry = json.loads((network.parent / f"metric-{name}.jsonl").read_text().splitlines()[-1])
        assert entry["snapshot_pkl"] == network.name and entry["num_gpus"] == 1
        assert entry["results"][name] == pytest.approx(values[name], rel=1e-5)
    assert len(list((tmp_path / "cache").glob("digits150-digits-v1-*.npz"))) == 2  # mean/cov and all rows

    # Same seed, same numbers; --mirror reaches only the legacy metrics (as official), not fid_digits.
    code, output, exc = invoke("--network", str(network), "--metrics", "fid_digits", "--num-gen", "300")
    assert code == 0, (output, exc)
    fid300 = float(output.splitlines()[2].split()[1])
    code, output, exc = invoke("--network", str(network), "--metrics", "fid_digits", "--num-gen", "300")
    assert code == 0, (output, exc)
    assert float(output.splitlines()[2].split()[1]) == pytest.approx(fid300, rel=1e-6)
    assert fid300 != pytest.approx(values["fid_digits"], rel=1e-3)
    code, output, exc = invoke("--network", str(network), "--metrics", "fid_digits", "--num-gen", "300",
                               "--mirror", "--run-dir", str(tmp_path / "elsewhere"))
    assert code == 0, (output, exc)
    assert float(output.splitlines()[2].split()[1]) == pytest.approx(fid300, rel=1e-6)
    assert (tmp_path / "elsewhere" / "metric-fid_digits.jsonl").is_file()
    assert len((network.parent / "metric-fid_digits.jsonl").read_text().splitlines()) == 3


@needs_digits
def test_class_accuracy(tmp_path: Path, digits_zip: Path) -> None:
    network = write_run(tmp_path / "run", digits_zip, c_dim=10)
    code, output, exc = invoke("--network", str(network), "--metrics", "class_acc", "--num-gen", "100")
    assert code == 0, (output, exc)
    assert 0 <= float(output.splitlines()[2].split()[1]) <= 1
    assert output.splitlines()[3:] == [f"Appended to {network.parent / 'metric-class_acc.jsonl'}"]


def test_missing_inception_weights_fail_clearly(tmp_path: Path, digits_zip: Path) -> None:
    network = write_run(tmp_path / "run", digits_zip)
    code, _output, exc = invoke("--network", str(network), "--metrics", "fid50k_full")
    assert code == 1 and isinstance(exc, MetricError)
    assert "pt_inception-2015-12-05" in str(exc) and "GANFORGE_DETECTOR_DIR" in str(exc)
    assert not (tmp_path / "detectors").exists() or not any((tmp_path / "detectors").iterdir())
    assert not (network.parent / "metric-fid50k_full.jsonl").exists()


def test_main_exits_1_without_weights(
    tmp_path: Path, digits_zip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if "metrics" not in cli.commands:
        pytest.skip("`ganforge metrics` is not registered in cli/main.py yet")
    network = write_run(tmp_path / "run", digits_zip)
    with pytest.raises(SystemExit) as exit_info:
        main(["metrics", "--network", str(network), "--metrics", "fid50k_full", "--device", "cpu"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: No FID Inception-v3") and "Traceback" not in err


def test_unknown_metric_is_a_usage_error(tmp_path: Path, digits_zip: Path) -> None:
    network = write_run(tmp_path / "run", digits_zip)
    code, output, _exc = invoke("--network", str(network), "--metrics", "fid_digits,fid3k")
    assert code == 2 and "fid3k" in output and "fid50k_full" in output


def test_every_ppl_variant_runs_by_name(tmp_path: Path, digits_zip: Path) -> None:
    """The official ppl_zfull, ppl_wfull and ppl_zend through the command (LPIPS of stand-in weights)."""
    from tests.detectors.test_detectors import save_trunk

    from ganforge.detectors.lpips import lpips_key_map
    from ganforge.detectors.weights import KNOWN_WEIGHTS

    weights = tmp_path / "detectors"
    weights.mkdir()
    save_trunk(weights / KNOWN_WEIGHTS["vgg16"].file_name)
    widths = (64, 128, 256, 512, 512)
    lins = {k: torch.full((1, c, 1, 1), 0.01) for k, c in zip(lpips_key_map(), widths, strict=True)}
    torch.save(lins, weights / KNOWN_WEIGHTS["lpips"].file_name)
    network = write_run(tmp_path / "run", digits_zip)
    names = ["ppl_zfull", "ppl_wfull", "ppl_zend"]
    code, output, exc = invoke("--network", str(network), "--metrics", ",".join(names), "--num-gen", "2")
    assert code == 0, (output, exc)
    values = {line.split()[0]: float(line.split()[1]) for line in output.splitlines()[2:5]}
    assert list(values) == names and all(np.isfinite(v) and v > 0 for v in values.values())
    appended = [f"Appended to {network.parent / f'metric-{name}.jsonl'}" for name in names]
    assert output.splitlines()[5:] == appended  # the real files, one line each
    assert all((network.parent / f"metric-{name}.jsonl").is_file() for name in names)


def test_train_takes_the_new_ppl_names() -> None:
    """`train --metrics` parses its list with the same function as `ganforge metrics`."""
    assert parse_metric_names("ppl_zfull,ppl_wfull,ppl_zend", allow_none=True) == (
        "ppl_zfull", "ppl_wfull", "ppl_zend")


@pytest.mark.parametrize("metric, expected", [
    ("fid_digits", "Error: fid_digits needs 32x32 grayscale digit images (what its detector knows), but "
                   "dataset {rgb} holds 16x16 RGB images; for other data use fid50k_full or kid50k_full."),
    ("class_acc", "Error: class_acc needs a generator conditioned on the detector's 10 classes (made by "
                  "`ganforge train --cond` on labelled digits); this one is unconditional."),
])
def test_metrics_that_do_not_fit_refuse_in_one_line(
    metric: str, expected: str, tmp_path: Path, digits_zip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.metrics.test_compute import write_zip

    rgb = write_zip(tmp_path / "photos.zip", count=4)
    network = write_run(tmp_path / "run", digits_zip)
    with pytest.raises(SystemExit) as exit_info:
        main(["metrics", "--network", str(network), "--metrics", metric, "--data", str(rgb),
              "--device", "cpu"])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == expected.format(rgb=rgb) + "\n"
    assert not (network.parent / f"metric-{metric}.jsonl").exists()


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """`ganforge metrics ARGS --device cpu` through the entry point: exit code and stderr."""
    try:
        main(["metrics", *args, "--device", "cpu"])
    except SystemExit as exit_info:
        return int(exit_info.code or 0), capsys.readouterr().err
    return 0, capsys.readouterr().err


def test_an_unwritable_run_folder_is_one_line_before_any_work(
    tmp_path: Path, digits_zip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    network = write_run(tmp_path / "run", digits_zip)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, err = run_main(capsys, "--network", str(network), "--metrics", "fid_digits", "--run-dir",
                         str(blocker / "results"))
    assert code == 1
    assert err == (f"Error: cannot create folder '{blocker / 'results'}': '{blocker}' is a file, not a "
                   "folder; choose another destination\n")
    assert not (tmp_path / "cache").exists()  # refused before computing anything

    if os.path.isdir("/proc/self"):
        code, err = run_main(capsys, "--network", str(network), "--metrics", "fid_digits",
                             "--run-dir", "/proc")
        assert code == 1 and err.startswith("Error: cannot write '/proc/metric-fid_digits.jsonl': ")
        assert len(err.splitlines()) == 1 and not (tmp_path / "cache").exists()


def test_a_read_only_metric_file_is_one_line_before_any_work(
    tmp_path: Path, digits_zip: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    network = write_run(tmp_path / "run", digits_zip)
    jsonl = network.parent / "metric-fid_digits.jsonl"
    jsonl.write_text('{"earlier": "result"}\n')

    def read_only(path: str, mode: str = "r", **kwargs: object) -> object:
        if "a" in mode or "w" in mode:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return builtins.open(path, mode, **kwargs)

    monkeypatch.setattr(compute, "open", read_only, raising=False)
    code, err = run_main(capsys, "--network", str(network), "--metrics", "fid_digits")
    assert code == 1
    assert err == (f"Error: cannot write '{jsonl}': Read-only file system; "
                   "choose another destination\n")
    assert not (tmp_path / "cache").exists() and jsonl.read_text() == '{"earlier": "result"}\n'


class FillsUp:
    """A file opened for appending on a disk that fills up halfway through the first write."""

    def __init__(self, path: str, mode: str, **kwargs: object) -> None:
        self.file = builtins.open(path, mode, **kwargs)

    def write(self, data: bytes) -> int:
        self.file.write(bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str) -> object:
        return getattr(self.file, name)

    def __enter__(self) -> FillsUp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def test_a_full_disk_is_one_line_that_keeps_the_results_and_the_file(
    tmp_path: Path, digits_zip: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    network = write_run(tmp_path / "run", digits_zip)
    jsonl = network.parent / "metric-fid_digits.jsonl"
    jsonl.write_text('{"earlier": "result"}\n')
    fills_up = lambda path, mode="r", **kw: FillsUp(path, mode, **kw)  # noqa: E731
    monkeypatch.setattr(compute, "open", fills_up, raising=False)
    code, err = run_main(capsys, "--network", str(network), "--metrics", "fid_digits", "--num-gen", "100")
    assert code == 1 and len(err.splitlines()) == 1
    prefix = (f"Error: cannot write '{jsonl}': No space left on device; free some space or choose another "
              "destination (results not saved: fid_digits ")
    assert err.startswith(prefix) and err.endswith(")\n") and float(err[len(prefix) : -2]) > 0
    assert jsonl.read_text() == '{"earlier": "result"}\n'  # no half line appended
