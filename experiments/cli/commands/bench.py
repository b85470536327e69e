"""``fusiongym bench``: the performance benchmarks (same flags as ``python -m fusiongym.benchmarks``).

Examples::

    fusiongym bench --quick                      # under 2 minutes
    fusiongym bench --only B1,B3 --markdown      # README-ready tables
    fusiongym bench --out benchmarks/results/baseline.json
"""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    from fusiongym.benchmarks.suite import add_arguments

    parser = subparsers.add_parser(
        "bench", help="performance benchmarks (event rate, evaluation, oracle, env, memory)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from fusiongym.benchmarks.suite import run as run_benchmarks

    return run_benchmarks(args)
