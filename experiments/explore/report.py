"""What an exploration reports: the Pareto front, each network's pick, knob sensitivity,
the oracle's verification of a proxy's front, and the scatter plot with the front drawn."""

from __future__ import annotations

import math
from pathlib import Path

from fusiongym.experiments.explore.pareto import pareto_front, sensitivity
from fusiongym.experiments.explore.search import Explorer, Record
from fusiongym.experiments.explore.space import OBJECTIVES


def front_of(records: list[Record], names: list[str]) -> list[Record]:
    idx = pareto_front([r.vector(names) for r in records])
    return sorted((records[i] for i in idx), key=lambda r: r.vector(names))


def record_json(r: Record) -> dict:
    return {"key": r.key, "knobs": dict(r.candidate.knobs), "peak_gops": round(r.peak_gops, 1),
            "resources": r.resources, "objectives": r.objectives,
            "scheduler": r.evaluation.scheduler,
            "latency_ms": {n.network: n.latency_ms for n in r.evaluation.networks}}


def picks(records: list[Record]) -> dict[str, dict]:
    """Per network: the evaluated design that runs it fastest."""
    out: dict[str, dict] = {}
    for net in [n.network for n in records[0].evaluation.networks] if records else []:
        best = min(records, key=lambda r: (_ms(r, net), r.key))
        out[net] = {"key": best.key, "latency_ms": _ms(best, net),
                    "peak_gops": round(best.peak_gops, 1)}
    return out


def _ms(r: Record, net: str) -> float:
    return next(n.latency_ms for n in r.evaluation.networks if n.network == net)


def verify_front(explorer: Explorer, front: list[Record], names: list[str]) -> dict:
    """Re-evaluate a proxy's front with the oracle; is it still mutually non-dominated,
    and how far are the proxy's latencies from the oracle's?"""
    cands = [r.candidate for r in front]
    oracle = [explorer.record(c, e) for c, e in zip(cands, explorer.evaluate(cands, "oracle",
                                                                             "verify"))]
    kept = pareto_front([r.vector(names) for r in oracle])
    ratios = [o.objectives["latency_ms"] / p.objectives["latency_ms"]
              for p, o in zip(front, oracle) if "latency_ms" in names]
    return {"candidates": len(front), "still_non_dominated": len(kept),
            "front_confirmed": len(kept) == len(front),
            "oracle_over_proxy_latency": [min(ratios), max(ratios)] if ratios else None,
            "oracle": [record_json(r) for r in oracle]}


def summary(explorer: Explorer, records: list[Record], method: str, verify: bool) -> dict:
    space = explorer.space
    names = space.objectives
    front = front_of(records, names)
    latency = [r.objectives.get("latency_ms") for r in records]
    out = {
        "space": space.name, "source": space.source, "method": method,
        "scheduler": space.spec.scheduler, "objectives": names,
        "objective_sense": {n: OBJECTIVES[n] for n in names},
        "candidates": space.size, "fitting": len(space.fitting()),
        "evaluated": len(records), "evaluated_now": explorer.stats.evaluated,
        "from_journal": explorer.stats.from_journal,
        "dropped_over_budget": explorer.stats.dropped_over_budget,
        "sim_calls": explorer.stats.sim_calls, "seconds": round(explorer.stats.seconds, 2),
        "front": [record_json(r) for r in front],
        "picks": picks(records),
        "sensitivity_latency_ms": (sensitivity([dict(r.candidate.knobs) for r in records], latency)
                                   if None not in latency and records else {}),
        "run_dir": str(explorer.run_dir),
    }
    if verify and space.spec.scheduler != "oracle":
        out["verified"] = verify_front(explorer, front, names)
    return out


def plot_front(records: list[Record], names: list[str], path: str | Path, title: str,
               pick_keys: dict[str, str] | None = None) -> Path:
    """Scatter of every evaluated design on the first two objectives, the front drawn."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x_name, y_name = names[0], names[1]
    xs = [r.objectives[x_name] for r in records]
    ys = [r.objectives[y_name] for r in records]
    front = front_of(records, [x_name, y_name])
    fig, ax = plt.subplots(figsize=(7.5, 5))
    gemms = sorted({str(dict(r.candidate.knobs).get("gemm", "-")) for r in records})
    markers = "osD^v<>p"
    for k, g in enumerate(gemms):
        sel = [i for i, r in enumerate(records) if str(dict(r.candidate.knobs).get("gemm", "-")) == g]
        ax.scatter([xs[i] for i in sel], [ys[i] for i in sel], s=16, alpha=0.45,
                   marker=markers[k % len(markers)], label=f"GEMM {g}")
    fx = [r.objectives[x_name] for r in front]
    fy = [r.objectives[y_name] for r in front]
    ax.step(fx, fy, where="post", color="crimson", lw=1.5)
    ax.scatter(fx, fy, s=40, facecolors="none", edgecolors="crimson", lw=1.5,
               label=f"Pareto front ({len(front)})")
    by_design: dict[str, list[str]] = {}
    for net, key in (pick_keys or {}).items():
        by_design.setdefault(key, []).append(net)
    for k, (key, nets) in enumerate(by_design.items()):
        r = next(r for r in records if r.key == key)
        ax.annotate(f"fastest for {', '.join(nets)}: {r.peak_gops:.0f} GOPS",
                    (r.objectives[x_name], r.objectives[y_name]), xytext=(25, -22 - 16 * k),
                    textcoords="offset points", fontsize=7,
                    arrowprops={"arrowstyle": "-", "lw": 0.6})
    ax.set_xlabel(_label(x_name))
    ax.set_ylabel(_label(y_name))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def _label(name: str) -> str:
    return {"latency_ms": "latency (ms, weighted mean over the workloads)",
            "utilisation": "FPGA utilisation (max of BRAM / DSP / LUT / FF share)",
            "energy_mj": "energy (mJ, weighted mean)", "peak_gops": "peak GOPS"}.get(name, name)


def finite(x: float) -> bool:
    return not (isinstance(x, float) and math.isnan(x))
