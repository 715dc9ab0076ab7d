"""`ganforge export --format official`: a pickle in the official StyleGAN2-ADA-PyTorch layout.

The official snapshots in ../shared/parity are what the official code wrote; exporting ganforge's
reading of one must give the same records (classes, attributes, constructor arguments, tensors),
with a one-line import as each record's module source. Every pickle is read with the safe unpickler.
"""

from __future__ import annotations

import pickletools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tests.conftest import ParityLookup, save_tiny_stylegan2

from ganforge.cli.main import main
from ganforge.compat import OfficialObject, load_network, save_network
from ganforge.compat.safe_unpickle import safe_load
from ganforge.errors import NetworkFileError
from ganforge.export import export_network
from ganforge.models import dcgan

GLOBALS = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch.storage", "_load_from_bytes"),
    ("collections", "OrderedDict"),
}
"""The only globals an exported file may name: the official reconstruct call, tensors, OrderedDict."""


def _read(path: Path | str) -> Any:
    with open(path, "rb") as f:
        return safe_load(f, str(path))


def _globals(path: Path) -> set[tuple[str, str]]:
    """(module, name) of every global the pickle names, read with pickletools (nothing is run)."""
    found: set[tuple[str, str]] = set()
    memo: list[Any] = []
    pushed: list[Any] = []  # the strings pushed or fetched from the memo, None for anything else
    for op, arg, _ in pickletools.genops(path.read_bytes()):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            pushed.append(arg)
        elif op.name == "MEMOIZE":
            memo.append(pushed[-1] if pushed else None)
        elif op.name in ("BINGET", "LONG_BINGET"):
            pushed.append(memo[arg])
        elif op.name == "STACK_GLOBAL":
            found.add((pushed[-2], pushed[-1]))
        elif op.name == "GLOBAL":
            found.add(tuple(arg.split(" ", 1)))
        else:
            pushed.append(None)
    return found


def _same_record(ours: OfficialObject, theirs: OfficialObject, path: str) -> None:
    """The exported record matches the official one: class, attributes, tensors, submodules."""
    assert ours.class_name == theirs.class_name, path
    assert ours.version == theirs.version == 6
    assert ours.module_src in ("from training.networks import *", "from training.augment import *")
    assert ours.state.keys() == theirs.state.keys(), path
    for key, value in theirs.state.items():
        mine = ours.state[key]
        if key == "_modules":
            assert mine.keys() == value.keys(), path
            for name, child in value.items():
                _same_record(mine[name], child, f"{path}.{name}")
        elif key in ("_parameters", "_buffers"):
            assert mine.keys() == value.keys(), path
            assert all(torch.equal(mine[n], t) for n, t in value.items()), path
        elif key == "_init_kwargs" and path in ("G", "D", "G_ema", "augment_pipe"):
            assert {k: mine[k] for k in value} == value, path  # ganforge adds the defaults by name
        elif key not in ("_init_args", "_init_kwargs"):
            assert mine == value and not isinstance(mine, np.generic), f"{path}.{key}"  # no numpy in the file


@pytest.mark.parametrize("name", ["g32_skip_rgb", "g16_orig_gray_cond", "f32_skip_rgb_fp16"])
def test_export_matches_the_official_snapshot_record_for_record(
    tmp_path: Path, parity: ParityLookup, name: str
) -> None:
    snapshot = parity(f"{name}-snapshot.pkl")
    out = tmp_path / "official.pkl"
    main(["export", str(snapshot), str(out), "--format", "official"])
    assert _globals(out) <= GLOBALS
    ours, theirs = _read(out), _read(snapshot)
    assert sorted(ours) == ["D", "G", "G_ema", "augment_pipe", "training_set_kwargs"]
    assert ours["training_set_kwargs"] == theirs["training_set_kwargs"]
    for key in ("G", "D", "G_ema", "augment_pipe"):
        _same_record(ours[key], theirs[key], key)


def test_ganforge_reads_its_official_export_back_to_identical_outputs(
    tmp_path: Path, official_cond: str, one_thread: None
) -> None:
    export_network(official_cond, tmp_path / "official.pkl", format="official")
    original, loaded = load_network(official_cond), load_network(tmp_path / "official.pkl")
    z = torch.randn([4, 32], generator=torch.Generator().manual_seed(0))
    c = torch.eye(5)[[0, 1, 2, 3]]
    for key in ("G", "G_ema"):
        expected = original[key](z, c, truncation_psi=0.7, noise_mode="const")
        assert torch.equal(loaded[key](z, c, truncation_psi=0.7, noise_mode="const"), expected)
    img = original["G_ema"](z, c, noise_mode="const")
    assert torch.equal(loaded["D"](img, c), original["D"](img, c))
    assert float(loaded["augment_pipe"].p) == float(original["augment_pipe"].p)


def test_families_and_files_the_official_code_cannot_load_are_refused(tmp_path: Path) -> None:
    save_network(tmp_path / "dcgan.pt", G_ema=dcgan.Generator(z_dim=8, img_resolution=16, gf_dim=4))
    with pytest.raises(
        NetworkFileError, match="dcgan network; the official StyleGAN2-ADA code has StyleGAN2"
    ):
        export_network(tmp_path / "dcgan.pt", tmp_path / "a.pkl", format="official")
    source = save_tiny_stylegan2(tmp_path / "g.pt")
    with pytest.raises(NetworkFileError, match="lacks G, D; the official loader needs G, D and G_ema"):
        export_network(source, tmp_path / "b.pkl", format="official")
    assert not (tmp_path / "a.pkl").exists() and not (tmp_path / "b.pkl").exists()
