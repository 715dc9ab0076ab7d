"""Dataset source readers, exercised on real files written by the tests themselves."""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganforge.data.formats.tfrecord import crc32c, masked_crc32c
from ganforge.data.sources import SourceItem, open_source
from ganforge.errors import DatasetError, OptionError

RNG = np.random.default_rng(0)


def _pixels(h: int, w: int, c: int) -> np.ndarray:
    return RNG.integers(0, 256, size=(h, w, c), dtype=np.uint8)


def _save_png(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr).save(path)


def _png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr).save(buf, format="PNG")
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# Folders and zips of images


def test_folder_round_trip_sorted_with_channels(tmp_path: Path) -> None:
    gray, rgb, rgba = _pixels(5, 6, 1), _pixels(4, 4, 3), _pixels(3, 7, 4)
    _save_png(tmp_path / "b" / "z.png", gray)
    _save_png(tmp_path / "a.PNG", rgb)
    _save_png(tmp_path / "b" / "c.png", rgba)
    Image.fromarray(_pixels(8, 8, 3)).save(tmp_path / "photo.jpg", quality=95)
    (tmp_path / "notes.txt").write_text("not an image")
    _save_png(tmp_path / ".hidden" / "x.png", gray)
    items = open_source(str(tmp_path))
    assert [i.name for i in items] == ["a.PNG", "b/c.png", "b/z.png", "photo.jpg"]
    assert all(i.label is None for i in items)
    np.testing.assert_array_equal(items[0].load(), rgb)
    np.testing.assert_array_equal(items[1].load(), rgba)
    np.testing.assert_array_equal(items[2].load(), gray)
    jpeg = items[3].load()
    assert jpeg.shape == (8, 8, 3) and jpeg.dtype == np.uint8


def test_mode_conversions(tmp_path: Path) -> None:
    gray = _pixels(4, 4, 1)[:, :, 0]
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "a16.png")
    Image.fromarray(np.stack([gray, 255 - gray], axis=2), mode="LA").save(tmp_path / "b_la.png")
    palette = Image.fromarray(_pixels(4, 4, 3)).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    palette.save(tmp_path / "c_p.png")
    Image.fromarray(gray > 127).save(tmp_path / "d_bilevel.png")
    sixteen, la, pal, bilevel = (i.load() for i in open_source(str(tmp_path)))
    np.testing.assert_array_equal(sixteen, gray[:, :, None])
    assert la.shape == (4, 4, 4)
    np.testing.assert_array_equal(la[:, :, 0], gray)
    np.testing.assert_array_equal(la[:, :, 3], 255 - gray)
    np.testing.assert_array_equal(pal, np.asarray(palette.convert("RGB")))
    np.testing.assert_array_equal(bilevel[:, :, 0], np.where(gray > 127, 255, 0))


def test_dataset_json_labels(tmp_path: Path) -> None:
    for name in ("x/1.png", "x/0.png", "y.png"):
        _save_png(tmp_path / name, _pixels(2, 2, 3))
    meta = {"labels": [["y.png", 2], ["x/0.png", 0], ["x/1.png", 7]]}
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    items = open_source(str(tmp_path))
    assert [(i.name, i.label) for i in items] == [("x/0.png", 0), ("x/1.png", 7), ("y.png", 2)]
    vectors = {"labels": [[n, [0.5, 1]] for n in ("x/0.png", "x/1.png", "y.png")]}
    (tmp_path / "dataset.json").write_text(json.dumps(vectors))
    assert [i.label for i in open_source(str(tmp_path))] == [[0.5, 1.0]] * 3
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": None}))
    assert [i.label for i in open_source(str(tmp_path))] == [None] * 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"other": 1}', '"labels" key'),
        ('{"labels": [["x/0.png", 0], ["x/1.png", 1]]}', "no label for 1 of 3"),
        (
            '{"labels": [["x/0.png", 0], ["x/1.png", 1], ["y.png", 1], ["gone.png", 1]]}',
            "files that do not exist: 'gone.png' (4 labels for 3 images)",
        ),
        ('{"labels": [["x/0.png", 0], ["x/1.png", [1.0]], ["y.png", 1]]}', "mix kinds"),
        ('{"labels": [["x/0.png", "cat"], ["x/1.png", 1], ["y.png", 1]]}', "neither a class index"),
    ],
)
def test_dataset_json_errors(tmp_path: Path, text: str, message: str) -> None:
    for name in ("x/1.png", "x/0.png", "y.png"):
        _save_png(tmp_path / name, _pixels(2, 2, 3))
    (tmp_path / "dataset.json").write_text(text)
    with pytest.raises(DatasetError, match="dataset.json") as info:
        open_source(str(tmp_path))
    assert message in str(info.value)


