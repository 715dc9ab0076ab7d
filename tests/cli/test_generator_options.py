"""Options shared by the commands that run a generator: what --class means in each, one --device
option everywhere (train included), and a clear refusal where a command needs a mapping network."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from tests.conftest import save_tiny_stylegan2

from ganforge.cli.main import cli, main
from ganforge.compat import load_network, save_network
from ganforge.models import dcgan
from ganforge.tools.video import interpolation_frames

GENERATOR_COMMANDS = ("generate", "style-mix", "video", "project")


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A tiny conditional StyleGAN2 (3 classes) and a tiny DCGAN, saved as ganforge checkpoints."""
    root = tmp_path_factory.mktemp("nets")
    save_network(root / "dcgan.pt", G_ema=dcgan.Generator(z_dim=8, img_resolution=16, gf_dim=4))
    return {"cond": save_tiny_stylegan2(root / "cond.pt", c_dim=3), "dcgan": str(root / "dcgan.pt")}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of the real entry point."""
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


# --- a mapping network --------------------------------------------------------------------------


@pytest.mark.parametrize("command, args", [
    ("style-mix", ["--rows", "1", "--cols", "2", "--outdir", "{out}"]),
    ("video", ["--seeds", "0", "--output", "{out}/v.mp4"]),
    ("project", ["--target", "{out}/t.png", "--outdir", "{out}", "--num-steps", "1", "--distance", "pixel"]),
])
def test_commands_needing_a_mapping_network_refuse_dcgan(
    command: str, args: list[str], nets: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import PIL.Image

    PIL.Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "t.png")
    argv = [command, "--network", nets["dcgan"], *(a.format(out=tmp_path) for a in args), "--device", "cpu"]
    code, _, err = run(argv, capsys)
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"Error: {nets['dcgan']} holds a DCGAN generator, which has no mapping network; `ganforge {command}` "
        "works with StyleGAN2 and StyleGAN networks only (use `ganforge generate` for this one)"
    )


# --- --class ------------------------------------------------------------------------------------


def test_every_class_option_takes_a_list_and_says_what_it_means() -> None:
    meaning = {"generate": "one row per class", "style-mix": "per class to class{k}/",
               "video": "one class per grid cell", "project": "one only"}
    for command in GENERATOR_COMMANDS:
        help_text = " ".join(CliRunner().invoke(cli, [command, "--help"]).output.split())
        assert "--class LIST" in help_text and meaning[command] in help_text, command


def test_style_mix_writes_one_set_per_class(
    nets: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["style-mix", "--network", nets["cond"], "--rows", "1", "--cols", "2", "--styles", "0-1",
            "--device", "cpu"]
    code, out, err = run([*base, "--class", "0,2", "--outdir", str(tmp_path)], capsys)
    assert code == 0, err
    assert out.strip() == f"Wrote 6 images and 2 grids to {tmp_path}"
    names = {"1-1.png", "2-2.png", "1-2.png", "grid.png"}
    assert {p.name for p in (tmp_path / "class0").iterdir()} == names
    assert {p.name for p in (tmp_path / "class2").iterdir()} == names
    assert (tmp_path / "class0" / "grid.png").read_bytes() != (tmp_path / "class2" / "grid.png").read_bytes()
    one = tmp_path / "one"
    code, out, _ = run([*base, "--class", "2", "--outdir", str(one)], capsys)
    assert code == 0 and out.strip() == f"Wrote 3 images and grid.png to {one}"
    assert (tmp_path / "one" / "grid.png").read_bytes() == (tmp_path / "class2" / "grid.png").read_bytes()


def test_video_gives_one_class_per_cell(nets: dict[str, str]) -> None:
    G = load_network(nets["cond"])["G_ema"]

    def frames(class_idx: int | list[int]) -> np.ndarray:
        return np.stack(list(interpolation_frames(G, [0, 1, 2, 3], (2, 1), 2, class_idx=class_idx)))

    mixed, zeros, twos = frames([0, 2]), frames(0), frames(2)
    assert np.array_equal(mixed[:, :, :8], zeros[:, :, :8])
    assert np.array_equal(mixed[:, :, 8:], twos[:, :, 8:])
    assert not np.array_equal(zeros, twos)
    assert np.array_equal(frames([2]), twos)


def test_video_and_project_refuse_lists_they_cannot_use(
    nets: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["video", "--network", nets["cond"], "--seeds", "0-1", "--grid", "2x1",
                        "--class", "0-2", "--output", str(tmp_path / "v.mp4"), "--device", "cpu"], capsys)
    assert code == 1 and err.strip().splitlines()[-1] == (
        "Error: --class: 3 classes for 2 grid cells; give one class for all cells or one per cell (2)")
    code, _, err = run(["project", "--network", nets["cond"], "--target", str(tmp_path), "--class", "0,1",
                        "--outdir", str(tmp_path / "p"), "--device", "cpu"], capsys)
    assert code == 1 and err.strip().splitlines()[-1] == (
        "Error: --class: a projection searches the latents of one class; give one, not 2")


# --- --device -----------------------------------------------------------------------------------


DEVICE_COMMANDS = sorted(name for name, command in cli.commands.items() if any(
    p.name == "device" for p in command.params))


def test_one_device_option_for_every_command() -> None:
    assert set(DEVICE_COMMANDS) >= {*GENERATOR_COMMANDS, "train", "metrics"}
    options = []
    for command in DEVICE_COMMANDS:
        (param,) = [p for p in cli.commands[command].params if p.name == "device"]
        options.append((type(param.type).__name__, param.default, param.help))
    assert options[0][1] == "auto"
    assert all(option == options[0] for option in options), options


@pytest.mark.parametrize("command", DEVICE_COMMANDS)
def test_a_bad_device_gets_the_same_answer_everywhere(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--device", "tpu"])  # options given are checked first
    assert result.exit_code == 2
    answer = "'tpu' is not a device; use auto (cuda, else mps, else cpu), cpu, cuda, cuda:N or mps"
    assert answer in " ".join(result.output.split())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the answer on a machine without CUDA")
@pytest.mark.parametrize("device", ["auto", "cuda:1"])
def test_generate_takes_every_device_spelling(
    device: str, nets: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["generate", "--network", nets["cond"], "--seeds", "0", "--class", "1",
                          "--outdir", str(tmp_path), "--device", device], capsys)
    if device == "auto":
        assert code == 0 and out.strip() == f"Wrote 1 image to {tmp_path}", err
    else:
        assert code == 1 and err.strip().splitlines()[-1] == (
            "Error: --device: CUDA is not available on this machine; use cpu")


def test_generating_one_image_is_said_in_the_singular(
    nets: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.INFO, logger="ganforge.tools.generate"):
        run(["generate", "--network", nets["cond"], "--seeds", "0", "--class", "1", "--outdir", str(tmp_path),
             "--device", "cpu"], capsys)
    assert f"Generating 1 image from {nets['cond']}" in caplog.messages
