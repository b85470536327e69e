"""The test suite's own layout: no test module imports another test module.

Shared helpers belong in ``tests/helpers/`` (or fixtures in ``conftest.py``); importing one
test module from another re-runs its module-level set-up and couples unrelated tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent


def _test_module_names() -> set[str]:
    return {p.stem for p in TESTS_DIR.glob("test_*.py")}


def imported_test_modules(source: str, test_modules: set[str]) -> list[str]:
    """Names of test modules that ``source`` imports (``import test_x``, ``from test_x
    import``, ``from tests.test_x import``, ``from tests import test_x``, ``from . import``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names = [base] + [f"{base}.{alias.name}" if base else alias.name
                              for alias in node.names]
        else:
            continue
        hits = [parts[0] for parts in (_without_tests_prefix(name) for name in names)
                if parts and parts[0] in test_modules]
        found.extend(hits[:1])  # one import statement names one module
    return found


def _without_tests_prefix(dotted: str) -> list[str]:
    parts = dotted.split(".")
    return parts[1:] if parts[0] == "tests" else parts


def test_the_checker_sees_every_spelling():
    modules = {"test_zoo", "test_plots"}
    source = ("import test_zoo\nfrom test_plots import make_run_dir\n"
              "from tests.test_zoo import X\nfrom tests import test_plots\n"
              "from . import test_zoo\nfrom helpers.published import MAC_TOLERANCE\n")
    assert imported_test_modules(source, modules) == ["test_zoo", "test_plots", "test_zoo",
                                                     "test_plots", "test_zoo"]


def test_no_test_module_imports_another():
    modules = _test_module_names()
    offenders = {path.name: imported
                 for path in sorted(TESTS_DIR.rglob("*.py"))
                 if (imported := imported_test_modules(path.read_text(), modules))}
    assert offenders == {}, f"move shared helpers into tests/helpers/: {offenders}"
