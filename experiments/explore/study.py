"""The measurements of the README's "Hardware exploration" section, on an enumerable space.

``python -m fusiongym.experiments.explore.study SPACE.yaml --run-dir DIR [--seeds 0 1 2] [--fraction 0.25]``

1. **Search efficiency.** The grid (every fitting candidate, with the space's scheduler) is
   the reference: its Pareto front's hypervolume, with every objective normalised to the
   grid's own [best, worst] box and the reference point at 1.1 in each. NSGA-II and random
   search each get ``fraction`` of the grid's evaluations per seed; reported: the share of
   the grid's hypervolume each reaches (mean and per seed). The searches read the grid's
   journal (same evaluations, no re-simulation): what is compared is *which* candidates each
   method asks for, which is what a budget buys.
2. **Proxy fidelity.** bound-dp on every grid candidate: Spearman's rank correlation of its
   weighted latency against the oracle's, the overlap of the two Pareto fronts, and the CPU
   seconds per candidate it saves (from the throughput sample below).
3. **Throughput.** candidate x network evaluations per minute of each scheduler, serial, in
   this process, on a seeded sample of grid candidates evaluated afresh (no memo, no store),
   by wall clock and by CPU time.
"""

from __future__ import annotations

import argparse
import json
import statistics

from fusiongym.experiments.explore.pareto import hypervolume, normaliser, pareto_front, spearman
from fusiongym.experiments.explore.search import Explorer, run_search
from fusiongym.experiments.explore.space import load_space


def _hv(records, names, norm) -> float:
    return hypervolume([norm(r.vector(names)) for r in records], [1.1] * len(names))


def _throughput(space, grid, sample: int) -> dict:
    """Fresh evaluations (no memo, no store) of ``sample`` grid candidates with each
    scheduler: wall and CPU seconds (the CPU figure is what a loaded machine cannot hide)."""
    import random
    import time

    from fusiongym.experiments.explore.evaluate import evaluate_candidate

    cands = random.Random(0).sample([r.candidate for r in grid], min(sample, len(grid)))
    nets = len(space.spec.workloads)
    out: dict = {"networks": [w.network for w in space.spec.workloads], "candidates": len(cands)}
    for scheduler in ("oracle", "bound-dp"):
        w0, c0 = time.perf_counter(), time.process_time()
        for c in cands:
            evaluate_candidate(space, c, scheduler, None)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        out[scheduler] = {"evaluations_per_min_wall": 60 * nets * len(cands) / wall,
                          "evaluations_per_min_cpu": 60 * nets * len(cands) / cpu,
                          "s_per_candidate_wall": wall / len(cands),
                          "s_per_candidate_cpu": cpu / len(cands)}
    return out


def study(space_path: str, run_dir: str, seeds=(0, 1, 2), fraction: float = 0.25,
          population: int = 16, throughput_sample: int = 24) -> dict:
    space = load_space(space_path)
    names = space.objectives
    explorer = Explorer(space, run_dir, progress=None)
    grid = run_search(explorer, "grid")
    norm = normaliser([r.vector(names) for r in grid])
    hv_grid = _hv(grid, names, norm)
    budget = max(2, int(fraction * len(grid)))
    eff: dict = {"grid_evaluations": len(grid), "budget": budget,
                 "grid_front": len(pareto_front([r.vector(names) for r in grid])),
                 "grid_hypervolume": hv_grid}
    for method in ("nsga2", "random"):
        shares = []
        for seed in seeds:
            ex = Explorer(space, run_dir, progress=False)
            recs = run_search(ex, method, budget, seed, population)
            shares.append(_hv(recs, names, norm) / hv_grid)
        eff[method] = {"share_per_seed": shares, "mean_share": statistics.mean(shares)}
    # proxy fidelity: bound-dp on every grid candidate
    cands = [r.candidate for r in grid]
    proxy = [explorer.record(c, e) for c, e in zip(cands, explorer.evaluate(cands, "bound-dp",
                                                                            "bound-dp"))]
    lat_o = [r.objectives["latency_ms"] for r in grid]
    lat_p = [r.objectives["latency_ms"] for r in proxy]
    front_o = {grid[i].key for i in pareto_front([r.vector(names) for r in grid])}
    front_p = {proxy[i].key for i in pareto_front([r.vector(names) for r in proxy])}
    fidelity = {"spearman_latency": spearman(lat_p, lat_o),
                "oracle_front": len(front_o), "proxy_front": len(front_p),
                "fronts_shared": len(front_o & front_p),
                "oracle_sim_calls_per_candidate": statistics.mean(r.evaluation.sim_calls for r in grid),
                "proxy_sim_calls_per_candidate": statistics.mean(r.evaluation.sim_calls for r in proxy),
                "max_oracle_over_proxy": max(o / p for o, p in zip(lat_o, lat_p)),
                "min_oracle_over_proxy": min(o / p for o, p in zip(lat_o, lat_p))}
    throughput = _throughput(space, grid, throughput_sample)
    # time saved: from the fresh, same-sample timings (the journal's were taken under load)
    fidelity["saved_cpu_s_per_candidate"] = (throughput["oracle"]["s_per_candidate_cpu"]
                                             - throughput["bound-dp"]["s_per_candidate_cpu"])
    return {"space": space.name, "objectives": names, "efficiency": eff,
            "proxy_fidelity": fidelity, "throughput": throughput}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m fusiongym.experiments.explore.study", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("space")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--fraction", type=float, default=0.25)
    p.add_argument("--population", type=int, default=16)
    args = p.parse_args(argv)
    print(json.dumps(study(args.space, args.run_dir, tuple(args.seeds), args.fraction,
                           args.population), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
