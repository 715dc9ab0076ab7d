"""Check that ganforge's imports only point down its layers: `python -m ganforge.devtools.layers`.

`LAYERS` is the layer table, bottom floor first. Each entry is a unit: a module or subpackage named
relative to the package (the longest entry that a module is, or lies in, is its unit; the package's
own `__init__` is the unit `__init__`). Every import is checked, including those inside functions
and under `TYPE_CHECKING`, relative ones resolved:

- within one unit: allowed;
- to a unit on a lower floor: allowed;
- to a unit on a higher floor: a violation (up);
- to another unit on the same floor: a violation (sideways) unless the pair (importer, imported) is
  declared in `SIDEWAYS`. So metrics -> tools, tools -> metrics, compat -> detectors and one model
  family -> another are all refused: what two units share moves down a floor;
- a module in no unit of the table, or an import of one, is a violation, so the table stays whole;
- an import by a computed name (`importlib.import_module`, `__import__`) is a violation: it cannot be
  checked, and registries map names to classes in code instead.

Prints one line per violation and exits 1 if there is any, else prints a summary and exits 0.
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

LAYERS: tuple[tuple[str, ...], ...] = (
    ("__init__", "errors", "fileio", "progress", "ops"),
    ("data", "models", "models.dcgan", "models.stylegan", "models.stylegan2", "models.r3gan", "augment",
     "losses"),
    ("compat", "detectors"),
    ("inference",),
    ("metrics", "tools", "export"),
    ("training",),
    ("serve",),
    ("cli", "devtools"),
)
"""Units by floor, bottom first; a unit may import units of lower floors only."""

SIDEWAYS: frozenset[tuple[str, str]] = frozenset({("fileio", "errors"), ("ops", "errors")})
"""(importer, imported) pairs of one floor allowed to import one way."""

ROOT_UNIT = "__init__"
ROOT_EXPORTS: frozenset[str] = frozenset({"compat"})
"""Units whose functions the package root hands out on first use (its module `__getattr__`), so that
`from ganforge import from_pretrained` works while `import ganforge` itself imports nothing above it."""
DYNAMIC_IMPORTS = ("import_module", "__import__")

_FLOOR = {unit: floor for floor, units in enumerate(LAYERS) for unit in units}


@dataclass(frozen=True)
class Violation:
    """One import the layers forbid: where it is, what imports what, and why it is refused."""

    path: str
    line: int
    module: str
    target: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.module} imports {self.target}: {self.problem}"


def unit_of(module: str) -> str | None:
    """The unit of `module` (dotted, starting with the package name), or None if the table has none."""
    parts = module.split(".")[1:]
    if not parts:
        return ROOT_UNIT
    for n in range(len(parts), 0, -1):
        unit = ".".join(parts[:n])
        if unit in _FLOOR:
            return unit
    return None


def _modules(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package in `package_dir`."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = [package_dir.name, *path.relative_to(package_dir).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imports(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import in `tree`, at any depth; computed names as '<computed>'."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield node.lineno, submodule if submodule in known else base
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in DYNAMIC_IMPORTS:
                yield node.lineno, "<computed>"


def _problem(unit: str, target: str, target_unit: str | None) -> str | None:
    """Why an import from `unit` of module `target` (in `target_unit`) breaks the layers, or None."""
    if target == "<computed>":
        return "an import by a computed name cannot be checked; import the module directly"
    if target_unit is None:
        return "it is in no layer of ganforge.devtools.layers.LAYERS"
    if unit == ROOT_UNIT and target_unit in ROOT_EXPORTS:
        return None
    floor, target_floor = _FLOOR[unit], _FLOOR[target_unit]
    if unit == target_unit or target_floor < floor or (unit, target_unit) in SIDEWAYS:
        return None
    if target_floor > floor:
        return f"up from {unit} (floor {floor}) to {target_unit} (floor {target_floor})"
    return f"sideways from {unit} to {target_unit} (both on floor {floor}, not a declared pair)"


def check(package_dir: Path) -> list[Violation]:
    """Every import in the package at `package_dir` that the layer table forbids."""
    package_dir = Path(package_dir)
    modules = _modules(package_dir)
    known = set(modules)
    violations = []
    for module, path in modules.items():
        where = path.relative_to(package_dir.parent).as_posix()
        unit = unit_of(module)
        if unit is None:
            violations.append(Violation(where, 1, module, "anything", "it is in no layer of the table"))
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, target in _imports(tree, module, path.name == "__init__.py", known):
            if target != "<computed>" and target.split(".")[0] != package_dir.name:
                continue  # outside the package
            target_unit = None if target == "<computed>" else unit_of(target)
            problem = _problem(unit, target, target_unit)
            if problem is not None:
                violations.append(Violation(where, line, module, target, problem))
    return violations


def main(argv: Sequence[str] | None = None) -> int:
    """Print the violations in a package (ganforge by default); 1 if there are any."""
    parser = argparse.ArgumentParser(
        prog="python -m ganforge.devtools.layers",
        description="List the imports that go up or sideways across ganforge's layers; exit 1 if any.",
    )
    parser.add_argument(
        "package", nargs="?", type=Path, default=Path(__file__).resolve().parents[1],
        help="the package folder to check (default: the ganforge package itself)",
    )
    package_dir = parser.parse_args(argv).package
    if not (package_dir / "__init__.py").is_file():
        parser.error(f"{package_dir} is not a package folder (it has no __init__.py)")
    violations = check(package_dir)
    for violation in violations:
        print(violation)
    if violations:
        print(f"{len(violations)} import(s) break the layers of {package_dir.name}")
        return 1
    print(f"{package_dir.name}: {len(_modules(package_dir))} modules, every import points down its layers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
