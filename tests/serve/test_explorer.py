"""`ganforge serve`'s library side without a browser: the Explorer's images equal the command-line
tools', uploads are capped and checked, the About text reads the run folder, and a missing Gradio is
one line saying what to install."""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from tests.conftest import in_ci, save_tiny_stylegan2
from tests.models.stylegan.helpers import tiny_generator

from ganforge.cli.main import main
from ganforge.compat import save_network
from ganforge.errors import OptionError
from ganforge.models import dcgan
from ganforge.serve.about import describe
from ganforge.serve.explorer import MAX_IMAGES, Explorer
from ganforge.serve.uploads import read_upload
from ganforge.tools.video import interpolation_frames


@pytest.fixture(scope="module")
def cond_net(tmp_path_factory: pytest.TempPathFactory) -> str:
    return save_tiny_stylegan2(tmp_path_factory.mktemp("net") / "cond.pt", c_dim=3)


@pytest.fixture(scope="module")
def explorer(cond_net: str) -> Explorer:
    return Explorer(cond_net, device="cpu")


def read_png(path: Path) -> np.ndarray:
    return np.asarray(PIL.Image.open(path))


def test_seeds_equal_generate(explorer: Explorer, cond_net: str, tmp_path: Path, one_thread: None) -> None:
    main(["generate", "--network", cond_net, "--seeds", "3,5", "--trunc", "0.6", "--class", "2",
          "--outdir", str(tmp_path)])
    images = explorer.seeds([3, 5], truncation_psi=0.6, class_idx=2)
    for seed, image in zip([3, 5], images, strict=True):
        assert np.array_equal(image, read_png(tmp_path / f"seed{seed:04d}.png"))
    assert not np.array_equal(images[0], explorer.seeds([3], truncation_psi=0.6, class_idx=1)[0])


def test_style_mix_equals_the_style_mix_grid(
    explorer: Explorer, cond_net: str, tmp_path: Path, one_thread: None
) -> None:
    main(["style-mix", "--network", cond_net, "--rows", "85,100", "--cols", "55,821,7", "--styles", "0-3",
          "--trunc", "0.8", "--class", "1", "--outdir", str(tmp_path)])
    grid = explorer.style_mix([85, 100], [55, 821, 7], ["coarse"], truncation_psi=0.8, class_idx=1)
    assert np.array_equal(grid, read_png(tmp_path / "grid.png"))


def test_interpolation_walks_the_video_path(explorer: Explorer, one_thread: None) -> None:
    for kind in ("w", "z"):
        video = list(interpolation_frames(explorer.G, [4, 9], (1, 1), 3, kind, 0.7, class_idx=0))
        page = list(explorer.interpolation_frames(4, 9, 3, kind, 0.7, class_idx=0))
        assert len(page) == len(video) == 6
        assert all(np.array_equal(a, b) for a, b in zip(page, video, strict=True))
    assert np.array_equal(explorer.interpolate(4, 9, 1.0, "z", 0.7, 0), video[3])


def test_projection_is_generate_projected_w(
    explorer: Explorer, cond_net: str, tmp_path: Path, one_thread: None
) -> None:
    target = tmp_path / "target.png"
    PIL.Image.fromarray(np.random.RandomState(0).randint(0, 256, (20, 30, 3), dtype=np.uint8)).save(target)
    steps = []
    projected = explorer.project(target, 4, "pixel", class_idx=1, on_step=lambda i, d: steps.append(i))
    assert steps == [1, 2, 3, 4] and len(projected.result.distances) == 4
    files = explorer.save_projection(projected, tmp_path / "out")
    main(["generate", "--network", cond_net, "--projected-w", str(files[2]),
          "--outdir", str(tmp_path / "gen")])
    assert np.array_equal(projected.image, read_png(tmp_path / "gen" / "proj00.png"))
    assert explorer.interpolate(3, projected.w, 1.0, "w", class_idx=1).shape == projected.image.shape
    grid = explorer.style_mix([3, projected.w], [5], ["coarse"], class_idx=1)
    assert grid.shape == (3 * 8, 2 * 8, 3) and np.array_equal(grid[16:, :8], projected.image)
    with pytest.raises(OptionError, match="projection is a W latent"):
        explorer.interpolate(3, projected.w, 0.5, "z", class_idx=1)


def test_refusals_name_what_to_change(explorer: Explorer) -> None:
    with pytest.raises(OptionError, match=f"seeds: '0-999999' asks for 1000000 seeds.*at most {MAX_IMAGES}"):
        explorer.parse_seeds("0-999999")
    with pytest.raises(OptionError, match="layers: this network has 4 style layers, none of them fine"):
        explorer.style_layers(["fine"])
    with pytest.raises(OptionError, match="class"):
        explorer.seeds([0], class_idx=3)


