"""The ``fusiongym`` command line.

Each subcommand lives in ``experiments/cli/commands/<name>.py`` and exposes ``add_parser`` and
``run``. Heavy imports (torch, stable-baselines3, matplotlib) stay inside ``run`` so that
``fusiongym --help`` and quick commands start fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("networks", "hardware", "simulate", "oracle", "schedule", "place", "train",
            "evaluate", "plot", "bench", "sweep", "demo", "explore")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fusiongym",
        description="Which layers to fuse, and on how many cores to run each fused group, "
                    "for a DNN on a multi-core VTA-style accelerator.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        # a command module that fails to import is a bug to see, never a command that
        # silently disappears from --help
        module = importlib.import_module(f"fusiongym.experiments.cli.commands.{name}")
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from fusiongym.accelerator.errors import UserInputError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UserInputError as err:
        print(f"fusiongym: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fusiongym: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `fusiongym networks --json | head`: the reader left early
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0

