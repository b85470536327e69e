"""``fusiongym plot``: pipeline Gantt + utilization summary, schedule diagrams, run plots.

::

    fusiongym plot utilization --network resnet18 --hw pynq --group 2 --out gantt.png
    fusiongym plot schedule --network resnet18 --schedule ppo.json --schedule oracle.json \\
        --label PPO --label oracle --out schedules.png
    fusiongym plot run runs/NAME

Images are PNG unless the ``--out`` file ends in ``.svg`` or ``.pdf``. Every file is
written atomically. Bad input (unknown network, missing file, bad window) is a one-line
error and exit code 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.workloads.loader import load_network
from fusiongym.experiments.cli.arguments import add_hw, add_image_output, add_schedule


class PlotArgumentError(UserInputError):
    """A plot command's arguments do not make sense together."""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "plot", help="plot pipeline utilization, schedules, or a training run",
        description="Plot a schedule's pipeline (Gantt + utilization summary), compare "
                    "schedules, or draw a run directory's learning and evaluation plots.")
    sub = p.add_subparsers(dest="plot_command", required=True, metavar="WHAT")

    u = sub.add_parser(
        "utilization", help="per-instruction Gantt of every core's modules and DRAM, plus summary",
        description="Simulate a schedule with a trace and draw (1) a Gantt chart of each "
                    "core's load / compute / store module and the DRAM bus and (2), next "
                    "to it as *_summary.<ext>, busy fractions per core / group and DRAM "
                    "bandwidth over time.")
    u.add_argument("--network", required=True, metavar="NAME",
                   help="zoo network (see `fusiongym networks`), synthetic:SEED[:N[:KIND]], "
                        "or an .onnx file")
    add_hw(u)
    add_schedule(u)
    u.add_argument("--window", default=None, metavar="T0:T1",
                   help="zoom to cycles T0..T1 of the schedule's timeline")
    u.add_argument("--group", type=int, default=None, metavar="K",
                   help="zoom to group K (0-based, schedule order)")
    u.add_argument("--unit", choices=("cycles", "us"), default="cycles",
                   help="time axis unit (default: cycles)")
    u.add_argument("--max-bars", type=int, default=4000, metavar="N",
                   help="above N instructions in view, bin time instead of one bar per "
                        "instruction (default: 4000)")
    u.add_argument("--bins", type=int, default=400, metavar="N",
                   help="time bins when binning (default: 400)")
    u.add_argument("--all-cores", action="store_true",
                   help="give every core rows, also those that did no work")
    add_image_output(u, "output image (default: NETWORK_HW_pipeline.png); the summary goes "
                        "next to it as FILE_summary.<ext>")
    u.set_defaults(run=run)

    s = sub.add_parser(
        "schedule", help="draw 1..3 schedules of one network as rows of fused groups",
        description="Draw the network's layers in order with each schedule's fused groups as "
                    "coloured spans (colour and number = cores), one row per schedule, "
                    "latency in the row label.")
    s.add_argument("--network", required=True, metavar="NAME",
                   help="zoo network, synthetic:SEED[:N[:KIND]], or an .onnx file")
    s.add_argument("--schedule", action="append", required=True, metavar="FILE.json",
                   help="a saved schedule or 'no-fusion'; repeat for up to 3 rows")
    s.add_argument("--label", action="append", default=None, metavar="TEXT",
                   help="row label, one per --schedule, in order (default: file names)")
    add_hw(s, ", for latencies")
    s.add_argument("--cores", type=int, default=None, metavar="N",
                   help="cores per group for a 'no-fusion' schedule")
    add_image_output(s, "output image (default: NETWORK_schedules.png)")
    s.set_defaults(run=run)

    r = sub.add_parser(
        "run", help="learning curve, speedup and quality-vs-cost plots of a run directory",
        description="Read RUN_DIR/curve.csv and RUN_DIR/eval.json (see "
                    "experiments/plots/training.py for the format) and write the plots to "
                    "RUN_DIR/plots/.")
    r.add_argument("run_dir", metavar="RUN_DIR")
    r.add_argument("--dpi", type=int, default=100, help="PNG resolution (default: 100)")
    r.add_argument("--json", action="store_true", help="print the written paths as JSON")
    r.set_defaults(run=run)


# ---- helpers ---------------------------------------------------------------------------------
def _load_schedule(value: str, network, hw, cores: int | None):
    from fusiongym.accelerator.schedule import Schedule

    if value == "no-fusion":
        n = hw.default_cores if cores is None else cores
        if n not in hw.allowed_core_counts:
            raise PlotArgumentError(f"--cores {n} is not allowed on {hw.name} "
                                    f"(allowed: {list(hw.allowed_core_counts)})")
        return Schedule.no_fusion(network, n)
    if cores is not None:
        raise PlotArgumentError("--cores only applies to --schedule no-fusion")
    return Schedule.load(value)


