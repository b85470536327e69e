"""``fusiongym simulate``: run one schedule of one network on the accelerator model.

Prints the latency (cycles and ms), DRAM bytes read / written, energy, per-module
utilization and a per-group table. Utilization is busy cycles / latency, summed over
cores (so up to the core count); ``per core`` divides by the cores each group used.

Examples::

    fusiongym simulate --network resnet18                       # no fusion, default cores
    fusiongym simulate --network resnet18 --hw pynq --json
    fusiongym simulate --network mobilenet_v2 --cores 4         # no fusion, 4 cores each
    fusiongym simulate --network resnet18 --schedule best.json  # from `fusiongym schedule|oracle --save`
    fusiongym simulate --onnx model.onnx --trace trace.json     # open in ui.perfetto.dev
"""

from __future__ import annotations

import argparse
import json
import sys

from fusiongym.accelerator.errors import UserInputError
from fusiongym.experiments.cli.arguments import add_hw, add_network_source, add_schedule


class SimulateArgumentError(UserInputError):
    """The simulate command's arguments do not make sense together."""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "simulate", help="latency, DRAM traffic, energy and utilization of one schedule",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = add_network_source(parser, "a built-in network (see `fusiongym networks`) or "
                                        "synthetic:SEED[:NLAYERS[:KIND]]")
    source.add_argument("--networks", nargs="+", metavar="NET[xK]",
                        help="with --schedule PLACEMENT.json: the requests it places")
    source.add_argument("--workload", metavar="FILE.yaml",
                        help="with --schedule PLACEMENT.json: the workload it places")
    add_hw(parser)
    add_schedule(parser)
    parser.add_argument("--trace", metavar="OUT.json",
                        help="also write a Chrome / Perfetto trace (Trace Event Format) of "
                             "every instruction, per core and module (written atomically)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.set_defaults(run=run)
    return parser


def _schedule(args: argparse.Namespace, network, hw):
    from fusiongym.accelerator.schedule import Schedule

    if args.schedule == "no-fusion":
        cores = hw.default_cores if args.cores is None else args.cores
        if cores not in hw.allowed_core_counts:
            raise SimulateArgumentError(
                f"--cores {cores} is not allowed on {hw.name} (allowed: "
                f"{', '.join(map(str, hw.allowed_core_counts))})")
        return Schedule.no_fusion(network, cores)
    if args.cores is not None:
        raise SimulateArgumentError("--cores only applies to --schedule no-fusion; a saved "
                                    "schedule carries a core count per group")
    from fusiongym.accelerator.schedule_export import hardware_hash, load_schedule_file

    schedule, made_for = load_schedule_file(args.schedule)
    if made_for is not None and made_for != hardware_hash(hw):
        # still a valid replay (groups and cores are hardware-independent), but the
        # export's plans and expected cycles were for other hardware
        print(f"fusiongym: note: {args.schedule} was made for hardware {made_for}, not "
              f"{hw.name} ({hardware_hash(hw)}): its plans and expected cycles do not apply",
              file=sys.stderr)
    return schedule


def run(args: argparse.Namespace) -> int:
    from fusiongym.accelerator.config import load_config
    from fusiongym.accelerator.evaluator import evaluate
    from fusiongym.experiments.cli.schedule_output import load_cli_network

    from fusiongym.experiments.cli.commands.place import is_placement_path, replay

    if args.networks or args.workload or is_placement_path(args.schedule):
        return replay(args)  # a placement: every group in one simulation
    hw = load_config(args.hw)
    network, _, notes = load_cli_network(args)
    schedule = _schedule(args, network, hw)
    result = evaluate(network, schedule, hw)
    summary = _summary(network, schedule, result, hw, args)
    summary["notes"] = notes
    if args.trace:
        from fusiongym.accelerator.fileio import atomic_write_text
        from fusiongym.accelerator.trace_export import schedule_trace

        trace = schedule_trace(network, schedule, hw)
        atomic_write_text(args.trace, json.dumps(trace, separators=(",", ":")) + "\n")
        summary["trace"] = args.trace
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_human(summary)
    return 0


def _summary(network, schedule, result, hw, args) -> dict:
    from fusiongym.accelerator.host import runs_on_host

    modules = ("load", "compute", "store")
    latency = result.latency_cycles
    busy = {m: sum(r.busy_cycles.get(m, 0) for r in result.groups) for m in modules}
    on_host = [runs_on_host(network, g.start, g.end, hw) for g in schedule.groups]
    # a host-run first layer (accelerator/host.py) holds no core
    core_cycles = sum(r.latency_cycles * r.cores
                      for r, h in zip(result.groups, on_host) if not h) or 1
    groups = []
    for k, (g, r) in enumerate(zip(schedule.groups, result.groups)):
        groups.append({
            "group": k, "start": g.start, "end": g.end, "cores": g.cores,
            "runs_on": "host" if on_host[k] else "accelerator",
            "layers": [layer.name for layer in network.layers[g.start:g.end]],
            "latency_cycles": r.latency_cycles,
            "dram_bytes_read": r.dram_bytes_read, "dram_bytes_written": r.dram_bytes_written,
            "energy_uj": r.energy_pj / 1e6, "macs": r.macs,
            "busy_cycles": {m: r.busy_cycles.get(m, 0) for m in modules},
            "utilization": {m: r.busy_cycles.get(m, 0) / r.latency_cycles for m in modules},
        })
    return {
        "network": network.name, "network_hash": network.content_hash(),
        "hardware": hw.name, "clock_mhz": hw.clock_mhz,
        "schedule": args.schedule, "groups_count": len(schedule.groups),
        "layers": len(network),
        "latency_cycles": latency, "latency_ms": result.seconds * 1e3,
        "dram_bytes_read": result.dram_bytes_read,
        "dram_bytes_written": result.dram_bytes_written,
        "energy_uj": result.energy_pj / 1e6, "macs": result.macs,
        "busy_cycles": busy,
        "utilization": {m: busy[m] / latency for m in modules},
        "utilization_per_core": {m: busy[m] / core_cycles for m in modules},
        "groups": groups, "trace": None,
    }


def _print_human(s: dict) -> None:
    from fusiongym.experiments.cli.output import format_table

    print(f"{s['network']} on {s['hardware']}: {s['layers']} layers in {s['groups_count']} "
          f"group{'' if s['groups_count'] == 1 else 's'} (schedule: {s['schedule']})")
    rows = []
    for g in s["groups"]:
        names = g["layers"][0] + (f" .. {g['layers'][-1]}" if len(g["layers"]) > 1 else "")
        u = g["utilization"]
        cores = "host" if g.get("runs_on") == "host" else g["cores"]
        rows.append([g["group"], f"{g['start']}..{g['end'] - 1}", names, cores,
                     g["latency_cycles"], g["dram_bytes_read"], g["dram_bytes_written"],
                     g["energy_uj"], u["load"], u["compute"], u["store"]])
    print(format_table(["#", "layers", "names", "cores", "latency cycles", "DRAM read B",
                        "DRAM written B", "energy uJ", "load", "compute", "store"], rows))
    print()
    for note in s["notes"]:
        print(f"note          {note}")
    print(f"latency       {s['latency_cycles']} cycles = {s['latency_ms']:.4g} ms "
          f"at {s['clock_mhz']:g} MHz")
    print(f"DRAM          {s['dram_bytes_read']} B read, {s['dram_bytes_written']} B written")
    print(f"energy        {s['energy_uj']:.4g} uJ")
    util, per_core = s["utilization"], s["utilization_per_core"]
    print("utilization   " + ", ".join(
        f"{m} {util[m]:.3f} ({per_core[m]:.1%} per core)" for m in ("load", "compute", "store"))
        + "   (busy / latency, summed over cores)")
    if s["trace"]:
        print(f"trace         {s['trace']} (open in https://ui.perfetto.dev)")
