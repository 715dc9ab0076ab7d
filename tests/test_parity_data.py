"""The parity data: the copy shipped in tests/data/parity equals the shared one, and CI never skips it."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import BUNDLED_PARITY, SHARED_PARITY, in_ci, locate_parity

# Each copy's README.md describes that copy (the shared one also lists files not shipped here).
DESCRIPTIONS = {"README.md"}


def test_bundled_parity_files_are_byte_identical_to_shared() -> None:
    if not SHARED_PARITY.is_dir():
        (pytest.fail if in_ci() else pytest.skip)(f"{SHARED_PARITY} is missing")
    bundled = {p.name for p in BUNDLED_PARITY.iterdir()} - DESCRIPTIONS
    common = sorted(name for name in bundled if (SHARED_PARITY / name).is_file())
    assert len(common) >= 9, common  # three configurations, three files each
    for name in common:
        assert (BUNDLED_PARITY / name).read_bytes() == (SHARED_PARITY / name).read_bytes(), name


def test_locate_parity_prefers_the_shared_copy(tmp_path: Path) -> None:
    shared, bundled = tmp_path / "shared", tmp_path / "bundled"
    for folder in (shared, bundled):
        folder.mkdir()
        (folder / "a.json").write_text(folder.name)
    (bundled / "b.json").write_text("bundled")
    assert locate_parity("a.json", [shared, bundled], ci=True) == shared / "a.json"
    assert locate_parity("b.json", [shared, bundled], ci=True) == bundled / "b.json"


def test_missing_parity_data_fails_in_ci_and_skips_elsewhere(tmp_path: Path) -> None:
    missing, bundled = tmp_path / "missing", tmp_path / "bundled"
    bundled.mkdir()
    (bundled / "a.json").write_text("{}")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        locate_parity("a.json", [missing, bundled], ci=True)
    assert locate_parity("a.json", [missing, bundled], ci=False) == bundled / "a.json"
    with pytest.raises(pytest.skip.Exception):
        locate_parity("nowhere.json", [missing, bundled], ci=False)
    missing.mkdir()
    with pytest.raises(pytest.fail.Exception, match="nowhere.json"):
        locate_parity("nowhere.json", [missing, bundled], ci=True)
