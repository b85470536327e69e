"""What ``schedule`` and ``oracle`` print and write once a scheduler has chosen: one place, so
the shorthand and the general command give the same table, JSON and export."""

from __future__ import annotations

import argparse
import json
import sys


def load_cli_network(args: argparse.Namespace):
    """``(network, {layer: ONNX nodes}, notes)`` for ``--network`` / ``--onnx``. An ONNX
    import's symbolic batch set to 1 is said on stderr and kept in ``notes`` for the table
    (it changes every number that follows)."""
    from fusiongym.accelerator.workloads.loader import load_network

    if not args.onnx:
        return load_network(args.network), {}, []
    from fusiongym.accelerator.workloads.onnx_import import import_onnx

    imported = import_onnx(args.onnx)
    notes = batch_notes(imported.notes)
    for note in notes:
        print(f"fusiongym: note: {note}", file=sys.stderr)
    return imported.network, imported.layer_nodes, notes


def batch_notes(notes) -> list[str]:
    return [n for n in notes if "symbolic batch" in n]


def report(args: argparse.Namespace, loaded: tuple, hw, evaluator, schedule,
           scheduler_name: str, cost, extra: dict | None = None) -> int:
    """Evaluate, write ``--save`` / ``--emit-program``, print the table or JSON."""
    from fusiongym.accelerator.evaluator import evaluate
    from fusiongym.accelerator.fileio import atomic_write_json
    from fusiongym.accelerator.schedule_export import export_schedule
    from fusiongym.agents.baselines import NoFusionScheduler

    network, onnx_nodes, notes = loaded
    result = evaluate(network, schedule, hw, evaluator)
    baseline = evaluate(network, NoFusionScheduler(evaluator).schedule(network, hw), hw,
                        evaluator)
    if args.save:
        atomic_write_json(args.save, export_schedule(network, schedule, hw, evaluator,
                                                     scheduler=scheduler_name,
                                                     onnx_nodes=onnx_nodes))
    program_dir = getattr(args, "emit_program", None)
    if program_dir:
        from fusiongym.accelerator.program_export import emit_program

        emit_program(network, schedule, hw, program_dir)
    from fusiongym.accelerator.host import runs_on_host

    groups = [{
        "start": g.start, "end": g.end, "cores": g.cores,
        "runs_on": "host" if runs_on_host(network, g.start, g.end, hw) else "accelerator",
        "layers": [layer.name for layer in network.layers[g.start:g.end]],
        "latency_cycles": r.latency_cycles, "energy_pj": r.energy_pj,
    } for g, r in zip(schedule.groups, result.groups)]
    summary = {
        "network": network.name, "network_hash": network.content_hash(),
        "hardware": hw.name, "scheduler": scheduler_name, **(extra or {}),
        "layers": len(network), "groups": groups,
        "latency_cycles": result.latency_cycles, "latency_ms": result.seconds * 1e3,
        "energy_pj": result.energy_pj,
        "no_fusion_latency_cycles": baseline.latency_cycles,
        "no_fusion_energy_pj": baseline.energy_pj,
        "speedup": baseline.latency_cycles / result.latency_cycles,
        "sim_calls": cost.sim_calls, "wall_seconds": round(cost.wall_seconds, 3),
        "saved": args.save, "program": program_dir, "notes": notes,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print_human(summary, hw)
    return 0


def print_human(s: dict, hw) -> None:
    from fusiongym.experiments.cli.output import format_table

    rows = []
    for k, g in enumerate(s["groups"]):
        names = g["layers"][0] + (f" .. {g['layers'][-1]}" if len(g["layers"]) > 1 else "")
        cores = "host" if g.get("runs_on") == "host" else g["cores"]  # accelerator/host.py
        rows.append([k, f"{g['start']}..{g['end'] - 1}", len(g["layers"]), names, cores,
                     g["latency_cycles"]])
    limit = (f"at most {s['max_group_layers']} layers each, minimising {s['objective']}"
             if "max_group_layers" in s else f"scheduler: {s['scheduler']}")
    print(f"{s['network']} on {s['hardware']}: {s['layers']} layers -> {len(s['groups'])} "
          f"group{'' if len(s['groups']) == 1 else 's'} ({limit})")
    print(format_table(["#", "layers", "n", "names", "cores", "latency cycles"], rows))
    print()
    for note in s["notes"]:
        print(f"note        {note}")
    print(f"latency     {s['latency_cycles']} cycles = {s['latency_ms']:.4g} ms "
          f"at {hw.clock_mhz:g} MHz")
    print(f"no fusion   {s['no_fusion_latency_cycles']} cycles "
          f"(every layer alone on {hw.default_cores} core(s))")
    print(f"speedup     {s['speedup']:.3f}x over no fusion")
    print(f"search      {s['sim_calls']} simulator calls, {s['wall_seconds']:.2f} s")
    if s["saved"]:
        print(f"saved       {s['saved']} (schedule export v1)")
    if s["program"]:
        print(f"program     {s['program']}/program.json (per-core instruction streams)")
