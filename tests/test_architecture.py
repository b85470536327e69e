"""The project's import structure: no cycles, and dependencies that point one way.

The layers, lowest first: ``accelerator`` (the hardware model and workloads), ``envs``
(Gymnasium over it), ``agents`` (schedulers), then ``experiments`` and ``benchmarks`` (the
user surface). A module may import its own layer and the layers below, never above, and
no set of modules may import each other in a circle. Imports inside functions count as
much as module-level ones: a function-level import that closes a circle is a circle hidden
from the reader, not a fix. The walk is over the source (``ast``), so nothing is imported.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"accelerator": 0, "envs": 1, "agents": 2, "experiments": 3, "benchmarks": 3}
# third-party packages a layer must not import (the hardware model knows nothing of RL)
FORBIDDEN = {
    "accelerator": ("gymnasium", "torch", "stable_baselines3", "sb3_contrib"),
    "envs": ("torch", "stable_baselines3", "sb3_contrib"),
}
HEAVY = ("torch", "stable_baselines3", "sb3_contrib")  # never at the CLI's import time


@dataclass(frozen=True)
class Import:
    target: str  # a project module, or the top-level name of a third-party package
    line: int
    top_level: bool  # executed when the importing module is imported (not in a function)


def _module_files() -> dict[str, Path]:
    mods = {}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            mods[name.removesuffix(".__init__")] = path
    return mods


MODULES = _module_files()


def _local(name: str) -> str:
    """A module's name in the source tree: the installed ``fusiongym.<folder>`` names
    (pyproject.toml's package-dir) are the repository's folders."""
    return name.removeprefix("fusiongym.")


def _resolve(name: str) -> str:
    """The project module that importing ``name`` runs (the longest known prefix), or
    the top-level package name for anything outside the project."""
    probe = name = _local(name)
    while probe and probe not in MODULES:
        probe = probe.rpartition(".")[0]
    return probe or name.partition(".")[0]


def _imports_of(module: str) -> list[Import]:
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[Import] = []

    def visit(node: ast.AST, top_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = top_level and not isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend(Import(_resolve(a.name), child.lineno, top_level)
                           for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[:len(package.split(".")) - child.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                for alias in child.names:
                    sub = _local(f"{base}.{alias.name}")  # `from pkg import submodule`
                    out.append(Import(_resolve(sub if sub in MODULES else base),
                                      child.lineno, top_level))
            visit(child, nested)

    visit(tree, True)
    return [imp for imp in out if imp.target != module]


IMPORTS = {module: _imports_of(module) for module in MODULES}


def _layer(module: str) -> str:
    return module.partition(".")[0]


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, successors = work[-1]
            w = next(successors, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def _project_graph(top_level_only: bool = False) -> dict[str, set[str]]:
    return {m: {i.target for i in imps if i.target in MODULES
                and (i.top_level or not top_level_only)}
            for m, imps in IMPORTS.items()}


def _reachable(graph: dict[str, set[str]], starts: list[str], layer: str | None = None
               ) -> set[str]:
    """Every module that importing ``starts`` imports, transitively (within ``layer``)."""
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        m = todo.pop()
        if m not in seen and (layer is None or _layer(m) == layer):
            seen.add(m)
            todo.extend(graph[m])
    return seen


# ---- the checker itself ---------------------------------------------------------------
def test_cycle_finder_finds_circles_and_only_circles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": set(), "f": {"f"}}
    assert import_cycles(graph) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_the_walk_sees_the_project():
    assert {"accelerator.sim", "accelerator.evaluator", "envs.fusion_env", "agents.oracle",
            "experiments.cli", "benchmarks.suite"} <= set(MODULES)
    # function-level and `from package import module` imports are both seen
    oracle_cli = {i.target: i for i in IMPORTS["experiments.cli.commands.oracle"]}
    assert "agents.oracle" in oracle_cli and not oracle_cli["agents.oracle"].top_level
    assert "accelerator.lowering" in {i.target for i in IMPORTS["accelerator.bounds"]}


# ---- the rules ------------------------------------------------------------------------
def test_no_import_cycles():
    cycles = import_cycles(_project_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_dependencies_point_down_the_layers():
    upward = [f"{m}:{i.line} imports {i.target}"
              for m, imps in IMPORTS.items() for i in imps
              if i.target in MODULES and LAYERS[_layer(i.target)] > LAYERS[_layer(m)]]
    assert not upward, "a lower layer imports a higher one:\n" + "\n".join(upward)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_does_not_import_rl_frameworks(layer):
    bad = [f"{m}:{i.line} imports {i.target}"
           for m, imps in IMPORTS.items() if _layer(m) == layer for i in imps
           if i.target in FORBIDDEN[layer]]
    assert not bad, f"{layer}/ must not import {FORBIDDEN[layer]}:\n" + "\n".join(bad)


def test_cli_import_does_not_load_torch():
    """Everything `fusiongym --help` imports (module-level imports, transitively, from the
    CLI package and its command modules) stays clear of torch and SB3."""
    seen = _reachable(_project_graph(top_level_only=True),
                      [m for m in MODULES if m.startswith("experiments.cli")])
    heavy = [f"{m}:{i.line} imports {i.target}" for m in sorted(seen) for i in IMPORTS[m]
             if i.top_level and i.target in HEAVY]
    assert not heavy, "the CLI's import chain loads:\n" + "\n".join(heavy)


def test_store_fingerprints_every_model_source():
    """The on-disk store serves a result only for the same model source (MODEL_SOURCES):
    a renamed or new model file missing from that list would serve stale results."""
    from fusiongym.accelerator.store import MODEL_SOURCES

    accelerator = ROOT / "accelerator"
    assert all((accelerator / name).is_file() for name in MODEL_SOURCES), MODEL_SOURCES
    # what the evaluator's numbers are computed by: every accelerator module it imports,
    # transitively, except those that cannot change a number (persistence, errors, file
    # writing, schedule validation, empty package files)
    needed = _reachable(_project_graph(), ["accelerator.evaluator"], layer="accelerator")
    not_model = {"accelerator.store", "accelerator.errors", "accelerator.fileio",
                 "accelerator.schedule", "accelerator", "accelerator.workloads"}
    files = {MODULES[m].relative_to(accelerator).as_posix() for m in needed - not_model}
    assert files <= set(MODEL_SOURCES), f"missing from MODEL_SOURCES: {files - set(MODEL_SOURCES)}"
