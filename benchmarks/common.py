"""Shared pieces of the benchmarks: timing, cold caches, machine info, child processes."""

from __future__ import annotations

import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

ROOT = Path(__file__).resolve().parent.parent
RESULT_PREFIX = "BENCH-RESULT "  # a child's last stdout line: this prefix + JSON


@contextmanager
def gc_paused() -> Iterator[None]:
    """Collect, then keep the cyclic GC off for the block (timings without GC pauses)."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def timed(fn: Callable[[], Any], gc_off: bool = False) -> tuple[float, Any]:
    """``(seconds, fn())`` with ``time.perf_counter``; optionally with the GC paused."""
    if gc_off:
        with gc_paused():
            t0 = time.perf_counter()
            value = fn()
            return time.perf_counter() - t0, value
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def summary(samples: list[float]) -> dict[str, Any]:
    """Median (the number we report), min, max and the raw samples."""
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples),
            "n": len(samples), "samples": [round(s, 6) for s in samples]}


def cold_reset() -> list[str]:
    """Empty every process-wide cache of the model, so the next evaluation is cold.

    Clears the shared evaluators of :func:`accelerator.evaluator.default_evaluator` and every
    ``functools.lru_cache`` found in the model's modules (e.g. lowering's memo). Network
    construction caches (``accelerator.workloads.zoo``) are kept: building a network is not model
    work. Returns the names of what was cleared (recorded in the results).
    """
    import importlib

    from fusiongym.accelerator.evaluator import clear_default_evaluators

    cleared = []
    for name in ("fusiongym.accelerator.evaluator", "fusiongym.accelerator.lowering", "fusiongym.accelerator.lowering.planner",
                 "fusiongym.accelerator.lowering.tiling", "fusiongym.accelerator.sim", "fusiongym.accelerator.isa",
                 "fusiongym.accelerator.workloads.network"):
        module = importlib.import_module(name)
        for attr, obj in list(vars(module).items()):
            if callable(getattr(obj, "cache_clear", None)) and \
                    getattr(obj, "__module__", name) == name:
                obj.cache_clear()
                cleared.append(f"{name}.{attr}")
    clear_default_evaluators()
    cleared.append("fusiongym.accelerator.evaluator.default_evaluator")
    return cleared


def peak_rss_mib() -> float:
    """This process's peak resident set size so far (``ru_maxrss``; KiB on Linux)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 if sys.platform != "darwin" else rss / 2**20


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_info() -> dict[str, Any]:
    import simpy

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    dirty = [line[3:] for line in _git("status", "--porcelain").splitlines()
             if line[3:].startswith(("accelerator/", "agents/", "envs/", "benchmarks/"))
             and not line[3:].startswith("benchmarks/results/")]
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
        if hasattr(os, "sysconf") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "simpy": simpy.__version__,
        # other work on the machine skews timings: the 1/5/15-minute load when this started
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "git_head": _git("rev-parse", "HEAD"),
        # model code that differs from HEAD when the numbers were taken (edits in progress)
        "git_uncommitted": dirty,
    }


def run_child(task: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Run ``python -m fusiongym.benchmarks.child`` on ``task`` in a fresh interpreter.

    A fresh process gives a clean peak RSS and cold process-wide caches. The child's
    stderr (progress) passes through; its result is the last stdout line.
    """
    cmd = [sys.executable, "-m", "fusiongym.benchmarks.child", json.dumps(task)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=None, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    return {"error": f"child exited with code {proc.returncode} and no result"}


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def table_parser(doc: str, networks: Sequence[str]) -> "argparse.ArgumentParser":
    """The arguments every zoo-table script takes: ``--hw``, ``--networks``, ``--json``."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--hw", default="mlu100", help="hardware preset or file (default: mlu100)")
    parser.add_argument("--networks", nargs="+", default=list(networks))
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    return parser


def parse_table_args(parser: "argparse.ArgumentParser",
                     argv: Sequence[str] | None) -> tuple["argparse.Namespace", Any, list[Any]]:
    """(arguments, hardware, networks) of a :func:`table_parser` command line; a bad hardware or
    network name exits 2 with one line on stderr, before any work."""
    from fusiongym.accelerator.config import load_config
    from fusiongym.accelerator.errors import UserInputError
    from fusiongym.accelerator.workloads.loader import load_network

    args = parser.parse_args(argv)
    try:
        return args, load_config(args.hw), [load_network(name) for name in args.networks]
    except UserInputError as err:
        parser.exit(2, f"error: {err}\n")
