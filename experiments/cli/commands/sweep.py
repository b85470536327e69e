"""``fusiongym sweep``: train + evaluate every point of a hyperparameter grid, on Ray.

Each ``--grid KEY=V1,V2`` replaces a dotted config key (``ppo.learning_rate``, ``seed``,
``env.max_group_layers``, ``hardware`` ...) with each value in turn (values are YAML:
``3``, ``0.5``, ``3e-4``, ``true``, ``[64,64]``); the points are every combination. All
points are validated before any starts. Each runs as a Ray task (1 CPU) in
``OUT/<key=value,...>/``; the summary goes to ``OUT/summary.json`` and ``OUT/summary.md``.

Examples::

    fusiongym sweep quick --grid ppo.learning_rate=1e-3,3e-4 --grid seed=0,1
    fusiongym sweep my.yaml --grid env.max_group_layers=4,8 --num-workers 4
    fusiongym sweep quick --grid seed=0,1,2,3 --ray-address auto   # a running cluster
    fusiongym sweep quick --grid seed=0,1 --sequential             # no Ray, one by one

On a cluster (``ray start --head`` on one machine, ``ray start --address=HEAD:6379`` on
the others, fusiongym installed on each), run directories come back to this machine.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="train + evaluate a grid of configs in parallel (Ray)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="experiment config: path or shipped name (quick, full)")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2", required=True,
                   help="a dotted config key and its values (repeat for more keys)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="sweep directory (default: runs/sweep-<config name>)")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="join a running Ray cluster ('auto', or HEAD:6379); default: start a "
                        "local Ray and shut it down at the end")
    p.add_argument("--num-workers", type=int, metavar="N",
                   help="trials at once (default: every CPU of the local machine or cluster)")
    p.add_argument("--sequential", action="store_true",
                   help="run the points one after another in this process, without Ray")
    p.add_argument("--json", action="store_true", help="print summary.json instead of a table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fusiongym.accelerator.errors import UserInputError
    from fusiongym.experiments.orchestration.config import load_experiment
    from fusiongym.experiments.orchestration.sweep import render_text, run_sweep

    if args.sequential and (args.ray_address or args.num_workers):
        raise UserInputError("--sequential runs without Ray: drop --ray-address / --num-workers")
    base = load_experiment(args.config)
    out = args.out or Path("runs") / f"sweep-{base.name}"
    result = run_sweep(base, args.grid, out, sequential=args.sequential,
                       ray_address=args.ray_address, num_workers=args.num_workers,
                       config_source=str(args.config))
    if args.json:
        print(json.dumps(result.summary, indent=2, sort_keys=True))
    else:
        print(render_text(result.summary))
        print(f"\nwritten: {result.out / 'summary.json'}, {result.out / 'summary.md'} "
              f"({len(result.trials)} trials in {result.wall_seconds:.1f} s, {result.mode})")
    return 1 if result.failed else 0
