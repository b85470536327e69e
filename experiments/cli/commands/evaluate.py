"""fusiongym evaluate RUN_DIR [--networks ...] [--json]"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="compare PPO with the baselines and the oracle",
                       description="Compare no-fusion, heuristic, random (small budget and the "
                                   "oracle's budget), PPO and the oracle on held-out networks; "
                                   "writes eval.json and eval.md into the run directory.")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--networks", nargs="+", help="networks to evaluate (default: the config's "
                                                 "eval_networks)")
    p.add_argument("--json", action="store_true", help="print eval.json instead of a table")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from experiments.orchestration.runner import evaluate_run, render_text

    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    result = evaluate_run(args.run_dir, args.networks,
                          progress=not args.no_progress and sys.stderr.isatty(), log=log)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(render_text(result))
        print(f"\nwritten: {args.run_dir / 'eval.json'}, {args.run_dir / 'eval.md'}")
    return 0