def test_labels_from_folders(tmp_path: Path) -> None:
    for name in ("dogs/1.png", "cats/2.png", "cats/1.png", "emus/deep/1.png"):
        _save_png(tmp_path / name, _pixels(2, 2, 3))
    items = open_source(str(tmp_path), labels_from_folders=True)
    assert [(i.name, i.label) for i in items] == [
        ("cats/1.png", 0),
        ("cats/2.png", 0),
        ("dogs/1.png", 1),
        ("emus/deep/1.png", 2),
    ]
    _save_png(tmp_path / "loose.png", _pixels(2, 2, 3))
    with pytest.raises(DatasetError, match="loose.png is not inside a class sub-folder"):
        open_source(str(tmp_path), labels_from_folders=True)


def test_zip_with_dataset_json_and_folder_labels(tmp_path: Path) -> None:
    images = {"b/2.png": _pixels(3, 3, 3), "a/1.png": _pixels(3, 3, 1), "b/1.bmp": _pixels(3, 3, 3)}
    path = tmp_path / "data.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, arr in images.items():
            zf.writestr(name, _png_bytes(arr) if name.endswith(".png") else _bmp_bytes(arr))
        zf.writestr("__MACOSX/a/._1.png", b"resource fork")
        zf.writestr("readme.txt", "hello")
        zf.writestr("dataset.json", json.dumps({"labels": [["a/1.png", 3], ["b/1.bmp", 4], ["b/2.png", 5]]}))
    items = open_source(str(path))
    assert [(i.name, i.label) for i in items] == [("a/1.png", 3), ("b/1.bmp", 4), ("b/2.png", 5)]
    for item in items:
        np.testing.assert_array_equal(item.load(), images[item.name])
    assert [i.label for i in open_source(str(path), labels_from_folders=True)] == [0, 1, 1]


def _bmp_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="BMP")
    return buf.getvalue()


def test_corrupt_image_fails_on_load_naming_the_file(tmp_path: Path) -> None:
    _save_png(tmp_path / "good.png", _pixels(2, 2, 3))
    (tmp_path / "bad.png").write_bytes(_png_bytes(_pixels(8, 8, 3))[:40])
    items = open_source(str(tmp_path))
    assert [i.name for i in items] == ["bad.png", "good.png"]
    with pytest.raises(DatasetError, match="bad.png"):
        items[0].load()
    zpath = tmp_path / "z.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("broken.jpg", b"\xff\xd8 not really a jpeg")
    (item,) = open_source(str(zpath))
    with pytest.raises(DatasetError, match=r"broken\.jpg in .*z\.zip"):
        item.load()


def test_missing_unknown_and_empty_sources(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        open_source(str(tmp_path / "nope"))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match="Cannot tell the dataset format"):
        open_source(str(tmp_path / "notes.txt"))
    with pytest.raises(DatasetError, match="holds no images"):
        open_source(str(tmp_path))
    empty_zip = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty_zip, "w") as zf:
        zf.writestr("readme.txt", "x")
    with pytest.raises(DatasetError, match="holds no images"):
        open_source(str(empty_zip))
    (tmp_path / "fake.zip").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="fake.zip"):
        open_source(str(tmp_path / "fake.zip"))
    with pytest.raises(DatasetError, match="Unknown demo"):
        open_source("demo:nope")


# ---------------------------------------------------------------------------------------------
# MNIST IDX


def _idx(arr: np.ndarray, magic: int) -> bytes:
    return struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path: Path, gz: bool) -> None:
    images = RNG.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    suffix = ".gz" if gz else ""
    write = gzip.compress if gz else bytes
    (tmp_path / f"train-images-idx3-ubyte{suffix}").write_bytes(write(_idx(images, 0x803)))
    (tmp_path / f"train-labels-idx1-ubyte{suffix}").write_bytes(write(_idx(labels, 0x801)))
    for spec in (tmp_path, tmp_path / f"train-images-idx3-ubyte{suffix}"):
        items = open_source(spec)
        assert [i.name for i in items] == [f"train-images-idx3-ubyte{suffix}[{k}]" for k in range(5)]
        assert [i.label for i in items] == [3, 1, 4, 1, 5]
        for item, expected in zip(items, images, strict=True):
            np.testing.assert_array_equal(item.load(), expected[:, :, None])
    with pytest.raises(OptionError):
        open_source(str(tmp_path), labels_from_folders=True)


