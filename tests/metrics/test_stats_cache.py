"""The dataset statistics cache never gives a wrong number: keyed by the detector's weights, and any
cache file that cannot be read, or holds something else, is recomputed with a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from tests.metrics.test_compute import ProjectionDetector, tiny_generator, write_zip

from ganforge.metrics.compute import compute_metrics


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(path))
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_zip(tmp_path_factory.mktemp("data") / "data.zip", count=24)


def fid(data: Path, detector: ProjectionDetector, **settings: object) -> float:
    results = compute_metrics(["fid2k_full"], tiny_generator(), data, detector_loader=lambda _n, _p: detector,
                              num_gen=8, batch_size=8, **settings)
    return results[0]["results"]["fid2k_full"]


def other_weights() -> ProjectionDetector:
    """A detector with the same name as ProjectionDetector but different weights."""
    detector = ProjectionDetector()
    detector.proj = detector.proj * -3  # not in place: the buffer shares memory with the module's PROJ
    return detector


def test_two_detectors_of_one_name_do_not_share_entries(data: Path, cache: Path) -> None:
    first = fid(data, ProjectionDetector())
    assert other_weights().name == ProjectionDetector.name
    detector = other_weights()
    from_cache_or_not = fid(data, detector)
    assert detector.calls == 3 + 1  # the 24 reals were run through the other weights, not read from the cache
    assert from_cache_or_not == pytest.approx(fid(data, other_weights(), cache=False), rel=1e-9)
    assert from_cache_or_not != pytest.approx(first, rel=1e-3)
    assert len(list(cache.glob("*.npz"))) == 2
    again = ProjectionDetector()
    assert fid(data, again) == first and again.calls == 1  # the first weights still hit their own entry


def _object_array_npz(path: Path, marker: Path) -> None:
    """An .npz whose arrays hold a pickled object that would create `marker` when unpickled."""

    class Hostile:
        def __reduce__(self) -> tuple:
            return (open, (str(marker), "w"))

    np.savez(path, num_items=np.array(24), sum=np.array([Hostile()], dtype=object), sum_sq=np.zeros((1, 1)))


def _spoil(path: Path, how: str, marker: Path) -> None:
    good = path.read_bytes()
    if how == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif how == "garbage":
        path.write_bytes(b"\x00not an npz at all" * 50)
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "object arrays":
        _object_array_npz(path, marker)
    elif how == "plain pickle":
        path.write_bytes(b"\x80\x04\x95" + good[:20])
    elif how == "wrong count":
        np.savez(path, num_items=np.array(7), sum=np.zeros(6), sum_sq=np.zeros((6, 6)))
    elif how == "wrong width":
        np.savez(path, num_items=np.array(24), sum=np.zeros(5), sum_sq=np.zeros((5, 5)))
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["truncated", "garbage", "empty", "object arrays", "plain pickle",
                                 "wrong count", "wrong width"])
def test_a_spoilt_cache_file_is_recomputed_with_a_warning(
    how: str, data: Path, cache: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = fid(data, ProjectionDetector())
    (entry,) = cache.glob("*.npz")
    marker = tmp_path / "unpickled"
    _spoil(entry, how, marker)
    detector = ProjectionDetector()
    with caplog.at_level(logging.WARNING):
        assert fid(data, detector) == first
    assert detector.calls == 3 + 1 and not marker.exists()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(entry) in warnings[0] and "recomputing" in warnings[0]

    caplog.clear()
    detector = ProjectionDetector()
    assert fid(data, detector) == first and detector.calls == 1  # the entry was rewritten
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_an_unwritable_cache_folder_is_a_warning(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(blocker / "cache"))
    with caplog.at_level(logging.WARNING):
        value = fid(data, ProjectionDetector())
    assert value == pytest.approx(fid(data, ProjectionDetector(), cache=False), rel=1e-9)
    assert any("Could not cache" in r.getMessage() for r in caplog.records)
