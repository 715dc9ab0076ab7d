"""load_network_pkl: official StyleGAN2-ADA pickles (the real parity snapshots and ones the tests write)."""

from __future__ import annotations

import functools
import http.server
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.compat.official_pickles import Persistent, dumps, persistent
from tests.conftest import PARITY_CONFIGS, ParityLookup

from ganforge.augment import AugmentPipe
from ganforge.compat import load_network, load_network_pkl
from ganforge.errors import NetworkFileError
from ganforge.models.stylegan2 import Discriminator, Generator, MappingNetwork

IMAGE_ATOL = 1e-4
SCORE_RTOL, SCORE_FLOOR = 1e-4, 1e-2  # relative error, with a floor for scores near zero


def assert_scores_close(actual: torch.Tensor, expected: np.ndarray, what: str) -> None:
    expected_t = torch.from_numpy(expected).double()
    rel = (actual.double() - expected_t).abs() / expected_t.abs().clamp(min=SCORE_FLOOR)
    assert rel.max().item() <= SCORE_RTOL, f"{what}: relative error {rel.max().item():.3g}"


def tiny_discriminator(c_dim: int = 3, seed: int = 0) -> Discriminator:
    torch.manual_seed(seed)
    return Discriminator(c_dim=c_dim, img_resolution=8, img_channels=1, channel_base=64, channel_max=8,
                         epilogue_kwargs={"mbstd_group_size": 2})


def tiny_generator(seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    return Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3,
                     mapping_kwargs={"num_layers": 2},
                     synthesis_kwargs={"channel_base": 64, "channel_max": 8})


