"""Placement schedulers on the issue-20 workloads: gains, search quality, contention (on demand).

    python -m fusiongym.benchmarks.placement_table [--quick] [--hw mlu100] [--time-limit-s 60]
                                         [--work-limit 8] [--search-sims 40]
                                         [--schedulers list,cpsat] [--json]

Workloads (``--quick``: squeezenet1_1, resnet18x2, CP-SAT limited to 10 s / 2 work units,
``search`` to 12 whole-placement simulations):

- one GoogLeNet if the zoo has it, else one SqueezeNet 1.1 (its fire modules' expand1x1 /
  expand3x3 are the branchy stand-in), one BERT-base, four ResNet-50 requests, and a
  ResNet-50 + BERT-base mix.

Every scheduler of :data:`TABLE_SCHEDULERS` (the searches of
:data:`agents.placement.PLACEMENT_SCHEDULERS` that need no trained policy) gets a fresh group evaluator
(so its simulator calls are its own), and its placement is simulated (its own simulation if
it ran one). Per workload and scheduler: the simulated makespan, the speedup over
``sequential``, the gap to the sound lower bound (:mod:`accelerator.spatial.bounds`) and to
the best known (the least makespan in the table), simulator calls (group + whole-placement
simulations), seconds, throughput, per-request latency, and STP / ANTT against each request
alone on the whole chip on its sequential oracle schedule.

Then the DRAM-bytes ceiling of four ResNet-50 requests (the sequential oracle's bytes per
request over the bandwidth, and the bound's least bytes of any grouping), and the contention
check: a 2-request workload placed by ``partition`` (each on half the chip), its simulated
makespan against its isolated-cost estimate (the same launch rule over each group's isolated
latency, :func:`accelerator.spatial.timeline.replay`), under the fair-share and the burst
DRAM models.
"""

from __future__ import annotations

import argparse
import json
import sys

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate
from fusiongym.accelerator.spatial.bounds import makespan_lower_bound
from fusiongym.accelerator.spatial.metrics import multiprogram, throughput_per_second
from fusiongym.accelerator.spatial.simulate import simulate_placement
from fusiongym.accelerator.spatial.timeline import host_flags, replay
from fusiongym.accelerator.spatial.workload import Workload
from fusiongym.accelerator.workloads.zoo import ZOO
from fusiongym.agents.placement import PLACEMENT_SCHEDULERS, make_placement_scheduler
from fusiongym.agents.placement.simple import oracle_schedules
from fusiongym.benchmarks.common import log


TABLE_SCHEDULERS = ("sequential", "partition", "list", "cpsat", "search")


def workloads(quick: bool) -> list[list[str]]:
    if quick:
        return [["squeezenet1_1"], ["resnet18x2"]]
    branchy = "googlenet" if "googlenet" in ZOO else "squeezenet1_1"
    return [[branchy], ["bert_base"], ["resnet50x4"], ["resnet50", "bert_base"]]


def score(workload: Workload, hw, options: dict,
          schedulers: tuple[str, ...] = TABLE_SCHEDULERS) -> dict:
    """Every scheduler of ``schedulers`` on ``workload`` (see the module docstring)."""
    ev0 = GroupEvaluator(hw)
    lb = makespan_lower_bound(workload, hw, ev0)
    alone = [evaluate(r.network, s, hw, ev0).latency_cycles
             for r, s in zip(workload.requests, oracle_schedules(workload, hw, ev0))]
    rows = []
    for name in [n for n in schedulers if n in PLACEMENT_SCHEDULERS]:
        log(f"{workload.name}: {name}")
        s = make_placement_scheduler(name, **options.get(name, {}))
        ev = GroupEvaluator(hw)
        placement = s.place(workload, hw, ev)
        result = s.last_result or simulate_placement(workload, placement, hw, ev)
        mp = multiprogram(alone, result.request_latency_cycles)
        rows.append({"scheduler": name, "makespan_cycles": result.makespan_cycles,
                     "sim_calls": s.sim_calls, "seconds": round(s.seconds, 1),
                     "throughput_per_s": throughput_per_second(len(workload),
                                                               result.makespan_cycles,
                                                               hw.clock_mhz),
                     "latency_cycles": result.request_latency_cycles,
                     "stp": mp.stp, "antt": mp.antt, "groups": len(placement.groups),
                     "info": {k: v for k, v in s.info.items()
                              if k in ("status", "proved_optimal", "grouping", "max_cores",
                                       "share_cores", "groupings", "model_makespan_cycles",
                                       "wall_capped", "fallback", "dram_capacity", "hint",
                                       "rounds", "stop", "start",
                                       "start_cycles", "moves")}})
    seq = next(r for r in rows if r["scheduler"] == "sequential")["makespan_cycles"]
    best = min(r["makespan_cycles"] for r in rows)
    for r in rows:
        r["speedup"] = seq / r["makespan_cycles"]
        r["gap_to_bound"] = r["makespan_cycles"] / lb.makespan_cycles - 1
        r["gap_to_best"] = r["makespan_cycles"] / best - 1
    return {"workload": workload.name, "requests": len(workload),
            "lower_bound": lb.__dict__, "alone_cycles": alone, "best_cycles": best,
            "rows": rows}