def test_idx_errors(tmp_path: Path) -> None:
    images = RNG.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    path = tmp_path / "train-images-idx3-ubyte"
    labels_path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(_idx(images, 0x801))
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.*0x00000803, found 0x00000801"):
        open_source(str(tmp_path))
    path.write_bytes(_idx(images, 0x803)[:-10])
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte holds 2342 data bytes"):
        open_source(str(path))
    path.write_bytes(_idx(images, 0x803) + b"\0")
    with pytest.raises(DatasetError, match="holds 2353 data bytes"):
        open_source(str(path))
    path.write_bytes(_idx(images, 0x803))
    labels_path.write_bytes(_idx(np.zeros(4, np.uint8), 0x801))
    with pytest.raises(DatasetError, match="train-labels-idx1-ubyte holds 4 labels but"):
        open_source(str(path))
    labels_path.unlink()
    assert [i.label for i in open_source(str(path))] == [None] * 3


# ---------------------------------------------------------------------------------------------
# CIFAR-10


def _cifar_tarball(path: Path, batches: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in batches.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _py2_pickle(data: np.ndarray, labels: list[int]) -> bytes:
    """A batch pickled the way the real (Python 2) CIFAR-10 files are: protocol 2, str opcodes."""

    def string(b: bytes) -> bytes:
        return b"U" + bytes([len(b)]) + b

    array = (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + string(b"b") + b"\x87R"
        + b"(K\x01M" + struct.pack("<H", data.shape[0]) + b"M" + struct.pack("<H", data.shape[1]) + b"\x86"
        + b"cnumpy\ndtype\n" + string(b"u1") + b"K\x00K\x01\x87R"
        + b"(K\x03" + string(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        + b"\x89T" + struct.pack("<I", data.nbytes) + data.tobytes() + b"tb"
    )
    label_list = b"](" + b"".join(b"K" + bytes([v]) for v in labels) + b"e"
    return (b"\x80\x02}(" + string(b"data") + array + string(b"labels") + label_list
            + string(b"batch_label") + string(b"training batch") + b"u.")


def test_cifar_round_trip(tmp_path: Path) -> None:
    images = RNG.integers(0, 256, size=(10, 32, 32, 3), dtype=np.uint8)
    rows = images.transpose(0, 3, 1, 2).reshape(10, 3072)
    labels = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    batches = {f"data_batch_{b + 1}": _py2_pickle(rows[2 * b:2 * b + 2], labels[2 * b:2 * b + 2])
               for b in range(4)}
    batches["data_batch_5"] = pickle.dumps({"data": rows[8:], "labels": labels[8:]}, protocol=3)
    batches["test_batch"] = pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]}, protocol=3)
    path = tmp_path / "cifar-10-python.tar.gz"
    _cifar_tarball(path, batches)
    items = open_source(str(path))
    assert [i.name for i in items[:3]] == ["data_batch_1[0]", "data_batch_1[1]", "data_batch_2[0]"]
    assert [i.label for i in items] == labels
    for item, expected in zip(items, images, strict=True):
        np.testing.assert_array_equal(item.load(), expected)


class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def test_cifar_malicious_pickle_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "cifar-10-python.tar.gz"
    exploit = pickle.dumps({b"data": _Exploit(marker), b"labels": []}, protocol=3)
    _cifar_tarball(path, {f"data_batch_{b}": exploit for b in range(1, 6)})
    with pytest.raises(DatasetError, match=r"data_batch_1 in .*refusing to load"):
        open_source(str(path))
    assert not marker.exists()


def test_cifar_missing_batch(tmp_path: Path) -> None:
    path = tmp_path / "cifar.tar.gz"
    _cifar_tarball(path, {"data_batch_1": _py2_pickle(np.zeros((1, 3072), np.uint8), [1])})
    with pytest.raises(DatasetError, match="lacks data_batch_2"):
        open_source(str(path))


# ---------------------------------------------------------------------------------------------
# Legacy StyleGAN TFRecords


