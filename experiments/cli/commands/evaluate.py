"""fusiongym evaluate RUN_DIR [--hw PRESET|FILE] [--networks ...] [--resweep] [--json]"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="compare PPO with the baselines and the oracle",
                       description="Compare no-fusion, heuristic, random (small budget and the "
                                   "oracle's budget), PPO, ppo-search (the policy guiding a "
                                   "search, at several simulator budgets), the learned cost "
                                   "model's DP and the oracle on held-out networks. The run's "
                                   "own evaluation (its hardware, its eval_networks) is "
                                   "eval.json / eval.md; any other hardware or network set gets "
                                   "its own eval_<hardware>_<digest>.json / .md, listed in "
                                   "evals.json, so no evaluation overwrites another. Training "
                                   "networks are marked * in the table.")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--hw", help="evaluate on this hardware (preset name or YAML / JSON file) "
                                "instead of the run's own")
    p.add_argument("--networks", nargs="+", help="networks to evaluate (default: the config's "
                                                 "eval_networks)")
    p.add_argument("--resweep", action="store_true",
                   help="add heuristic-resweep: the heuristic's core-count table re-derived on "
                        "the evaluation hardware by its sweep (the sweep's simulator calls "
                        "count in its cost)")
    p.add_argument("--json", action="store_true", help="print eval.json instead of a table")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from experiments.orchestration.runner import evaluate_run, render_text

    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    result = evaluate_run(args.run_dir, args.networks, hw=args.hw, resweep=args.resweep,
                          progress=not args.no_progress and sys.stderr.isatty(), log=log)
    paths = result.pop("files")
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(render_text(result))
        print(f"\nwritten: {paths[0]}, {paths[1]} (index: {Path(paths[0]).parent / 'evals.json'})")
    return 0
