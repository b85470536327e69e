"""Plots of a training / evaluation run directory.

Run-directory contract (the trainer and the evaluator write these; this module only reads)
-----------------------------------------------------------------------------------------

``RUN_DIR/curve.csv`` -- the learning curve, one row per logging point, with a header row.
Required columns (others, e.g. ``wall_seconds``, are ignored; column order is free):

- ``timesteps``: environment steps so far (integer);
- ``mean_return``: mean episode return over the logging window. An episode's return is
  ``-latency / no_fusion_latency``, so -1 is the no-fusion baseline and closer to 0 is
  better; empty or ``nan`` before the first episode ends;
- ``eval_ratio_to_oracle``: geometric mean over the held-out networks of
  ``objective(policy's schedule) / objective(oracle's schedule)`` (>= 1, 1 = optimal), at
  the rows where a held-out evaluation ran; empty (or ``nan``) elsewhere.

``RUN_DIR/eval.json`` -- the final evaluation::

    {"networks": ["resnet18", ...],            # held-out networks, in display order
     "objective": "latency",                    # optional: latency | energy | edp
     "hardware": "mlu100",                      # optional, shown in titles
     "results": [                               # one per (network, scheduler)
        {"network": "resnet18",
         "scheduler": "ppo",                    # no-fusion, heuristic, random-small, ppo, ...
         "latency_cycles": 1234567,             # latency of the scheduler's schedule
         "ratio_to_oracle": 1.03,               # objective / oracle's (>= 1); null: no oracle
         "speedup_vs_no_fusion": 1.8,           # no-fusion objective / objective (> 1 = better)
         "sim_calls": 412,                      # distinct group simulations the search ran
         "wall_seconds": 0.02,                  # time the scheduler took (optional here, see below)
         "schedule": [{"start": 0, "end": 3, "cores": 4}, ...]},  # optional: the groups found
        ...],
     "timings": [                               # optional: wall_seconds kept apart, so that the
        {"network": "resnet18",                 # rest of the file is identical run to run
         "scheduler": "ppo", "wall_seconds": 0.02}, ...]}

Other keys are ignored. Numeric fields may be ``null``; such a point is left out of the
plot that needs it.

Plots (:func:`plot_run` writes them to ``RUN_DIR/plots/``):

- ``learning_curve.png``: mean return (top) and held-out ratio to oracle (bottom) vs steps;
- ``speedup.png``: per network, one bar per scheduler: speedup over no fusion;
- ``quality_vs_cost.png``: ratio to oracle vs simulator calls (log x), one marker shape per
  scheduler and one colour per network (DLFusion's quality-vs-search-cost view); the
  ``ppo-search@<budget>`` results of a network are joined into a curve over budgets;
- ``schedules_<network>.png``: for each built-in network whose results carry ``schedule``,
  the ``ppo``, ``heuristic`` and ``oracle`` schedules as rows of fused groups;
- ``speedup-<suffix>.png`` and ``quality_vs_cost-<suffix>.png`` for every other evaluation
  (``eval_<hw>_<digest>.json`` listed in ``evals.json``, or an older run's ``eval-<hw>.json``:
  the run evaluated on other hardware or networks).
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fusiongym.experiments.orchestration.eval_files import evaluation_files, plot_suffix
from fusiongym.experiments.plots import PlotError, new_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CURVE_FILE = "curve.csv"
EVAL_FILE = "eval.json"
PLOTS_DIR = "plots"
CURVE_COLUMNS = ("timesteps", "mean_return", "eval_ratio_to_oracle")
RESULT_NUMBERS = ("latency_cycles", "ratio_to_oracle", "speedup_vs_no_fusion", "sim_calls",
                  "wall_seconds")
DIAGRAM_SCHEDULERS = ("ppo", "heuristic", "oracle")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h")


class RunDirError(PlotError):
    """A run directory's files are missing or do not follow the contract."""