def _crc32c_bitwise(data: bytes) -> int:
    """Reference CRC-32C, bit by bit, independent of the table-driven one under test."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def _masked(data: bytes) -> int:
    crc = _crc32c_bitwise(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _example(arr_chw: np.ndarray, packed: bool) -> bytes:
    if packed:
        ints = _field(1, b"".join(_varint(v) for v in arr_chw.shape))
    else:
        ints = b"".join(_varint(1 << 3) + _varint(v) for v in arr_chw.shape)
    shape = _field(3, ints)
    data = _field(1, _field(1, arr_chw.tobytes()))
    features = {b"shape": shape, b"data": data}
    entries = [_field(1, _field(1, key) + _field(2, value)) for key, value in features.items()]
    return _field(1, b"".join(entries))


def _write_tfrecord(path: Path, records: list[bytes]) -> None:
    with open(path, "wb") as f:
        for rec in records:
            length = struct.pack("<Q", len(rec))
            f.write(length + struct.pack("<I", _masked(length)) + rec + struct.pack("<I", _masked(rec)))


def test_crc32c_matches_reference() -> None:
    assert crc32c(b"123456789") == 0xE3069283 == _crc32c_bitwise(b"123456789")
    assert masked_crc32c(b"\x01\x02\x03") == _masked(b"\x01\x02\x03")


def _tfrecord_folder(folder: Path, channels: int) -> np.ndarray:
    folder.mkdir()
    big = RNG.integers(0, 256, size=(4, channels, 8, 8), dtype=np.uint8)
    small = big[:, :, ::2, ::2]
    _write_tfrecord(folder / "ds-r02.tfrecords", [_example(np.ascontiguousarray(a), True) for a in small])
    _write_tfrecord(folder / "ds-r03.tfrecords", [_example(a, i % 2 == 0) for i, a in enumerate(big)])
    return big


def test_tfrecord_highest_resolution_with_labels(tmp_path: Path) -> None:
    folder = tmp_path / "tf"
    big = _tfrecord_folder(folder, 3)
    items = open_source(str(folder))
    assert [i.name for i in items] == [f"ds-r03.tfrecords[{k}]" for k in range(4)]
    assert all(i.label is None for i in items)
    for item, expected in zip(items, big, strict=True):
        np.testing.assert_array_equal(item.load(), expected.transpose(1, 2, 0))
    np.save(folder / "ds-rxx.npy", np.eye(3, dtype=np.float32)[[2, 0, 1, 2]])
    (folder / "ds-rxx.npy").rename(folder / "ds-rxx.labels")
    assert [i.label for i in open_source(str(folder))] == [2, 0, 1, 2]
    soft = np.array([[0.5, 0.5], [1, 0], [0, 1], [0.25, 0]], dtype=np.float32)
    with open(folder / "ds-rxx.labels", "wb") as f:
        np.save(f, soft)
    assert [i.label for i in open_source(str(folder))] == soft.tolist()
    with open(folder / "ds-rxx.labels", "wb") as f:
        np.save(f, np.array([1, 2, 3], dtype=np.int64))
    with pytest.raises(DatasetError, match=r"rxx.labels holds labels of shape \(3,\) but the source has 4"):
        open_source(str(folder))


def test_tfrecord_grayscale(tmp_path: Path) -> None:
    big = _tfrecord_folder(tmp_path / "tf", 1)
    loaded = np.stack([i.load() for i in open_source(str(tmp_path / "tf"))])
    np.testing.assert_array_equal(loaded, big.transpose(0, 2, 3, 1))


def test_tfrecord_truncated_and_corrupt(tmp_path: Path) -> None:
    folder = tmp_path / "tf"
    _tfrecord_folder(folder, 3)
    path = folder / "ds-r03.tfrecords"
    full = path.read_bytes()
    path.write_bytes(full[:-7])
    with pytest.raises(DatasetError, match=r"ds-r03.tfrecords is truncated"):
        open_source(str(folder))
    path.write_bytes(full + b"\x01\x02")
    with pytest.raises(DatasetError, match="incomplete header"):
        open_source(str(folder))
    path.write_bytes(b"\xff" + full[1:])
    with pytest.raises(DatasetError, match="bad length checksum"):
        open_source(str(folder))
    bogus = b"\x0a\x05\x0a\x03\x0a\x01"  # Example -> Features -> entry whose key runs past its end
    _write_tfrecord(path, [bogus])
    (item,) = open_source(str(folder))
    with pytest.raises(DatasetError, match=r"ds-r03.tfrecords\[0\] is not a valid tf.train.Example"):
        item.load()


# ---------------------------------------------------------------------------------------------
# demo:digits and pickling of items for worker processes


def test_demo_digits() -> None:
    items = open_source("demo:digits")
    assert len(items) == 1797
    assert items[0].name == "digits[0]" and items[0].label == 0
    assert {i.label for i in items} == set(range(10))
    img = items[0].load()
    assert img.shape == (32, 32, 1) and img.dtype == np.uint8
    assert img.max() > 200 and img.min() < 30


def test_items_survive_pickling(tmp_path: Path) -> None:
    _save_png(tmp_path / "img" / "a.png", _pixels(3, 3, 3))
    with zipfile.ZipFile(tmp_path / "z.zip", "w") as zf:
        zf.writestr("a.png", _png_bytes(_pixels(3, 3, 1)))
    (tmp_path / "mnist").mkdir()
    mnist = RNG.integers(0, 256, size=(2, 28, 28), dtype=np.uint8)
    (tmp_path / "mnist" / "train-images-idx3-ubyte").write_bytes(_idx(mnist, 0x803))
    for spec in (tmp_path / "img", tmp_path / "z.zip", tmp_path / "mnist", "demo:digits"):
        item = open_source(str(spec))[1 if spec == "demo:digits" else 0]
        copy: SourceItem = pickle.loads(pickle.dumps(item))
        assert copy.name == item.name and copy.label == item.label
        np.testing.assert_array_equal(copy.load(), item.load())


def _protobuf_example_class() -> type:
    """tf.train.Example built from its .proto description with the real protobuf library."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="example.proto", package="tf", syntax="proto3")
    lists = {"BytesList": fdp.TYPE_BYTES, "FloatList": fdp.TYPE_FLOAT, "Int64List": fdp.TYPE_INT64}
    for name, kind in lists.items():
        value = proto.message_type.add(name=name).field.add(name="value", number=1, type=kind)
        value.label = fdp.LABEL_REPEATED
    feature = proto.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    for number, name in enumerate(("bytes_list", "float_list", "int64_list"), start=1):
        type_name = ".tf." + name.title().replace("_", "")
        feature.field.add(name=name, number=number, type=fdp.TYPE_MESSAGE, label=fdp.LABEL_OPTIONAL,
                          type_name=type_name, oneof_index=0)
    features = proto.message_type.add(name="Features")
    features.field.add(name="feature", number=1, type=fdp.TYPE_MESSAGE, label=fdp.LABEL_REPEATED,
                       type_name=".tf.Features.FeatureEntry")
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=fdp.TYPE_STRING, label=fdp.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=fdp.TYPE_MESSAGE, label=fdp.LABEL_OPTIONAL,
                    type_name=".tf.Feature")
    proto.message_type.add(name="Example").field.add(
        name="features", number=1, type=fdp.TYPE_MESSAGE, label=fdp.LABEL_OPTIONAL, type_name=".tf.Features")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tf.Example"))


