"""`ganforge dataset create|info` on users' own images: non-square, RGBA, multi-hot and continuous labels."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from ganforge.cli.main import main
from ganforge.data.dataset import ImageDataset
from ganforge.errors import DatasetError


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code or 0, out.out, out.err


def _save(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(pixels.squeeze()).save(path)


def _pixels(h: int, w: int, c: int, seed: int) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 256, (h, w, c), dtype=np.uint8)


def _members(dest: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(dest) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _image(data: bytes) -> PIL.Image.Image:
    import io

    with PIL.Image.open(io.BytesIO(data)) as picture:
        picture.load()
        return picture.copy()


def test_non_square_with_pad_and_center_crop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    _save(src / "a.png", np.full((10, 10, 3), 200, np.uint8))  # square: letterboxed into 16x8
    _save(src / "b.png", _pixels(12, 30, 3, 1))
    code, out, err = _run(["dataset", "create", "--source", str(src), "--dest", str(tmp_path / "pad.zip"),
                           "--resolution", "16x8", "--transform", "pad", "--background", "#102030"], capsys)
    assert code == 0, err
    assert "(16x8, 3 channel(s), no labels)" in out
    square = np.asarray(_image(_members(tmp_path / "pad.zip")["00000/img00000000.png"]))
    assert square.shape == (8, 16, 3)
    np.testing.assert_array_equal(square[:, :4], np.broadcast_to([16, 32, 48], (8, 4, 3)))
    np.testing.assert_array_equal(square[:, 4:12], 200)
    code, out, _ = _run(["dataset", "info", str(tmp_path / "pad.zip")], capsys)
    assert code == 0 and "Resolution:  16x8" in out.splitlines()

    code, out, err = _run(["dataset", "create", "--source", str(src), "--dest", str(tmp_path / "tall"),
                           "--resolution", "8x32", "--transform", "center-crop"], capsys)
    assert code == 0, err
    dataset = ImageDataset(tmp_path / "tall")
    assert (dataset.width, dataset.height, dataset.image_shape) == (8, 32, [3, 32, 8])
    with pytest.raises(DatasetError, match="8x32 images, but this needs square ones"):
        dataset.resolution  # noqa: B018 - consumers not ready for non-square data say so in one line


@pytest.mark.parametrize(("size", "words"), [("512x100", "100 is not a power of two"),
                                              ("64x8", "wider than 4:1"), ("8y8", "neither N nor WxH")])
def test_bad_sizes_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], size: str, words: str
) -> None:
    _save(tmp_path / "src" / "a.png", _pixels(8, 8, 3, 0))
    code, _, err = _run(["dataset", "create", "--source", str(tmp_path / "src"), "--dest",
                         str(tmp_path / "d.zip"), "--resolution", size, "--transform", "pad"], capsys)
    assert code == 1 and words in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "d.zip").exists()


def test_rgba_keeps_alpha_and_converts_mixed_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "src"
    rgba = _pixels(8, 8, 4, 0)
    _save(src / "a.png", rgba)
    PIL.Image.fromarray(rgba).save(src / "b.webp", lossless=True)
    _save(src / "c.png", _pixels(8, 8, 3, 2))
    _save(src / "d.png", _pixels(8, 8, 1, 3))
    code, out, err = _run(["dataset", "create", "--source", str(src), "--dest", str(tmp_path / "rgba.zip"),
                           "--channels", "4"], capsys)
    assert code == 0, err
    assert "4 channel(s)" in out
    files = _members(tmp_path / "rgba.zip")
    pictures = [_image(files[f"00000/img0000000{i}.png"]) for i in range(4)]
    assert [p.mode for p in pictures] == ["RGBA"] * 4
    np.testing.assert_array_equal(np.asarray(pictures[0]), rgba)
    np.testing.assert_array_equal(np.asarray(pictures[1]), rgba)
    assert (np.asarray(pictures[2])[:, :, 3] == 255).all() and (np.asarray(pictures[3])[:, :, 3] == 255).all()
    dataset = ImageDataset(tmp_path / "rgba.zip")
    assert dataset.num_channels == 4
    np.testing.assert_array_equal(dataset[0][0], rgba.transpose(2, 0, 1))
    code, out, _ = _run(["dataset", "info", str(tmp_path / "rgba.zip"), "--grid", str(tmp_path / "g.png")],
                        capsys)
    assert code == 0 and "Channels:    4 (RGBA)" in out.splitlines()
    with PIL.Image.open(tmp_path / "g.png") as grid:
        assert grid.mode == "RGB"  # alpha shown over a checkerboard

    code, _, err = _run(["dataset", "create", "--source", str(src), "--dest", str(tmp_path / "rgb.zip"),
                         "--channels", "3", "--background", "white"], capsys)
    assert code == 0, err
    flat = np.asarray(_image(_members(tmp_path / "rgb.zip")["00000/img00000000.png"])).astype(float)
    alpha = rgba[:, :, 3:] / 255.0
    np.testing.assert_array_equal(flat, np.rint(rgba[:, :, :3] * alpha + 255 * (1 - alpha)))


def _labelled_source(root: Path, rows: list[str]) -> tuple[Path, Path]:
    for i in range(3):
        _save(root / "src" / f"{i}.png", _pixels(8, 8, 3, i))
    table = root / "labels.csv"
    table.write_text("\n".join(rows) + "\n")
    return root / "src", table


@pytest.mark.parametrize(
    ("rows", "kind", "labels", "line"),
    [
        (["file,smiling,glasses,hat", "0.png,1,0,1", "1.png,0,0,0", "2.png,1,1,0"], "multi-hot",
         [[1, 0, 1], [0, 0, 0], [1, 1, 0]], "Labels:      multi-hot, 3 labels (0/1 vectors)"),
        (["file,age,tilt", "0.png,0.25,-1", "1.png,0.5,0", "2.png,1,2.5"], "continuous",
         [[0.25, -1.0], [0.5, 0.0], [1.0, 2.5]], "Labels:      continuous, 2-d float vectors"),
    ],
)
def test_labels_from_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: list[str], kind: str, labels: list, line: str
) -> None:
    src, table = _labelled_source(tmp_path, rows)
    dest = tmp_path / "d.zip"
    code, out, err = _run(["dataset", "create", "--source", str(src), "--dest", str(dest),
                           "--labels-from", str(table)], capsys)
    assert code == 0, err
    assert f"{len(labels[0])}-d {kind} labels" in out
    meta = json.loads(_members(dest)["dataset.json"])
    assert [value for _name, value in meta["labels"]] == labels
    assert meta["label_names"] == rows[0].split(",")[1:]
    dataset = ImageDataset(dest, use_labels=True)
    names = rows[0].split(",")[1:]
    assert (dataset.label_kind, dataset.label_names, dataset.c_dim) == (kind, names, len(labels[0]))
    np.testing.assert_array_equal(dataset.get_label(2), np.float32(labels[2]))
    code, out, _ = _run(["dataset", "info", str(dest)], capsys)
    assert line in out.splitlines() and "Label names: " + ", ".join(rows[0].split(",")[1:]) in out


def test_csv_problems_name_the_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, table = _labelled_source(tmp_path, ["file,a", "0.png,1", "1.png,x", "2.png,0"])
    code, _, err = _run(["dataset", "create", "--source", str(src), "--dest", str(tmp_path / "d.zip"),
                         "--labels-from", str(table)], capsys)
    assert code == 1 and "labels.csv' line 3: 'x' is not a number" in err
    table.write_text("file,a\n0.png,1\n1.png,0\n")
    code, _, err = _run(["dataset", "create", "--source", str(src), "--dest", str(tmp_path / "d.zip"),
                         "--labels-from", str(table)], capsys)
    assert code == 1 and "no row for 1 of 3 images (e.g. '2.png')" in err
    assert not (tmp_path / "d.zip").exists()
