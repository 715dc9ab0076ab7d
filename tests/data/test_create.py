"""The dataset writer: official layout in zips and folders, options, validation and atomicity."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from ganforge.data.create import create_dataset, image_name, write_dataset
from ganforge.data.dataset import ImageDataset
from ganforge.data.sources import SourceItem
from ganforge.errors import DatasetError, OptionError


def _random(h: int, w: int, c: int, seed: int) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 256, size=(h, w, c), dtype=np.uint8)


def _item(name: str, image: np.ndarray, label: int | list[float] | None = None) -> SourceItem:
    return SourceItem(name=name, load=lambda: image.copy(), label=label)


def _failing(name: str, exc: BaseException) -> SourceItem:
    def load() -> np.ndarray:
        raise exc

    return SourceItem(name=name, load=load, label=None)


def _items(n: int, size: int = 8, channels: int = 3, labels: bool = False) -> list[SourceItem]:
    return [
        _item(f"img{i}.png", _random(size, size, channels, i), i % 3 if labels else None) for i in range(n)
    ]


def _read(dest: Path) -> tuple[dict[str, bytes], dict]:
    """All files of a written dataset (zip or folder) and its parsed dataset.json."""
    if dest.suffix == ".zip":
        with zipfile.ZipFile(dest) as archive:
            files = {name: archive.read(name) for name in archive.namelist()}
    else:
        files = {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    return files, json.loads(files["dataset.json"])


def _decode(data: bytes) -> tuple[str, np.ndarray]:
    with PIL.Image.open(io.BytesIO(data)) as image:
        return image.mode, np.asarray(image)


def test_image_names_follow_the_official_layout() -> None:
    assert image_name(0) == "00000/img00000000.png"
    assert image_name(999) == "00000/img00000999.png"
    assert image_name(1000) == "00001/img00001000.png"
    assert image_name(123456) == "00123/img00123456.png"


@pytest.mark.parametrize("dest_name", ["out.zip", "out"])
def test_round_trip_with_class_labels(tmp_path: Path, dest_name: str) -> None:
    items = _items(4, labels=True)
    report = write_dataset(items, tmp_path / dest_name)
    assert (report.written, report.skipped, report.resolution, report.channels) == (4, 0, 8, 3)
    assert report.num_classes == 3 and report.label_dim is None
    files, meta = _read(tmp_path / dest_name)
    names = [image_name(i) for i in range(4)]
    assert sorted(files) == sorted([*names, "dataset.json"])
    assert meta == {"labels": [[name, i % 3] for i, name in enumerate(names)]}
    for i, name in enumerate(names):
        mode, pixels = _decode(files[name])
        assert mode == "RGB"
        np.testing.assert_array_equal(pixels, items[i].load())
    dataset = ImageDataset(tmp_path / dest_name, use_labels=True)
    assert len(dataset) == 4 and dataset.label_dim == 3
    np.testing.assert_array_equal(dataset[1][0], items[1].load().transpose(2, 0, 1))


def test_folder_source_of_png_and_jpeg_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "cats").mkdir(parents=True)
    (src / "dogs").mkdir()
    pngs = [_random(16, 16, 3, i) for i in range(2)]
    PIL.Image.fromarray(pngs[0]).save(src / "cats" / "a.png")
    PIL.Image.fromarray(pngs[1]).save(src / "cats" / "b.png")
    PIL.Image.fromarray(_random(16, 16, 3, 9)).save(src / "dogs" / "c.jpg", quality=95)
    report = create_dataset(str(src), tmp_path / "ds.zip", labels_from_folders=True, resolution=8)
    assert (report.written, report.resolution, report.num_classes) == (3, 8, 2)
    files, meta = _read(tmp_path / "ds.zip")
    assert [label for _name, label in meta["labels"]] == [0, 0, 1]
    expected = np.asarray(PIL.Image.fromarray(pngs[1]).resize((8, 8), PIL.Image.LANCZOS))
    np.testing.assert_array_equal(_decode(files[image_name(1)])[1], expected)
    assert _decode(files[image_name(2)])[1].shape == (8, 8, 3)


def test_more_than_a_thousand_images_fill_a_second_folder(tmp_path: Path) -> None:
    items = [_item(f"{i}.png", np.full((4, 4, 1), i % 256, np.uint8)) for i in range(1001)]
    write_dataset(items, tmp_path / "big.zip")
    files, meta = _read(tmp_path / "big.zip")
    assert meta == {"labels": None}
    assert "00001/img00001000.png" in files and "00000/img00000999.png" in files
    mode, pixels = _decode(files["00001/img00001000.png"])
    assert mode == "L" and pixels.shape == (4, 4) and (pixels == 1000 % 256).all()


def test_vector_labels_are_written_as_lists(tmp_path: Path) -> None:
    items = [_item(f"{i}.png", _random(4, 4, 3, i), [float(i), 0.5]) for i in range(2)]
    report = write_dataset(items, tmp_path / "v.zip")
    assert report.label_dim == 2 and report.num_classes is None
    assert _read(tmp_path / "v.zip")[1]["labels"] == [
        [image_name(0), [0.0, 0.5]],
        [image_name(1), [1.0, 0.5]],
    ]


def test_mixed_labels_are_refused(tmp_path: Path) -> None:
    items = [_item("a.png", _random(4, 4, 3, 0), 1), _item("b.png", _random(4, 4, 3, 1), None)]
    with pytest.raises(DatasetError, match=r"'b\.png'.*'a\.png'"):
        write_dataset(items, tmp_path / "m.zip")
    assert list(tmp_path.iterdir()) == []


def test_channel_conversion(tmp_path: Path) -> None:
    rgba = _random(4, 4, 4, 0)
    on_black = np.rint(rgba[:, :, :3] * (rgba[:, :, 3:] / 255.0)).astype(np.uint8)
    write_dataset([_item("a.png", rgba)], tmp_path / "rgb.zip")
    mode, pixels = _decode(_read(tmp_path / "rgb.zip")[0][image_name(0)])
    assert mode == "RGB"
    np.testing.assert_array_equal(pixels, on_black)

    report = write_dataset([_item("a.png", rgba)], tmp_path / "gray.zip", channels=1)
    mode, pixels = _decode(_read(tmp_path / "gray.zip")[0][image_name(0)])
    assert report.channels == 1 and mode == "L"
    np.testing.assert_array_equal(pixels, np.asarray(PIL.Image.fromarray(on_black).convert("L")))

    gray = _random(4, 4, 1, 1)
    write_dataset([_item("g.png", gray)], tmp_path / "g3.zip", channels=3)
    mode, pixels = _decode(_read(tmp_path / "g3.zip")[0][image_name(0)])
    assert mode == "RGB"
    np.testing.assert_array_equal(pixels, np.repeat(gray, 3, axis=2))


def _written_images(dest: Path, count: int) -> list[np.ndarray]:
    files = _read(dest)[0]
    return [_decode(files[image_name(i)])[1] for i in range(count)]


def test_max_images_and_shuffle_are_deterministic(tmp_path: Path) -> None:
    items = _items(10, size=4)
    write_dataset(items, tmp_path / "first.zip", max_images=3)
    got = _written_images(tmp_path / "first.zip", 3)
    for i in range(3):
        np.testing.assert_array_equal(got[i], items[i].load())

    order = np.random.RandomState(7).permutation(10)
    for name in ("s1.zip", "s2.zip"):
        report = write_dataset(items, tmp_path / name, max_images=3, shuffle_seed=7)
        assert report.written == 3
        got = _written_images(tmp_path / name, 3)
        for i in range(3):
            np.testing.assert_array_equal(got[i], items[order[i]].load())
    assert len(_read(tmp_path / "s1.zip")[0]) == 4


@pytest.mark.parametrize("dest_name", ["lods.zip", "lods"])
def test_lods_pyramid_is_a_box_filter(tmp_path: Path, dest_name: str) -> None:
    items = _items(2, size=16)
    report = write_dataset(items, tmp_path / dest_name, lods=True)
    assert report.lod_resolutions == [16, 8, 4]
    files, meta = _read(tmp_path / dest_name)
    assert meta["lod_resolutions"] == [16, 8, 4]
    assert sum(1 for name in files if name.startswith("00000/")) == 2
    for i, item in enumerate(items):
        level = item.load().astype(np.float64)
        for k in (1, 2):
            level = level.reshape(level.shape[0] // 2, 2, level.shape[1] // 2, 2, 3).mean(axis=(1, 3))
            np.testing.assert_array_equal(_decode(files[f"lod{k}/{image_name(i)}"])[1], np.rint(level))
    assert "lod3/" + image_name(0) not in files
    assert ImageDataset(tmp_path / dest_name, lod=2).resolution == 4


def test_different_sizes_need_resolution(tmp_path: Path) -> None:
    items = [_item("a.png", _random(8, 8, 3, 0)), _item("sub/b.png", _random(16, 16, 3, 1))]
    with pytest.raises(DatasetError, match=r"'sub/b\.png' is 16x16 .*'a\.png' is 8x8.*`resolution`"):
        write_dataset(items, tmp_path / "d.zip")
    report = write_dataset(items, tmp_path / "d.zip", resolution=8)
    assert report.written == 2


def test_mixed_channel_counts_need_channels(tmp_path: Path) -> None:
    items = [_item("a.png", _random(8, 8, 3, 0)), _item("b.png", _random(8, 8, 1, 1))]
    with pytest.raises(DatasetError, match=r"'b\.png' has 1 channel.*`channels`"):
        write_dataset(items, tmp_path / "c.zip")
    assert write_dataset(items, tmp_path / "c.zip", channels=3).written == 2


@pytest.mark.parametrize(
    ("image", "pattern"),
    [
        (np.zeros((8, 64, 3), np.uint8), r"'x\.png' \(64x8\): 64x8 is wider than 4:1"),
        (np.zeros((12, 12, 3), np.uint8), r"'x\.png' \(12x12\): 12 is not a power of two"),
        (np.zeros((8, 8, 2), np.uint8), r"'x\.png' has shape \(8, 8, 2\)"),
    ],
)
def test_bad_source_images_are_named(tmp_path: Path, image: np.ndarray, pattern: str) -> None:
    with pytest.raises(DatasetError, match=pattern):
        write_dataset([_item("x.png", image)], tmp_path / "bad.zip")
    assert list(tmp_path.iterdir()) == []


def test_non_square_image_with_resolution_suggests_a_crop(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"'w\.png' is 16x8.*center-crop"):
        write_dataset([_item("w.png", np.zeros((8, 16, 3), np.uint8))], tmp_path / "w.zip", resolution=8)
    report = write_dataset(
        [_item("w.png", np.zeros((8, 16, 3), np.uint8))],
        tmp_path / "w.zip",
        resolution=8,
        transform="center-crop",
    )
    assert report.resolution == 8


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        ({"resolution": 24}, "^resolution: 24 is not a power of two"),
        ({"channels": 2}, "^channels: must be 1"),
        ({"transform": "stretch"}, "^transform: must be one of"),
        ({"transform": "center-crop"}, "^transform: center-crop needs `resolution`"),
        ({"max_images": 0}, "^max_images: "),
    ],
)
def test_bad_options(tmp_path: Path, options: dict, pattern: str) -> None:
    with pytest.raises(OptionError, match=pattern):
        write_dataset(_items(1), tmp_path / "o.zip", **options)


def test_empty_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no images"):
        write_dataset([], tmp_path / "e.zip")


def test_corrupt_images_propagate_or_are_skipped(tmp_path: Path) -> None:
    items = _items(3)
    items.insert(1, _failing("broken.png", DatasetError("Image 'broken.png' is not a readable image")))
    with pytest.raises(DatasetError, match="broken.png"):
        write_dataset(items, tmp_path / "x.zip")
    assert list(tmp_path.iterdir()) == []

    report = write_dataset(items, tmp_path / "x.zip", skip_bad=True, max_images=3)
    assert (report.written, report.skipped, report.skipped_names) == (3, 1, ["broken.png"])
    got = _written_images(tmp_path / "x.zip", 3)
    np.testing.assert_array_equal(got[1], items[2].load())


def test_all_images_unreadable(tmp_path: Path) -> None:
    items = [_failing(f"{i}.png", DatasetError(f"bad {i}")) for i in range(2)]
    with pytest.raises(DatasetError, match="all 2 were skipped"):
        write_dataset(items, tmp_path / "x", skip_bad=True)
    assert list(tmp_path.iterdir()) == []


def test_real_corrupt_file_in_a_folder_source(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    PIL.Image.fromarray(_random(8, 8, 3, 0)).save(src / "a.png")
    (src / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DatasetError, match="b.png"):
        create_dataset(str(src), tmp_path / "out.zip")
    report = create_dataset(str(src), tmp_path / "out.zip", skip_bad=True)
    assert (report.written, report.skipped) == (1, 1)


@pytest.mark.parametrize("dest_name", ["exists.zip", "exists"])
def test_existing_dest_is_never_overwritten(tmp_path: Path, dest_name: str) -> None:
    dest = tmp_path / dest_name
    if dest.suffix:
        dest.write_bytes(b"precious")
    else:
        dest.mkdir()
        (dest / "keep.txt").write_bytes(b"precious")
    with pytest.raises(DatasetError, match="already exists"):
        write_dataset(_items(1), dest)
    with pytest.raises(DatasetError, match="already exists"):
        create_dataset(str(tmp_path / "missing-source"), dest)
    kept = dest if dest.is_file() else dest / "keep.txt"
    assert kept.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == [dest_name]


@pytest.mark.parametrize("dest_name", ["out.zip", "out"])
@pytest.mark.parametrize("make_error", [KeyboardInterrupt, lambda: DatasetError("third.png is corrupt")])
def test_interrupted_write_leaves_nothing(
    tmp_path: Path, dest_name: str, make_error: Callable[[], BaseException]
) -> None:
    items = _items(2)
    items.append(_failing("third.png", make_error()))
    items.extend(_items(2))
    with pytest.raises((KeyboardInterrupt, DatasetError)):
        write_dataset(items, tmp_path / "sub" / dest_name, lods=True)
    assert list((tmp_path / "sub").iterdir()) == []
