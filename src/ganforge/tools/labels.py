"""The labels a conditional generator is sampled with: one class, or label vectors (multi-hot or
continuous) given as text or read from a file, checked against what the network's snapshot records
of its training labels (kind and names; files without that record accept both)."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ganforge.errors import OptionError
from ganforge.inference.runner import class_labels

UNKNOWN = "unknown"  # a network file that does not record its label kind (official pickles, older snapshots)


@dataclass(frozen=True)
class LabelRecord:
    """What a snapshot records of its training labels: their kind and names (empty when unnamed)."""

    kind: str = UNKNOWN
    names: list[str] = field(default_factory=list)

    def describe(self, c_dim: int) -> str:
        """'3 multi-hot labels (smiling, glasses, hat)' for messages."""
        named = f" ({', '.join(self.names)})" if self.names else ""
        kind = "" if self.kind == UNKNOWN else f"{self.kind} "
        return f"{c_dim} {kind}labels{named}"


def recorded_labels(nets: dict[str, Any]) -> LabelRecord:
    """The label record of `load_network`'s result (a ganforge snapshot's "labels" entry)."""
    record = nets.get("labels")
    if not isinstance(record, dict) or not isinstance(record.get("kind"), str):
        return LabelRecord()
    names = record.get("names") or []
    return LabelRecord(record["kind"], [str(n) for n in names] if isinstance(names, list) else [])


def parse_label(text: str, param: str = "label", where: str = "") -> list[float]:
    """A label vector from 'v1,v2,...' (commas or spaces between numbers); errors name `param` and
    start with `where`."""
    cells = [cell for cell in text.replace(",", " ").split() if cell]
    values = []
    for cell in cells:
        try:
            value = float(cell)
        except ValueError:
            raise OptionError(f"{where}'{cell}' in '{text}' is not a number; write e.g. 0,1,0,1",
                              param=param) from None
        if not math.isfinite(value):
            raise OptionError(f"{where}'{cell}' in '{text}' is not a finite number", param=param)
        values.append(value)
    if not values:
        raise OptionError(f"{where}'{text}' holds no numbers; write e.g. 0,1,0,1", param=param)
    return values


def read_label_file(path: str | os.PathLike[str]) -> tuple[list[list[float]], list[str]]:
    """Label vectors from a CSV or text file, one per line, and the label names of an optional header
    row (a first row that is not all numbers)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = [[c.strip() for c in row] for row in csv.reader(handle) if any(c.strip() for c in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise OptionError(f"cannot read {path} ({exc})", param="label_file") from exc
    names: list[str] = []
    if rows and not all(_is_number(cell) for cell in rows[0]):
        names, rows = rows[0], rows[1:]
    if not rows:
        raise OptionError(f"{path} holds no label rows; write one vector per line, e.g. 0,1,0,1",
                          param="label_file")
    vectors = [parse_label(",".join(row), "label_file", f"{path} line {i + 1 + bool(names)}: ")
               for i, row in enumerate(rows)]
    return vectors, names


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_label_vectors(
    vectors: Sequence[Sequence[float]], c_dim: int, record: LabelRecord, names: Sequence[str] = (),
    param: str = "label",
) -> None:
    """Refuse label vectors the network cannot take: wrong length, non-0/1 multi-hot values, or
    names other than those it was trained with."""
    if c_dim == 0:
        raise OptionError("the network is unconditional; leave the labels out", param=param)
    if names and record.names and list(names) != record.names:
        raise OptionError(
            f"the labels are named {', '.join(names)} but the network was trained on "
            f"{', '.join(record.names)}; give them in that order", param=param
        )
    for vector in vectors:
        if len(vector) != c_dim:
            raise OptionError(
                f"{_text(vector)} has {len(vector)} values; the network takes {record.describe(c_dim)}",
                param=param,
            )
        if record.kind == "multi-hot" and any(v not in (0, 1) for v in vector):
            raise OptionError(
                f"{_text(vector)} is not a 0/1 vector; the network takes {record.describe(c_dim)}",
                param=param,
            )


def check_class_allowed(record: LabelRecord, c_dim: int) -> None:
    """Refuse classes for a network trained on label vectors: it needs `labels` (OptionError)."""
    if record.kind in ("multi-hot", "continuous"):
        raise OptionError(
            f"the network takes {record.describe(c_dim)}, not a class; give a `label` vector, "
            f"e.g. {','.join(['0'] * c_dim)}", param="class_idx"
        )


def _text(vector: Sequence[float]) -> str:
    return ",".join(f"{v:g}" for v in vector)


def label_rows(
    c_dim: int, record: LabelRecord, class_idx: int | None, label: Sequence[float] | None, n: int
) -> torch.Tensor:
    """Labels [n, c_dim]: the vector `label` (checked against `record`) repeated, else the one-hot of
    `class_idx` (refused for a network trained on label vectors; see `class_labels`)."""
    if label is not None:
        if class_idx is not None:
            raise OptionError("give a label vector or a class (`class_idx`), not both", param="label")
        check_label_vectors([label], c_dim, record)
        return torch.tensor([list(label)] * n, dtype=torch.float32)
    if c_dim > 0:
        check_class_allowed(record, c_dim)
    return class_labels(c_dim, class_idx, n)
