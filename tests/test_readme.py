"""README.md stays short, accurate and runnable: its command lines run in order, as written, on the
demo data (offline, in an empty folder), its Python example runs on their results, and its links and
layout point at things that exist."""

from __future__ import annotations

import glob
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ganforge.cli.main import cli

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
MAX_LINES = 150
COMMANDS = {"dataset create", "dataset info", "train", "generate", "style-mix", "video", "project", "metrics",
            "convert", "export"}
"""Every `ganforge` command; the README shows at least one example of each."""
PATH_OPTIONS = {"--dest", "--data", "--network", "--outdir", "--output", "--target", "--projected-w"}
FILE_SUFFIXES = (".zip", ".png", ".pt", ".pkl", ".mp4", ".npz")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def command_lines(markdown: str) -> list[str]:
    """The `ganforge ...` lines of the code blocks (fenced, or indented by four spaces), in order."""
    lines, fenced = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif (fenced and line.startswith("ganforge ")) or (not fenced and line.startswith("    ganforge ")):
            lines.append(line.strip())
    return lines


def python_blocks(markdown: str) -> list[str]:
    """The bodies of the ```python blocks."""
    return [body for lang, body in FENCE.findall(markdown) if lang == "python"]


def named_paths(line: str) -> list[str]:
    """The files and folders a command line names: path option values and arguments with a file suffix."""
    words = shlex.split(line, comments=True)
    return [word for before, word in zip(["ganforge", *words], words, strict=False)
            if before in PATH_OPTIONS or (word.endswith(FILE_SUFFIXES) and not word.startswith("-"))]


def subcommand(line: str) -> str:
    """'dataset create' for `ganforge dataset create ...`, 'train' for `ganforge train ...`."""
    words = shlex.split(line)
    return " ".join(words[1:3]) if words[1] == "dataset" else words[1]


def anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_readme_is_short_and_shows_an_example_of_every_command() -> None:
    text = README.read_text()
    assert len(text.splitlines()) < MAX_LINES
    shown = [subcommand(line) for line in command_lines(text)]
    assert set(shown) == COMMANDS
    assert shown[0] == "dataset create" and "--source demo:digits" in command_lines(text)[0]


def test_command_lines_come_from_code_blocks_only() -> None:
    markdown = "ganforge is a tool\n\n    ganforge train --kimg 1\n\n```bash\nganforge generate --seeds 0\n"
    assert command_lines(markdown) == ["ganforge train --kimg 1", "ganforge generate --seeds 0"]
    assert named_paths("ganforge convert a/b.pt c.pt  # note.png") == ["a/b.pt", "c.pt"]
    assert named_paths("ganforge generate --network n.pt --grid --outdir out") == ["n.pt", "out"]


@pytest.mark.parametrize("page", [README, *sorted((REPO / "docs").glob("*.md"))], ids=lambda p: p.name)
def test_links_point_at_existing_pages_and_headings(page: Path) -> None:
    for target in LINK.findall(page.read_text()):
        if target.startswith(("http://", "https://")):
            continue
        file, _, fragment = target.partition("#")
        linked = (page.parent / file).resolve() if file else page
        assert linked.exists(), f"{page.name} links to missing {target}"
        if fragment:
            headings = re.findall(r"^#+ (.+)$", linked.read_text(), flags=re.MULTILINE)
            assert fragment in {anchor(h) for h in headings}, f"{page.name} links to missing heading {target}"


@pytest.mark.parametrize("page", [README, *sorted((REPO / "docs").glob("*.md"))], ids=lambda p: p.name)
def test_example_lines_use_real_commands_and_options(page: Path) -> None:
    """Also the examples the docs show but no test runs (they need data or weights a test lacks)."""
    for line in command_lines(page.read_text()):
        command = cli
        for name in subcommand(line).split():
            command = command.commands[name]
        options = {opt for param in command.params for opt in param.opts + param.secondary_opts}
        words = shlex.split(line, comments=True)
        unknown = [w for w in words if w.startswith("--") and w.split("=")[0] not in options]
        assert unknown == [], f"{page.name}: {line}"


def test_layout_names_existing_folders() -> None:
    layout = README.read_text().split("## Layout", 1)[1].split("\n## ", 1)[0]
    folders = re.findall(r"^    (\S+/?)\s", layout, flags=re.MULTILINE)
    assert "src/ganforge/cli" in folders
    assert [f for f in folders if not (REPO / f).is_dir()] == []
    packages = {p.name for p in (REPO / "src" / "ganforge").iterdir() if (p / "__init__.py").exists()}
    assert packages <= {Path(f).name for f in folders}, "a package of src/ganforge is missing from the layout"


@pytest.mark.slow
def test_readme_commands_and_python_example_run_as_written(tmp_path: Path) -> None:
    text = README.read_text()
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               HOME=str(tmp_path / "home"), GANFORGE_CACHE_DIR=str(tmp_path / "cache"), GANFORGE_OFFLINE="1")
    env.pop("GANFORGE_DETECTOR_DIR", None)
    work = tmp_path / "work"
    work.mkdir()
    for line in command_lines(text):
        done = subprocess.run(["bash", "-c", line], cwd=work, env=env, capture_output=True, text=True)
        output = f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        assert done.returncode == 0, f"README line failed: {line}\n{output}"
        for path in named_paths(line):
            assert glob.glob(str(work / path)), f"README line names {path}, which is missing: {line}"
    for code in python_blocks(text):
        done = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"README Python example failed:\n{done.stderr[-3000:]}"
