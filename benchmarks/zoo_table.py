"""The README's "Scheduling results on the zoo" table: no fusion, heuristic, random and oracle.

Each search gets a fresh evaluator (a warm memo would make a later search look free). Each
cell: latency in cycles (speedup over no fusion, simulator calls, wall seconds); the last
column is heuristic / oracle. ``--exhaustive`` runs the oracle without its lower-bound pruning
(same schedules, every candidate simulated).

    python -m fusiongym.benchmarks.zoo_table [--hw mlu100] [--networks resnet18 ...] [--exhaustive] [--json]
"""

from __future__ import annotations

import json
import sys

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate
from fusiongym.accelerator.workloads.network import Network
from fusiongym.benchmarks.common import parse_table_args, table_parser

NETWORKS = ("resnet18", "resnet34", "resnet50", "mobilenet_v1", "mobilenet_v2", "vgg16",
            "alexnet", "squeezenet1_1", "dcgan", "bert_base", "vit_b16", "gpt2_prefill")
SEARCHES = ("no-fusion", "heuristic", "random", "oracle")


def _schedulers(exhaustive: bool) -> dict:
    from fusiongym.agents.baselines import NoFusionScheduler, RandomScheduler
    from fusiongym.agents.heuristic import HeuristicScheduler
    from fusiongym.agents.oracle import OracleScheduler

    return {
        "no-fusion": lambda ev: NoFusionScheduler(evaluator=ev),
        "heuristic": lambda ev: HeuristicScheduler(evaluator=ev),
        "random": lambda ev: RandomScheduler(budget_sim_calls=200, seed=0, evaluator=ev),
        "oracle": lambda ev: OracleScheduler(evaluator=ev, progress=False,
                                             prune=not exhaustive),
    }


def measure(net: Network, hw: HardwareConfig, exhaustive: bool = False) -> dict:
    """Per search: latency cycles, simulator calls and wall seconds, each on a fresh evaluator."""
    row: dict = {"network": net.name, "layers": len(net)}
    for name, make in _schedulers(exhaustive).items():
        ev = GroupEvaluator(hw)
        scheduler = make(ev)
        schedule = scheduler.schedule(net, hw)
        row[name] = {"cycles": evaluate(net, schedule, hw, ev).latency_cycles,
                     "sim_calls": scheduler.last_cost.sim_calls,
                     "seconds": round(scheduler.last_cost.wall_seconds, 1)}
    return row


def _cell(row: dict, name: str) -> str:
    r, base = row[name], row["no-fusion"]["cycles"]
    return f"{r['cycles']:,} ({base / r['cycles']:.2f}x, {r['sim_calls']}, {r['seconds']} s)"


def markdown(rows: list[dict]) -> str:
    lines = ["| network | layers | no-fusion | heuristic | random (200 calls) | oracle "
             "| heuristic / oracle |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        ratio = row["heuristic"]["cycles"] / row["oracle"]["cycles"]
        lines.append(f"| {row['network']} | {row['layers']} | "
                     f"{row['no-fusion']['cycles']:,} ({row['no-fusion']['sim_calls']} calls) | "
                     f"{_cell(row, 'heuristic')} | {_cell(row, 'random')} | "
                     f"{_cell(row, 'oracle')} | {ratio:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = table_parser(__doc__, NETWORKS)
    parser.add_argument("--exhaustive", action="store_true",
                        help="oracle without lower-bound pruning (every candidate simulated)")
    args, hw, nets = parse_table_args(parser, argv)
    rows = []
    for net in nets:
        rows.append(measure(net, hw, args.exhaustive))
        print(f"{net.name}: oracle {rows[-1]['oracle']['seconds']} s", file=sys.stderr)
    print(json.dumps(rows, indent=1) if args.json else markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
