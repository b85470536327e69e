"""``fusiongym oracle``: the optimal fusion groups and core counts of one network.

An exact dynamic programme over group boundaries and core counts, optimal over all
schedules whose groups have at most ``--max-group-layers`` layers. Not every candidate
group is simulated: each first gets a sound lower bound on its cost from its lowering
alone, and only candidates whose bound could still beat the best one found are simulated
(once each, memoized by shape), so the answer is the exhaustive DP's with far fewer
simulations (ResNet-50 on mlu100: 94 of 2,740 candidates). With ``--networks`` the batch simulates
every distinct candidate once instead, spread over Ray.

Examples::

    fusiongym oracle --network resnet18
    fusiongym oracle --network synthetic:7:20 --hw pynq --max-group-layers 4
    fusiongym oracle --onnx model.onnx --save best.json   # the schedule export (see `schedule`)
    fusiongym oracle --network tiny_chain --json
    fusiongym oracle --networks resnet18 resnet34 --num-workers 4   # Ray, shared groups once
"""

from __future__ import annotations

import argparse
import json

from fusiongym.accelerator.objectives import ADDITIVE_OBJECTIVES
from fusiongym.experiments.cli.arguments import add_hw, add_network_source
from fusiongym.experiments.cli.commands.schedule import add_export_outputs


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "oracle", help="optimal fusion groups and core counts of a network (exact DP)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = add_network_source(parser, "a built-in network or synthetic:SEED[:NLAYERS[:KIND]]")
    source.add_argument("--networks", nargs="+", metavar="NAME",
                        help="several networks at once: distinct groups simulated once, in "
                             "parallel on Ray (pip install '.[ray]')")
    add_hw(parser)
    parser.add_argument("--max-group-layers", type=int, default=8, metavar="N",
                        help="longest fused group considered (default: 8)")
    parser.add_argument("--objective", choices=ADDITIVE_OBJECTIVES, default="latency",
                        help="what to minimise (default: latency)")
    add_export_outputs(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--ray-address", metavar="ADDR",
                        help="with --networks: join a running Ray cluster ('auto', HEAD:6379); "
                             "default: a local Ray")
    parser.add_argument("--num-workers", type=int, metavar="N",
                        help="with --networks: parallel simulations (default: every CPU)")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from fusiongym.accelerator.config import load_config
    from fusiongym.accelerator.errors import UserInputError
    from fusiongym.accelerator.evaluator import default_evaluator
    from fusiongym.agents.oracle import OracleScheduler
    from fusiongym.experiments.cli.schedule_output import load_cli_network, report

    if args.networks:
        from fusiongym.experiments.parallel.oracle_batch import run_cli

        return run_cli(args)
    if args.ray_address or args.num_workers is not None:
        raise UserInputError("--ray-address and --num-workers go with --networks")
    if args.max_group_layers < 1:
        raise UserInputError(f"--max-group-layers must be >= 1, got {args.max_group_layers}")
    loaded = load_cli_network(args)
    hw = load_config(args.hw)
    evaluator = default_evaluator(hw)
    oracle = OracleScheduler(max_group_layers=args.max_group_layers, objective=args.objective,
                             progress=False if (args.no_progress or args.json) else None,
                             evaluator=evaluator)
    schedule = oracle.schedule(loaded[0], hw)
    return report(args, loaded, hw, evaluator, schedule, "oracle", oracle.last_cost,
                  extra={"max_group_layers": args.max_group_layers,
                         "objective": args.objective})
