"""fusiongym evaluate RUN_DIR [--hw PRESET|FILE] [--networks ...] [--resweep] [--json]

A placer run (``python -m fusiongym.experiments.place_learned train``: ``config.json``, no
``config.yaml``) is scored on placements instead: ``fusiongym evaluate RUN [--workload
SPEC...] [--hw PRESET]`` (:mod:`experiments.place_learned`)."""

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
                                   "networks are marked * in the table. A placer run (trained "
                                   "by `python -m fusiongym.experiments.place_learned train`) is scored "
                                   "on placements: --workload SPEC... beside sequential, "
                                   "partition, list and side-by-side, with simulator calls "
                                   "and seconds.")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--hw", help="evaluate on this hardware (preset name or YAML / JSON file) "
                                "instead of the run's own; placer runs also take "
                                "PRESET:CORES (mlu100:8)")
    p.add_argument("--networks", nargs="+", help="networks to evaluate (default: the config's "
                                                 "eval_networks)")
    p.add_argument("--resweep", action="store_true",
                   help="add heuristic-resweep: the heuristic's core-count table re-derived on "
                        "the evaluation hardware by its sweep (the sweep's simulator calls "
                        "count in its cost)")
    p.add_argument("--workload", nargs="+", metavar="NET[xK][+NET..]|FILE.yaml",
                   help="placer runs: workloads to place (requests joined by '+', or a "
                        "workload YAML file; default: the run config's eval_workloads)")
    p.add_argument("--json", action="store_true", help="print eval.json instead of a table")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=run)


def is_placer_run(run_dir: Path) -> bool:
    return (run_dir / "config.json").is_file() and not (run_dir / "config.yaml").exists()


def run(args: argparse.Namespace) -> int:
    from fusiongym.accelerator.errors import UserInputError
    from fusiongym.experiments.orchestration.runner import evaluate_run, render_text

    if is_placer_run(args.run_dir):
        from fusiongym.experiments.place_learned import evaluate_command

        if args.networks or args.resweep:
            raise UserInputError(f"{args.run_dir} is a placer run: name workloads with "
                                 "--workload (--networks and --resweep are for sequential runs)")
        return evaluate_command(args.run_dir, args.workload, [args.hw] if args.hw else None,
                                args.json)
    if args.workload:
        raise UserInputError(f"--workload applies to a placer run; {args.run_dir} is not one "
                             "(no config.json from `python -m fusiongym.experiments.place_learned train`)")

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
