"""ganforge checkpoints: save -> load_network round trips, refusals, atomic writes; the registry."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch

from ganforge.compat import load_network, registry, save_network, save_network_checkpoint
from ganforge.compat.checkpoint import DamagedCheckpointError
from ganforge.errors import NetworkFileError
from ganforge.models.stylegan2 import Discriminator, Generator, MappingNetwork, SynthesisNetwork


def tiny_generator(seed: int) -> Generator:
    torch.manual_seed(seed)
    return Generator(z_dim=8, c_dim=2, w_dim=8, img_resolution=8, img_channels=3,
                     mapping_kwargs={"num_layers": 2},
                     synthesis_kwargs={"channel_base": 64, "channel_max": 8, "architecture": "orig"})


def tiny_discriminator(seed: int) -> Discriminator:
    torch.manual_seed(seed)
    return Discriminator(c_dim=2, img_resolution=8, img_channels=3, channel_base=64, channel_max=8)


def randomize(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Distinct random values in every parameter and buffer (w_avg, noise_const ... included)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            tensor.copy_(torch.randn(tensor.shape, generator=gen))
    return module


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


class Reduce:
    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple]:
        return self.func, self.args


class Unpicklable(torch.Tensor):
    """A tensor that fails while being written, to interrupt torch.save half-way."""

    def __reduce_ex__(self, protocol: int) -> Any:
        raise RuntimeError("write interrupted")


# --- round trip ----------------------------------------------------------------------------------------


def test_checkpoint_round_trip_gives_equal_networks_and_outputs(tmp_path: Path) -> None:
    G, G_ema = randomize(tiny_generator(0), 1), randomize(tiny_generator(0), 2)
    D = randomize(tiny_discriminator(0), 3)
    extra = {"cur_nimg": 1000, "training_set_kwargs": {"path": "d.zip", "xflip": False}, "p": 0.25}
    path = tmp_path / "snap.pt"
    save_network_checkpoint(path, {"G": G, "D": D, "G_ema": G_ema}, extra)

    nets = load_network(path)
    assert set(nets) == {"G", "D", "G_ema", "cur_nimg", "training_set_kwargs", "p"}
    assert nets["cur_nimg"] == 1000 and nets["p"] == 0.25
    assert nets["training_set_kwargs"] == {"path": "d.zip", "xflip": False}
    for key, original in (("G", G), ("D", D), ("G_ema", G_ema)):
        assert type(nets[key]) is type(original)
        assert nets[key].init_kwargs == original.init_kwargs
        assert_same_state(nets[key], original)
        assert not nets[key].training and not any(p.requires_grad for p in nets[key].parameters())

    z, c = torch.randn(3, 8), torch.eye(2)[[0, 1, 1]]
    with torch.no_grad():
        for mode in ("const", "none"):
            expected = G_ema.eval()(z, c, truncation_psi=0.7, noise_mode=mode)
            torch.testing.assert_close(nets["G_ema"](z, c, truncation_psi=0.7, noise_mode=mode), expected)
        img = torch.randn(4, 3, 8, 8)
        torch.testing.assert_close(nets["D"](img, torch.eye(2)[[0, 1, 0, 1]]),
                                   D.eval()(img, torch.eye(2)[[0, 1, 0, 1]]))


def test_checkpoint_layout_is_plain_data(tmp_path: Path) -> None:
    mapping = randomize(MappingNetwork(z_dim=4, c_dim=0, w_dim=4, num_ws=3, num_layers=2), 5)
    path = tmp_path / "m.pt"
    save_network(path, extra={"note": "x"}, mapping=mapping)
    assert zipfile.is_zipfile(path)
    data = torch.load(path, weights_only=True)
    assert (data["format"], data["version"], data["extra"]) == ("ganforge-checkpoint", 1, {"note": "x"})
    entry = data["networks"]["mapping"]
    assert entry["class"] == "stylegan2.MappingNetwork" and entry["kwargs"] == mapping.init_kwargs
    assert entry["state"].keys() == mapping.state_dict().keys()
    with open(path, "rb") as f:
        assert_same_state(load_network(io.BytesIO(f.read()))["mapping"], mapping)


def test_synthesis_network_alone_round_trips(tmp_path: Path) -> None:
    synthesis = randomize(tiny_generator(0).synthesis, 6)
    assert isinstance(synthesis, SynthesisNetwork)
    save_network(tmp_path / "s.pt", synthesis=synthesis)
    assert_same_state(load_network(tmp_path / "s.pt")["synthesis"], synthesis)


# --- refusals on save -----------------------------------------------------------------------------------


def test_save_refuses_what_cannot_be_read_back(tmp_path: Path) -> None:
    G = tiny_generator(0)
    with pytest.raises(ValueError, match="JSON-able"):
        save_network(tmp_path / "a.pt", extra={"when": object()}, G=G)
    with pytest.raises(ValueError, match="clash"):
        save_network(tmp_path / "a.pt", extra={"G": 1}, G=G)
    with pytest.raises(ValueError, match="not a registered network class"):
        save_network(tmp_path / "a.pt", net=torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="at least one network"):
        save_network_checkpoint(tmp_path / "a.pt", {})
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_no_partial_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "net.pt"
    mapping = randomize(MappingNetwork(z_dim=4, c_dim=0, w_dim=4, num_ws=2, num_layers=1), 7)
    save_network(path, mapping=mapping)
    before = path.read_bytes()

    broken = MappingNetwork(z_dim=4, c_dim=0, w_dim=4, num_ws=2, num_layers=1)
    broken.w_avg = torch.zeros(4).as_subclass(Unpicklable)
    with pytest.raises(RuntimeError, match="write interrupted"):
        save_network(path, mapping=broken)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["net.pt"]

    with pytest.raises(RuntimeError, match="write interrupted"):
        save_network(tmp_path / "new.pt", mapping=broken)
    assert [p.name for p in tmp_path.iterdir()] == ["net.pt"]


# --- refusals on load --------------------------------------------------------------------------------


def test_torch_save_file_with_arbitrary_objects_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = {"format": "ganforge-checkpoint", "version": 1,
               "networks": {}, "extra": {"x": Reduce(os.system, f"touch {marker}")}}
    torch.save(payload, path)
    with pytest.raises(NetworkFileError, match=r"refusing to load .*evil\.pt: .*system"):
        load_network(path)
    assert not marker.exists()


def test_foreign_and_future_torch_files_are_refused(tmp_path: Path) -> None:
    torch.save({"weight": torch.zeros(2)}, tmp_path / "plain.pt")
    with pytest.raises(NetworkFileError, match="plain.pt is a torch.save file but not a ganforge checkpoint"):
        load_network(tmp_path / "plain.pt")
    torch.save({"format": "ganforge-checkpoint", "version": 99, "networks": {}}, tmp_path / "new.pt")
    with pytest.raises(NetworkFileError, match="version 99"):
        load_network(tmp_path / "new.pt")


def test_unknown_class_or_bad_state_is_refused(tmp_path: Path) -> None:
    mapping = MappingNetwork(z_dim=4, c_dim=0, w_dim=4, num_ws=2, num_layers=1)
    entry = {"class": "stylegan9.Generator", "kwargs": {}, "state": {}}
    torch.save({"format": "ganforge-checkpoint", "version": 1, "networks": {"G": entry}}, tmp_path / "u.pt")
    with pytest.raises(NetworkFileError, match=r"u\.pt: network 'G': unknown network class 'stylegan9\."):
        load_network(tmp_path / "u.pt")
    state = mapping.state_dict()
    del state["fc0.weight"]
    entry = {"class": "stylegan2.MappingNetwork", "kwargs": mapping.init_kwargs, "state": state}
    torch.save({"format": "ganforge-checkpoint", "version": 1, "networks": {"m": entry}}, tmp_path / "s.pt")
    with pytest.raises(DamagedCheckpointError, match=r"network 'm' .*do not fit.*missing \(fc0\.weight\)"):
        load_network(tmp_path / "s.pt")


def test_truncated_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "net.pt"
    save_network(path, G=tiny_generator(0))
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 30):
        path.write_bytes(data[:cut])
        with pytest.raises(DamagedCheckpointError, match=r"net\.pt is a truncated ganforge checkpoint") as e:
            load_network(path)
        assert "download" not in str(e.value)


# --- registry -------------------------------------------------------------------------------------------


def test_registry_maps_names_and_classes_both_ways() -> None:
    for name in ("stylegan2.Generator", "stylegan2.Discriminator", "stylegan2.MappingNetwork",
                 "stylegan2.SynthesisNetwork"):
        assert name in registry.names()
        assert registry.name_of(registry.get_class(name)) == name
    assert registry.name_of(tiny_discriminator(0)) == "stylegan2.Discriminator"
    with pytest.raises(NetworkFileError, match=r"unknown network class 'nope'; known classes: .*stylegan2"):
        registry.get_class("nope")


IMPORT_ORDERS = ["ganforge.compat.checkpoint", "ganforge.compat.loader", "ganforge.compat"]


@pytest.mark.parametrize("module", IMPORT_ORDERS)
def test_modules_import_first_without_cycles(module: str) -> None:
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
