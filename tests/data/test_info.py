"""dataset_info, sample_images and save_image_grid on datasets written by the writer."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from ganforge.data.create import write_dataset
from ganforge.data.grid import grid_size, save_image_grid
from ganforge.data.info import dataset_info, sample_images
from ganforge.data.sources import SourceItem
from ganforge.errors import DatasetError


def _items(n: int, size: int = 8, channels: int = 3, label=lambda i: None) -> list[SourceItem]:
    images = [
        np.random.RandomState(i).randint(0, 256, (size, size, channels), dtype=np.uint8) for i in range(n)
    ]
    return [SourceItem(f"{i}.png", lambda img=img: img, label(i)) for i, img in enumerate(images)]


def test_info_of_a_class_labelled_zip_with_lods(tmp_path: Path) -> None:
    write_dataset(_items(5, size=16, label=lambda i: [0, 2, 2, 0, 2][i]), tmp_path / "d.zip", lods=True)
    info = dataset_info(tmp_path / "d.zip")
    assert (info.num_images, info.resolution, info.channels) == (5, 16, 3)
    assert (info.label_kind, info.label_dim, info.class_counts) == ("class", 3, [2, 0, 3])
    assert info.lod_resolutions == [16, 8, 4]
    text = "\n".join(info.lines())
    assert "Images:      5" in text and "16x16" in text and "0: 2, 1: 0, 2: 3" in text and "16, 8, 4" in text


def test_info_of_a_gray_folder_with_vector_labels_and_without(tmp_path: Path) -> None:
    write_dataset(_items(3, channels=1, label=lambda i: [i, 1.0]), tmp_path / "v")
    info = dataset_info(tmp_path / "v")
    assert (info.num_images, info.channels, info.label_kind, info.label_dim) == (3, 1, "continuous", 2)
    assert info.class_counts == [] and info.lod_resolutions == []
    write_dataset(_items(2), tmp_path / "n.zip")
    info = dataset_info(tmp_path / "n.zip")
    assert (info.label_kind, info.label_dim) == ("none", 0)
    assert "Labels:      none" in info.lines()


def test_info_verifies_a_sample_of_images(tmp_path: Path) -> None:
    write_dataset(_items(4), tmp_path / "d")
    PIL.Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "d" / "00000" / "img00000003.png")
    with pytest.raises(DatasetError, match="img00000003.png"):
        dataset_info(tmp_path / "d")


def test_info_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="missing.zip"):
        dataset_info(tmp_path / "missing.zip")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match="notes.txt"):
        dataset_info(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no top-level image"):
        dataset_info(tmp_path / "empty")
    (tmp_path / "broken.zip").write_bytes(b"not a zip at all")
    with pytest.raises(DatasetError, match="broken.zip.*not a readable zip"):
        dataset_info(tmp_path / "broken.zip")


def test_info_rejects_bad_dataset_json(tmp_path: Path) -> None:
    write_dataset(_items(2, label=lambda i: i), tmp_path / "d")
    meta = tmp_path / "d" / "dataset.json"
    meta.write_text("{bad json")
    with pytest.raises(DatasetError, match="dataset.json.*not valid JSON"):
        dataset_info(tmp_path / "d")
    meta.write_text(json.dumps({"labels": [["00000/img00000000.png", 0], ["00000/gone.png", 1]]}))
    with pytest.raises(DatasetError, match="gone.png"):
        dataset_info(tmp_path / "d")


def test_info_of_a_zip_with_wrong_labels(tmp_path: Path) -> None:
    write_dataset(_items(2), tmp_path / "d")
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as archive:
        for path in sorted((tmp_path / "d").rglob("*.png")):
            archive.write(path, path.relative_to(tmp_path / "d").as_posix())
        archive.writestr("dataset.json", json.dumps({"labels": [["nope.png", 1]]}))
    with pytest.raises(DatasetError, match="nope.png"):
        dataset_info(tmp_path / "d.zip")


def test_sample_images_is_seeded_and_distinct(tmp_path: Path) -> None:
    items = _items(10, size=4)
    write_dataset(items, tmp_path / "d.zip")
    first = sample_images(tmp_path / "d.zip", count=6, seed=1)
    assert first.shape == (6, 3, 4, 4) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, sample_images(tmp_path / "d.zip", count=6, seed=1))
    assert len({img.tobytes() for img in first}) == 6
    assert sample_images(tmp_path / "d.zip", count=64).shape[0] == 10


def test_grid_places_images_row_by_row(tmp_path: Path) -> None:
    images = np.stack([np.full((3, 2, 4), 50 * (i + 1), np.uint8) for i in range(3)])
    images[1, 0] = 7  # red channel of image 1
    save_image_grid(images, tmp_path / "g.png", grid=(2, 2))
    with PIL.Image.open(tmp_path / "g.png") as picture:
        assert picture.mode == "RGB" and picture.size == (8, 4)
        pixels = np.asarray(picture)
    assert (pixels[:2, :4] == 50).all()
    assert (pixels[:2, 4:, 0] == 7).all() and (pixels[:2, 4:, 1] == 100).all()
    assert (pixels[2:, :4] == 150).all()
    assert not pixels[2:, 4:].any()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png"]


def test_grid_gray_and_errors(tmp_path: Path) -> None:
    save_image_grid(np.full((2, 1, 4, 4), 9, np.uint8), tmp_path / "g.png", grid=(1, 2))
    with PIL.Image.open(tmp_path / "g.png") as picture:
        assert picture.mode == "L" and picture.size == (4, 8)
    with pytest.raises(ValueError, match="do not fit"):
        save_image_grid(np.zeros((5, 1, 4, 4), np.uint8), tmp_path / "x.png", grid=(2, 2))
    with pytest.raises(ValueError, match="uint8"):
        save_image_grid(np.zeros((1, 3, 4, 4), np.float32), tmp_path / "x.png", grid=(1, 1))


@pytest.mark.parametrize(("count", "expected"), [(1, (1, 1)), (3, (2, 2)), (10, (4, 3)), (64, (8, 8))])
def test_grid_size(count: int, expected: tuple[int, int]) -> None:
    assert grid_size(count) == expected
