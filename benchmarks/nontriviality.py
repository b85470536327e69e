"""Is the scheduling problem non-trivial on a preset? Simple policies against the oracle.

For each network: the exact oracle's latency and, as ratios to it, no fusion on 1 core, no
fusion on all cores, no fusion with each layer on its own best core count, "fuse as much as
fits" (greedy longest feasible groups, each on its best core count) and the DLFusion-style
heuristic (its thresholds table for the preset) — with the preset's overheads and with every
overhead knob at 0 (``HardwareConfig.without_overheads``). If the trade-offs came from the
overhead constants, the "overheads off" ratios would sit near 1.00.

    python -m fusiongym.benchmarks.nontriviality [--hw mlu100] [--networks resnet18 ...] [--json]
"""

from __future__ import annotations

import json
import sys
import time

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.errors import InfeasibleError
from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate
from fusiongym.accelerator.schedule import Schedule
from fusiongym.accelerator.workloads.network import Network
from fusiongym.benchmarks.common import parse_table_args, table_parser

NETWORKS = ("resnet18", "resnet50", "mobilenet_v2", "squeezenet1_1", "alexnet", "vgg16")
POLICIES = ("no-fusion 1 core", "no-fusion all cores", "no-fusion best cores",
            "fuse as much as fits", "heuristic")
MAX_GROUP_LAYERS = 8  # the oracle's and the heuristic's group-length limit


def best_cores(ev: GroupEvaluator, net: Network, start: int, end: int) -> tuple[int, int] | None:
    """(latency_cycles, cores) of layers ``start .. end-1`` on their best feasible core count,
    or None if no core count can run them."""
    best = None
    for cores in ev.hw.allowed_core_counts:
        if ev.infeasible_reason(net, start, end, cores) is None:
            cycles = ev.result(net, start, end, cores).latency_cycles
            if best is None or cycles < best[0]:
                best = (cycles, cores)
    return best


def no_fusion_cycles(ev: GroupEvaluator, net: Network, cores: int | None) -> int:
    """Every layer alone on ``cores`` (None: each on its best count; a layer that cannot run
    on ``cores`` falls back to its best count)."""
    total = 0
    for i in range(len(net)):
        if cores is None or ev.infeasible_reason(net, i, i + 1, cores) is not None:
            total += best_cores(ev, net, i, i + 1)[0]
        else:
            total += ev.result(net, i, i + 1, cores).latency_cycles
    return total


def fuse_max_cycles(ev: GroupEvaluator, net: Network, max_layers: int = MAX_GROUP_LAYERS) -> int:
    """Greedy "fuse as much as fits": from the first unscheduled layer, the longest group that
    some core count can run, on its best core count."""
    total, start = 0, 0
    while start < len(net):
        for end in range(min(len(net), start + max_layers), start, -1):
            best = best_cores(ev, net, start, end)
            if best is not None:
                total += best[0]
                start = end
                break
        else:
            raise InfeasibleError(f"{net.name}: layer {start} runs on no core count")
    return total


def measure(net: Network, hw: HardwareConfig) -> dict:
    """Oracle cycles, each policy's cycles and ratio to the oracle, and the oracle's wall time."""
    from fusiongym.agents.heuristic import HeuristicScheduler
    from fusiongym.agents.oracle import OracleScheduler

    ev = GroupEvaluator(hw)
    t0 = time.perf_counter()
    oracle = OracleScheduler(max_group_layers=MAX_GROUP_LAYERS, evaluator=ev, progress=False)
    opt = _evaluate(net, oracle.schedule(net, hw), hw, ev)
    oracle_seconds = time.perf_counter() - t0
    heuristic = HeuristicScheduler(max_group_layers=MAX_GROUP_LAYERS, evaluator=ev)
    cycles = {
        "no-fusion 1 core": no_fusion_cycles(ev, net, 1),
        "no-fusion all cores": no_fusion_cycles(ev, net, max(hw.allowed_core_counts)),
        "no-fusion best cores": no_fusion_cycles(ev, net, None),
        "fuse as much as fits": fuse_max_cycles(ev, net),
        "heuristic": _evaluate(net, heuristic.schedule(net, hw), hw, ev),
    }
    return {"network": net.name, "hardware": hw.name, "oracle_cycles": opt,
            "oracle_seconds": round(oracle_seconds, 2), "cycles": cycles,
            "ratios": {k: v / opt for k, v in cycles.items()}}


def _evaluate(net: Network, schedule: Schedule, hw: HardwareConfig, ev: GroupEvaluator) -> int:
    return evaluate(net, schedule, hw, ev).latency_cycles


def markdown(rows_on: list[dict], rows_off: list[dict]) -> str:
    """One table: per network, the oracle's cycles and each policy's ratio, overheads on | off."""
    head = ("| network | overheads | oracle cycles | "
            + " | ".join(POLICIES) + " |\n|---|---|---:|" + "---:|" * len(POLICIES))
    lines = [head]
    for on, off in zip(rows_on, rows_off):
        for label, row in (("on", on), ("off", off)):
            ratios = " | ".join(f"{row['ratios'][p]:.2f}" for p in POLICIES)
            lines.append(f"| {row['network']} | {label} | {row['oracle_cycles']:,} | {ratios} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = table_parser(__doc__, NETWORKS)
    args, hw, nets = parse_table_args(parser, argv)
    rows_on, rows_off = [], []
    for net in nets:
        rows_on.append(measure(net, hw))
        rows_off.append(measure(net, hw.without_overheads()))
        print(f"{net.name}: oracle {rows_on[-1]['oracle_seconds']} s / "
              f"{rows_off[-1]['oracle_seconds']} s", file=sys.stderr)
    if args.json:
        print(json.dumps({"on": rows_on, "off": rows_off}, indent=1))
    else:
        print(markdown(rows_on, rows_off))
    return 0


if __name__ == "__main__":
    sys.exit(main())
