"""The library words its errors for a Python caller; every ganforge command shows them in its options.

A library error names the argument at fault (`GanforgeError.param`, str() "param: message") and
other arguments in backticks; `ganforge.cli.command.GanforgeCommand` turns both into the command's
own options, from its click definitions. The scans below keep CLI flags out of library messages and
keep every name the library uses spelled by some command.
"""

from __future__ import annotations

import ast
import pickle
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import torch
from tests.conftest import save_tiny_stylegan2
from tests.training.tiny import make_dataset

import ganforge
from ganforge.cli.command import REFERENCE, GanforgeCommand, in_options, spelling
from ganforge.cli.main import cli, main
from ganforge.compat import save_network
from ganforge.data.create import create_dataset
from ganforge.errors import DatasetError, OptionError
from ganforge.inference.runner import check_class
from ganforge.models import dcgan
from ganforge.training.config import resolve_config

ROOT = Path(ganforge.__file__).parent
LIBRARY = sorted(p for p in ROOT.rglob("*.py") if p.relative_to(ROOT).parts[0] not in ("cli", "devtools"))
FLAG = re.compile(r"(?<![\w-])--[a-z]")
COMMAND_LINE = re.compile(r"`ganforge [^`]*`")
"""A quoted command line (`ganforge dataset create --resolution N`): advice to run another command,
checked against that command by test_option_mentions."""
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical"}

API_ONLY = {
    "G": "MetricOptions.G: the metrics command always loads one (--network is required)",
    "lr": "DCGANConfig: train refuses a --glr or --dlr that is not positive first",
    "num_gpus": "resolve_config: the process count comes from torchrun and is at least 1",
    "preset": "build_augment_pipe: train's --augpipe choices refuse other names first",
}
"""Arguments library errors name that no command has an option for, and why no command reaches them."""


def _commands(group: click.Group = cli) -> Iterator[click.Command]:
    for command in group.commands.values():
        yield from _commands(command) if isinstance(command, click.Group) else [command]


COMMANDS = list(_commands())


# ---- (a) no CLI flag in a library message ------------------------------------------------------


