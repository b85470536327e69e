"""``fusiongym place``: fused groups of one or several requests on disjoint cores, at once.

A placement gives every fused group a core count and a launch order; groups that do not
depend on each other run side by side on their own cores and share the DRAM, in one
simulation (contention is a result of the model). Prints each group's cores and start / end
cycles, the makespan, every request's latency, a sound lower bound on the makespan and the
simulator calls; with several requests also throughput, STP and ANTT against each request
alone on the whole chip (its sequential oracle schedule).

A request is ``NET`` or ``NETxK`` (K requests of NET); ``--workload FILE`` reads a YAML
file (``requests: [{network: resnet50, count: 2, arrival_cycles: 0}, ...]``).

Examples::

    fusiongym place --networks googlenet                       # branches of one network overlap
    fusiongym place --networks resnet50x4 --scheduler cpsat --time-limit 30
    fusiongym place --networks resnet50 bert_base --json
    fusiongym place --networks resnet18x2 --scheduler ppo --run runs/place_quick   # learned, 0 sims
    fusiongym place --workload mix.yaml --save mix.placement.json --trace mix_trace.json
    fusiongym simulate --workload mix.yaml --schedule mix.placement.json   # replay it
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fusiongym.accelerator.errors import UserInputError
from fusiongym.experiments.cli.arguments import add_hw

DEFAULT_SCHEDULER = "list"


def add_workload_source(parser: argparse.ArgumentParser, required: bool = True):
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument("--networks", nargs="+", metavar="NET[xK]",
                        help="requests: built-in networks, synthetic:..., .onnx files; NETxK "
                             "is K requests of NET")
    source.add_argument("--workload", metavar="FILE.yaml", help="a workload YAML file")
    return source


def load_workload(args: argparse.Namespace):
    from fusiongym.accelerator.spatial.workload import Workload

    return Workload.load(args.workload) if args.workload else Workload.parse(args.networks)


def add_parser(subparsers) -> argparse.ArgumentParser:
    from fusiongym.agents.placement.registry import LEARNED_PLACEMENT_SCHEDULERS, PLACEMENT_SCHEDULERS

    parser = subparsers.add_parser(
        "place", help="place fused groups of one or several requests on disjoint cores",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_workload_source(parser)
    add_hw(parser)
    parser.add_argument("--scheduler",
                        choices=sorted([*PLACEMENT_SCHEDULERS, *LEARNED_PLACEMENT_SCHEDULERS]),
                        default=DEFAULT_SCHEDULER,
                        help=f"placement scheduler (default: {DEFAULT_SCHEDULER})")
    parser.add_argument("--time-limit", type=float, default=None, metavar="S",
                        help="cpsat: wall-clock limit of its solve / simulate rounds in "
                             "seconds (default: 60)")
    parser.add_argument("--share", type=int, default=None, metavar="CORES",
                        help="partition: cores per request (default: the chip divided evenly)")
    parser.add_argument("--run", metavar="RUN", dest="placer_run",
                        help="ppo / ppo-search: the trained placer (a run directory of "
                             "`python -m fusiongym.experiments.place_learned train`, or its model.zip)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--save", metavar="OUT.json",
                        help="write the placement (with the cores and times it ran on, so it "
                             "replays exactly); refuses to replace an existing file")
    parser.add_argument("--trace", metavar="OUT.json",
                        help="also write a Perfetto trace of the whole placement")
    parser.add_argument("--plot", metavar="OUT.png", help="also draw cores x time")
    parser.set_defaults(run=run)
    return parser


def _check_outputs(args: argparse.Namespace) -> None:
    """Nothing is overwritten and nothing half-done: check every output before any work."""
    for flag, path in (("--save", args.save), ("--trace", args.trace), ("--plot", args.plot)):
        if path and Path(path).exists():
            raise UserInputError(f"{flag} {path}: the file exists; choose a new name (no "
                                 "command replaces an earlier result)")
        if path and not Path(path).resolve().parent.is_dir():
            raise UserInputError(f"{flag} {path}: the folder does not exist")


def scheduler_options(args: argparse.Namespace) -> dict:
    options = {}
    if args.time_limit is not None:
        if args.time_limit <= 0:
            raise UserInputError(f"--time-limit must be > 0, got {args.time_limit}")
        if args.scheduler != "cpsat":
            raise UserInputError("--time-limit applies to --scheduler cpsat")
        options["time_limit_s"] = args.time_limit
    if args.share is not None:
        if args.scheduler != "partition":
            raise UserInputError("--share applies to --scheduler partition")
        options["share_cores"] = args.share
    learned = args.scheduler in ("ppo", "ppo-search")
    if getattr(args, "placer_run", None) is not None and not learned:
        raise UserInputError("--run applies to --scheduler ppo or ppo-search")
    if learned:
        options["run"] = args.placer_run  # None: the scheduler says what is missing, in one line
    return options


def run(args: argparse.Namespace) -> int:
    from fusiongym.accelerator.config import load_config
    from fusiongym.accelerator.evaluator import default_evaluator
    from fusiongym.agents.placement.registry import make_placement_scheduler

    _check_outputs(args)
    hw = load_config(args.hw)
    workload = load_workload(args)
    options = scheduler_options(args)
    if args.share is not None and args.share > hw.num_cores:
        raise UserInputError(f"--share {args.share}: a core share larger than the chip "
                             f"({hw.name} has {hw.num_cores} cores)")
    evaluator = default_evaluator(hw)
    scheduler = make_placement_scheduler(args.scheduler, **options)
    placement = scheduler.place(workload, hw, evaluator)
    summary, result = describe(workload, placement, hw, evaluator,
                               sim_calls=scheduler.sim_calls, seconds=scheduler.seconds,
                               scheduler=args.scheduler)
    write_outputs(args, workload, placement, hw, result, summary)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_human(summary)
    return 0


def describe(workload, placement, hw, evaluator, *, sim_calls: int, seconds: float,
             scheduler: str):
    """Simulate ``placement`` and summarise it (the table and ``--json``)."""
    from fusiongym.accelerator.spatial.bounds import makespan_lower_bound
    from fusiongym.accelerator.spatial.metrics import multiprogram, throughput_per_second
    from fusiongym.accelerator.spatial.simulate import simulate_placement

    from fusiongym.accelerator.host import runs_on_host

    result = simulate_placement(workload, placement, hw, evaluator)
    bound = makespan_lower_bound(workload, hw, evaluator).makespan_cycles
    groups = []
    for k, g in enumerate(result.groups):
        req = workload.requests[g.request]
        groups.append({
            "group": k, "request": req.name, "start": g.start, "end": g.end,
            "layers": [layer.name for layer in req.network.layers[g.start:g.end]],
            "cores": g.cores, "core_ids": list(g.core_ids),
            "runs_on": ("host" if runs_on_host(req.network, g.start, g.end, hw)
                        else "accelerator"),
            "start_cycles": g.launch_cycles, "end_cycles": g.end_cycles,
            "run_cycles": g.run_cycles, "energy_pj": g.energy_pj})
    requests = [{"name": r.name, "network": r.network.name, "arrival_cycles": r.arrival_cycles,
                 "latency_cycles": lat}
                for r, lat in zip(workload.requests, result.request_latency_cycles)]
    summary = {
        "workload": workload.name, "workload_hash": workload.content_hash(),
        "hardware": hw.name, "cores": hw.num_cores, "scheduler": scheduler,
        "groups": groups, "requests": requests,
        "makespan_cycles": result.makespan_cycles,
        "makespan_ms": result.seconds * 1e3,
        "lower_bound_cycles": int(bound),
        "gap_to_lower_bound": result.makespan_cycles / bound if bound else None,
        "energy_pj": result.energy_pj,
        "dram_bytes_read": result.dram_bytes_read,
        "dram_bytes_written": result.dram_bytes_written,
        "sim_calls": int(sim_calls), "wall_seconds": round(float(seconds), 3),
        "throughput_per_s": throughput_per_second(len(workload), result.makespan_cycles,
                                                  hw.clock_mhz),
    }
    if len(workload) > 1:
        alone = alone_latencies(workload, hw, evaluator)
        mp = multiprogram(alone, result.request_latency_cycles)
        for r, a in zip(requests, alone):
            r["alone_latency_cycles"] = a
        summary.update(stp=mp.stp, antt=mp.antt)
    return summary, result


def alone_latencies(workload, hw, evaluator) -> list[int]:
    """Each request's latency alone on the whole chip: its network's sequential oracle."""
    from fusiongym.accelerator.evaluator import evaluate
    from fusiongym.agents.placement.simple import oracle_schedules

    return [evaluate(r.network, s, hw, evaluator).latency_cycles
            for r, s in zip(workload.requests, oracle_schedules(workload, hw, evaluator))]


def write_outputs(args, workload, placement, hw, result, summary) -> None:
    from fusiongym.accelerator.fileio import atomic_write_text

    if args.save:
        saved = result.pinned(placement)
        saved.meta.update(scheduler=summary["scheduler"], hardware=hw.name,
                          makespan_cycles=result.makespan_cycles)
        saved.save(args.save)
        summary["saved"] = args.save
    if args.trace:
        from fusiongym.accelerator.spatial.trace import placement_trace

        trace = placement_trace(workload, placement, hw)
        atomic_write_text(args.trace, json.dumps(trace, separators=(",", ":")) + "\n")
        summary["trace"] = args.trace
    if args.plot:
        from fusiongym.experiments.plots.placement import plot_placement

        plot_placement(workload, result, hw, args.plot,
                       title=f"{workload.name} on {hw.name}: {summary['scheduler']}")
        summary["plot"] = args.plot


def is_placement_path(schedule: str) -> bool:
    """Whether ``simulate --schedule`` names a placement file (else today's schedules)."""
    from fusiongym.accelerator.spatial.placement import is_placement_file

    if not schedule or schedule == "no-fusion" or not Path(schedule).is_file():
        return False
    try:
        data = json.loads(Path(schedule).read_text())
    except (OSError, ValueError):
        return False  # Schedule.load reports it in one line
    return isinstance(data, dict) and is_placement_file(data)


def replay(args: argparse.Namespace) -> int:
    """``simulate --schedule PLACEMENT.json``: run a saved placement again, in one simulation."""
    from fusiongym.accelerator.config import load_config
    from fusiongym.accelerator.evaluator import default_evaluator
    from fusiongym.accelerator.spatial.placement import Placement
    from fusiongym.accelerator.spatial.workload import Workload
    from fusiongym.accelerator.workloads.loader import load_network

    if not is_placement_path(args.schedule):
        raise UserInputError("--networks / --workload go with --schedule PLACEMENT.json (a file "
                             "written by `fusiongym place --save`)")
    if args.cores is not None:
        raise UserInputError("--cores only applies to --schedule no-fusion; a placement carries "
                             "a core count per group")
    hw = load_config(args.hw)
    if args.workload or args.networks:
        workload = load_workload(args)
    else:
        net = load_network(args.onnx, onnx=True) if args.onnx else load_network(args.network)
        workload = Workload.single(net)
    placement = Placement.load(args.schedule)
    summary, result = describe(workload, placement, hw, default_evaluator(hw), sim_calls=0,
                               seconds=0.0, scheduler=str(placement.meta.get("scheduler",
                                                                             "replayed")))
    summary["schedule"] = args.schedule
    if args.trace:
        if Path(args.trace).exists():
            raise UserInputError(f"--trace {args.trace}: the file exists; choose a new name")
        from fusiongym.accelerator.fileio import atomic_write_text
        from fusiongym.accelerator.spatial.trace import placement_trace

        trace = placement_trace(workload, placement, hw)
        atomic_write_text(args.trace, json.dumps(trace, separators=(",", ":")) + "\n")
        summary["trace"] = args.trace
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_human(summary)
    return 0


def print_human(s: dict) -> None:
    from fusiongym.experiments.cli.output import format_table

    n_req = len(s["requests"])
    print(f"{s['workload']} on {s['hardware']} ({s['cores']} cores): {n_req} request"
          f"{'' if n_req == 1 else 's'}, {len(s['groups'])} groups (scheduler: {s['scheduler']})")
    rows = []
    for g in s["groups"]:
        names = g["layers"][0] + (f" .. {g['layers'][-1]}" if len(g["layers"]) > 1 else "")
        ids = g["core_ids"]
        if not ids:  # the host-run first layer, or a zero-copy Concat: no core held
            span = "host" if g.get("runs_on") == "host" else "-"
        else:
            span = f"{ids[0]}-{ids[-1]}" if ids == list(range(ids[0], ids[-1] + 1)) else \
                ",".join(map(str, ids))
        rows.append([g["group"], g["request"], f"{g['start']}..{g['end'] - 1}", names,
                     g["cores"], span, g["start_cycles"], g["end_cycles"]])
    print(format_table(["#", "request", "layers", "names", "cores", "core ids", "start",
                        "end"], rows))
    print()
    print(format_table(["request", "arrival", "latency cycles"]
                       + (["alone cycles"] if n_req > 1 else []),
                       [[r["name"], r["arrival_cycles"], r["latency_cycles"]]
                        + ([r["alone_latency_cycles"]] if n_req > 1 else [])
                        for r in s["requests"]]))
    print()
    print(f"makespan      {s['makespan_cycles']} cycles = {s['makespan_ms']:.4g} ms")
    print(f"lower bound   {s['lower_bound_cycles']} cycles (makespan / bound = "
          f"{s['gap_to_lower_bound']:.3f})")
    if n_req > 1:
        print(f"throughput    {s['throughput_per_s']:.4g} requests/s; STP {s['stp']:.3f} "
              f"(of {n_req}), ANTT {s['antt']:.3f}")
    print(f"search        {s['sim_calls']} simulator calls, {s['wall_seconds']:.2f} s")
    for key in ("saved", "trace", "plot"):
        if s.get(key):
            print(f"{key:<13} {s[key]}")
