"""fusiongym train CONFIG [--out runs/NAME] [--resume]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a MaskablePPO scheduler from an experiment config",
                       description="Train a MaskablePPO scheduler from an experiment config "
                                   "(a YAML path, or a shipped config: quick, full).")
    p.add_argument("config", help="experiment config: path or shipped name (quick, full)")
    p.add_argument("--out", type=Path, help="run directory (default: runs/<config name>)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the run directory's newest checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fusiongym.experiments.orchestration.config import load_experiment
    from fusiongym.experiments.orchestration.runner import train

    cfg = load_experiment(args.config)
    out = args.out or Path("runs") / cfg.name
    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    model = train(cfg, out, resume=args.resume,
                  progress=not args.no_progress and sys.stderr.isatty(), log=log)
    print(f"model: {model}")
    print(f"run directory: {out}")
    return 0
