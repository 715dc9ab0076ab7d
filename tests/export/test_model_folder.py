"""`ganforge export --format safetensors`: a model folder that `load_network` and `--network` read back
with no pickle involved, to bit-identical outputs."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from tests.conftest import save_tiny_stylegan2, tiny_stylegan

from ganforge.cli.main import main
from ganforge.compat import load_network, save_network
from ganforge.errors import NetworkFileError, OptionError, OutputError
from ganforge.export import export_network
from ganforge.models import dcgan


def _outputs(G: torch.nn.Module, psi: float = 0.7) -> torch.Tensor:
    z = torch.randn([3, G.z_dim], generator=torch.Generator().manual_seed(1))
    c = torch.eye(max(G.c_dim, 1))[[0, 1, 2]][:, : G.c_dim] if G.c_dim else None
    kwargs = {"truncation_psi": psi, "noise_mode": "const"} if hasattr(G, "mapping") else {}
    return G(z, c, **kwargs)


def test_export_writes_a_folder_that_loads_bit_identical_without_pickle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_thread: None
) -> None:
    source = save_tiny_stylegan2(tmp_path / "net.pt", c_dim=3)
    out = tmp_path / "model"
    main(["export", source, str(out), "--format", "safetensors"])
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert (out / "model.safetensors").stat().st_mode == (out / "config.json").stat().st_mode
    config = json.loads((out / "config.json").read_text())
    assert config["family"] == "stylegan2" and config["networks"]["G_ema"]["class"] == "stylegan2.Generator"
    assert (config["img_resolution"], config["img_channels"], config["c_dim"], config["z_dim"]) == (
        8,
        3,
        3,
        8,
    )
    assert config["networks"]["G_ema"]["kwargs"]["mapping_kwargs"] == {"num_layers": 1}
    assert "from_pretrained" in (out / "README.md").read_text()
    expected = _outputs(load_network(source)["G_ema"])

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a pickle was read")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    loaded = load_network(out)
    assert list(loaded) == ["G_ema"]
    assert torch.equal(_outputs(loaded["G_ema"]), expected)
    main(
        ["generate", "--network", str(out), "--seeds", "0-1", "--class", "2", "--outdir", str(tmp_path / "a")]
    )
    monkeypatch.undo()
    main(["generate", "--network", source, "--seeds", "0-1", "--class", "2", "--outdir", str(tmp_path / "b")])
    for name in ("seed0000.png", "seed0001.png"):
        a, b = (np.asarray(PIL.Image.open(tmp_path / d / name)) for d in ("a", "b"))
        assert np.array_equal(a, b)


def test_all_networks_and_the_training_runs_records(
    tmp_path: Path, official_cond: str, one_thread: None
) -> None:
    """--all keeps G, D, G_ema and the augment pipe; the card shows the run's options and last metrics."""
    run = tmp_path / "run"
    run.mkdir()
    snapshot = run / "network-snapshot-000004.pkl"
    snapshot.write_bytes(Path(official_cond).read_bytes())
    (run / "training_options.json").write_text(json.dumps({"cfg": "cpu", "gamma": 0.5}))
    records = [
        {"results": {"fid_digits": 12.5}, "snapshot_pkl": "network-snapshot-000004.pkl"},
        {"results": {"fid_digits": 99.0}, "snapshot_pkl": "network-snapshot-000000.pkl"},
    ]
    (run / "metric-fid_digits.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    export_network(snapshot, tmp_path / "model", all_networks=True)
    card = (tmp_path / "model" / "README.md").read_text()
    assert "| fid_digits | 12.5 |" in card and "99" not in card and '"gamma": 0.5' in card
    original, loaded = load_network(official_cond), load_network(tmp_path / "model")
    assert sorted(k for k, v in loaded.items() if isinstance(v, torch.nn.Module)) == [
        "D",
        "G",
        "G_ema",
        "augment_pipe",
    ]
    assert loaded["training_set_kwargs"] == original["training_set_kwargs"]
    for key in ("G", "D", "G_ema", "augment_pipe"):
        a, b = original[key].state_dict(), loaded[key].state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[n], b[n]) for n in a)


@pytest.mark.parametrize("family", ["stylegan", "dcgan"])
def test_other_families_travel_too(tmp_path: Path, family: str, one_thread: None) -> None:
    torch.manual_seed(0)
    if family == "dcgan":
        G = dcgan.Generator(z_dim=8, c_dim=0, img_resolution=16, img_channels=3, gf_dim=4).eval()
    else:
        G = tiny_stylegan(c_dim=0)
    save_network(tmp_path / "net.pt", G_ema=G)
    export_network(tmp_path / "net.pt", tmp_path / "model")
    assert json.loads((tmp_path / "model" / "config.json").read_text())["family"] == family
    expected = _outputs(load_network(tmp_path / "net.pt")["G_ema"], psi=1)
    assert torch.equal(_outputs(load_network(tmp_path / "model")["G_ema"], psi=1), expected)


def test_an_existing_output_is_kept_unless_forced(tmp_path: Path) -> None:
    source = save_tiny_stylegan2(tmp_path / "net.pt")
    out = tmp_path / "model"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(OutputError, match="exists"):
        export_network(source, out)
    assert (out / "mine.txt").read_text() == "keep"
    export_network(source, out, force=True)
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "net.pt"]


def test_a_folder_that_is_no_model_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(NetworkFileError, match="without config.json"):
        load_network(tmp_path)
    source = save_tiny_stylegan2(tmp_path / "net.pt")
    export_network(source, tmp_path / "model")
    (tmp_path / "model" / "model.safetensors").unlink()
    with pytest.raises(NetworkFileError, match="no model.safetensors"):
        load_network(tmp_path / "model")


def test_options_of_one_format_are_refused_with_another(tmp_path: Path) -> None:
    source = save_tiny_stylegan2(tmp_path / "net.pt")
    for kwargs, words in [
        ({"format": "onnx", "all_networks": True}, "all_networks applies to format='safetensors'"),
        ({"format": "official", "push_to_hub_repo": "me/x"}, "push_to_hub_repo uploads model folders only"),
        ({"format": "safetensors", "parts": ["mapping"]}, "parts apply to format='onnx' only"),
        ({"format": "tflite"}, "format 'tflite' is not one of safetensors, onnx, official"),
    ]:
        with pytest.raises(OptionError, match=words):
            export_network(source, tmp_path / "out", **kwargs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.pt"]
