"""What `--network` (load_network) says of files that are not network files, or are damaged, and how
little a file claiming a huge network costs before it is refused."""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from tests.compat.builds import Allocations
from tests.compat.official_pickles import Persistent, dumps, persistent

from ganforge.cli.main import main
from ganforge.compat import DamagedCheckpointError, load_network, load_network_pkl, save_network
from ganforge.compat.bounded import MAX_ARGUMENT
from ganforge.compat.checkpoint import read_training_state
from ganforge.errors import NetworkFileError
from ganforge.models.stylegan2 import Generator, MappingNetwork


def tiny_generator() -> Generator:
    torch.manual_seed(0)
    synthesis = {"channel_base": 64, "channel_max": 8}
    return Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3,
                     mapping_kwargs={"num_layers": 2}, synthesis_kwargs=synthesis)


def checkpoint(path: Path) -> Path:
    save_network(path, G=tiny_generator(), G_ema=tiny_generator())
    return path


def official_pickle(path: Path) -> Path:
    G = tiny_generator()
    path.write_bytes(dumps({"G_ema": persistent(G, init_kwargs=G.init_kwargs)}))
    return path


def truncated(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def damaged_checkpoint(path: Path) -> Path:
    """A checkpoint with one flipped byte in its largest tensor record (torch.load alone reads it)."""
    data = bytearray(checkpoint(path).read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = max(archive.infolist(), key=lambda i: i.file_size if "/data/" in i.filename else 0)
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    data[info.header_offset + 30 + name_len + extra_len + 7] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def dataset_zip(path: Path) -> Path:
    image = io.BytesIO()
    PIL.Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image, format="png")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("00000/img00000000.png", image.getvalue())
        archive.writestr("dataset.json", json.dumps({"labels": None}))
    return path


def other_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.md", "hello")
    return path


def pickled_module(path: Path) -> Path:
    torch.save(tiny_generator(), path)  # needs weights_only=False, which ganforge never uses
    return path


def state_dict(path: Path) -> Path:
    torch.save(tiny_generator().state_dict(), path)
    return path


def legacy_torch_file(path: Path) -> Path:
    torch.save(tiny_generator().state_dict(), path, _use_new_zipfile_serialization=False)
    return path


def text(path: Path) -> Path:
    path.write_text("G_ema = my network\n")
    return path


def empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


FILES: dict[str, tuple[Callable[[Path], Path], str, str]] = {
    "zip-not-checkpoint": (other_zip, "x.zip is a zip file, not a network pickle or ganforge checkpoint "
                           "(it holds readme.md)", ""),
    "dataset-zip": (dataset_zip, "x.zip is a dataset zip (images), not a network file: give a network "
                    "pickle or a ganforge checkpoint", ""),
    "text": (text, "x.pkl is not a network pickle or ganforge checkpoint: it is a text file (starting "
             "'G_ema = my network')", ""),
    "empty": (empty, "x.pkl is not a network pickle or ganforge checkpoint: it is empty (0 bytes)", ""),
    "truncated-checkpoint": (lambda p: truncated(checkpoint(p)), "x.pt is a truncated ganforge checkpoint (",
                             "its end is missing); remake it with the command that wrote it"),
    "damaged-checkpoint": (damaged_checkpoint, "x.pt is a damaged ganforge checkpoint (its record data/",
                           "fails its CRC check); remake it"),
    "truncated-official-pickle": (lambda p: truncated(official_pickle(p)), "cannot load ",
                                  "x.pkl: the file is truncated (the pickle ends early); download or copy"),
    "pickled-module": (pickled_module, "x.pt is not a ganforge checkpoint: it is a torch.save file holding a "
                       "pickled ganforge.models.stylegan2.generator.Generator, which ganforge never", ""),
    "legacy-torch-file": (legacy_torch_file, "x.pt is a torch.save file of the legacy (pre-zip) format, "
                          "not a network pickle or ganforge checkpoint", ""),
    "state-dict": (state_dict, "x.pt is a torch.save file but not a ganforge checkpoint: it holds a bare "
                   "state_dict of 37 tensors, without the class and arguments", ""),
}
SUFFIXES = {"zip-not-checkpoint": ".zip", "dataset-zip": ".zip", "text": ".pkl", "empty": ".pkl",
            "truncated-official-pickle": ".pkl"}


@pytest.mark.parametrize("kind", list(FILES))
def test_network_option_says_what_the_file_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    make, start, rest = FILES[kind]
    monkeypatch.chdir(tmp_path)
    path = make(Path("x" + SUFFIXES.get(kind, ".pt")))
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "--network", str(path), "--seeds", "0", "--outdir", "out"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"Error: {start}") and rest in err and err.count("\n") == 1, err
    assert "Traceback" not in err and "weights_only" not in err and "trust" not in err
    if "ganforge checkpoint (" in err:  # files ganforge wrote itself are never to be downloaded again
        assert "download" not in err
    assert not Path("out").exists()


