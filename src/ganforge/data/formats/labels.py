"""Label parsing shared by the readers: dataset.json tables, class sub-folders and label arrays."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from ganforge.data.formats.item import Label
from ganforge.errors import DatasetError

LABEL_KINDS = ("none", "class", "multi-hot", "continuous")
"""What a dataset's labels are: absent, one class index per image, a 0/1 vector (several classes
at once) or a vector of numbers (continuous attributes)."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def label_kind(labels: Sequence[Any]) -> str:
    """The kind (one of LABEL_KINDS) of consistent labels: a list of integer 0/1 vectors is multi-hot."""
    if not labels or labels[0] is None:
        return "none"
    if _is_int(labels[0]):
        return "class"
    if all(_is_int(v) and v in (0, 1) for label in labels for v in label):
        return "multi-hot"
    return "continuous"


def _parse_label(value: Any, where: str) -> Label:
    """A class index (non-negative int) or a vector of numbers (ints kept); anything else is an error."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise DatasetError(f"{where}: class label {value} is negative; class indices start at 0.")
        return value
    if isinstance(value, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        return list(value)
    raise DatasetError(f"{where}: label {value!r} is neither a class index nor a list of numbers.")


def check_consistent(labels: list[Label], where: str) -> None:
    """All labels must be of one kind: all None, all class indices, or all vectors of one length."""
    kinds = {None if x is None else (-1 if isinstance(x, int) else len(x)) for x in labels}
    if len(kinds) > 1:
        raise DatasetError(
            f"{where}: labels mix kinds (class indices, vectors of different lengths or missing); "
            "give every image the same kind of label."
        )


def dataset_json_labels(text: str, names: list[str], where: str) -> list[Label]:
    """Labels for `names` from a StyleGAN2-ADA dataset.json: {"labels": [[name, label], ...] | null}."""
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{where} is not valid JSON ({exc}); fix or delete it.") from exc
    if not isinstance(meta, dict) or "labels" not in meta:
        raise DatasetError(f'{where} must be an object with a "labels" key, e.g. {{"labels": null}}.')
    return labels_in_order(meta["labels"], names, where)


def labels_in_order(entries: Any, names: list[str], where: str) -> list[Label]:
    """The label of each of `names` from dataset.json's "labels" value `entries` ([[name, label], ...]
    or null, read from the file at `where`); names written with backslashes count as written with '/'."""
    if entries is None:
        return [None] * len(names)
    if not isinstance(entries, list):
        raise DatasetError(f'{where}: "labels" must be a list of [file, label] pairs or null.')
    table: dict[str, Label] = {}
    for entry in entries:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
            raise DatasetError(f"{where}: label entry {entry!r} is not a [file, label] pair.")
        name = entry[0].replace("\\", "/")
        if name in table:
            raise DatasetError(f"{where}: '{name}' has more than one label.")
        table[name] = _parse_label(entry[1], f"{where} ({name})")
    extra = sorted(set(table) - set(names))
    if extra:
        raise DatasetError(
            f"{where} has labels for files that do not exist: {_some(extra)} ({len(table)} labels for "
            f"{len(names)} images); remove them or add the images."
        )
    unlabelled = [n for n in names if n not in table]
    if unlabelled:
        raise DatasetError(
            f"{where} has no label for {len(unlabelled)} of {len(names)} images: {_some(unlabelled)}; "
            "label every image or set \"labels\" to null."
        )
    labels: list[Label] = [table[n] for n in names]
    check_consistent(labels, where)
    return labels


def _some(names: list[str], limit: int = 3) -> str:
    """The first few names, quoted, with a count of the rest."""
    shown = ", ".join(f"'{n}'" for n in names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def folder_labels(names: list[str], where: str) -> list[Label]:
    """Class index of each image from its first-level sub-folder; sorted folder names give 0..K-1."""
    loose = [n for n in names if "/" not in n]
    if loose:
        raise DatasetError(
            f"{where}: {loose[0]} is not inside a class sub-folder; with labels from folders every "
            "image must sit in one (e.g. cats/001.jpg)."
        )
    classes = {c: i for i, c in enumerate(sorted({n.split("/", 1)[0] for n in names}))}
    return [classes[n.split("/", 1)[0]] for n in names]


def array_labels(array: np.ndarray, count: int, where: str) -> list[Label]:
    """Labels from an array [N] of class indices or [N, C] of one-hot rows (-> indices) or vectors."""
    if array.ndim not in (1, 2) or array.shape[0] != count:
        raise DatasetError(
            f"{where} holds labels of shape {array.shape} but the source has {count} images; "
            "expected [N] class indices or [N, C] vectors."
        )
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise DatasetError(f"{where} holds labels of type {array.dtype}; expected integers or floats.")
    values = array.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise DatasetError(f"{where} holds labels that are NaN or infinite.")
    if array.ndim == 1:
        if np.any(values != np.round(values)) or np.any(values < 0):
            raise DatasetError(f"{where}: one-dimensional labels must be non-negative class indices.")
        return [int(v) for v in values]
    if array.shape[1] == 0:
        return [None] * count
    if np.all((values == 0) | (values == 1)) and np.all(values.sum(axis=1) == 1):
        return [int(i) for i in values.argmax(axis=1)]
    return [[float(v) for v in row] for row in values]
