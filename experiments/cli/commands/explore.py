"""``fusiongym explore``: search a hardware design space for the networks it is meant for.

Reads a design space file (knobs, the board or budget, workloads, objectives; see
``experiments/explore/space.py`` and ``experiments/configs/explore_*.yaml``), drops every
candidate the resource model says does not fit, schedules each remaining candidate on each
workload (the exact oracle, or the ``bound-dp`` proxy whose front the oracle then
verifies) and reports the Pareto front, each network's pick, knob sensitivity and a plot.
A run directory keeps a journal of finished evaluations and the shared group store: run
the same command again and it resumes, simulating nothing twice.

Examples::

    fusiongym explore experiments/configs/explore_grid.yaml --method grid
    fusiongym explore experiments/configs/explore_ultra96.yaml --method nsga2 --budget 120
    fusiongym explore SPACE.yaml --method random --budget 50 --seed 1 --json
    fusiongym explore SPACE.yaml --method grid --num-workers 2          # on Ray
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("explore", help="search a hardware design space (Pareto front)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("space", help="design space YAML file")
    p.add_argument("--method", choices=("grid", "random", "nsga2"), default="nsga2",
                   help="how to pick candidates (default: nsga2)")
    p.add_argument("--budget", type=int, metavar="N",
                   help="evaluations (random / nsga2; grid: the first N fitting candidates)")
    p.add_argument("--seed", type=int, default=0, help="random / nsga2 seed (default: 0)")
    p.add_argument("--population", type=int, default=16, metavar="P",
                   help="nsga2 generation size (default: 16)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="run directory: journal, group store, plot (default: runs/explore-NAME)")
    p.add_argument("--plot", type=Path, metavar="PNG",
                   help="where to write the Pareto plot (default: DIR/pareto.png)")
    p.add_argument("--no-verify", action="store_true",
                   help="with scheduler bound-dp: skip the oracle's check of the front")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--num-workers", type=int, metavar="N",
                   help="evaluate candidates on N Ray workers (pip install '.[ray]')")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="with --num-workers: join a running Ray cluster ('auto', HEAD:6379)")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from fusiongym.accelerator.errors import UserInputError
    from fusiongym.accelerator.fileio import atomic_write_json
    from fusiongym.experiments.explore.report import plot_front, summary
    from fusiongym.experiments.explore.search import Explorer, run_search
    from fusiongym.experiments.explore.space import load_space
    from fusiongym.experiments.parallel.ray_session import check_workers

    for name in ("budget", "population"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise UserInputError(f"--{name} must be >= 1, got {v}")
    check_workers(args.num_workers)
    if args.ray_address and not args.num_workers:
        raise UserInputError("--ray-address goes with --num-workers")
    space = load_space(args.space)
    out = args.out or Path("runs") / f"explore-{space.name}"
    explorer = Explorer(space, out, num_workers=args.num_workers, ray_address=args.ray_address,
                        progress=False if (args.no_progress or args.json) else None)
    with explorer.session():
        records = run_search(explorer, args.method, args.budget, args.seed, args.population)
        result = summary(explorer, records, args.method, verify=not args.no_verify)
    if len(space.objectives) >= 2 and records:
        result["plot"] = str(plot_front(records, space.objectives, args.plot or out / "pareto.png",
                                        f"{space.name}: {len(records)} designs evaluated "
                                        f"({args.method}), {space.spec.scheduler}",
                                        {n: p["key"] for n, p in result["picks"].items()}))
    atomic_write_json(out / f"summary-{args.method}.json", result)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_human(result)
    return 0


def _print_human(s: dict) -> None:
    from fusiongym.experiments.cli.output import format_table

    print(f"{s['space']}: {s['candidates']} candidates, {s['fitting']} fit; {s['method']} "
          f"evaluated {s['evaluated']} ({s['evaluated_now']} now, {s['from_journal']} from the "
          f"journal, {s['dropped_over_budget']} proposals over budget dropped) with "
          f"{s['scheduler']}: {s['sim_calls']} simulations, {s['seconds']:.1f} s")
    nets = list(s["picks"])
    rows = []
    for r in s["front"]:
        res = r["resources"]
        rows.append([r["key"], r["peak_gops"],
                     *(f"{v:.4g}" for v in r["objectives"].values()),
                     *(r["latency_ms"][n] for n in nets),
                     res.get("bram36", res.get("area_mm2")), res.get("dsp", ""), res.get("luts", "")])
    print(format_table(["front design", "peak GOPS", *s["objectives"],
                        *(f"{n} ms" for n in nets), "BRAM36/mm2", "DSP", "LUT"], rows))
    print()
    for n, p in s["picks"].items():
        print(f"{n:>14} picks {p['key']} ({p['latency_ms']:.4g} ms, {p['peak_gops']} GOPS)")
    sens = s["sensitivity_latency_ms"]
    if sens:
        print("knob sensitivity (best latency with the knob fixed, max/min over its choices): "
              + ", ".join(f"{k} {v['spread']:.2f}x" for k, v in
                          sorted(sens.items(), key=lambda kv: -kv[1]["spread"])))
    if "verified" in s:
        v = s["verified"]
        print(f"oracle check of the proxy's front: {v['still_non_dominated']} of "
              f"{v['candidates']} still non-dominated; oracle/proxy latency "
              f"{v['oracle_over_proxy_latency']}")
    if "plot" in s:
        print(f"plot: {s['plot']}")
