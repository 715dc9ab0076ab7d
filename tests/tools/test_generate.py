"""generate_images and style_mix_grid on real network files: a ganforge checkpoint and official pickles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from ganforge.compat import load_network, save_network
from ganforge.errors import NetworkFileError, OptionError
from ganforge.models.stylegan2 import Generator
from ganforge.tools.generate import generate_images
from ganforge.tools.style_mix import mix_styles, style_mix_grid


def tiny_generator(c_dim: int = 0, seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    return Generator(
        z_dim=16,
        c_dim=c_dim,
        w_dim=16,
        img_resolution=16,
        img_channels=3,
        mapping_kwargs={"num_layers": 2},
        synthesis_kwargs={"channel_base": 256, "channel_max": 16},
    )


@pytest.fixture(scope="module")
def tiny_pkl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ganforge checkpoint holding a tiny unconditional G and a different G_ema."""
    path = tmp_path_factory.mktemp("net") / "tiny.pt"
    save_network(path, G=tiny_generator(seed=0), G_ema=tiny_generator(seed=1))
    return path


def read_png(path: Path) -> np.ndarray:
    with PIL.Image.open(path) as img:
        return np.asarray(img)


def uint8_images(img: torch.Tensor) -> np.ndarray:
    """The official float -> uint8 NHWC conversion, written out independently of the runner."""
    return (img.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8).numpy()


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int32) - b.astype(np.int32)).max())


# --- generate -----------------------------------------------------------------------------------


def test_generate_writes_seed_pngs_of_g_ema(tiny_pkl: Path, tmp_path: Path) -> None:
    paths = generate_images(tiny_pkl, [0, 3, 42, 3], tmp_path / "out", truncation_psi=0.7, batch_size=2)
    names = [p.name for p in paths]
    assert names == ["seed0000.png", "seed0003.png", "seed0042.png"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(names)

    G_ema = load_network(tiny_pkl)["G_ema"].eval()
    for seed, path in zip([0, 3, 42], paths, strict=True):
        with PIL.Image.open(path) as img:
            assert (img.size, img.mode, img.format) == ((16, 16), "RGB", "PNG")
        z = torch.from_numpy(np.random.RandomState(seed).randn(1, 16)).float()
        with torch.no_grad():
            expected = uint8_images(G_ema(z, torch.zeros([1, 0]), truncation_psi=0.7, noise_mode="const"))[0]
        assert max_diff(read_png(path), expected) <= 1


def test_generate_is_deterministic_per_seed(tiny_pkl: Path, tmp_path: Path) -> None:
    a = generate_images(tiny_pkl, [5, 6], tmp_path / "a", batch_size=2)
    again = generate_images(tiny_pkl, [5, 6], tmp_path / "again", batch_size=2)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in again]
    assert a[0].read_bytes() != a[1].read_bytes()
    # Other order and batching: the same images up to float rounding in the last bit of uint8.
    b = generate_images(tiny_pkl, [6, 5], tmp_path / "b", batch_size=1)
    assert max_diff(read_png(a[0]), read_png(b[1])) <= 1
    assert max_diff(read_png(a[1]), read_png(b[0])) <= 1


def test_generate_grid(tiny_pkl: Path, tmp_path: Path) -> None:
    paths = generate_images(tiny_pkl, range(5), tmp_path, grid=True)
    assert [p.name for p in paths][-1] == "grid.png"
    grid = read_png(paths[-1])
    assert grid.shape == (2 * 16, 3 * 16, 3)
    for i, path in enumerate(paths[:-1]):
        r, c = divmod(i, 3)
        assert np.array_equal(grid[r * 16 : (r + 1) * 16, c * 16 : (c + 1) * 16], read_png(path))
    assert not grid[16:, 32:].any()


def test_generate_official_pickle(tmp_path: Path, official_rgb: str) -> None:
    paths = generate_images(official_rgb, [0, 1], tmp_path, truncation_psi=0.5)
    G = load_network(official_rgb)["G_ema"].eval()
    z = torch.from_numpy(np.random.RandomState(1).randn(1, G.z_dim)).float()
    with torch.no_grad():
        expected = uint8_images(G(z, torch.zeros([1, 0]), truncation_psi=0.5, noise_mode="const"))[0]
    image = read_png(paths[1])
    assert image.shape == (32, 32, 3)
    assert max_diff(image, expected) <= 1


def test_generate_conditional_official_pickle(tmp_path: Path, official_cond: str) -> None:
    paths = generate_images(official_cond, [7], tmp_path / "c2", class_idx=2, noise_mode="none")
    with PIL.Image.open(paths[0]) as img:
        assert (img.size, img.mode) == ((16, 16), "L")
    G = load_network(official_cond)["G_ema"].eval()
    z = torch.from_numpy(np.random.RandomState(7).randn(1, G.z_dim)).float()
    c = torch.zeros([1, 5])
    c[0, 2] = 1
    with torch.no_grad():
        expected = uint8_images(G(z, c, noise_mode="none"))[0, :, :, 0]
    assert max_diff(read_png(paths[0]), expected) <= 1
    other = generate_images(official_cond, [7], tmp_path / "c3", class_idx=3, noise_mode="none")
    assert not np.array_equal(read_png(other[0]), read_png(paths[0]))


