"""Every --option that ganforge's messages mention exists in the command that prints the message.

The scan reads the string constants of src/ganforge (messages, help texts, f-string parts),
leaving out docstrings other than click commands' (those are --help text), the names declared by
click.option/argument, and function parameter defaults (a caller may pass its own option name, as
`parse_int_list(text, param="row_seeds")`).

Which commands print a module's messages (the rule):
- A quoted command line, ``ganforge CMD ... --opt`` (in backticks or at the start of a line), is
  checked against CMD.
- A module in a command's own area is checked against EVERY command of that area: a cli module's
  commands (per command function where it defines several), and the library modules in `OWNERS`.
- A shared module (models, ops, compat, augment, the dataset reader, the runner, ...) is checked
  against AT LEAST ONE of the commands that reach it by imports (the static import closure of the
  command's module, lazy imports by module name included): which of them can print a given
  message depends on the call, which a static scan cannot follow.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import click
import pytest

import ganforge
from ganforge.cli.main import cli

ROOT = Path(ganforge.__file__).parent
OPTION = re.compile(r"(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)(?![\w-])")
COMMAND_LINE = re.compile(r"(?:^|`)\s*ganforge ((?:[a-z][a-z-]* ?){1,2})([^`\n]*)", re.MULTILINE)
MODULE_NAME = re.compile(r"ganforge(?:\.\w+)+")

OWNERS: list[tuple[str, frozenset[str]]] = [
    ("training/", frozenset({"train"})),
    ("data/create.py", frozenset({"dataset create"})),
    ("data/sources.py", frozenset({"dataset create"})),
    ("data/transforms.py", frozenset({"dataset create"})),
    ("data/formats/", frozenset({"dataset create"})),
    ("data/info.py", frozenset({"dataset info"})),
    ("compat/convert.py", frozenset({"convert"})),
    ("tools/generate.py", frozenset({"generate"})),
    ("tools/style_mix.py", frozenset({"style-mix"})),
    ("tools/video.py", frozenset({"video"})),
    ("tools/project.py", frozenset({"project"})),
    # Detector weights are looked up by metrics, by the projector (LPIPS) and by train --metrics.
    ("detectors/weights.py", frozenset({"metrics", "project", "train"})),
    ("detectors/", frozenset({"metrics"})),
    ("metrics/", frozenset({"metrics"})),
]
"""Library modules in one area, by path prefix under src/ganforge (the first match counts), and
the commands whose messages they hold."""


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name)), command


COMMANDS = dict(_commands(cli))


def _flags(command: click.Command) -> set[str]:
    return {opt for param in command.params for opt in [*param.opts, *param.secondary_opts]} | {"--help"}


def _module_file(name: str) -> Path | None:
    relative = Path(*name.split(".")[1:])
    for candidate in (ROOT / relative.with_suffix(".py"), ROOT / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def _imports(path: Path) -> frozenset[Path]:
    """The ganforge modules `path` imports (anywhere in it), names as a string, or, where it imports
    by a computed name, may import (the modules beside it); with the packages they run on import."""
    package = path.relative_to(ROOT.parent).with_suffix("").parts
    names: list[str] = []
    source = path.read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[: len(package) - node.level + (path.name == "__init__.py")]
                base = ".".join([*parent, base] if base else parent)
            names += [base, *(f"{base}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names += [node.value] if MODULE_NAME.fullmatch(node.value) else []
    parents = [name.rsplit(".", k)[0] for name in names for k in range(1, name.count("."))]  # run on import
    modules = {_module_file(name) for name in names + parents if name.startswith("ganforge.")}
    if "importlib.import_module" in source:  # imports by computed name: assume any module beside it
        modules |= set(path.parent.glob("*.py")) - {path}
    return frozenset(module for module in modules if module is not None)


def _callback(command: click.Command) -> tuple[Path, str]:
    function = command.callback
    while hasattr(function, "__wrapped__"):
        function = function.__wrapped__
    path = _module_file(function.__module__)
    assert path is not None, command.name
    return path, function.__name__


CALLBACKS = {_callback(command): name for name, command in COMMANDS.items()}


@cache
def _reach() -> dict[Path, frozenset[str]]:
    """The commands whose modules import each module, directly or not."""
    reach: dict[Path, set[str]] = {}
    for (start, _function), name in CALLBACKS.items():
        seen, todo = set(), [start]
        while todo:
            path = todo.pop()
            if path not in seen:
                seen.add(path)
                todo += _imports(path)
        for path in seen:
            reach.setdefault(path, set()).add(name)
    return {path: frozenset(names) for path, names in reach.items()}


def _owners(path: Path) -> frozenset[str]:
    """The commands whose area `path` is in (empty for a shared module)."""
    relative = path.relative_to(ROOT).as_posix()
    if relative.startswith("cli/"):
        return frozenset(name for (module, _), name in CALLBACKS.items() if module == path)
    return next((owners for prefix, owners in OWNERS if relative.startswith(prefix)), frozenset())


def _strings(path: Path, source: str) -> Iterator[tuple[int, str, frozenset[str] | None]]:
    """(line, text, commands of the command function it is in, or None) for each scanned string."""
    tree = ast.parse(source)
    skipped: set[int] = set()
    within: dict[int, frozenset[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            is_command = (path, getattr(node, "name", None)) in CALLBACKS
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and not is_command:
                skipped.add(id(first.value))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            skipped |= {id(default) for default in [*node.args.defaults, *node.args.kw_defaults] if default}
            if (path, node.name) in CALLBACKS:
                within.update({id(sub): frozenset({CALLBACKS[path, node.name]}) for sub in ast.walk(node)})
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                "option", "argument"):
            skipped |= {id(arg) for arg in node.args}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped:
            yield node.lineno, node.value, within.get(id(node))


def _mentions(text: str) -> Iterator[tuple[str, str | None]]:
    """(--option, the command a quoted command line names, else None) for each mention in `text`."""
    rest = text
    for match in COMMAND_LINE.finditer(text):
        words = match.group(1).split()
        command = next((" ".join(words[:n]) for n in (2, 1) if " ".join(words[:n]) in COMMANDS), None)
        if command is not None:
            tail = " ".join(words[len(command.split()):]) + " " + match.group(2)
            yield from ((f"--{m.group(1)}", command) for m in OPTION.finditer(tail))
            rest = rest.replace(match.group(0), " ")
    yield from ((f"--{m.group(1)}", None) for m in OPTION.finditer(rest))


def offenders(path: Path, source: str | None = None) -> list[str]:
    """'file:line --option: not in COMMANDS' for each mention in module `path` that breaks the rule."""
    source = path.read_text(encoding="utf-8") if source is None else source
    owners, reach = _owners(path), _reach().get(path, frozenset())
    found = []
    for line, text, within in _strings(path, source):
        for option, quoted in _mentions(text):
            if quoted is not None:
                every, some = {quoted}, set()
            elif within is not None or owners:
                every, some = set(within or owners), set()
            else:
                every, some = set(), set(reach)
            missing = sorted(c for c in every if option not in _flags(COMMANDS[c]))
            if some and not any(option in _flags(COMMANDS[c]) for c in some):
                missing = sorted(some)
            if missing:
                where = f"{path.relative_to(ROOT)}:{line}"
                found.append(f"{where} {option}: not an option of {', '.join(missing)}")
    return found


MODULES = sorted(ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_messages_name_options_of_the_commands_that_print_them(path: Path) -> None:
    assert offenders(path) == []


def test_the_scan_finds_mentions_and_flags_an_option_a_command_lacks() -> None:
    """The rule at work on module texts made up for the test (so that it can fail)."""
    presets = ROOT / "training" / "config.py"
    good = 'MESSAGE = "--kimg must be at least 1; see `ganforge dataset create --resolution N`"\n'
    assert offenders(presets, good) == []
    bad = 'def f(option="--nope"):\n    raise ValueError(f"--gpus must be a power of two, {option}")\n'
    assert offenders(presets, bad) == ["training/config.py:2 --gpus: not an option of train"]
    quoted = 'HELP = """Also:\n  ganforge generate --network x.pkl --projected-w w.npz --nope\n"""\n'
    assert offenders(presets, quoted) == ["training/config.py:1 --nope: not an option of generate"]
    shared = ROOT / "inference" / "runner.py"
    assert offenders(shared, 'M = "--trunc or --nope"\n') == [
        f"inference/runner.py:1 --nope: not an option of {', '.join(sorted(_reach()[shared]))}"]
    assert offenders(ROOT / "detectors" / "weights.py", 'M = "pass --detector PATH"\n') == [
        "detectors/weights.py:1 --detector: not an option of train"]


def test_owners_are_commands_that_reach_their_modules() -> None:
    """The area table stays true to the code: every owner imports the modules it owns."""
    for path in MODULES:
        owners = _owners(path)
        assert owners <= set(COMMANDS), path
        assert owners <= _reach().get(path, frozenset()), (path, owners)