def dram_ceiling(hw, spec: str = "resnet50x4") -> dict:
    """Throughput ceilings of ``spec`` from DRAM bytes (see the module docstring)."""
    w = Workload.parse([spec])
    ev = GroupEvaluator(hw)
    net = w.requests[0].network
    res = evaluate(net, oracle_schedules(Workload.single(net), hw, ev)[0], hw, ev)
    oracle_bytes = res.dram_bytes_read + res.dram_bytes_written
    lb = makespan_lower_bound(w, hw, ev)
    bw = hw.dram_bandwidth_bytes_per_cycle
    return {"workload": spec, "sequential_cycles_per_request": res.latency_cycles,
            "oracle_bytes_per_request": oracle_bytes,
            "ceiling_speedup_oracle_bytes": res.latency_cycles / (oracle_bytes / bw),
            "ceiling_speedup_bound": len(w) * res.latency_cycles / lb.dram_cycles}


def contention(hw, spec: str) -> dict:
    """Simulated vs isolated-cost estimate of a partition placement, both DRAM models."""
    w = Workload.parse([spec])
    ev = GroupEvaluator(hw)
    placement = make_placement_scheduler("partition").place(w, hw, ev)
    deps = placement.validate(w, hw)
    durations = [ev.result(w.requests[g.request].network, g.start, g.end, g.cores).latency_cycles
                 for g in placement.groups]
    arrivals = [w.requests[g.request].arrival_cycles for g in placement.groups]
    estimate = replay(placement.groups, deps, arrivals, durations, hw.num_cores,
                      host_flags(w, placement.groups, hw)).makespan_cycles
    fair = simulate_placement(w, placement, hw.with_(dram_arbitration="fair_share"),
                              GroupEvaluator(hw.with_(dram_arbitration="fair_share")))
    burst_hw = hw.with_(dram_arbitration="burst")
    burst = simulate_placement(w, placement, burst_hw, GroupEvaluator(burst_hw))
    return {"workload": spec, "estimate_cycles": estimate,
            "fair_share_cycles": fair.makespan_cycles, "burst_cycles": burst.makespan_cycles,
            "fair_over_estimate": fair.makespan_cycles / estimate - 1,
            "burst_vs_fair": burst.makespan_cycles / fair.makespan_cycles - 1}


