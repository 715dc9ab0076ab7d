"""`ganforge convert`: TF and official pickles become checkpoints that give identical outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from tests.compat.tf_pickles import TFNetwork, dumps, write_tf_pickle
from tests.conftest import ParityLookup

from ganforge.cli.main import cli, main
from ganforge.compat import load_network, load_network_pkl
from ganforge.compat.checkpoint import ZIP_MAGIC


def same_outputs(a: dict, b: dict, resolution: int) -> None:
    """G_ema images (stored noise) and D scores of two loaded network files are bit-identical."""
    z = torch.randn(3, a["G_ema"].z_dim, generator=torch.Generator().manual_seed(1))
    c = torch.zeros(3, a["G_ema"].c_dim)
    img_a = a["G_ema"](z, c, noise_mode="const")
    assert img_a.shape[-1] == resolution
    assert torch.equal(img_a, b["G_ema"](z, c, noise_mode="const"))
    assert torch.equal(a["G"](z, c, noise_mode="const"), b["G"](z, c, noise_mode="const"))
    img = torch.rand(4, img_a.shape[1], resolution, resolution) * 2 - 1
    assert torch.equal(a["D"](img, c[:1].expand(4, -1)), b["D"](img, c[:1].expand(4, -1)))


def test_convert_tf_pickle_round_trip(tmp_path: Path) -> None:
    tf = write_tf_pickle(tmp_path / "stylegan2-tiny.pkl")
    out = tmp_path / "out" / "tiny.pt"
    result = CliRunner().invoke(cli, ["convert", str(tf.path), str(out)])
    assert result.exit_code == 0, result.output
    assert "Wrote G, D, G_ema to" in result.output
    assert out.read_bytes()[:4] == ZIP_MAGIC
    assert [p.name for p in out.parent.iterdir()] == ["tiny.pt"]  # no temp file left behind

    converted, original = load_network(out), load_network_pkl(tf.path)
    assert set(converted) == {"G", "D", "G_ema"}
    same_outputs(converted, original, 16)
    assert not torch.equal(converted["G"].mapping.w_avg, converted["G_ema"].mapping.w_avg)
    w_avg = torch.from_numpy(tf.Gs["dlatent_avg"])
    assert torch.equal(converted["G_ema"].mapping.w_avg, w_avg)


def test_convert_official_pickle_keeps_its_data(tmp_path: Path, parity: ParityLookup) -> None:
    source = parity("g32_skip_rgb-snapshot.pkl")
    out = tmp_path / "g32.pt"
    result = CliRunner().invoke(cli, ["convert", str(source), str(out)])
    assert result.exit_code == 0, result.output
    converted, original = load_network(out), load_network_pkl(source)
    assert converted["training_set_kwargs"] == original["training_set_kwargs"]
    assert type(converted["augment_pipe"]) is type(original["augment_pipe"])
    assert float(converted["augment_pipe"].p) == float(original["augment_pipe"].p)
    same_outputs(converted, original, 32)


@pytest.mark.parametrize("kind", ["unknown-func", "garbage"])
def test_convert_failures_print_the_error_and_keep_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    source = tmp_path / "in.pkl"
    if kind == "unknown-func":
        net = TFNetwork("G", "G_paint", {}, {"lod": np.float32(0)})
        source.write_bytes(dumps((net, net, net)))
        expected = "built by 'G_paint', which ganforge cannot convert"
    else:
        source.write_bytes(b"not a pickle")
        expected = "is not a network pickle or ganforge checkpoint: it is a text file"
    out = tmp_path / "out.pt"
    out.write_bytes(b"previous")
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", str(source), str(out)])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"Error: {source}") or err.startswith("Error: cannot load")
    assert expected in err and "Traceback" not in err
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.pkl", "out.pt"]