def _message_strings(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of the strings of raise statements, error constructors and log calls (an f-string
    whole, with {} for its values)."""
    tree = ast.parse(source)
    pieces = {id(sub) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for sub in ast.walk(node)
              if sub is not node}
    for node in ast.walk(tree):
        func = node.func if isinstance(node, ast.Call) else None
        name = getattr(func, "id", None) or getattr(func, "attr", None) or ""
        if isinstance(node, ast.Raise) or name.endswith("Error") or name in LOG_METHODS:
            for sub in ast.walk(node):
                if isinstance(sub, ast.JoinedStr) and id(sub) not in pieces:
                    parts = (v.value if isinstance(v, ast.Constant) else "{}" for v in sub.values)
                    yield sub.lineno, "".join(parts)
                elif isinstance(sub, ast.Constant) and isinstance(sub.value, str) and id(sub) not in pieces:
                    yield sub.lineno, sub.value


def flags_in_messages(path: Path, source: str | None = None) -> list[str]:
    """'file:line text' for each library message piece that names a CLI flag."""
    source = path.read_text(encoding="utf-8") if source is None else source
    where = path.relative_to(ROOT).as_posix()
    return [f"{where}:{line} {text!r}" for line, text in sorted(set(_message_strings(source)))
            if FLAG.search(COMMAND_LINE.sub("", text))]


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_library_messages_name_arguments_not_flags(path: Path) -> None:
    assert flags_in_messages(path) == []


def test_the_flag_scan_finds_flags_in_raises_errors_and_logs() -> None:
    runner = ROOT / "inference" / "runner.py"
    source = (
        'def f(x):\n'
        '    raise OptionError(f"--device {x}: CUDA is not available")\n'
        'def g():\n'
        '    return OutputError("--outdir: cannot create folder")\n'
        'logger.warning("--class=%d ignored", 3)\n'
        'HELP = "--device is fine in a help text"\n'
        'raise DatasetError("make it with `ganforge dataset create --resolution 8`")\n'
    )
    assert [line.split(" ", 1)[0] for line in flags_in_messages(runner, source)] == [
        "inference/runner.py:2", "inference/runner.py:4", "inference/runner.py:5"]


# ---- (b) an API caller gets plain words and the argument ---------------------------------------


def test_an_error_names_its_argument_in_plain_words() -> None:
    error = OptionError("3 is out of range", param="class_idx")
    assert (str(error), error.message, error.param) == ("class_idx: 3 is out of range", "3 is out of range",
                                                        "class_idx")
    assert str(DatasetError("no images")) == "no images"
    copy = pickle.loads(pickle.dumps(error))  # as errors cross process boundaries
    assert (type(copy), str(copy), copy.param) == (OptionError, str(error), "class_idx")


def test_library_calls_get_the_python_argument() -> None:
    G = dcgan.Generator(z_dim=8, img_resolution=16, gf_dim=4)
    with pytest.raises(OptionError) as info:
        G(torch.zeros([1, 8]), None, truncation_psi=0.5)
    assert info.value.param == "truncation_psi"
    assert str(info.value) == ("truncation_psi: truncation is not defined for DCGAN (no average latent to "
                               "truncate toward); leave it at 1, not 0.5")
    with pytest.raises(OptionError, match=r"^class_idx: 3 is out of range; the network has classes 0\.\.2$"):
        check_class(3, 3)
    with pytest.raises(OptionError, match=r"^transform: center-crop needs `resolution` N \(the output"):
        create_dataset("anywhere", "out.zip", transform="center-crop")
    with pytest.raises(OptionError, match="^gamma: does not apply to `model` dcgan; leave it out$"):
        resolve_config("cpu", 32, 1, {"model": "dcgan", "gamma": 1.0})


# ---- (c) a command names its own options -------------------------------------------------------


@click.command(cls=GanforgeCommand)
@click.option("--class", "class_idx", type=int)
@click.option("--seeds")
@click.option("--compile", "compile_", is_flag=True)
@click.argument("source", metavar="IN")
def _example(class_idx: int | None, seeds: str | None, compile_: bool, source: str) -> None:
    raise OptionError(f"{class_idx} is out of range; see `seeds`, `source` and `nothing`", param="class_idx")


def test_a_command_names_the_param_and_the_arguments_a_message_mentions() -> None:
    with pytest.raises(OptionError) as info:
        _example.main(["--class", "3", "in.pkl"], standalone_mode=False)
    assert type(info.value) is OptionError
    assert str(info.value) == "--class: 3 is out of range; see --seeds, IN and `nothing`"
    plain = DatasetError("`seeds` too few", param="nothing")
    assert str(in_options(_example, plain)) == "nothing: --seeds too few"
    assert spelling(_example, "compile") == "--compile"  # compile_: kept off the builtin
    assert spelling(cli.commands["generate"], "truncation_psi") == "--trunc"


def test_every_command_translates_library_errors() -> None:
    assert {command.name for command in COMMANDS} >= {"generate", "create", "info", "train", "metrics"}
    assert [command.name for command in COMMANDS if not isinstance(command, GanforgeCommand)] == []


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("nets")
    save_network(root / "dcgan.pt", G_ema=dcgan.Generator(z_dim=8, img_resolution=16, gf_dim=4))
    return {"cond": save_tiny_stylegan2(root / "cond.pt", c_dim=3), "dcgan": str(root / "dcgan.pt")}


def _error_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and "Traceback" not in err
    return err.strip().splitlines()[-1]


def test_generate_names_class_and_trunc(
    nets: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ["--seeds", "0", "--outdir", str(tmp_path), "--device", "cpu"]
    assert _error_line(["generate", "--network", nets["cond"], "--class", "3", *out], capsys) == (
        "Error: --class: 3 is out of range; the network has classes 0..2")
    assert _error_line(["generate", "--network", nets["dcgan"], "--trunc", "0.5", *out], capsys) == (
        "Error: --trunc: truncation is not defined for DCGAN (no average latent to truncate toward); leave "
        "it at 1, not 0.5")


def test_dataset_create_names_transform_and_resolution(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = ["--dest", str(tmp_path / "d.zip")]
    assert _error_line(["dataset", "create", "--source", "demo:digits", *dest, "--transform", "center-crop"],
                       capsys) == "Error: --transform: center-crop needs --resolution N (the output size)."
    assert _error_line(["dataset", "create", "--source", "demo:digits", *dest, "--resolution", "24"],
                       capsys).startswith("Error: --resolution: 24 is not a power of two")
    assert not list(tmp_path.iterdir())


def test_train_names_an_option_of_another_family(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_dataset(tmp_path / "d.zip", count=4)
    argv = ["train", "--data", str(data), "--outdir", str(tmp_path / "runs"), "--cfg", "cpu", "--model",
            "dcgan"]
    assert _error_line([*argv, "--gamma", "1"], capsys) == (
        "Error: --gamma: does not apply to --model dcgan; leave it out")
    assert _error_line([*argv, "--tick", "0"], capsys) == "Error: --tick: must be positive"  # kimg_per_tick


# ---- (d) every name the library uses is an option of some command ------------------------------


def node_is_str(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def library_names(source: str) -> Iterator[tuple[int, str]]:
    """(line, name) of each argument a library module names: constant `param=` values and `param`
    defaults, and the backticked names in its non-docstring strings."""
    tree = ast.parse(source)
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword):
            if node.arg == "param" and node_is_str(node.value):
                yield node.value.lineno, node.value.value
        elif isinstance(node, ast.FunctionDef):
            named = [*node.args.args, *node.args.kwonlyargs]
            defaults = [*[None] * (len(node.args.args) - len(node.args.defaults)), *node.args.defaults,
                        *node.args.kw_defaults]
            yield from ((d.lineno, d.value) for a, d in zip(named, defaults, strict=True)
                        if a.arg == "param" and node_is_str(d))
        elif node_is_str(node) and id(node) not in docstrings:
            yield from ((node.lineno, m.group(1)) for m in REFERENCE.finditer(node.value))


def unspelled(path: Path, source: str | None = None) -> list[str]:
    """'file:line name' for each name of `path` that no ganforge command spells as an option."""
    source = path.read_text(encoding="utf-8") if source is None else source
    where = path.relative_to(ROOT).as_posix()
    return [f"{where}:{line} {name}" for line, name in library_names(source)
            if name not in API_ONLY and not any(spelling(command, name) for command in COMMANDS)]


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_argument_the_library_names_is_an_option(path: Path) -> None:
    assert unspelled(path) == []


def test_the_name_scan_finds_an_option_that_was_renamed() -> None:
    runner = ROOT / "inference" / "runner.py"
    source = ('def f(text, param="seeds"):\n    """About `klass`."""\n'
              '    raise OptionError("see `seedz`", param="klass")\n')
    assert unspelled(runner, source) == ["inference/runner.py:3 seedz", "inference/runner.py:3 klass"]
    assert unspelled(runner, 'def f(param="seedz"):\n    pass\n') == ["inference/runner.py:1 seedz"]


def test_api_only_names_are_used_and_no_command_has_them() -> None:
    used = {name for path in LIBRARY for _, name in library_names(path.read_text(encoding="utf-8"))}
    assert set(API_ONLY) <= used
    assert not any(spelling(command, name) for command in COMMANDS for name in API_ONLY)
