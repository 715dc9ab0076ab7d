"""ImageDataset on real zips and folders written here with PIL, zipfile and json."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from ganforge.data.dataset import ImageDataset
from ganforge.errors import DatasetError


def random_images(n: int, res: int = 8, channels: int = 3, seed: int = 0) -> list[np.ndarray]:
    """`n` random uint8 HWC (or HW for one channel) images."""
    rnd = np.random.RandomState(seed)
    shape = (res, res) if channels == 1 else (res, res, channels)
    return [rnd.randint(0, 256, size=shape, dtype=np.uint8) for _ in range(n)]


def png_bytes(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    PIL.Image.fromarray(array).save(buf, format=fmt)
    return buf.getvalue()


def image_name(i: int) -> str:
    return f"{i // 4:05d}/img{i:08d}.png"


def write_dataset(dest: Path, files: dict[str, bytes]) -> Path:
    """Write `files` (relative name -> bytes) as a zip (dest ends in .zip) or a folder.

    Zip members are written in reverse name order so that sorting is really exercised."""
    if dest.suffix == ".zip":
        with zipfile.ZipFile(dest, "w") as zf:
            for name in sorted(files, reverse=True):
                zf.writestr(name, files[name])
    else:
        for name, data in files.items():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(data)
    return dest


def image_files(images: list[np.ndarray], prefix: str = "") -> dict[str, bytes]:
    return {prefix + image_name(i): png_bytes(a) for i, a in enumerate(images)}


def with_labels(files: dict[str, bytes], labels: object, **extra: object) -> dict[str, bytes]:
    return {**files, "dataset.json": json.dumps({"labels": labels, **extra}).encode()}


def chw(array: np.ndarray) -> np.ndarray:
    return array[:, :, None].transpose(2, 0, 1) if array.ndim == 2 else array.transpose(2, 0, 1)


@pytest.mark.parametrize("kind", ["data.zip", "data"])
def test_rgb_round_trip_in_sorted_order(tmp_path: Path, kind: str) -> None:
    images = random_images(6)
    path = write_dataset(tmp_path / kind, image_files(images))
    ds = ImageDataset(path)
    assert len(ds) == 6
    assert ds.name == "data"
    assert ds.image_shape == [3, 8, 8] and ds.num_channels == 3 and ds.resolution == 8
    assert ds.label_shape == [0] and not ds.has_labels and not ds.has_onehot_labels
    for i, expected in enumerate(images):
        image, label = ds[i]
        assert image.dtype == np.uint8 and image.shape == (3, 8, 8) and image.flags.c_contiguous
        np.testing.assert_array_equal(image, chw(expected))
        assert label.dtype == np.float32 and label.shape == (0,)


def test_grayscale_and_other_formats(tmp_path: Path) -> None:
    images = random_images(3, channels=1)
    files = {
        "a.bmp": png_bytes(images[0], "BMP"),
        "b/c.PNG": png_bytes(images[1]),
        "c.png": png_bytes(images[2]),
    }
    files["notes.txt"] = b"not an image"
    ds = ImageDataset(write_dataset(tmp_path / "gray.zip", files))
    assert len(ds) == 3 and ds.image_shape == [1, 8, 8]
    for i in range(3):  # sorted: a.bmp, b/c.PNG, c.png
        np.testing.assert_array_equal(ds[i][0], chw(images[i]))
        assert ds[i][0].flags.writeable  # torch warns on (and cannot safely wrap) read-only arrays


def test_int_labels_are_one_hot(tmp_path: Path) -> None:
    images = random_images(4)
    classes = [2, 0, 4, 2]
    labels = [[image_name(i), c] for i, c in enumerate(classes)]
    ds = ImageDataset(
        write_dataset(tmp_path / "d.zip", with_labels(image_files(images), labels)), use_labels=True
    )
    assert ds.has_labels and ds.has_onehot_labels and ds.label_shape == [5] and ds.label_dim == 5
    for i, c in enumerate(classes):
        label = ds[i][1]
        assert label.dtype == np.float32
        np.testing.assert_array_equal(label, np.eye(5, dtype=np.float32)[c])
        np.testing.assert_array_equal(ds.get_label(i), label)
        assert ds.get_details(i).raw_label == c and ds.get_details(i).raw_idx == i


def test_float_labels_are_vectors(tmp_path: Path) -> None:
    images = random_images(3)
    vectors = [[0.5, -1.0], [2.0, 0.25], [0, 1]]
    labels = [[image_name(i), v] for i, v in enumerate(vectors)]
    ds = ImageDataset(
        write_dataset(tmp_path / "d", with_labels(image_files(images), labels)), use_labels=True
    )
    assert ds.has_labels and not ds.has_onehot_labels and ds.label_dim == 2
    for i, v in enumerate(vectors):
        np.testing.assert_array_equal(ds[i][1], np.array(v, dtype=np.float32))
        assert ds[i][1].dtype == np.float32


def test_labels_ignored_without_use_labels_or_when_null(tmp_path: Path) -> None:
    images = random_images(2)
    labeled = with_labels(image_files(images), [[image_name(i), i] for i in range(2)])
    ds = ImageDataset(write_dataset(tmp_path / "a.zip", labeled), use_labels=False)
    assert ds[1][1].shape == (0,) and ds[1][1].dtype == np.float32 and ds.label_shape == [0]
    ds = ImageDataset(
        write_dataset(tmp_path / "b.zip", with_labels(image_files(images), None)), use_labels=True
    )
    assert ds[1][1].shape == (0,) and not ds.has_labels


def test_xflip_doubles_and_mirrors(tmp_path: Path) -> None:
    images = random_images(3)
    labels = [[image_name(i), i] for i in range(3)]
    path = write_dataset(tmp_path / "d.zip", with_labels(image_files(images), labels))
    ds = ImageDataset(path, xflip=True, use_labels=True)
    assert len(ds) == 6
    for i in range(3):
        np.testing.assert_array_equal(ds[i][0], chw(images[i]))
        flipped, label = ds[i + 3]
        assert flipped.flags.c_contiguous
        np.testing.assert_array_equal(flipped, chw(images[i])[:, :, ::-1])
        np.testing.assert_array_equal(label, ds[i][1])
        assert not ds.get_details(i).xflip and ds.get_details(i + 3).xflip
        assert ds.get_details(i + 3).raw_idx == i


def test_max_size_keeps_a_seeded_sorted_subset(tmp_path: Path) -> None:
    images = random_images(10)
    path = write_dataset(tmp_path / "d.zip", image_files(images))
    expected = np.arange(10)
    np.random.RandomState(7).shuffle(expected)
    expected = np.sort(expected[:4])
    ds = ImageDataset(path, max_size=4, random_seed=7)
    assert len(ds) == 4
    assert [ds.get_details(i).raw_idx for i in range(4)] == expected.tolist()
    np.testing.assert_array_equal(ds[2][0], chw(images[expected[2]]))
    again = ImageDataset(path, max_size=4, random_seed=7)
    assert [again.get_details(i).raw_idx for i in range(4)] == expected.tolist()
    subsets = {
        tuple(ImageDataset(path, max_size=4, random_seed=s).get_details(i).raw_idx for i in range(4))
        for s in range(5)
    }
    assert len(subsets) > 1
    assert len(ImageDataset(path, max_size=10)) == 10 and len(ImageDataset(path, max_size=50)) == 10
    assert len(ImageDataset(path, max_size=4, xflip=True)) == 8


def pyramid_files(images: list[np.ndarray], levels: int) -> dict[str, bytes]:
    """Level k holds each image subsampled by 2**k under lod{k}/."""
    files: dict[str, bytes] = {}
    for k in range(levels):
        files.update(image_files([a[:: 2**k, :: 2**k] for a in images], prefix=f"lod{k}/" if k else ""))
    return files


def test_lod_levels(tmp_path: Path) -> None:
    images = random_images(3, res=16)
    labels = [[image_name(i), i] for i in range(3)]
    files = with_labels(pyramid_files(images, 3), labels, lod_resolutions=[16, 8, 4])
    path = write_dataset(tmp_path / "p.zip", files)
    full = ImageDataset(path)
    assert len(full) == 3 and full.resolution == 16 and full.available_lods == [0, 1, 2]
    np.testing.assert_array_equal(full[1][0], chw(images[1]))
    for lod, res in [(1, 8), (2, 4)]:
        ds = ImageDataset(path, lod=lod, resolution=res, use_labels=True, xflip=True)
        assert ds.lod == lod and ds.resolution == res and ds.image_shape == [3, res, res] and len(ds) == 6
        np.testing.assert_array_equal(ds[2][0], chw(images[2][:: 2**lod, :: 2**lod]))
        np.testing.assert_array_equal(ds[4][0], chw(images[1][:: 2**lod, :: 2**lod])[:, :, ::-1])
        np.testing.assert_array_equal(ds[2][1], np.eye(3, dtype=np.float32)[2])
    with pytest.raises(DatasetError, match="no lod3 level"):
        ImageDataset(path, lod=3)
    with pytest.raises(DatasetError, match="resolution 8, not the requested 16"):
        ImageDataset(path, lod=1, resolution=16)


def test_lod_errors(tmp_path: Path) -> None:
    images = random_images(3, res=16)
    wrong = write_dataset(
        tmp_path / "wrong.zip", with_labels(pyramid_files(images, 2), None, lod_resolutions=[16, 4])
    )
    with pytest.raises(DatasetError, match=r"lod1/00000/img00000000\.png.*level 1 is 4x4"):
        ImageDataset(wrong, lod=1)
    short = write_dataset(
        tmp_path / "short.zip", with_labels(pyramid_files(images, 2), None, lod_resolutions=[16])
    )
    with pytest.raises(DatasetError, match="lod_resolutions"):
        ImageDataset(short)
    files = pyramid_files(images, 2)
    del files["lod1/" + image_name(2)]
    with pytest.raises(DatasetError, match="lod1/ differ"):
        ImageDataset(write_dataset(tmp_path / "partial.zip", files), lod=1)


def test_resolution_must_match(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "d.zip", image_files(random_images(2)))
    assert ImageDataset(path, resolution=8).resolution == 8
    with pytest.raises(DatasetError, match="resolution 8, not the requested 16"):
        ImageDataset(path, resolution=16)


def test_path_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="missing.zip' does not exist"):
        ImageDataset(tmp_path / "missing.zip")
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(DatasetError, match="d.txt' must be a folder or a .zip"):
        ImageDataset(tmp_path / "d.txt")
    (tmp_path / "bad.zip").write_bytes(b"this is not a zip")
    with pytest.raises(DatasetError, match="bad.zip' is not a readable zip"):
        ImageDataset(tmp_path / "bad.zip")
    empty = write_dataset(tmp_path / "empty.zip", {"readme.txt": b"x", "dataset.json": b'{"labels": null}'})
    with pytest.raises(DatasetError, match="empty.zip' holds no top-level image"):
        ImageDataset(empty)


def test_image_errors_name_the_file(tmp_path: Path) -> None:
    good = png_bytes(random_images(1)[0])
    rect = png_bytes(np.zeros((8, 6, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"'a\.png'.* is 6x8; training needs a power of two.*4x8"):
        ImageDataset(write_dataset(tmp_path / "rect.zip", {"a.png": rect, "b.png": good}))

    rgba = png_bytes(np.zeros((8, 8, 4), np.uint8))
    assert ImageDataset(write_dataset(tmp_path / "rgba.zip", {"a.png": rgba})).num_channels == 4
    palette = io.BytesIO()
    PIL.Image.new("P", (8, 8)).save(palette, format="PNG")
    with pytest.raises(DatasetError, match=r"'a\.png'.*mode 'P'"):
        ImageDataset(write_dataset(tmp_path / "p.zip", {"a.png": palette.getvalue()}))

    corrupt = good[: len(good) // 2]
    with pytest.raises(DatasetError, match=r"'a\.png'.*not a readable image"):
        ImageDataset(write_dataset(tmp_path / "corrupt.zip", {"a.png": corrupt}))

    # Problems past the first image surface when that image is read, still naming it.
    mixed = {
        "a.png": good,
        "b.png": png_bytes(np.zeros((16, 16, 3), np.uint8)),
        "c.png": corrupt,
        "d.png": png_bytes(np.zeros((8, 8), np.uint8)),
        "e.png": png_bytes(np.zeros((8, 8, 2), np.uint8)),
    }
    for kind in ["mixed.zip", "mixed"]:
        ds = ImageDataset(write_dataset(tmp_path / kind, mixed))
        assert len(ds) == 5
        ds[0]
        with pytest.raises(
            DatasetError, match=r"'b\.png'.* is 16x16 with 3 channel\(s\) but 'a\.png' is 8x8"
        ):
            ds[1]
        with pytest.raises(DatasetError, match=r"'c\.png'.*not a readable image"):
            ds[2]
        with pytest.raises(DatasetError, match=r"'d\.png'.* is 8x8 with 1 channel\(s\)"):
            ds[3]
        with pytest.raises(DatasetError, match=r"'e\.png'.*mode 'LA'"):
            ds[4]


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (b"{not json", "is not valid JSON"),
        (b"[1, 2]", "must hold a JSON object"),
        (b'{"labels": {"a": 1}}', "must be a list of"),
        (b'{"labels": [["00000/img00000000.png"]]}', "is not a \\[file, label\\] pair"),
        (b'{"labels": [["00000/img00000000.png", 1], ["00000/img00000000.png", 2]]}', "more than one label"),
        (b'{"labels": [["00000/img00000000.png", 1], ["00000/img00000001.png", [1.0]]]}', "mix kinds"),
        (b'{"labels": [["00000/img00000000.png", -1], ["00000/img00000001.png", 1]]}', "-1 is negative"),
        (b'{"labels": [["00000/img00000000.png", [1]], ["00000/img00000001.png", [1, 2]]]}', "mix kinds"),
        (b'{"labels": [["00000/img00000000.png", 1], ["00000/img00000001.png", true]]}', "True is neither"),
        (b'{"labels": [["00000/img00000000.png", 0]]}', "no label for 1 of 2 images: '.*01.png'"),
        (
            b'{"labels": [["00000/img00000000.png", 0], ["00000/img00000001.png", 0], ["00000/nope.png", 1]]'
            b"}",
            "labels for files that do not exist: '00000/nope.png'",
        ),
    ],
)
def test_malformed_labels_name_dataset_json(tmp_path: Path, metadata: bytes, message: str) -> None:
    files = {**image_files(random_images(2)), "dataset.json": metadata}
    path = write_dataset(tmp_path / "d.zip", files)
    with pytest.raises(DatasetError, match=f"'dataset.json' in dataset '.*d.zip'.*{message}"):
        ImageDataset(path, use_labels=True)


def test_pickles_without_open_zip_and_reads_after_unpickling(tmp_path: Path) -> None:
    images = random_images(3)
    ds = ImageDataset(write_dataset(tmp_path / "d.zip", image_files(images)))
    ds[0]  # the zip is open now
    copy = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(copy[2][0], chw(images[2]))
    ds.close()
    np.testing.assert_array_equal(ds[1][0], chw(images[1]))  # reopened on demand


def open_handles(path: Path) -> set[str]:
    """The file descriptors of this process that are open on `path`."""
    fds = Path("/proc/self/fd")
    return {fd.name for fd in fds.iterdir() if os.path.realpath(fd) == str(path.resolve())}


def read_in_child(ds: ImageDataset, path: Path, results: multiprocessing.Queue) -> None:
    before = open_handles(path)
    image = ds[1][0]
    results.put((before, open_handles(path), image))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_forked_process_opens_its_own_zip_handle(tmp_path: Path) -> None:
    images = random_images(3)
    path = write_dataset(tmp_path / "d.zip", image_files(images))
    ds = ImageDataset(path)
    parent_handles = open_handles(path)
    assert len(parent_handles) == 1  # opened once by the parent
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    child = ctx.Process(target=read_in_child, args=(ds, path, results))
    child.start()
    before, after, image = results.get(timeout=30)
    child.join(timeout=30)
    # The child reads through a zip handle of its own, not the descriptor inherited from the parent.
    assert before == parent_handles and len(after) == 1 and after != before
    np.testing.assert_array_equal(image, chw(images[1]))
    np.testing.assert_array_equal(ds[2][0], chw(images[2]))
    assert open_handles(path) == parent_handles