def _number(value: Any, where: str) -> float:
    if value is None or (isinstance(value, str)
                         and value.strip().lower() in ("", "nan", "none", "null")):
        return math.nan
    if isinstance(value, bool):
        raise RunDirError(f"{where}: expected a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise RunDirError(f"{where}: expected a number, got {value!r}") from None


def load_curve(path: str | Path) -> dict[str, np.ndarray]:
    """``curve.csv`` as arrays (sorted by timesteps); a directory means ``DIR/curve.csv``."""
    path = Path(path)
    if path.is_dir():
        path = path / CURVE_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise RunDirError(f"{path}: not found") from None
    except OSError as err:
        raise RunDirError(f"{path}: cannot read: {err.strerror}") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in CURVE_COLUMNS if c not in header]
    if missing:
        raise RunDirError(f"{path}: missing column(s) {', '.join(missing)} "
                          f"(need {', '.join(CURVE_COLUMNS)})")
    cols: dict[str, list[float]] = {c: [] for c in CURVE_COLUMNS}
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip(): v for k, v in row.items()}
        for c in CURVE_COLUMNS:
            cols[c].append(_number(row.get(c), f"{path}:{line}: {c}"))
    out = {c: np.asarray(v, dtype=float) for c, v in cols.items()}
    if not len(out["timesteps"]):
        raise RunDirError(f"{path}: no data rows")
    if np.isnan(out["timesteps"]).any():
        raise RunDirError(f"{path}: every row needs a timesteps value")
    order = np.argsort(out["timesteps"], kind="stable")
    return {c: v[order] for c, v in out.items()}