def markdown(report: dict) -> str:
    out = []
    for t in report["tables"]:
        lb = t["lower_bound"]
        out.append(f"**{t['workload']}** ({t['requests']} request(s)); lower bound "
                   f"{lb['makespan_cycles']:,} cycles (area {lb['area_cycles']:,}, DRAM "
                   f"{lb['dram_cycles']:,}, critical path {lb['critical_path_cycles']:,}); "
                   f"alone: {', '.join(f'{a:,}' for a in t['alone_cycles'])} cycles\n")
        out.append("| scheduler | makespan (cycles) | speedup vs sequential | gap to bound | "
                   "gap to best | sim calls | seconds | throughput (req/s) | latency per "
                   "request (cycles) | STP | ANTT | notes |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|")
        for r in t["rows"]:
            notes = ", ".join(f"{k}={v}" for k, v in r["info"].items())
            out.append(f"| {r['scheduler']} | {r['makespan_cycles']:,} | {r['speedup']:.3f}x | "
                       f"{100 * r['gap_to_bound']:.1f} % | {100 * r['gap_to_best']:.1f} % | "
                       f"{r['sim_calls']} | {r['seconds']} | {r['throughput_per_s']:.0f} | "
                       f"{', '.join(f'{x:,}' for x in r['latency_cycles'])} | {r['stp']:.2f} | "
                       f"{r['antt']:.2f} | {notes} |")
        out.append("")
    if "dram_ceiling" not in report:  # --schedulers: the rows alone
        return "\n".join(out)
    c = report["dram_ceiling"]
    out.append(f"DRAM-bytes ceiling, {c['workload']}: the sequential oracle moves "
               f"{c['oracle_bytes_per_request']:,} bytes per request in "
               f"{c['sequential_cycles_per_request']:,} cycles, so with those bytes no placement "
               f"beats {c['ceiling_speedup_oracle_bytes']:.2f}x its throughput; the bound's least "
               f"bytes over any grouping allow at most {c['ceiling_speedup_bound']:.2f}x.\n")
    k = report["contention"]
    out.append("| contention check | isolated-cost estimate | fair-share simulated | burst "
               "simulated | simulated over estimate | burst vs fair-share |")
    out.append("|---|---:|---:|---:|---:|---:|")
    out.append(f"| {k['workload']}, partition | {k['estimate_cycles']:,} | "
               f"{k['fair_share_cycles']:,} | {k['burst_cycles']:,} | "
               f"+{100 * k['fair_over_estimate']:.1f} % | {100 * k['burst_vs_fair']:+.1f} % |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small workloads, short CP-SAT")
    parser.add_argument("--hw", default="mlu100", help="hardware preset or file (default: mlu100)")
    parser.add_argument("--time-limit-s", type=float, default=None,
                        help="CP-SAT wall-clock limit (default 60; --quick 10)")
    parser.add_argument("--work-limit", type=float, default=None,
                        help="CP-SAT deterministic-time limit (default 8; --quick 2)")
    parser.add_argument("--search-sims", type=int, default=None,
                        help="search: whole-placement simulations (default 40; --quick 12)")
    parser.add_argument("--schedulers", default=None,
                        help="comma-separated rows to run (sequential, the speedup's baseline, "
                             "always runs; 'gap to best' is then among these rows), without "
                             "the DRAM ceiling and contention check (default: all)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args(argv)
    schedulers = TABLE_SCHEDULERS
    if args.schedulers is not None:
        asked = [n.strip() for n in args.schedulers.split(",") if n.strip()]
        bad = [n for n in asked if n not in TABLE_SCHEDULERS]
        if bad or not asked:
            parser.exit(2, f"error: --schedulers {args.schedulers!r}: each must be one of "
                           f"{', '.join(TABLE_SCHEDULERS)}\n")
        schedulers = tuple(n for n in TABLE_SCHEDULERS if n == "sequential" or n in asked)
    try:
        hw = load_config(args.hw)
    except UserInputError as err:
        parser.exit(2, f"error: {err}\n")
    limit = args.time_limit_s if args.time_limit_s is not None else (10.0 if args.quick else 60.0)
    work = args.work_limit if args.work_limit is not None else (2.0 if args.quick else 8.0)
    sims = args.search_sims if args.search_sims is not None else (12 if args.quick else 40)
    if limit <= 0 or work <= 0:
        parser.exit(2, "error: --time-limit-s and --work-limit must be > 0\n")
    if sims < 1:
        parser.exit(2, f"error: --search-sims must be >= 1, got {sims}\n")
    options = {"cpsat": {"time_limit_s": limit, "work_limit": work},
               "search": {"max_simulations": sims}}
    tables = [score(Workload.parse(specs), hw, options, schedulers)
              for specs in workloads(args.quick)]
    report = {"hw": hw.name, "options": options, "tables": tables}
    if args.schedulers is None:
        log("DRAM ceiling and contention check")
        report["dram_ceiling"] = dram_ceiling(hw, "resnet18x4" if args.quick else "resnet50x4")
        report["contention"] = contention(hw, "resnet18x2" if args.quick else "resnet50x2")
    print(json.dumps(report, indent=1) if args.json else markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