def parse_window(text: str) -> tuple[float, float]:
    parts = text.split(":")
    if len(parts) != 2:
        raise PlotArgumentError(f"--window {text!r}: expected T0:T1 (cycles), e.g. 0:200000")
    try:
        t0, t1 = float(parts[0]), float(parts[1])
    except ValueError:
        raise PlotArgumentError(f"--window {text!r}: T0 and T1 must be numbers of cycles") from None
    if not t0 >= 0 or not t1 > t0:
        raise PlotArgumentError(f"--window {text!r}: need 0 <= T0 < T1")
    return t0, t1


def _check_positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise PlotArgumentError(f"{name} must be >= 1, got {value}")


def _summary_path(out: Path) -> Path:
    suffix = out.suffix or ".png"
    return out.with_name(f"{out.stem}_summary{suffix}")


def _print_paths(paths: list[Path], as_json: bool) -> None:
    if as_json:
        print(json.dumps({"files": [str(p) for p in paths]}))
    else:
        for p in paths:
            print(p)


# ---- subcommands -----------------------------------------------------------------------------
def _utilization(args: argparse.Namespace) -> int:
    from fusiongym.accelerator.config import load_config
    from fusiongym.experiments.plots import image_format

    for name in ("--max-bars", "--bins", "--dpi"):
        _check_positive(name, getattr(args, name[2:].replace("-", "_")))
    if args.window is not None and args.group is not None:
        raise PlotArgumentError("give --window or --group, not both")
    window = parse_window(args.window) if args.window is not None else None
    hw = load_config(args.hw)
    network = load_network(args.network)
    schedule = _load_schedule(args.schedule, network, hw, args.cores)
    schedule.validate(network, hw)
    if args.group is not None and not 0 <= args.group < len(schedule.groups):
        raise PlotArgumentError(f"--group {args.group}: the schedule has groups "
                                f"0..{len(schedule.groups) - 1}")
    default = f"{network.name.replace(':', '_')}_{hw.name}_pipeline.png"
    out = Path(args.out) if args.out else Path(default)
    image_format(out)  # reject a bad suffix before simulating

    from fusiongym.experiments.plots.pipeline import (PipelineOptions, plot_pipeline,
                                            simulate_schedule_trace)
    from fusiongym.experiments.plots.utilization import plot_utilization

    traces = simulate_schedule_trace(network, schedule, hw)
    if not out.suffix:
        out = out.with_suffix(".png")
    summary = _summary_path(out)
    options = PipelineOptions(window=window, group=args.group, max_bars=args.max_bars,
                              bins=args.bins, time_unit=args.unit, all_cores=args.all_cores,
                              dpi=args.dpi)
    plot_pipeline(network, schedule, hw, out, options, traces=traces)
    plot_utilization(network, schedule, hw, summary, traces=traces, dpi=args.dpi,
                     group=args.group, time_unit=args.unit)
    _print_paths([out, summary], args.json)
    return 0


def _schedule(args: argparse.Namespace) -> int:
    from fusiongym.accelerator.config import load_config
    from fusiongym.experiments.plots import image_format

    _check_positive("--dpi", args.dpi)
    if len(args.schedule) > 3:
        raise PlotArgumentError(f"at most 3 --schedule rows, got {len(args.schedule)}")
    labels = args.label
    if labels is not None and len(labels) != len(args.schedule):
        raise PlotArgumentError(f"{len(labels)} --label for {len(args.schedule)} --schedule; "
                                "give one label per schedule or none")
    hw = load_config(args.hw)
    network = load_network(args.network)
    schedules = [_load_schedule(v, network, hw, args.cores if v == "no-fusion" else None)
                 for v in args.schedule]
    if labels is None:
        labels = [v if v == "no-fusion" else Path(v).stem for v in args.schedule]
    out = Path(args.out) if args.out else Path(f"{network.name.replace(':', '_')}_schedules.png")
    image_format(out)
    if not out.suffix:
        out = out.with_suffix(".png")

    from fusiongym.experiments.plots.schedule_diagram import plot_schedules

    plot_schedules(network, schedules, hw, out, labels=labels, dpi=args.dpi)
    _print_paths([out], args.json)
    return 0


def _run_dir(args: argparse.Namespace) -> int:
    import sys

    from fusiongym.experiments.plots.training import CURVE_FILE, EVAL_FILE, plot_run

    _check_positive("--dpi", args.dpi)
    paths = plot_run(args.run_dir, dpi=args.dpi,
                     log=lambda message: print(f"note: {message}", file=sys.stderr))
    run_dir = Path(args.run_dir)
    for name in (CURVE_FILE, EVAL_FILE):
        if not (run_dir / name).is_file():
            print(f"note: {run_dir / name} not found; its plots were skipped", file=sys.stderr)
    _print_paths(paths, args.json)
    return 0


def run(args: argparse.Namespace) -> int:
    commands = {"utilization": _utilization, "schedule": _schedule, "run": _run_dir}
    return commands[args.plot_command](args)