def test_tfrecord_written_by_real_protobuf_and_tensorboard(tmp_path: Path) -> None:
    """Cross-check the decoder and framing against independent encoders (protobuf, tensorboard)."""
    pytest.importorskip("google.protobuf")
    record_writer = pytest.importorskip("tensorboard.summary.writer.record_writer")
    from ganforge.data.formats.protobuf import parse_example

    example_class = _protobuf_example_class()
    images = RNG.integers(0, 256, size=(3, 3, 4, 4), dtype=np.uint8)
    with open(tmp_path / "real-r02.tfrecords", "wb") as f:
        writer = record_writer.RecordWriter(f)
        for img in images:
            example = example_class()
            example.features.feature["shape"].int64_list.value.extend(img.shape)
            example.features.feature["data"].bytes_list.value.append(img.tobytes())
            example.features.feature["extra"].float_list.value.extend([0.5, -2.0])
            example.features.feature["big"].int64_list.value.extend([-1, 2**40])
            writer.write(example.SerializeToString())
            assert parse_example(example.SerializeToString())["big"] == [-1, 2**40]
            assert parse_example(example.SerializeToString())["extra"] == [0.5, -2.0]
    loaded = np.stack([i.load() for i in open_source(str(tmp_path))])
    np.testing.assert_array_equal(loaded, images.transpose(0, 2, 3, 1))
