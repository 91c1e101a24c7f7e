"""The import rules of DESIGN.md, checked on the source (an AST walk, no import needed):

- only the CLI imports click; nothing imports the CLI but ``python -m dicecli``;
- rich only in reporters (report/*, the progress bar) and the CLI;
- the numeric core (dicecli.core) imports numpy, the standard library, dicecli.errors and other
  core modules only: it never sees a path, a reader or a reporter;
- checks (dicecli.checks: gates, baselines, comparisons) build on the core, never on readers,
  the run machinery or reporters;
- I/O (dicecli.io) never imports the run machinery, the scoring of cases or reporters;
- heavy optional libraries (SimpleITK, distributed) only where they are the point, and lazily.
"""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "dicecli"
CORE = {"score", "metrics", "aggregate", "interpret", "channels", "alignment", "sweep", "classes", "stats", "gate",
        "keys", "errors", "objects", "boundary", "surfels", "boundary_case", "boundary_run"}
#: The one library besides numpy a core module may import (lazily): the boundary metrics' k-d tree.
CORE_EXTRA = {"dicecli.core.boundary": {"pykdtree"}}
STDLIB = set(sys.stdlib_module_names)


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        yield name, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imports(tree: ast.AST, module: str, *, top_level_only: bool = False):
    """(imported module name, line, is top-level) for every import in ``tree``, relative ones resolved."""
    package = module.rsplit(".", 1)[0] if not module.endswith("__init__") else module.rsplit(".", 1)[0]
    body = tree.body if top_level_only else None
    nodes = body if body is not None else ast.walk(tree)
    top = {id(n) for n in tree.body}
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) in top
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, node.lineno, id(node) in top
            if node.module is None or node.level:
                for alias in node.names:  # from . import x
                    yield f"{target}.{alias.name}", node.lineno, id(node) in top


ALL = dict(modules())


def short(name: str) -> str:
    return name.removeprefix("dicecli.")


@pytest.mark.parametrize("module", sorted(ALL))
def test_only_the_cli_imports_click(module):
    if module == "dicecli.cli":
        return
    found = [line for target, line, _ in imports(ALL[module], module) if target.split(".")[0] == "click"]
    assert not found, f"{module} imports click (line {found[0]})"


@pytest.mark.parametrize("module", sorted(ALL))
def test_nothing_imports_the_cli(module):
    if module in ("dicecli.cli", "dicecli.__main__"):
        return
    found = [line for target, line, _ in imports(ALL[module], module) if target == "dicecli.cli"]
    assert not found, f"{module} imports the CLI (line {found[0]})"


@pytest.mark.parametrize("module", sorted(ALL))
def test_rich_only_in_reporters(module):
    if module.startswith("dicecli.report.") or module in ("dicecli.cli", "dicecli.progress"):
        return
    found = [line for target, line, _ in imports(ALL[module], module) if target.split(".")[0] == "rich"]
    assert not found, f"{module} imports rich (line {found[0]})"


def _inside(target: str, *packages: str) -> bool:
    return any(target == p or target.startswith(p + ".") for p in packages)


def _in_layer(layer: str) -> list[str]:
    return sorted(m for m in ALL if _inside(m, layer))


def test_the_layers_hold_modules():
    """The parametrized rules below would pass vacuously on an empty layer."""
    assert len(_in_layer("dicecli.core")) >= 10 and len(_in_layer("dicecli.checks")) >= 4
    assert len(_in_layer("dicecli.io")) >= 10


@pytest.mark.parametrize("module", _in_layer("dicecli.core"))
def test_core_imports_numpy_and_core_only(module):
    for target, line, top in imports(ALL[module], module):
        root = target.split(".")[0]
        if root in STDLIB or root == "numpy" or root == "__future__":
            continue
        if root in CORE_EXTRA.get(module, ()):
            assert not top, f"{module} imports {target} at module level (line {line}): keep it lazy"
            continue
        assert _inside(target, "dicecli.core", "dicecli.errors"), f"{module} (core) imports {target} (line {line})"


@pytest.mark.parametrize("module", _in_layer("dicecli.checks"))
def test_checks_build_on_the_core_only(module):
    for target, line, _ in imports(ALL[module], module):
        if target.split(".")[0] != "dicecli":
            continue
        assert _inside(target, "dicecli.core", "dicecli.checks", "dicecli.errors"), (
            f"{module} (checks) imports {target} (line {line})")


@pytest.mark.parametrize("module", _in_layer("dicecli.io"))
def test_io_never_imports_the_run_or_reporters(module):
    for target, line, _ in imports(ALL[module], module):
        assert not _inside(target, "dicecli.run", "dicecli.report", "dicecli.case", "dicecli.checks"), (
            f"{module} (I/O) imports {target} (line {line})")


@pytest.mark.parametrize("module", sorted(ALL))
def test_heavy_optional_libraries_are_imported_lazily(module):
    for target, line, top in imports(ALL[module], module):
        if target.split(".")[0] in ("SimpleITK", "distributed", "dask"):
            assert not top, f"{module} imports {target} at module level (line {line}): keep it lazy"


@pytest.mark.parametrize("module", sorted(m for m in ALL if m.startswith("dicecli.report.")))
def test_reporters_never_import_the_api_at_run_time(module):
    for target, line, _ in imports(ALL[module], module):
        assert target not in ("dicecli.run.evaluate", "dicecli.case", "dicecli.run.cluster") or _type_only(ALL[module], line), (
            f"{module} imports {target} at run time (line {line}); reporters consume records")


def _type_only(tree: ast.AST, line: int) -> bool:
    """Is the import on ``line`` inside ``if TYPE_CHECKING:``?"""
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            if any(getattr(child, "lineno", None) == line for child in ast.walk(node)):
                return True
    return False
