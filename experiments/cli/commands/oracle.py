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
    fusiongym oracle --onnx model.onnx --save best.json
    fusiongym oracle --network tiny_chain --json
    fusiongym oracle --networks resnet18 resnet34 --num-workers 4   # Ray, shared groups once
"""

from __future__ import annotations

import argparse
import json

from accelerator.objectives import ADDITIVE_OBJECTIVES
from experiments.cli.arguments import add_hw, add_network_source


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
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--save", metavar="OUT.json",
                        help="write the schedule as JSON (atomically); replay it with "
                             "`fusiongym simulate`")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--ray-address", metavar="ADDR",
                        help="with --networks: join a running Ray cluster ('auto', HEAD:6379); "
                             "default: a local Ray")
    parser.add_argument("--num-workers", type=int, metavar="N",
                        help="with --networks: parallel simulations (default: every CPU)")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from accelerator.config import load_config
    from accelerator.errors import UserInputError
    from accelerator.evaluator import default_evaluator, evaluate
    from accelerator.workloads.loader import load_network
    from agents.baselines import NoFusionScheduler
    from agents.oracle import OracleScheduler

    if args.networks:
        from experiments.parallel.oracle_batch import run_cli

        return run_cli(args)
    if args.ray_address or args.num_workers is not None:
        raise UserInputError("--ray-address and --num-workers go with --networks")
    if args.max_group_layers < 1:
        raise UserInputError(f"--max-group-layers must be >= 1, got {args.max_group_layers}")
    network = load_network(args.onnx, onnx=True) if args.onnx else load_network(args.network)
    hw = load_config(args.hw)
    evaluator = default_evaluator(hw)
    oracle = OracleScheduler(max_group_layers=args.max_group_layers, objective=args.objective,
                             progress=False if (args.no_progress or args.json) else None,
                             evaluator=evaluator)
    schedule = oracle.schedule(network, hw)
    cost = oracle.last_cost
    result = evaluate(network, schedule, hw, evaluator)
    baseline = evaluate(network, NoFusionScheduler(evaluator).schedule(network, hw), hw,
                        evaluator)
    if args.save:
        schedule.save(args.save)
    groups = [{
        "start": g.start, "end": g.end, "cores": g.cores,
        "layers": [layer.name for layer in network.layers[g.start:g.end]],
        "latency_cycles": r.latency_cycles, "energy_pj": r.energy_pj,
    } for g, r in zip(schedule.groups, result.groups)]
    summary = {
        "network": network.name, "network_hash": network.content_hash(),
        "hardware": hw.name, "max_group_layers": args.max_group_layers,
        "objective": args.objective, "layers": len(network), "groups": groups,
        "latency_cycles": result.latency_cycles, "latency_ms": result.seconds * 1e3,
        "energy_pj": result.energy_pj,
        "no_fusion_latency_cycles": baseline.latency_cycles,
        "no_fusion_energy_pj": baseline.energy_pj,
        "speedup": baseline.latency_cycles / result.latency_cycles,
        "sim_calls": cost.sim_calls, "wall_seconds": round(cost.wall_seconds, 3),
        "saved": args.save,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    _print_human(summary, hw)
    return 0


def _print_human(s: dict, hw) -> None:
    from experiments.cli.output import format_table

    rows = []
    for k, g in enumerate(s["groups"]):
        names = g["layers"][0] + (f" .. {g['layers'][-1]}" if len(g["layers"]) > 1 else "")
        rows.append([k, f"{g['start']}..{g['end'] - 1}", len(g["layers"]), names, g["cores"],
                     g["latency_cycles"]])
    print(f"{s['network']} on {s['hardware']}: {s['layers']} layers -> {len(s['groups'])} "
          f"group{'' if len(s['groups']) == 1 else 's'} "
          f"(at most {s['max_group_layers']} layers each, minimising {s['objective']})")
    print(format_table(["#", "layers", "n", "names", "cores", "latency cycles"], rows))
    print()
    print(f"latency     {s['latency_cycles']} cycles = {s['latency_ms']:.4g} ms "
          f"at {hw.clock_mhz:g} MHz")
    print(f"no fusion   {s['no_fusion_latency_cycles']} cycles "
          f"(every layer alone on {hw.default_cores} core(s))")
    print(f"speedup     {s['speedup']:.3f}x over no fusion")
    print(f"search      {s['sim_calls']} simulator calls, {s['wall_seconds']:.2f} s")
    if s["saved"]:
        print(f"saved       {s['saved']}")
