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
                                   "model's DP and the oracle on held-out networks; writes "
                                   "eval.json and eval.md into the run directory (with --hw: "
                                   "eval-<hardware>.json / .md).")
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
    from experiments.orchestration.runner import eval_files, evaluate_run, render_text

    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    result = evaluate_run(args.run_dir, args.networks, hw=args.hw, resweep=args.resweep,
                          progress=not args.no_progress and sys.stderr.isatty(), log=log)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(render_text(result))
        paths = eval_files(args.run_dir, None if args.hw is None else result["hardware"])
        print(f"\nwritten: {paths[0]}, {paths[1]}")
    return 0