def randomize(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Give every parameter and buffer distinct random values, so that a mix-up shows."""
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


def official_snapshot(G: Generator, D: Discriminator) -> dict:
    """A training snapshot in the official layout, kwargs passed as the official code passes them."""
    return {
        "G": persistent(G, init_kwargs=G.init_kwargs),
        "D": persistent(D, init_kwargs=D.init_kwargs),
        "G_ema": persistent(G, init_kwargs=G.init_kwargs),
        "augment_pipe": None,
        "training_set_kwargs": {"path": "data.zip", "resolution": 8},
    }


# --- the real official snapshots --------------------------------------------------------------------


@pytest.mark.parametrize("name", PARITY_CONFIGS)
def test_official_snapshot_matches_parity_outputs(parity: ParityLookup, name: str) -> None:
    nets = load_network_pkl(parity(f"{name}-snapshot.pkl"))
    ref = np.load(parity(f"{name}.npz"))
    cfg = json.loads(parity(f"{name}.json").read_text())

    assert isinstance(nets["G"], Generator) and isinstance(nets["G_ema"], Generator)
    assert isinstance(nets["D"], Discriminator)
    for key in ("G", "D", "G_ema"):
        assert not nets[key].training
        assert not any(p.requires_grad for p in nets[key].parameters())
    assert nets["training_set_kwargs"]["resolution"] == cfg["G_kwargs"]["img_resolution"]
    assert isinstance(nets["augment_pipe"], AugmentPipe)
    assert nets["augment_pipe"].p.ndim == 0
    assert nets["G_ema"].init_kwargs["mapping_kwargs"] == cfg["G_kwargs"]["mapping_kwargs"]

    # Every official parameter and buffer arrives under its own name (G and G_ema hold the same ones here).
    for key, prefix in (("G", "G/"), ("G_ema", "G/"), ("D", "D/")):
        state = nets[key].state_dict()
        assert {f"{prefix}{k}" for k in state} == {k for k in ref.files if k.startswith(prefix)}
        for k, tensor in state.items():
            np.testing.assert_array_equal(tensor.numpy(), ref[prefix + k], err_msg=f"{key} {k}")

    G, D = nets["G_ema"], nets["D"]
    z, c = torch.from_numpy(ref["in/z"]), torch.from_numpy(ref["in/c"])
    with torch.no_grad():
        for i, psi in enumerate(ref["in/psi"]):
            ws = G.mapping(z, c, truncation_psi=float(psi))
            np.testing.assert_allclose(ws.numpy(), ref[f"out/ws_psi{i}"], rtol=0, atol=IMAGE_ATOL)
            for mode in cfg["noise_modes"]:
                img = G(z, c, truncation_psi=float(psi), noise_mode=mode)
                expected = ref[f"out/img_psi{i}_{mode}"]
                np.testing.assert_allclose(img.numpy(), expected, rtol=0, atol=IMAGE_ATOL)
                assert_scores_close(D(torch.from_numpy(expected), c), ref[f"out/dscore_psi{i}_{mode}"],
                                    f"{name} psi{i} {mode}")
        assert_scores_close(D(torch.from_numpy(ref["in/real"]), c), ref["out/dscore_real"], f"{name} real")


def test_load_network_reads_official_snapshots(parity: ParityLookup) -> None:
    path = parity(f"{PARITY_CONFIGS[0]}-snapshot.pkl")
    direct, generic = load_network_pkl(path), load_network(str(path))
    assert direct.keys() == generic.keys()
    for key in ("G", "D", "G_ema"):
        assert_same_state(direct[key], generic[key])
    with open(path, "rb") as f:
        assert_same_state(load_network(f)["G_ema"], direct["G_ema"])


# --- pickles written in the official layout by the tests ------------------------------------------------


def test_snapshot_of_ganforge_networks_round_trips() -> None:
    G, D = randomize(tiny_generator(), 1), randomize(tiny_discriminator(), 2)
    nets = load_network_pkl(io.BytesIO(dumps(official_snapshot(G, D))))
    assert set(nets) == {"G", "D", "G_ema", "augment_pipe", "training_set_kwargs"}
    assert nets["augment_pipe"] is None
    assert nets["training_set_kwargs"] == {"path": "data.zip", "resolution": 8}
    assert_same_state(nets["G_ema"], G)
    assert_same_state(nets["D"], D)
    z, c = torch.randn(2, 8), torch.zeros(2, 0)
    with torch.no_grad():
        expected = G.eval()(z, c, noise_mode="const")
        torch.testing.assert_close(nets["G_ema"](z, c, noise_mode="const"), expected)


def test_positional_init_args_are_named_by_the_signature() -> None:
    D = randomize(tiny_discriminator(c_dim=3), 3)
    kwargs = dict(D.init_kwargs)
    args = tuple(kwargs.pop(k) for k in ("c_dim", "img_resolution", "img_channels"))
    nets = load_network_pkl(io.BytesIO(dumps({"D": persistent(D, init_args=args, init_kwargs=kwargs)})))
    assert nets["D"].init_kwargs == D.init_kwargs
    img, c = torch.randn(4, 1, 8, 8), torch.eye(3)[[0, 1, 2, 0]]
    with torch.no_grad():
        torch.testing.assert_close(nets["D"](img, c), D.eval()(img, c))


def test_bare_networks_get_documented_keys() -> None:
    G, D = tiny_generator(), tiny_discriminator()
    mapping = MappingNetwork(z_dim=4, c_dim=0, w_dim=4, num_ws=2, num_layers=1)
    assert set(load_network_pkl(io.BytesIO(dumps(persistent(G, init_kwargs=G.init_kwargs))))) == {"G_ema"}
    assert set(load_network_pkl(io.BytesIO(dumps(persistent(D, init_kwargs=D.init_kwargs))))) == {"D"}
    nets = load_network_pkl(io.BytesIO(dumps(persistent(mapping, init_kwargs=mapping.init_kwargs))))
    assert isinstance(nets["MappingNetwork"], MappingNetwork)


def test_non_persistent_official_buffers_are_ignored() -> None:
    D = tiny_discriminator()
    record = persistent(D, init_kwargs=D.init_kwargs)
    record.state["_buffers"]["scratch"] = torch.zeros(3)
    record.state["_non_persistent_buffers_set"].add("scratch")
    assert_same_state(load_network_pkl(io.BytesIO(dumps({"D": record})))["D"], D)


def test_unknown_network_class_is_named(tmp_path: Path) -> None:
    path = tmp_path / "net.pkl"
    path.write_bytes(dumps({"G": Persistent("StyleGAN9Generator", {"_init_kwargs": {}})}))
    with pytest.raises(NetworkFileError, match=r"net\.pkl: network class 'StyleGAN9Generator'"):
        load_network_pkl(path)
    G = tiny_generator()
    other = {"G_ema": persistent(G, init_kwargs=G.init_kwargs), "helper": Persistent("Helper", {})}
    assert load_network_pkl(io.BytesIO(dumps(other)))["helper"].class_name == "Helper"


def test_weights_that_do_not_fit_are_refused() -> None:
    D = tiny_discriminator()
    missing = persistent(D, init_kwargs=D.init_kwargs)
    del missing.state["_modules"]["b4"].state["_modules"]["fc"].state["_parameters"]["weight"]
    refused = r"the Discriminator: the stored tensors do not fit its arguments: .*missing \(b4\.fc\.weight\)"
    with pytest.raises(NetworkFileError, match=refused):
        load_network_pkl(io.BytesIO(dumps({"D": missing})))
    wrong_args = persistent(D, init_kwargs={**D.init_kwargs, "channel_max": 16})
    with pytest.raises(NetworkFileError, match="stored tensors do not fit its arguments"):
        load_network_pkl(io.BytesIO(dumps({"D": wrong_args})))
    bad_kwargs = persistent(D, init_kwargs={**D.init_kwargs, "no_such_option": 1})
    with pytest.raises(NetworkFileError, match="do not fit ganforge's Discriminator"):
        load_network_pkl(io.BytesIO(dumps({"D": bad_kwargs})))


def test_files_without_networks_are_refused(tmp_path: Path) -> None:
    with pytest.raises(NetworkFileError, match="holds no networks"):
        load_network_pkl(io.BytesIO(dumps({"training_set_kwargs": {"path": "x"}})))
    with pytest.raises(NetworkFileError, match="not a network pickle: it holds a list"):
        load_network_pkl(io.BytesIO(dumps([1, 2])))
    with pytest.raises(NetworkFileError, match=r"network file .*nothere\.pkl does not exist"):
        load_network_pkl(tmp_path / "nothere.pkl")
    with pytest.raises(NetworkFileError, match="cannot open network file"):
        load_network_pkl(tmp_path)


def test_truncated_official_pickle_is_refused(tmp_path: Path, parity: ParityLookup) -> None:
    data = parity("g16_orig_gray_cond-snapshot.pkl")
    path = tmp_path / "cut.pkl"
    path.write_bytes(data.read_bytes()[:200_000])
    with pytest.raises(NetworkFileError, match=r"cannot load .*cut\.pkl: the file is truncated"):
        load_network(path)


# --- URLs ---------------------------------------------------------------------------------------------


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on localhost (no internet needed): (folder, base URL)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_urls_are_downloaded_once_into_the_cache(
    http_root: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, base = http_root
    cache = tmp_path / "cache"
    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(cache))
    G = randomize(tiny_generator(), 4)
    (root / "net.pkl").write_bytes(dumps({"G_ema": persistent(G, init_kwargs=G.init_kwargs)}))

    assert_same_state(load_network(f"{base}/net.pkl")["G_ema"], G)
    cached = list((cache / "downloads").iterdir())
    assert [p.name.endswith("_net.pkl") for p in cached] == [True]
    assert cached[0].read_bytes() == (root / "net.pkl").read_bytes()
    (root / "net.pkl").unlink()  # a second load must come from the cache
    assert_same_state(load_network_pkl(f"{base}/net.pkl")["G_ema"], G)

    with pytest.raises(NetworkFileError, match=r"cannot download .*/missing\.pkl: .*local path"):
        load_network(f"{base}/missing.pkl")
    assert [p.name for p in (cache / "downloads").iterdir()] == [cached[0].name]
