"""Users' own images end to end: `dataset create` (CLI), a few training steps (the training_loop API,
tiny networks; once through `ganforge train`) and `generate` (CLI) on non-square, RGBA, multi-hot and
continuous data."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from tests.training.tiny import tiny_config

from ganforge.cli.main import main
from ganforge.compat import load_network
from ganforge.errors import DatasetError
from ganforge.training.loop import LoopOptions, training_loop
from ganforge.training.rundir import new_run_dir

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

OPTIONS = LoopOptions(device="cpu", grid=(2, 2), progress=False)
DCGAN = {"model": "dcgan", "gf_dim": 8, "df_dim": 8, "gfc_dim": 16, "dfc_dim": 16}


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Exit status and output (stdout, then stderr) of `ganforge ARGS`."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


def _dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], size: str, channels: int, csv_rows: list[str] | None
) -> Path:
    """A dataset zip made by `ganforge dataset create` from 8 random 12x20 images of `channels`."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(8):
        pixels = np.random.RandomState(i).randint(0, 256, (12, 20, channels), dtype=np.uint8)
        PIL.Image.fromarray(pixels.squeeze()).save(src / f"{i}.png")
    args = ["--source", str(src), "--dest", str(tmp_path / "data.zip"), "--resolution", size,
            "--transform", "pad", "--channels", str(channels)]
    if csv_rows is not None:
        (tmp_path / "labels.csv").write_text("\n".join(csv_rows) + "\n")
        args += ["--labels-from", str(tmp_path / "labels.csv")]
    code, out = _cli(capsys, "dataset", "create", *args)
    assert code == 0, out
    return tmp_path / "data.zip"


def _train(data: Path, tmp_path: Path, **changes: object) -> Path:
    """The last snapshot of a 4-step run on `data` with a tiny config."""
    run_dir = new_run_dir(tmp_path / "runs", "run")
    result = training_loop(tiny_config(**changes), data, run_dir, options=OPTIONS)
    assert result.snapshot is not None
    return result.snapshot


def _pngs(folder: Path) -> dict[str, PIL.Image.Image]:
    out = {}
    for path in sorted(folder.rglob("*.png")):
        with PIL.Image.open(path) as picture:
            picture.load()
            out[path.relative_to(folder).as_posix()] = picture.copy()
    return out


def test_rgba_16x8_multi_hot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = ["file,smiling,glasses,hat"] + [f"{i}.png,{i % 2},{i // 2 % 2},{i // 4}" for i in range(8)]
    data = _dataset(tmp_path, capsys, "16x8", 4, rows)
    snapshot = _train(data, tmp_path, cond=True)
    nets = load_network(snapshot)
    assert nets["labels"] == {"kind": "multi-hot", "names": ["smiling", "glasses", "hat"]}
    assert (nets["G_ema"].img_width, nets["G_ema"].img_height, nets["G_ema"].img_channels) == (16, 8, 4)
    with PIL.Image.open(snapshot.parent / "fakes_init.png") as grid:
        assert (grid.size, grid.mode) == ((32, 16), "RGB")  # 2x2 cells over a checkerboard

    code, out = _cli(capsys, "generate", "--network", str(snapshot), "--seeds", "0-1", "--label", "1,0,1",
                     "--outdir", str(tmp_path / "one"), "--device", "cpu")
    assert code == 0, out
    images = _pngs(tmp_path / "one")
    assert sorted(images) == ["seed0000.png", "seed0001.png"]
    assert all((p.size, p.mode) == ((16, 8), "RGBA") for p in images.values())

    (tmp_path / "wanted.csv").write_text("smiling,glasses,hat\n1,0,0\n0,1,1\n")
    code, out = _cli(capsys, "generate", "--network", str(snapshot), "--seeds", "3", "--grid", "--label-file",
                     str(tmp_path / "wanted.csv"), "--outdir", str(tmp_path / "two"), "--device", "cpu")
    assert code == 0, out
    images = _pngs(tmp_path / "two")
    assert sorted(images) == ["grid.png", "label0/seed0003.png", "label1/seed0003.png"]
    assert images["grid.png"].size == (16, 16)

    refused = "--class: the network takes 3 multi-hot labels (smiling, glasses, hat), not a class; give a --"
    for args, words in [(["--label", "1,0"], "--label: 1,0 has 2 values; the network takes 3 multi-hot"),
                        (["--label", "1,0.5,0"], "--label: 1,0.5,0 is not a 0/1 vector"),
                        (["--class", "1"], refused)]:
        code, out = _cli(capsys, "generate", "--network", str(snapshot), "--seeds", "0", *args,
                         "--outdir", str(tmp_path / "bad"), "--device", "cpu")
        assert code == 1 and words in out and len(out.strip().splitlines()) == 1, out