def load_eval(path: str | Path) -> dict:
    """``eval.json``, checked against the contract; numbers as floats (NaN for null)."""
    path = Path(path)
    if path.is_dir():
        path = path / EVAL_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunDirError(f"{path}: not found") from None
    except OSError as err:
        raise RunDirError(f"{path}: cannot read: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise RunDirError(f"{path}: not valid JSON: {err.msg} (line {err.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise RunDirError(f"{path}: expected an object with a 'results' list")
    results = []
    for i, r in enumerate(data["results"]):
        where = f"{path}: results[{i}]"
        if not isinstance(r, dict):
            raise RunDirError(f"{where}: expected an object")
        for key in ("network", "scheduler"):
            if not isinstance(r.get(key), str) or not r[key]:
                raise RunDirError(f"{where}: '{key}' must be a non-empty string")
        clean = dict(r)
        for key in RESULT_NUMBERS:
            clean[key] = _number(r.get(key), f"{where}.{key}")
        results.append(clean)
    timings = data.get("timings")
    if isinstance(timings, list):
        wall = {(t.get("network"), t.get("scheduler")): t.get("wall_seconds")
                for t in timings if isinstance(t, dict)}
        for i, r in enumerate(results):
            if math.isnan(r["wall_seconds"]):
                r["wall_seconds"] = _number(wall.get((r["network"], r["scheduler"])),
                                            f"{path}: timings for results[{i}]")
    objective = data.get("objective", "latency")
    if not isinstance(objective, str) or not objective:
        raise RunDirError(f"{path}: 'objective' must be a name such as 'latency'")
    networks = list(data.get("networks") or [])
    if not isinstance(networks, list) or not all(isinstance(n, str) for n in networks):
        raise RunDirError(f"{path}: 'networks' must be a list of names")
    for r in results:  # networks that only appear in results go last, in order of appearance
        if r["network"] not in networks:
            networks.append(r["network"])
    specs = data.get("network_specs")
    return {"networks": networks, "results": results, "objective": objective,
            "network_specs": specs if isinstance(specs, dict) else {},
            "hardware": str(data.get("hardware", ""))}


def _schedulers(results: list[dict]) -> list[str]:
    seen: list[str] = []
    for r in results:
        if r["scheduler"] not in seen:
            seen.append(r["scheduler"])
    return seen


def _palette(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def plot_learning_curve(curve: dict[str, np.ndarray] | str | Path, path: str | Path | None = None,
                        title: str = "", dpi: int = 100) -> "Figure":
    """Mean return (top) and held-out ratio to oracle (bottom) against timesteps."""
    from matplotlib.ticker import EngFormatter

    if not isinstance(curve, dict):
        curve = load_curve(curve)
    x = curve["timesteps"]
    fig = new_figure(9.0, 6.0, layout="constrained")
    ax_ret, ax_ratio = fig.subplots(2, 1, sharex=True)
    ret = curve["mean_return"]
    ok = ~np.isnan(ret)
    ax_ret.plot(x[ok], ret[ok], color="#1f77b4", linewidth=1.5, gid="mean-return")
    ax_ret.axhline(-1.0, color="#888888", linestyle=":", linewidth=1,
                   label="no fusion (return -1)")
    ax_ret.set_ylabel("mean episode return\n(-latency / no-fusion latency)")
    ax_ret.legend(fontsize=8, loc="best", frameon=False)
    ax_ret.grid(color="#dddddd", linewidth=0.5)

    ratio = curve["eval_ratio_to_oracle"]
    ok = ~np.isnan(ratio)
    if ok.any():
        ax_ratio.plot(x[ok], ratio[ok], color="#d62728", marker="o", markersize=4,
                      linewidth=1.5, gid="eval-ratio")
        ax_ratio.axhline(1.0, color="black", linestyle="--", linewidth=1, label="oracle (1.0)")
        ax_ratio.legend(fontsize=8, loc="upper right", frameon=False)
        lo, hi = np.nanmin(ratio), np.nanmax(ratio)
        ax_ratio.set_ylim(min(0.95, lo - 0.05), max(hi * 1.05, 1.05))
    else:
        ax_ratio.text(0.5, 0.5, "no held-out evaluations in curve.csv", ha="center",
                      va="center", transform=ax_ratio.transAxes, color="#666666")
    ax_ratio.set_ylabel("held-out ratio to oracle\n(geo-mean, lower is better)")
    ax_ratio.set_xlabel("timesteps")
    ax_ratio.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax_ratio.grid(color="#dddddd", linewidth=0.5)
    fig.suptitle(title or "learning curve", fontsize=11)
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig


def plot_speedup(evaluation: dict | str | Path, path: str | Path | None = None, title: str = "",
                 dpi: int = 100) -> "Figure":
    """Per network, one bar per scheduler: speedup over no fusion (1.0 = no gain)."""
    if not isinstance(evaluation, dict):
        evaluation = load_eval(evaluation)
    results = evaluation["results"]
    networks = evaluation["networks"]
    schedulers = _schedulers(results)
    value = {(r["network"], r["scheduler"]): r["speedup_vs_no_fusion"] for r in results}
    n_net, n_sch = len(networks), max(len(schedulers), 1)
    fig = new_figure(min(20.0, max(7.0, 1.5 + 0.35 * n_net * n_sch + 0.4 * n_net)), 4.8,
                     layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / n_sch
    colors = _palette(len(schedulers))
    x = np.arange(n_net)
    for j, sched in enumerate(schedulers):
        xs, hs = [], []
        for i, net in enumerate(networks):
            v = value.get((net, sched), math.nan)
            if not math.isnan(v):
                xs.append(x[i] + (j - (n_sch - 1) / 2) * width)
                hs.append(v)
        bars = ax.bar(xs, hs, width, color=colors[j], label=sched, gid=f"speedup|{sched}")
        if n_net * n_sch <= 40:
            ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks(x, networks, rotation=30 if n_net > 6 else 0,
                  ha="right" if n_net > 6 else "center")
    objective = evaluation.get("objective", "latency")
    ax.set_ylabel("speedup over no fusion (×)" if objective == "latency"
                  else f"no-fusion {objective} / {objective} (×)")
    ax.set_xlabel("network")
    ax.set_ylim(0, max([1.0] + [v for v in value.values() if not math.isnan(v)]) * 1.15)
    ax.legend(title="scheduler", fontsize=8, title_fontsize=8, loc="upper left",
              bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.grid(axis="y", color="#dddddd", linewidth=0.5)
    ax.set_axisbelow(True)
    ax.set_title(title or "speedup over the no-fusion baseline", fontsize=11, loc="left")
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig


SEARCH_CURVE_PREFIX = "ppo-search@"  # one scheduler at several budgets: drawn as a curve


def _curve_family(scheduler: str) -> str:
    return SEARCH_CURVE_PREFIX.rstrip("@") if scheduler.startswith(SEARCH_CURVE_PREFIX) else scheduler


# the quality axis: ratios to the oracle on a symmetric log of the excess over 1, so that
# 1.001 .. 1.05 (where the good schedulers differ) and 2 .. 5 (no fusion) are both legible
EXCESS_LINEAR_BELOW = 0.001  # excesses under 0.1 % are drawn linearly (the oracle sits at 0)
RATIO_TICKS = (1.0, 1.001, 1.002, 1.005, 1.01, 1.02, 1.05, 1.1, 1.2, 1.5, 2.0, 3.0, 5.0, 10.0,
               20.0)
ZERO_CALLS_X = 0.4  # where "no simulator call" sits on the log x axis, left of 1 call


def _ratio_to_axis(r):
    e = np.asarray(r, dtype=float) - 1.0
    return np.sign(e) * np.log10(1.0 + np.abs(e) / EXCESS_LINEAR_BELOW)


def _axis_to_ratio(y):
    y = np.asarray(y, dtype=float)
    return 1.0 + np.sign(y) * EXCESS_LINEAR_BELOW * (10.0 ** np.abs(y) - 1.0)


def plot_quality_vs_cost(evaluation: dict | str | Path, path: str | Path | None = None,
                         title: str = "", dpi: int = 100) -> "Figure":
    """Ratio to oracle against simulator calls (log x): marker = scheduler, colour = network.

    The ratio axis is a symmetric log of the excess over the oracle (``RATIO_TICKS``), so a
    no-fusion point at 5x does not squash the schedulers within 1 %. Schedulers that ran no
    simulation sit at the left in a column of their own ("0"), spread apart so that none
    hides another. Results named ``ppo-search@<budget>`` are one search at several
    simulator budgets: per network they are joined into a line (quality as the budget
    grows)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    if not isinstance(evaluation, dict):
        evaluation = load_eval(evaluation)
    results = evaluation["results"]
    networks = evaluation["networks"]
    families = list(dict.fromkeys(_curve_family(s) for s in _schedulers(results)))
    colors = dict(zip(networks, _palette(len(networks))))
    markers = {s: MARKERS[j % len(MARKERS)] for j, s in enumerate(families)}
    zero_families = [f for f in families
                     if any(_curve_family(r["scheduler"]) == f and r["sim_calls"] == 0
                            for r in results)]
    fig = new_figure(9.0, 6.0, layout="constrained")
    ax = fig.add_subplot()
    ax.set_yscale("function", functions=(_ratio_to_axis, _axis_to_ratio))
    ax.set_xscale("log")
    curves: dict[str, list[tuple[float, float]]] = {}
    ratios = []
    for r in results:
        calls, ratio = r["sim_calls"], r["ratio_to_oracle"]
        if math.isnan(calls) or math.isnan(ratio):
            continue
        family = _curve_family(r["scheduler"])
        if calls < 1:  # one column for "no search", one slot per scheduler in it
            j = zero_families.index(family)
            calls = ZERO_CALLS_X * 10 ** (0.07 * (j - (len(zero_families) - 1) / 2))
        if family != r["scheduler"]:
            curves.setdefault(r["network"], []).append((calls, ratio))
        ratios.append(ratio)
        ax.scatter([calls], [ratio], marker=markers[family], s=55, alpha=0.85,
                   color=colors[r["network"]], edgecolor="black", linewidth=0.5, zorder=3,
                   gid=f"point|{r['network']}|{r['scheduler']}")
    for net, points in curves.items():
        xs, ys = zip(*sorted(points))
        ax.plot(xs, ys, color=colors[net], linewidth=1.2, alpha=0.8, zorder=2,
                gid=f"search-curve|{net}")
    top = max(ratios, default=1.0)
    ax.set_ylim(_axis_to_ratio(-0.15), _axis_to_ratio(float(_ratio_to_axis(top)) + 0.25))
    ax.yaxis.set_major_locator(FixedLocator([t for t in RATIO_TICKS if t <= top * 1.6]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3f}".rstrip("0").rstrip(".")
                                               if v < 1.1 else f"{v:g}"))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    if zero_families:
        ax.axvline(ZERO_CALLS_X * 2, color="#888888", linewidth=0.8, linestyle=":")
        ax.set_xlim(left=ZERO_CALLS_X / 1.6)
        ticks = [ZERO_CALLS_X] + [t for t in (1, 10, 100, 1_000, 10_000, 100_000)
                                  if t <= max(r["sim_calls"] for r in results
                                              if not math.isnan(r["sim_calls"])) * 3]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(
            lambda v, _: "0" if v == ZERO_CALLS_X else f"{v:,.0f}"))
    ax.set_xlabel("simulator calls (search cost, log scale)"
                  + ("; left of the dotted line: no simulation" if zero_families else ""))
    objective = evaluation.get("objective", "latency")
    ax.set_ylabel(f"{objective} / oracle {objective} (1 = optimal)\n"
                  f"symmetric log of the excess over 1")
    ax.grid(color="#dddddd", linewidth=0.5, which="major")
    ax.set_axisbelow(True)
    _quality_legend(ax, families, markers, networks, colors, curves)
    ax.set_title(title or "quality vs search cost", fontsize=11, loc="left")
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig


def _quality_legend(ax, families, markers, networks, colors, curves) -> None:
    """One legend (so the layout makes room for all of it) with two headed sections."""
    from matplotlib.lines import Line2D

    def header(text: str) -> Line2D:
        return Line2D([], [], linestyle="", marker="", label=text)

    handles = [header("scheduler (marker)")]
    for s in families:
        curve = s == _curve_family(SEARCH_CURVE_PREFIX) and curves
        handles.append(Line2D([], [], marker=markers[s], linestyle="-" if curve else "",
                              color="#999999", markeredgecolor="black", markersize=7,
                              label=f"{s} (line: budgets)" if curve else s))
    handles += [header(""), header("network (colour)")]
    handles += [Line2D([], [], marker="o", linestyle="", color=colors[n],
                       markeredgecolor="black", markersize=7, label=n) for n in networks]
    leg = ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                    frameon=False, handletextpad=0.4)
    for text, h in zip(leg.get_texts(), handles):
        if not h.get_marker() or h.get_marker() == "None":
            text.set_fontweight("bold")


def eval_schedules(evaluation: dict, network: str,
                   schedulers: tuple[str, ...] = DIAGRAM_SCHEDULERS) -> dict[str, tuple]:
    """``{scheduler: (Schedule, latency_cycles)}`` for the results of ``network`` that carry
    a ``schedule`` (in ``schedulers`` order)."""
    from fusiongym.accelerator.schedule import Schedule

    found = {}
    for r in evaluation["results"]:
        if r["network"] == network and r["scheduler"] in schedulers and r.get("schedule"):
            sched = Schedule.from_dict({"network": network, "groups": r["schedule"]},
                                       f"eval.json: {network} / {r['scheduler']}")
            lat = r["latency_cycles"]
            found[r["scheduler"]] = (sched, None if math.isnan(lat) else int(lat))
    return {s: found[s] for s in schedulers if s in found}


def diagram_network(evaluation: dict, network: str):
    """``(Network, "")`` to draw ``network``'s schedules with, or ``(None, why not)``: a zoo
    name loads as is, any other network (an ONNX model) by the name the evaluation was
    given (``network_specs``), if that file is still there."""
    from fusiongym.accelerator.errors import UserInputError
    from fusiongym.accelerator.workloads.loader import load_network
    from fusiongym.accelerator.workloads.zoo import get_network

    try:
        return get_network(network), ""
    except UserInputError:
        pass
    spec = (evaluation.get("network_specs") or {}).get(network)
    if not spec:
        return None, (f"{network} is not a built-in network and the evaluation does not say "
                      "where it came from (re-run `fusiongym evaluate` to record it)")
    try:
        net = load_network(spec)
    except UserInputError as err:
        return None, f"{network}: cannot load {spec!r} again: {err}"
    return net, ""


def plot_eval_schedules(evaluation: dict | str | Path, network: str,
                        path: str | Path | None = None, dpi: int = 100,
                        why_not: list[str] | None = None) -> "Figure | None":
    """The schedules that eval.json recorded for ``network`` (ppo / heuristic / oracle), as
    rows of fused groups. None if no schedule is recorded or the network cannot be loaded
    again; then the reason is appended to ``why_not``."""
    from fusiongym.experiments.plots.schedule_diagram import plot_schedules

    if not isinstance(evaluation, dict):
        evaluation = load_eval(evaluation)
    found = eval_schedules(evaluation, network)
    if not found:
        if why_not is not None:
            why_not.append(f"{network}: the evaluation recorded no schedule to draw")
        return None
    net, why = diagram_network(evaluation, network)
    if net is None:
        if why_not is not None:
            why_not.append(why)
        return None
    return plot_schedules(net, [s for s, _ in found.values()], path=path, labels=list(found),
                          latencies=[lat for _, lat in found.values()], dpi=dpi)


def plot_run(run_dir: str | Path, dpi: int = 100,
             log=lambda message: None) -> list[Path]:
    """Write every plot the run directory has data for into ``RUN_DIR/plots/``.

    Returns the paths written; ``log`` hears why a plot could not be drawn (a schedule
    diagram of a network that cannot be loaded again). A run with neither ``curve.csv`` nor ``eval.json`` is an
    error; a run with one of them gets the plots that file supports.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"run directory {str(run_dir)!r} not found")
    has_curve = (run_dir / CURVE_FILE).is_file()
    has_eval = (run_dir / EVAL_FILE).is_file()
    if not has_curve and not evaluation_files(run_dir):
        raise RunDirError(f"{run_dir}: neither {CURVE_FILE} nor {EVAL_FILE} found")
    out_dir = run_dir / PLOTS_DIR
    written = []
    name = run_dir.resolve().name
    if has_curve:
        p = out_dir / "learning_curve.png"
        fig = plot_learning_curve(load_curve(run_dir), p, title=f"{name}: learning curve", dpi=dpi)
        written.append(p)
        del fig
    if has_eval:
        evaluation = load_eval(run_dir)
        where = f"{name} on {evaluation['hardware']}" if evaluation["hardware"] else name
        p = out_dir / "speedup.png"
        plot_speedup(evaluation, p, title=f"{where}: speedup over no fusion", dpi=dpi)
        written.append(p)
        p = out_dir / "quality_vs_cost.png"
        plot_quality_vs_cost(evaluation, p, title=f"{where}: quality vs search cost", dpi=dpi)
        written.append(p)
        for net in evaluation["networks"]:
            p = out_dir / f"schedules_{re.sub(r'[^A-Za-z0-9_.-]+', '_', net)}.png"
            why_not: list[str] = []
            if plot_eval_schedules(evaluation, net, p, dpi=dpi, why_not=why_not) is not None:
                written.append(p)
            elif why_not and evaluation["results"] and any(
                    r.get("schedule") for r in evaluation["results"] if r["network"] == net):
                log(f"schedule diagram not drawn: {why_not[0]}")
    # every other evaluation (other hardware or networks), by the index and older names
    for other in evaluation_files(run_dir)[1 if has_eval else 0:]:
        evaluation = load_eval(other)
        suffix = plot_suffix(other)
        where = f"{name} on {evaluation['hardware'] or suffix}"
        for stem, plot in (("speedup", plot_speedup), ("quality_vs_cost", plot_quality_vs_cost)):
            p = out_dir / f"{stem}-{suffix}.png"
            plot(evaluation, p, title=f"{where}: {stem.replace('_', ' ')}", dpi=dpi)
            written.append(p)
    return written
