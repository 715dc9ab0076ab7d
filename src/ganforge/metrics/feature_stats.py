"""`FeatureStats`: detector outputs gathered over many images, as all rows and/or sums for mean/cov."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganforge.fileio import atomic_path


class FeatureStats:
    """Accumulates detector outputs [N, D]: all rows (`capture_all`) and/or float64 sums for mean/cov."""

    def __init__(self, capture_all: bool = False, capture_mean_cov: bool = False) -> None:
        self.capture_all = capture_all
        self.capture_mean_cov = capture_mean_cov
        self.num_items = 0
        self.rows: list[np.ndarray] = []
        self.sum: np.ndarray | None = None
        self.sum_sq: np.ndarray | None = None

    def append(self, x: np.ndarray) -> None:
        """Add rows x [n, D]."""
        x = np.asarray(x, dtype=np.float32)
        self.num_items += len(x)
        if self.capture_all:
            self.rows.append(x)
        if self.capture_mean_cov:
            x64 = x.astype(np.float64)
            if self.sum is None:
                self.sum = np.zeros(x.shape[1])
                self.sum_sq = np.zeros([x.shape[1], x.shape[1]])
            self.sum += x64.sum(axis=0)
            self.sum_sq += x64.T @ x64

    def merge(self, other: FeatureStats) -> None:
        """Add the rows and sums of `other` (another rank's share)."""
        self.num_items += other.num_items
        self.rows.extend(other.rows)
        if other.sum is not None:
            self.sum = other.sum.copy() if self.sum is None else self.sum + other.sum
            self.sum_sq = other.sum_sq.copy() if self.sum_sq is None else self.sum_sq + other.sum_sq

    def all(self) -> np.ndarray:
        """Every row, float32 [N, D]."""
        if not self.capture_all:
            raise ValueError("FeatureStats: rows were not captured (capture_all=False)")
        return np.concatenate(self.rows) if len(self.rows) != 1 else self.rows[0]

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """Float64 mean [D] and biased covariance [D, D]."""
        if not self.capture_mean_cov or self.sum is None:
            raise ValueError("FeatureStats: no mean/covariance sums (capture_mean_cov=False or no rows)")
        mean = self.sum / self.num_items
        return mean, self.sum_sq / self.num_items - np.outer(mean, mean)

    @property
    def dim(self) -> int | None:
        """D, the number of values per row (None before the first row)."""
        if self.sum is not None:
            return len(self.sum)
        return self.all().shape[1] if self.capture_all and self.rows else None

    def save(self, path: Path) -> None:
        """Write to `path` (.npz) atomically."""
        arrays = {"num_items": np.array(self.num_items)}
        if self.capture_all:
            arrays["all"] = self.all()
        if self.capture_mean_cov:
            arrays["sum"], arrays["sum_sq"] = self.sum, self.sum_sq
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: Path) -> FeatureStats:
        """Read statistics written by `save` (no pickle); ValueError if the file holds anything else."""
        with open(path, "rb") as f:
            npz = np.load(f, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            with npz:
                arrays = {key: npz[key] for key in npz.files}
        return cls.from_arrays(arrays)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> FeatureStats:
        """Statistics from a saved file's arrays, checked for the names, types and shapes `save` writes."""
        unknown = set(arrays) - {"num_items", "all", "sum", "sum_sq"}
        num_items = arrays.get("num_items")
        if unknown or num_items is None or num_items.shape != () or num_items.dtype.kind not in "iu":
            raise ValueError(f"not a ganforge statistics file (arrays {sorted(arrays)})")
        stats = cls(capture_all="all" in arrays, capture_mean_cov="sum" in arrays)
        stats.num_items = int(num_items)
        if stats.capture_all:
            rows = arrays["all"]
            if rows.ndim != 2 or rows.dtype != np.float32 or len(rows) != stats.num_items:
                raise ValueError(f"rows of {rows.dtype} {rows.shape} for {stats.num_items} items")
            stats.rows = [rows]
        if stats.capture_mean_cov:
            total, total_sq = arrays["sum"], arrays.get("sum_sq")
            dim = len(total) if total.ndim == 1 else -1
            if total_sq is None or total.dtype != np.float64 or total_sq.dtype != np.float64 \
                    or total_sq.shape != (dim, dim):
                raise ValueError("sums of mismatched types or shapes")
            stats.sum, stats.sum_sq = total, total_sq
        if stats.capture_all and stats.capture_mean_cov and stats.rows[0].shape[1] != len(stats.sum):
            raise ValueError("rows and sums of different widths")
        return stats