def test_8x32_continuous(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = ["file,age,tilt"] + [f"{i}.png,{i / 8},{1 - i / 4}" for i in range(8)]
    data = _dataset(tmp_path, capsys, "8x32", 3, rows)
    snapshot = _train(data, tmp_path, cond=True)
    assert load_network(snapshot)["labels"]["kind"] == "continuous"
    code, out = _cli(capsys, "generate", "--network", str(snapshot), "--seeds", "0", "--label", "0.3,-0.5",
                     "--outdir", str(tmp_path / "out"), "--device", "cpu")
    assert code == 0, out
    picture = _pngs(tmp_path / "out")["seed0000.png"]
    assert (picture.size, picture.mode) == ((8, 32), "RGB")

    code, out = _cli(capsys, "export", str(snapshot), str(tmp_path / "o.pkl"), "--format", "official")
    assert code == 1 and "makes 8x32 images; the official StyleGAN2-ADA code builds square" in out
    code, out = _cli(capsys, "export", str(snapshot), str(tmp_path / "folder"))
    assert code == 0, out
    config = json.loads((tmp_path / "folder" / "config.json").read_text())
    assert (config["img_width"], config["img_height"], config["label_names"]) == (8, 32, ["age", "tilt"])
    assert "generator, 8x32, 3 channels" in (tmp_path / "folder" / "README.md").read_text()
    code, out = _cli(capsys, "generate", "--network", str(tmp_path / "folder"), "--seeds", "0", "--label",
                     "0.3,-0.5", "--outdir", str(tmp_path / "again"), "--device", "cpu")
    assert code == 0, out
    assert _pngs(tmp_path / "again")["seed0000.png"].tobytes() == picture.tobytes()


def test_dcgan_16x8_multi_hot_and_square_only_families(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = ["file,a,b"] + [f"{i}.png,{i % 2},{1 - i % 2}" for i in range(8)]
    data = _dataset(tmp_path, capsys, "16x8", 3, rows)
    snapshot = _train(data, tmp_path, cond=True, **DCGAN)
    code, out = _cli(capsys, "generate", "--network", str(snapshot), "--seeds", "0", "--label", "1,1",
                     "--outdir", str(tmp_path / "out"), "--device", "cpu")
    assert code == 0, out
    assert _pngs(tmp_path / "out")["seed0000.png"].size == (16, 8)
    with pytest.raises(DatasetError, match="16x8 images, but `model` stylegan trains square images only"):
        _train(data, tmp_path, model="stylegan")


def test_generated_png_keeps_alpha_values(tmp_path: Path) -> None:
    from ganforge.tools.generate import save_png

    rgba = np.random.RandomState(0).randint(0, 256, (8, 16, 4), dtype=np.uint8)
    save_png(rgba, tmp_path / "a.png")
    with PIL.Image.open(io.BytesIO((tmp_path / "a.png").read_bytes())) as picture:
        np.testing.assert_array_equal(np.asarray(picture), rgba)


def test_ganforge_train_on_rgba_16x8_multi_hot_then_generate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole path through the commands a user types: `ganforge train --cond` (the `cpu` preset, one
    kimg in 16 steps of 64) on a 16x8 RGBA multi-hot dataset, then `generate --label` from its snapshot."""
    rows = ["file,a,b,c"] + [f"{i}.png,{i % 2},{(i // 2) % 2},1" for i in range(8)]
    data = _dataset(tmp_path, capsys, "16x8", 4, rows)
    code, out = _cli(capsys, "train", "--data", str(data), "--outdir", str(tmp_path / "runs"), "--cfg", "cpu",
                     "--cond", "--kimg", "1", "--batch", "64", "--batch-gpu", "64", "--workers", "0",
                     "--device", "cpu", "--grid", "2x2")
    assert code == 0, out
    snapshot = sorted((tmp_path / "runs").glob("*/network-snapshot-*.pt"))[-1]
    G = load_network(snapshot)["G_ema"]
    assert (G.img_width, G.img_height, G.img_channels, G.c_dim) == (16, 8, 4, 3)
    code, out = _cli(capsys, "generate", "--network", str(snapshot), "--seeds", "0-1", "--label", "1,0,1",
                     "--outdir", str(tmp_path / "gen"))
    assert code == 0, out
    with PIL.Image.open(tmp_path / "gen" / "seed0000.png") as image:
        assert (image.size, image.mode) == ((16, 8), "RGBA")
