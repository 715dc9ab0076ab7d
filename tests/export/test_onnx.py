"""`ganforge export --format onnx` checked with onnxruntime against the official reference outputs and
ganforge's PyTorch networks (1e-4), and `ganforge generate --network model.onnx`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import PIL.Image
import pytest
import torch
from tests.conftest import ParityLookup, tiny_stylegan

import ganforge.tools.generate
from ganforge.cli.main import main
from ganforge.compat import load_network, save_network
from ganforge.errors import NetworkFileError, OptionError
from ganforge.export import export_network
from ganforge.models import dcgan
from ganforge.tools.generate import generate_images
from ganforge.tools.style_mix import style_mix_grid

ROWS = {1: [0], 7: [0, 1, 2, 3, 0, 1, 2]}
"""Rows of the parity inputs (4 of them) that make batches of 1 and 7."""


def _session(path: Path) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def cond_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(snapshot, its G_ema as ONNX) for the conditional grayscale parity configuration."""
    from tests.conftest import locate_parity

    snapshot = locate_parity("g16_orig_gray_cond-snapshot.pkl")
    out = tmp_path_factory.mktemp("onnx") / "g16.onnx"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    main(["export", str(snapshot), str(out), "--format", "onnx"])
    torch.set_num_threads(threads)
    return snapshot, out


def _check_parity(session: onnxruntime.InferenceSession, parity: ParityLookup, name: str) -> None:
    with np.load(parity(f"{name}.npz")) as data:
        z, c, psis = data["in/z"], data["in/c"], data["in/psi"]
        expected = {i: data[f"out/img_psi{i}_const"] for i in range(len(psis))}
    names = [i.name for i in session.get_inputs()]
    for rows in ROWS.values():
        for i, psi in enumerate(psis):
            feed = {"z": z[rows], "truncation_psi": np.array(psi, dtype=np.float32)}
            if "c" in names:
                feed["c"] = c[rows]
            img = session.run(["img"], feed)[0]
            assert img.shape == expected[i][rows].shape
            np.testing.assert_allclose(img, expected[i][rows], atol=1e-4, rtol=0)


def test_onnx_graph_matches_the_official_outputs(cond_onnx: tuple[Path, Path], parity: ParityLookup) -> None:
    model = onnx.load(str(cond_onnx[1]))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    session = _session(cond_onnx[1])
    assert [(i.name, i.shape) for i in session.get_inputs()] == [
        ("z", ["batch", 32]),
        ("c", ["batch", 5]),
        ("truncation_psi", []),
    ]
    _check_parity(session, parity, "g16_orig_gray_cond")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["g32_skip_rgb", "g64_resnet_rgb"])
def test_onnx_graph_matches_the_official_outputs_rgb(
    tmp_path: Path, parity: ParityLookup, name: str, one_thread: None
) -> None:
    export_network(parity(f"{name}-snapshot.pkl"), tmp_path / "g.onnx", format="onnx")
    _check_parity(_session(tmp_path / "g.onnx"), parity, name)


@pytest.mark.parametrize("family", [pytest.param("stylegan", marks=pytest.mark.slow), "dcgan"])
def test_stylegan_and_dcgan_generators_export_too(tmp_path: Path, family: str, one_thread: None) -> None:
    torch.manual_seed(0)
    if family == "dcgan":
        G = dcgan.Generator(z_dim=8, c_dim=3, img_resolution=8, img_channels=1, gf_dim=4, gfc_dim=8)
    else:
        G = tiny_stylegan(c_dim=3)
        with torch.no_grad():
            G.mapping.w_avg.normal_()  # a mean to truncate towards that is not zero
    save_network(tmp_path / "net.pt", G_ema=G)
    export_network(tmp_path / "net.pt", tmp_path / "g.onnx", format="onnx")
    G = load_network(tmp_path / "net.pt")["G_ema"]
    session = _session(tmp_path / "g.onnx")
    for n in (1, 7):
        z = torch.randn([n, 8], generator=torch.Generator().manual_seed(n))
        c = torch.eye(3)[torch.arange(n) % 3]
        feed = {"z": z.numpy(), "c": c.numpy()}
        if family == "stylegan":
            feed["truncation_psi"] = np.array(0.6, dtype=np.float32)
            expected = G(z, c, truncation_psi=0.6, noise_mode="const")
        else:
            expected = G(z, c)
        np.testing.assert_allclose(session.run(["img"], feed)[0], expected.numpy(), atol=1e-4, rtol=0)


def test_generate_runs_an_onnx_graph_without_torch_networks(
    tmp_path: Path, cond_onnx: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, one_thread: None
) -> None:
    snapshot, graph = cond_onnx
    args = ["--seeds", "0-4", "--class", "3", "--trunc", "0.7", "--batch", "2"]
    main(["generate", "--network", str(snapshot), *args, "--outdir", str(tmp_path / "torch")])

    def no_networks(*_: object) -> None:
        raise AssertionError("a torch network was loaded")

    monkeypatch.setattr(ganforge.tools.generate, "load_network", no_networks)
    main(["generate", "--network", str(graph), *args, "--outdir", str(tmp_path / "onnx")])
    names = sorted(p.name for p in (tmp_path / "torch").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "onnx").iterdir()) and len(names) == 5
    for name in names:
        a, b = (np.asarray(PIL.Image.open(tmp_path / d / name), dtype=np.int32) for d in ("torch", "onnx"))
        assert np.abs(a - b).max() <= 1
    with pytest.raises(OptionError, match="constant noise only"):
        generate_images(graph, [0], tmp_path, class_idx=3, noise_mode="random")
    with pytest.raises(NetworkFileError, match="is an ONNX graph, which only image generation"):
        style_mix_grid(graph, [1], [2], [0, 1], tmp_path, class_idx=3)


@pytest.mark.slow
def test_mapping_and_synthesis_parts_chain_to_the_whole(
    tmp_path: Path, parity: ParityLookup, one_thread: None
) -> None:
    snapshot = parity("g16_orig_gray_cond-snapshot.pkl")
    main(
        ["export", str(snapshot), str(tmp_path / "parts"), "--format", "onnx", "--parts", "mapping,synthesis"]
    )
    mapping, synthesis = (_session(tmp_path / "parts" / f"{part}.onnx") for part in ("mapping", "synthesis"))
    G = load_network(snapshot)["G_ema"]
    z = torch.randn([7, 32], generator=torch.Generator().manual_seed(0))
    c = torch.eye(5)[torch.arange(7) % 5]
    ws = mapping.run(
        ["ws"], {"z": z.numpy(), "c": c.numpy(), "truncation_psi": np.array(0.5, dtype=np.float32)}
    )[0]
    np.testing.assert_allclose(ws, G.mapping(z, c, truncation_psi=0.5).numpy(), atol=1e-5, rtol=0)
    img = synthesis.run(["img"], {"ws": ws})[0]
    expected = G.synthesis(torch.from_numpy(ws), noise_mode="const").numpy()
    np.testing.assert_allclose(img, expected, atol=1e-4, rtol=0)