def test_uploads_are_capped_and_decoded_by_the_dataset_reader(tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(OptionError, match="image: notes.png is not an image ganforge can read"):
        read_upload(text)
    huge = tmp_path / "huge.png"
    PIL.Image.new("L", (3000, 2000)).save(huge)
    with pytest.raises(OptionError, match="image: huge.png has 6 million pixels; uploads are limited to 5"):
        read_upload(huge, max_pixels=5_000_000)
    with pytest.raises(OptionError, match="uploads are limited to 0 MiB"):
        read_upload(huge, max_bytes=1000)
    gray = tmp_path / "gray.png"
    PIL.Image.fromarray(np.arange(12, dtype=np.uint8).reshape(3, 4)).save(gray)
    assert np.array_equal(read_upload(gray)[:, :, 0], np.arange(12).reshape(3, 4))


def test_about_reads_the_run_folder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    net = save_tiny_stylegan2(run / "network-snapshot-000004.pt", c_dim=3)
    (run / "training_options.json").write_text(json.dumps({"config": {"cfg": "cpu", "gamma": 0.25}}))
    records = [{"results": {"fid_digits": 12.5}, "snapshot_pkl": "network-snapshot-000004.pt"},
               {"results": {"fid_digits": 99.0}, "snapshot_pkl": "network-snapshot-000000.pt"}]
    (run / "metric-fid_digits.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    explorer = Explorer(net, device="cpu")
    text = describe(net, explorer.G, explorer.parameter_counts, explorer.records)
    assert "StyleGAN2" in text and "8 x 8" in text and "- **Classes**: 3" in text
    assert "- **Network**: `network-snapshot-000004.pt`" in text and str(run) not in text
    params = sum(p.numel() for p in explorer.G.parameters())
    assert f"- **Parameters of G_ema**: {params:,}" in text
    assert "| fid_digits | 12.5 |" in text and "99" not in text.split("Metrics", 1)[1].split("###")[0]
    assert '"gamma": 0.25' in text


def test_dcgan_has_no_mapping_tabs(tmp_path: Path) -> None:
    path = tmp_path / "dcgan.pt"
    save_network(path, G_ema=dcgan.Generator(z_dim=8, img_resolution=16, gf_dim=4))
    explorer = Explorer(path, device="cpu")
    assert not explorer.has_mapping
    assert explorer.seeds([0, 1])[0].shape == (16, 16, 3)
    if importlib.util.find_spec("gradio") is None:
        (pytest.fail if in_ci() else pytest.skip)("Gradio is not installed (pip install 'ganforge[serve]')")
    from ganforge.serve.app import build_app

    app = build_app(explorer, tmp_path / "work")
    tabs = [block.label for block in app.blocks.values() if type(block).__name__ == "Tab"]
    assert tabs == ["Seeds", "About"]
    notes = [block.value for block in app.blocks.values() if type(block).__name__ == "Markdown"]
    assert any("need a mapping network; a DCGAN generator has none" in str(note) for note in notes)


def test_interpolation_tab_draws_the_explorers_path(
    explorer: Explorer, tmp_path: Path, one_thread: None
) -> None:
    if importlib.util.find_spec("gradio") is None:
        (pytest.fail if in_ci() else pytest.skip)("Gradio is not installed (pip install 'ganforge[serve]')")
    from ganforge.serve.app import build_app

    app = build_app(explorer, tmp_path / "work")
    events = {block_fn.fn.__name__: block_fn for block_fn in app.fns.values() if block_fn.fn is not None}
    page = {"t": 0.25, "from-source": "seed", "seed-a": 3, "to-source": "seed", "seed-b": 4, "kind": "z",
            "psi": 0.7, "class": "1", "noise": "const", "frames": 2, None: None}  # None: the projection

    def fire(name: str, **changed: object) -> tuple:
        values = {**page, **changed}
        return events[name].fn(*[values[getattr(block, "elem_id", None)] for block in events[name].inputs])

    frame, status = fire("on_move")
    assert np.array_equal(frame, explorer.interpolate(3, 4, 0.25, "z", 0.7, class_idx=1))
    assert status.startswith("t = 0.25 in")
    assert "no projection yet" in fire("on_move", **{"to-source": "projection"})[1]
    assert "no projection yet" in fire("on_video", **{"to-source": "projection"})[1]
    assert not [p for p in (tmp_path / "work").rglob("*") if p.is_dir()]  # refused before any folder
    video, status = fire("on_video")
    assert Path(video).name == "lerp.mp4" and status.startswith("4 frames written")


def test_serve_without_gradio_says_what_to_install(
    cond_net: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio now fails
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--network", cond_net])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == (
        "Error: `ganforge serve` needs Gradio, which is not installed: pip install 'ganforge[serve]'\n"
    )


def test_serve_refuses_a_missing_network_and_a_taken_port(
    cond_net: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--network", str(tmp_path / "missing.pt")])
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "missing.pt" in err and err.count("\n") == 1
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit):
            main(["serve", "--network", cond_net, "--port", str(port)])
    assert capsys.readouterr().err == (
        f"Error: --port: cannot serve on 127.0.0.1:{port} (the port is taken, or the host is not an address "
        "of this machine); choose another port or --host\n"
    )


def test_stylegan_2019_seeds_style_mixing_and_interpolation(tmp_path: Path, one_thread: None) -> None:
    path = tmp_path / "stylegan.pt"
    save_network(path, G_ema=tiny_generator(resolution=16, c_dim=2))
    explorer = Explorer(path, device="cpu")
    main(["generate", "--network", str(path), "--seeds", "1,2", "--class", "1", "--outdir", str(tmp_path)])
    for seed, image in zip([1, 2], explorer.seeds([1, 2], class_idx=1), strict=True):
        assert np.array_equal(image, read_png(tmp_path / f"seed{seed:04d}.png"))
    assert explorer.style_mix([1], [2, 3], ["coarse", "middle"], class_idx=0).shape == (32, 48, 3)
    assert explorer.interpolate(1, 2, 0.25, "z", 0.5, class_idx=0).shape == (16, 16, 3)
