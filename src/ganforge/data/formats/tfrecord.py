"""Legacy StyleGAN TFRecord datasets: a folder of `<name>-rNN.tfrecords` files, one per log2 resolution.

Only the highest-resolution file is read. TFRecord framing per record: uint64 length (LE),
uint32 masked CRC-32C of the length, the data, uint32 masked CRC-32C of the data. The length
CRC is checked while listing (cheap, catches framing damage); the data CRC is not, because a
pure-Python CRC over every image would be slower than the rest of the dataset tool together.
Each record is a tf.train.Example with `shape` (int64 [C, H, W]) and `data` (raw uint8 CHW).
Labels, when present, are a `<name>-rxx.labels` numpy file beside them.
"""

from __future__ import annotations

import math
import re
import struct
from functools import partial
from pathlib import Path

import numpy as np

from ganforge.data.formats.item import Label, SourceItem
from ganforge.data.formats.labels import array_labels
from ganforge.data.formats.protobuf import parse_example
from ganforge.errors import DatasetError

_FILE_PATTERN = re.compile(r".+-r(\d+)\.tfrecords")
_HEADER = struct.Struct("<QI")
_FOOTER_SIZE = 4


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum TFRecord uses."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC: rotate right by 15 bits and add a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord_files(folder: Path) -> dict[int, list[Path]]:
    """log2 resolution -> the `*-rNN.tfrecords` files of that resolution in `folder`."""
    found: dict[int, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        match = _FILE_PATTERN.fullmatch(path.name)
        if match and path.is_file():
            found.setdefault(int(match.group(1)), []).append(path)
    return found


def scan_records(path: Path) -> list[tuple[int, int]]:
    """(offset, length) of the data of every record in a TFRecord file, checking the framing."""
    size = path.stat().st_size
    records = []
    with open(path, "rb") as f:
        pos = 0
        while pos < size:
            header = f.read(_HEADER.size)
            if len(header) < _HEADER.size:
                raise DatasetError(f"{path} is truncated: record {len(records)} has an incomplete header.")
            length, length_crc = _HEADER.unpack(header)
            if masked_crc32c(header[:8]) != length_crc:
                raise DatasetError(f"{path} is corrupt: bad length checksum of record {len(records)} "
                                   f"at byte {pos}.")
            end = pos + _HEADER.size + length + _FOOTER_SIZE
            if end > size:
                raise DatasetError(f"{path} is truncated: record {len(records)} needs {end} bytes, "
                                   f"the file has {size}.")
            records.append((pos + _HEADER.size, length))
            pos = end
            f.seek(pos)
    return records


def _load_record(path: Path, offset: int, length: int, where: str) -> np.ndarray:
    """Decode the image of one record as uint8 H x W x C."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(length)
    except OSError as exc:
        raise DatasetError(f"Cannot read {where}: {exc}.") from exc
    if len(data) != length:
        raise DatasetError(f"{where} is truncated; the file changed after it was listed.")
    try:
        features = parse_example(data)
    except ValueError as exc:
        raise DatasetError(f"{where} is not a valid tf.train.Example: {exc}.") from exc
    shape, raw = features.get("shape", []), features.get("data", [])
    if len(shape) != 3 or not all(isinstance(v, int) and v > 0 for v in shape) or shape[0] not in (1, 3, 4):
        raise DatasetError(f"{where}: feature 'shape' is {shape}, expected [C, H, W] with C in 1, 3, 4.")
    if len(raw) != 1 or not isinstance(raw[0], bytes) or len(raw[0]) != math.prod(shape):
        raise DatasetError(f"{where}: feature 'data' does not hold {math.prod(shape)} bytes "
                           f"for shape {shape}.")
    return np.frombuffer(raw[0], dtype=np.uint8).reshape(shape).transpose(1, 2, 0).copy()


def _labels(folder: Path, count: int) -> list[Label]:
    candidates = sorted(folder.glob("*-rxx.labels"))
    if not candidates:
        return [None] * count
    if len(candidates) > 1:
        raise DatasetError(f"{folder} has several label files ({', '.join(p.name for p in candidates)}); "
                           "keep only the one that matches the records.")
    try:
        array = np.load(candidates[0], allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"Cannot read labels {candidates[0]} as a numpy array: {exc}.") from exc
    return array_labels(array, count, str(candidates[0]))


def open_tfrecord_folder(folder: Path) -> list[SourceItem]:
    """Items of the highest-resolution TFRecord file in `folder`, with labels from `*-rxx.labels`."""
    files = tfrecord_files(folder)
    if not files:
        raise DatasetError(f"{folder} holds no *-rNN.tfrecords files.")
    top = files[max(files)]
    if len(top) > 1:
        names = ", ".join(p.name for p in top)
        raise DatasetError(f"{folder} has several highest-resolution files ({names}); keep one per folder.")
    path = top[0]
    records = scan_records(path)
    labels = _labels(folder, len(records))
    items = []
    for i, ((offset, length), label) in enumerate(zip(records, labels, strict=True)):
        name = f"{path.name}[{i}]"
        items.append(SourceItem(name=name, load=partial(_load_record, path, offset, length, f"{path}[{i}]"),
                                label=label))
    return items
