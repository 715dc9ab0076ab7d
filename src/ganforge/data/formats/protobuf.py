"""A minimal protobuf wire-format decoder for tf.train.Example, enough to read image records.

Example {1: Features}; Features {1: repeated map entry {1: key string, 2: Feature}};
Feature {1: BytesList, 2: FloatList, 3: Int64List}, each {1: repeated value, packed or not}.
Malformed input raises ValueError.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

FeatureValues = list[bytes] | list[float] | list[int]

_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


def read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    """The varint at `pos` and the position after it."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("varint runs past the end of the message")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise ValueError("varint is longer than 10 bytes")


def iter_fields(buf: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) of each field; length-delimited values are memoryviews."""
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = read_varint(buf, pos)
            yield field, wire, value
            continue
        if wire == _LENGTH:
            size, pos = read_varint(buf, pos)
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
        else:
            raise ValueError(f"unsupported wire type {wire} in field {field}")
        if pos + size > len(buf):
            raise ValueError(f"field {field} runs past the end of the message")
        yield field, wire, buf[pos:pos + size]
        pos += size


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _list_values(kind: int, wire: int, item: int | memoryview) -> FeatureValues:
    """Values of one field-1 entry of a BytesList (kind 1), FloatList (2) or Int64List (3)."""
    if kind == 1 and wire == _LENGTH and isinstance(item, memoryview):
        return [bytes(item)]
    if kind == 2 and wire in (_FIXED32, _LENGTH) and isinstance(item, memoryview):
        if len(item) % 4:
            raise ValueError("packed float list has a partial value")
        return list(struct.unpack(f"<{len(item) // 4}f", item))
    if kind == 3 and wire == _VARINT and isinstance(item, int):
        return [_signed64(item)]
    if kind == 3 and wire == _LENGTH and isinstance(item, memoryview):
        values, pos = [], 0
        while pos < len(item):
            value, pos = read_varint(item, pos)
            values.append(_signed64(value))
        return values
    raise ValueError(f"feature list {kind} has a value of wire type {wire}")


def _feature_values(buf: memoryview) -> FeatureValues:
    """The values of one Feature message (empty when no list is set; the last list set wins)."""
    values: list = []
    for kind, wire, payload in iter_fields(buf):
        if kind in (1, 2, 3) and wire == _LENGTH and isinstance(payload, memoryview):
            values = []
            for field, item_wire, item in iter_fields(payload):
                if field == 1:
                    values.extend(_list_values(kind, item_wire, item))
    return values


def parse_example(data: bytes) -> dict[str, FeatureValues]:
    """Feature name -> list of values of a serialized tf.train.Example."""
    features: dict[str, FeatureValues] = {}
    for field, wire, features_msg in iter_fields(memoryview(data)):
        if field != 1 or not isinstance(features_msg, memoryview) or wire != _LENGTH:
            continue
        for entry_field, entry_wire, entry in iter_fields(features_msg):
            if entry_field != 1 or entry_wire != _LENGTH or not isinstance(entry, memoryview):
                continue
            key, value = "", memoryview(b"")
            for part, part_wire, payload in iter_fields(entry):
                if part_wire != _LENGTH or not isinstance(payload, memoryview):
                    continue
                if part == 1:
                    key = bytes(payload).decode("utf-8")
                elif part == 2:
                    value = payload
            features[key] = _feature_values(value)
    return features