def test_damaged_checkpoints_raise_a_type_training_can_catch(tmp_path: Path) -> None:
    for make in (lambda p: truncated(checkpoint(p)), damaged_checkpoint):
        path = make(tmp_path / "snap.pt")
        with pytest.raises(DamagedCheckpointError):
            load_network(path)
        with pytest.raises(DamagedCheckpointError):
            read_training_state(path)
    for make in (text, state_dict, other_zip):
        with pytest.raises(NetworkFileError) as info:
            read_training_state(make(tmp_path / "other.pt"))
        assert not isinstance(info.value, DamagedCheckpointError)
    with pytest.raises(NetworkFileError, match="holds no training state"):
        read_training_state(checkpoint(tmp_path / "net.pt"))
    with pytest.raises(NetworkFileError, match="cannot open snapshot .*missing.pt"):
        read_training_state(tmp_path / "missing.pt")


def test_a_checkpoint_is_not_read_as_a_pickle(tmp_path: Path) -> None:
    path = checkpoint(tmp_path / "net.pt")
    message = "net.pt is a ganforge checkpoint, not a network pickle: read it with ganforge.compat.load_netw"
    with pytest.raises(NetworkFileError, match=message):
        load_network_pkl(path)
    with pytest.raises(NetworkFileError, match="x.zip is a zip file, not a network pickle"):
        load_network_pkl(other_zip(tmp_path / "x.zip"))


def huge_checkpoint(path: Path, **kwargs: object) -> Path:
    """A checkpoint whose G arguments claim `kwargs` while its tensors stay those of a tiny G."""
    G = tiny_generator()
    entry = {"class": "stylegan2.Generator", "kwargs": {**G.init_kwargs, **kwargs}, "state": G.state_dict()}
    torch.save({"format": "ganforge-checkpoint", "version": 1, "networks": {"G": entry}, "extra": {}}, path)
    return path


def test_huge_arguments_fail_before_any_network_is_built(tmp_path: Path) -> None:
    # A 4096 px G of 2048 channels would take gigabytes; its 37 stored tensors cannot fill it.
    path = huge_checkpoint(tmp_path / "huge.pt", img_resolution=4096,
                           synthesis_kwargs={"channel_base": 1 << 22, "channel_max": 2048})
    with Allocations() as counted, pytest.raises(DamagedCheckpointError) as info:
        load_network(path)
    assert counted.bytes < 20 << 20
    expected = "huge.pt: network 'G' (stylegan2.Generator): its arguments describe a network larger than "
    assert expected + "16.0 MiB, far more than its 37 stored tensors take (10.4 KiB)" in str(info.value)

    # An official pickle of a few hundred bytes naming a 1024 px generator and holding no tensor.
    record = Persistent("Generator", {"_parameters": OrderedDict(), "_buffers": OrderedDict(),
                                      "_modules": OrderedDict(), "_init_kwargs": {
                                          "z_dim": 512, "c_dim": 0, "w_dim": 512, "img_resolution": 1024,
                                          "img_channels": 3}})
    small = dumps({"G_ema": record})
    assert len(small) < 1000
    with Allocations() as counted, pytest.raises(NetworkFileError) as info:
        load_network(io.BytesIO(small))
    assert counted.bytes < 20 << 20
    expected = "the Generator: its arguments describe a network larger than 16.0 MiB, far more than its 0"
    assert expected in str(info.value)

    # Arguments that fit the budget but not the tensors are told apart by name and shape.
    path = huge_checkpoint(tmp_path / "wider.pt", synthesis_kwargs={"channel_base": 128, "channel_max": 16})
    with pytest.raises(DamagedCheckpointError, match=r"b4.const \[8, 4, 4\] \(arguments: \[16, 4, 4\]\)"):
        load_network(path)


def test_layer_counts_and_sizes_are_bounded_before_building(tmp_path: Path) -> None:
    mapping = MappingNetwork(z_dim=4, c_dim=0, w_dim=4, num_ws=2, num_layers=1)
    entry = {"class": "stylegan2.MappingNetwork", "kwargs": {**mapping.init_kwargs, "num_layers": 200_000},
             "state": mapping.state_dict()}
    path = tmp_path / "deep.pt"
    torch.save({"format": "ganforge-checkpoint", "version": 1, "networks": {"m": entry}}, path)
    with pytest.raises(NetworkFileError) as info:
        load_network(path)
    assert "its arguments describe a network of more than 76 tensors, but the file holds 3" in str(info.value)

    path = huge_checkpoint(tmp_path / "wide.pt", mapping_kwargs={"num_layers": 2, "layer_features": 10**12})
    with Allocations() as counted, pytest.raises(NetworkFileError) as info:
        load_network(path)
    assert counted.bytes == 0
    expected = f"mapping_kwargs.layer_features=1000000000000 is larger than any network's ({MAX_ARGUMENT} "
    assert expected in str(info.value)

    path = huge_checkpoint(tmp_path / "taps.pt", synthesis_kwargs={"resample_filter": [1.0] * 100_000})
    with Allocations() as counted, pytest.raises(NetworkFileError) as info:
        load_network(path)
    assert counted.bytes == 0  # a filter's outer product would take 40 GB
    assert "synthesis_kwargs.resample_filter is a list of 100000 items (256 at most)" in str(info.value)


def test_a_good_checkpoint_still_loads_after_its_checks(tmp_path: Path) -> None:
    path = checkpoint(tmp_path / "net.pt")
    nets = load_network(os.fspath(path))
    z = torch.randn(2, 8)
    torch.testing.assert_close(nets["G_ema"](z, None, noise_mode="const"),
                               tiny_generator().eval()(z, None, noise_mode="const"))
