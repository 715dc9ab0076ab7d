"""Labels from a CSV table: a header row (file column, then one name per label), then one row per image.

Each row names an image of the source by its relative path (as `dataset info` of the source
would list it, '/'-separated) and gives one number per label. Integer 0/1 values throughout make
multi-hot labels (several classes at once); any other numbers make continuous labels.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from ganforge.data.formats.item import Label
from ganforge.data.formats.labels import label_kind
from ganforge.errors import DatasetError


@dataclass(frozen=True)
class CsvLabels:
    """Per-image label vectors read from a CSV file, and the label names of its header."""

    labels: list[Label]
    names: list[str]
    kind: str  # "multi-hot" or "continuous"


def _number(text: str, where: str) -> int | float:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise DatasetError(f"{where}: '{text}' is not a number; every label cell must hold one.") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise DatasetError(f"{where}: '{text}' is not a finite number.")
    return value


def read_csv_labels(path: str | os.PathLike[str], image_names: list[str]) -> CsvLabels:
    """The labels of `image_names` (the source's relative names) from the CSV file at `path`."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"Cannot read labels file '{path}' ({exc}).") from exc
    if len(rows) < 2 or len(rows[0]) < 2:
        raise DatasetError(
            f"Labels file '{path}' needs a header row (file, then one name per label) and one row per "
            "image, e.g. 'file,smiling,glasses' then 'a.png,1,0'."
        )
    names = [cell.strip() for cell in rows[0][1:]]
    table: dict[str, list[int | float]] = {}
    for number, row in enumerate(rows[1:], start=2):
        where = f"'{path}' line {number}"
        if len(row) != len(rows[0]):
            raise DatasetError(f"{where} has {len(row)} cells but the header has {len(rows[0])}.")
        name = row[0].strip().replace("\\", "/")
        if name in table:
            raise DatasetError(f"{where}: '{name}' is listed twice.")
        table[name] = [_number(cell, where) for cell in row[1:]]
    missing = [n for n in image_names if n not in table]
    if missing:
        raise DatasetError(
            f"Labels file '{path}' has no row for {len(missing)} of {len(image_names)} images "
            f"(e.g. '{missing[0]}'); add a row per image, named by its path inside the source."
        )
    labels: list[Label] = [table[n] for n in image_names]  # rows for files not in the source are unused
    kind = label_kind(labels)
    if kind == "continuous":
        labels = [[float(v) for v in label] for label in labels]
    return CsvLabels(labels=labels, names=names, kind=kind)