def test_generate_several_classes_lays_out_one_row_per_class(
    tiny_pkl: Path, tmp_path: Path, official_cond: str
) -> None:
    paths = generate_images(
        official_cond, [7, 1], tmp_path, class_idx=[3, 0, 4, 3], noise_mode="none", grid=True
    )
    names = [p.relative_to(tmp_path).as_posix() for p in paths]
    assert names == [f"class{k}/seed{s:04d}.png" for k in (3, 0, 4) for s in (7, 1)] + ["grid.png"]
    single = generate_images(official_cond, [7], tmp_path / "one", class_idx=4, noise_mode="none")
    assert max_diff(read_png(paths[4]), read_png(single[0])) <= 1
    grid = read_png(paths[-1])
    assert grid.shape == (3 * 16, 2 * 16)
    for i, path in enumerate(paths[:-1]):
        row, col = divmod(i, 2)
        assert np.array_equal(grid[row * 16 : (row + 1) * 16, col * 16 : (col + 1) * 16], read_png(path))
    assert not np.array_equal(read_png(paths[0]), read_png(paths[2]))
    with pytest.raises(OptionError, match="unconditional"):
        generate_images(tiny_pkl, [0], tmp_path / "u", class_idx=[0, 1])
    with pytest.raises(OptionError, match="out of range"):
        generate_images(official_cond, [0], tmp_path / "r", class_idx=[0, 5])
    assert not (tmp_path / "u").exists() and not (tmp_path / "r").exists()


def test_generate_class_errors(tmp_path: Path, official_cond: str) -> None:
    with pytest.raises(OptionError, match="^class_idx: "):
        generate_images(official_cond, [0], tmp_path)
    with pytest.raises(OptionError, match="out of range"):
        generate_images(official_cond, [0], tmp_path, class_idx=5)
    assert not list(tmp_path.iterdir())


def test_generate_input_errors(tiny_pkl: Path, tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="^seeds: "):
        generate_images(tiny_pkl, [], tmp_path)
    with pytest.raises(NetworkFileError, match="does not exist"):
        generate_images(tmp_path / "missing.pkl", [0], tmp_path)
    only_d = tmp_path / "d.pt"
    save_network(only_d, G_mapping=tiny_generator().mapping)
    with pytest.raises(NetworkFileError, match="no generator"):
        generate_images(only_d, [0], tmp_path)


# --- style mixing -------------------------------------------------------------------------------


def test_mix_styles_layout() -> None:
    row_ws = torch.arange(2.0)[:, None, None].expand(2, 4, 1)
    col_ws = 10 + torch.arange(3.0)[:, None, None].expand(3, 4, 1)
    mixed = mix_styles(row_ws, col_ws, [1, 3])
    assert mixed.shape == (6, 4, 1)
    assert mixed[5, :, 0].tolist() == [1, 12, 1, 12]
    assert mixed[0, :, 0].tolist() == [0, 10, 0, 10]


@pytest.mark.parametrize("network", ["tiny", "official"])
def test_style_mix_grid_composition(network: str, tiny_pkl: Path, tmp_path: Path, official_rgb: str) -> None:
    path = tiny_pkl if network == "tiny" else official_rgb
    rows, cols, styles, psi = [85, 100], [55, 821, 7], [0, 2], 0.8
    paths = style_mix_grid(path, rows, cols, styles, tmp_path, truncation_psi=psi, batch_size=4)
    G = load_network(path)["G_ema"].eval()
    res = G.img_resolution
    expected_names = {f"{s}-{s}.png" for s in rows + cols} | {f"{r}-{c}.png" for r in rows for c in cols}
    assert {p.name for p in paths} == expected_names | {"grid.png"}
    assert paths[-1].name == "grid.png"

    with torch.no_grad():
        z = {s: torch.from_numpy(np.random.RandomState(s).randn(1, G.z_dim)).float() for s in rows + cols}
        w = {s: G.mapping(z[s], None, truncation_psi=psi)[0] for s in rows + cols}
        for r in rows:
            for c in cols:
                mixed = w[r].clone()
                mixed[styles] = w[c][styles]
                expected = uint8_images(G.synthesis(mixed[None], noise_mode="const"))[0]
                assert max_diff(read_png(tmp_path / f"{r}-{c}.png"), expected) <= 1
        for s in rows + cols:
            expected = uint8_images(G.synthesis(w[s][None], noise_mode="const"))[0]
            assert max_diff(read_png(tmp_path / f"{s}-{s}.png"), expected) <= 1

    grid = read_png(tmp_path / "grid.png")
    assert grid.shape == ((len(rows) + 1) * res, (len(cols) + 1) * res, 3)

    def cell(i: int, j: int) -> np.ndarray:
        return grid[i * res : (i + 1) * res, j * res : (j + 1) * res]

    assert not cell(0, 0).any()
    for j, c in enumerate(cols, start=1):
        assert np.array_equal(cell(0, j), read_png(tmp_path / f"{c}-{c}.png"))
    for i, r in enumerate(rows, start=1):
        assert np.array_equal(cell(i, 0), read_png(tmp_path / f"{r}-{r}.png"))
        for j, c in enumerate(cols, start=1):
            assert np.array_equal(cell(i, j), read_png(tmp_path / f"{r}-{c}.png"))


def test_style_mix_conditional_and_errors(tmp_path: Path, official_cond: str) -> None:
    G = load_network(official_cond)["G_ema"]
    with pytest.raises(OptionError, match="^col_styles: "):
        style_mix_grid(official_cond, [1], [2], [0, G.num_ws], tmp_path, class_idx=0)
    with pytest.raises(OptionError, match="^class_idx: "):
        style_mix_grid(official_cond, [1], [2], [0], tmp_path)
    paths = style_mix_grid(official_cond, [1], [2], list(range(G.num_ws)), tmp_path, class_idx=4)
    # Taking every style from the column seed reproduces the column seed's own image.
    assert max_diff(read_png(tmp_path / "1-2.png"), read_png(tmp_path / "2-2.png")) <= 1
    assert read_png(paths[-1]).shape == (32, 32)
