"""R3GAN snapshots (r16_cond-snapshot.pkl, R3GAN's own layout) through `load_network`: the same
numbers as the public code, bfloat16 stages kept, and nothing from the file ever run."""

from __future__ import annotations

import pickletools
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.conftest import ParityLookup

from ganforge.cli.main import main
from ganforge.compat import load_network
from ganforge.errors import NetworkFileError
from ganforge.models import r3gan

ATOL = 1e-4


def rewrite_strings(data: bytes, replacements: dict[str, str]) -> bytes:
    """The pickle `data` with its SHORT_BINUNICODE strings replaced, edited opcode by opcode (never
    unpickled); FRAME opcodes are dropped, since the new strings change the frames' lengths."""
    ops = list(pickletools.genops(data))
    out = bytearray()
    for (op, arg, pos), (_, _, end) in zip(ops, [*ops[1:], (None, None, len(data))], strict=True):
        if op.name == "FRAME":
            continue
        if op.name == "SHORT_BINUNICODE" and arg in replacements:
            new = replacements[arg].encode()
            out += b"\x8c" + bytes([len(new)]) + new
        else:
            out += data[pos:end]
    return bytes(out)


@pytest.fixture(scope="module")
def reference(parity: ParityLookup) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v) for k, v in np.load(parity("r16_cond.npz")).items()}


@pytest.fixture(scope="module")
def snapshot(parity: ParityLookup) -> Path:
    return parity("r16_cond-snapshot.pkl")


def test_r3gan_snapshot_loads_with_the_same_outputs(
    snapshot: Path, reference: dict, one_thread: None
) -> None:
    nets = load_network(snapshot)
    assert not any(name.split(".")[0] in ("R3GAN", "training") for name in sys.modules)  # nothing imported
    assert nets["cur_nimg"] == 0 and nets["training_set_kwargs"]["resolution"] == 16
    z, c, real = reference["in/z"], reference["in/c"], reference["in/real"]
    for key in ("G", "G_ema"):
        assert isinstance(nets[key], r3gan.Generator)
        torch.testing.assert_close(nets[key](z, c), reference["out/img"], rtol=0, atol=ATOL)
    D = nets["D"]
    assert isinstance(D, r3gan.Discriminator) and D.init_kwargs["widths"] == [24, 48, 48]
    torch.testing.assert_close(D(reference["out/img"], c).flatten(), reference["out/logits_fake"],
                               rtol=0, atol=ATOL)
    torch.testing.assert_close(D(real, c).flatten(), reference["out/logits_real"], rtol=0, atol=ATOL)


def test_bfloat16_stages_are_kept(snapshot: Path, reference: dict, tmp_path: Path, one_thread: None) -> None:
    """Every stage's DataType made torch.bfloat16 (the one memoised dtype the stages share)."""
    path = tmp_path / "bf16.pkl"
    path.write_bytes(rewrite_strings(snapshot.read_bytes(), {"float32": "bfloat16"}))
    nets = load_network(path)
    G, D = nets["G_ema"], nets["D"]
    assert G.init_kwargs["bf16_stages"] == [0, 1, 2] and D.init_kwargs["bf16_stages"] == [0, 1, 2]
    assert all(stage.dtype == torch.bfloat16 for stage in [*G.stages, *D.stages])
    z, c = reference["in/z"], reference["in/c"]
    img = G(z, c)
    assert img.dtype == torch.float32
    error = (img - reference["out/img"]).abs().max()
    assert 0 < error < 0.1  # computed in bfloat16 (8 bits of mantissa), not float32
    # A ganforge checkpoint of the converted networks keeps the bfloat16 stages.
    main(["convert", str(path), str(tmp_path / "bf16.pt")])
    again = load_network(tmp_path / "bf16.pt")["G_ema"]
    assert again.init_kwargs["bf16_stages"] == [0, 1, 2]
    torch.testing.assert_close(again(z, c), img, rtol=0, atol=0)


def test_hostile_class_in_an_r3gan_pickle_is_refused(
    snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hostile.pkl"
    hostile = {"R3GAN.FusedOperators": "os", "BiasedActivationCUDA": "system"}
    path.write_bytes(rewrite_strings(snapshot.read_bytes(), hostile))
    with pytest.raises(NetworkFileError, match=r"references os\.system") as info:
        load_network(path)
    assert "\n" not in str(info.value)
    with pytest.raises(SystemExit) as exited:
        main(["generate", "--network", str(path), "--seeds", "0", "--class", "0", "--outdir", str(tmp_path)])
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: ") and "os.system" in err[0]


def test_generate_from_an_r3gan_snapshot(snapshot: Path, tmp_path: Path, one_thread: None) -> None:
    out = tmp_path / "out"
    main(["generate", "--network", str(snapshot), "--seeds", "0-1", "--class", "3",
          "--outdir", str(out)])
    assert sorted(p.name for p in out.iterdir()) == ["seed0000.png", "seed0001.png"]
