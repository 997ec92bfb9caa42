"""The code's layout, as docs/architecture.md describes it: no import circles anywhere, every engine sub-package
says what lives in it, and no module grows past ~450 lines without saying why in its docstring. The layers
themselves are import-linter's contracts, checked by `make lint`."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import grimp
import pytest

import engine

ROOT = Path(__file__).resolve().parents[1]
LONGEST = 450


def test_no_module_imports_itself_back() -> None:
    graph = grimp.build_graph("engine", "vaultui")
    circles = sorted(
        {
            tuple(sorted((module, imported)))
            for module in graph.modules
            for imported in graph.find_modules_directly_imported_by(module)
            if graph.chain_exists(imported, module)
        }
    )
    assert not circles, f"import circles: {circles}"


@pytest.mark.parametrize(
    "package", sorted(info.name for info in pkgutil.iter_modules(engine.__path__, "engine.") if info.ispkg)
)
def test_every_engine_package_says_what_lives_in_it(package: str) -> None:
    doc = importlib.import_module(package).__doc__
    assert doc and len(doc.split()) >= 8, f"{package} needs a docstring saying what lives there"


def test_long_modules_say_why() -> None:
    """A module over the limit keeps its length only with a reason in its docstring (a line saying so)."""
    unexplained = []
    for path in sorted([*ROOT.joinpath("engine").rglob("*.py"), *ROOT.joinpath("vaultui").rglob("*.py")]):
        lines = path.read_text().count("\n")
        if lines <= LONGEST:
            continue
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if "Long because" not in doc:
            unexplained.append(f"{path.relative_to(ROOT)} ({lines} lines)")
    assert not unexplained, f"over {LONGEST} lines with no reason in the docstring: {unexplained}"
