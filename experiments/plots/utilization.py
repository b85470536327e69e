"""Utilization summary of a schedule: where the cores' modules and the DRAM bus spent time.

Three panels, from the same traced simulation as the pipeline Gantt
(:func:`experiments.plots.pipeline.simulate_schedule_trace`):

1. **per core**: busy fraction of each module (load / compute / store) over the whole
   schedule's latency (launch and barrier time included, so idle time is visible);
2. **per group**: busy fraction of each module over the group's latency x its cores;
3. **DRAM bandwidth over time**: bytes moved per time bin / bin width (bytes per cycle;
   instruction fetch included), against the peak ``hw.dram_bandwidth_bytes_per_cycle``.
   The bus moves data at one rate whenever a transfer is in flight (the burst model's
   bursts never overlap; the fair-share model splits the full bandwidth between the
   transfers in flight), so a bin's bytes are its bus-busy time (the union of the
   transfers) x the group's bytes per busy cycle. That conserves the bytes exactly and
   never shows more than the peak, unlike spreading each transfer's bytes evenly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.isa import MODULE_NAMES
from fusiongym.accelerator.schedule import Schedule
from fusiongym.accelerator.workloads.network import Network
from fusiongym.experiments.plots import (DRAM_COLOR, MODULE_COLORS, binned_overlap, new_figure, save_figure,
                               thin_ticks)
from fusiongym.experiments.plots.pipeline import (GroupTrace, group_spans, merge_touching,
                                        simulate_schedule_trace)

if TYPE_CHECKING:
    from pathlib import Path

    from matplotlib.figure import Figure


@dataclass
class UtilizationData:
    total_cycles: int
    core_busy_fraction: np.ndarray  # [core, module] busy cycles / schedule latency
    group_busy_fraction: np.ndarray  # [group, module] busy cycles / (group latency * cores)
    bin_edges: np.ndarray  # cycles
    dram_bytes_per_cycle: np.ndarray  # per bin
    peak_bytes_per_cycle: float
    dram_bytes: int

    @property
    def mean_dram_bytes_per_cycle(self) -> float:
        return self.dram_bytes / self.total_cycles if self.total_cycles else 0.0


def utilization_data(traces: list[GroupTrace], hw: HardwareConfig, bins: int = 300,
                     cores: int | None = None) -> UtilizationData:
    """Busy fractions and binned DRAM bandwidth of a traced schedule."""
    spans = group_spans(traces, hw)
    total = spans[-1][3] if spans else 0
    n_cores = cores if cores is not None else max((sim.cores for _, _, sim in traces), default=1)
    core_busy = np.zeros((n_cores, len(MODULE_NAMES)))
    group_frac = np.zeros((len(traces), len(MODULE_NAMES)))
    starts, ends, weights = [], [], []
    dram_bytes = 0
    for k, (offset, result, sim) in enumerate(traces):
        busy = np.asarray(sim.busy_cycles, dtype=float)  # [core, module]
        core_busy[:busy.shape[0]] += busy
        denom = result.latency_cycles * result.cores
        group_frac[k] = busy.sum(axis=0) / denom if denom else 0.0
        if sim.dram_trace:
            arr = np.asarray([(s, e, b) for _, s, e, b in sim.dram_trace], dtype=float)
            busy_s, busy_e = merge_touching(arr[:, 0], arr[:, 1])
            busy = float((busy_e - busy_s).sum())
            moved = float(arr[:, 2].sum())
            starts.append(busy_s + offset)
            ends.append(busy_e + offset)
            weights.append(np.full(len(busy_s), moved / busy if busy else 0.0))
            dram_bytes += int(moved)
    edges = np.linspace(0.0, float(max(total, 1)), bins + 1)
    if starts:
        moved = binned_overlap(np.concatenate(starts), np.concatenate(ends), edges,
                               np.concatenate(weights))
    else:
        moved = np.zeros(bins)
    return UtilizationData(
        total_cycles=total,
        core_busy_fraction=core_busy / total if total else core_busy,
        group_busy_fraction=group_frac,
        bin_edges=edges,
        dram_bytes_per_cycle=moved / np.diff(edges),
        peak_bytes_per_cycle=hw.dram_bandwidth_bytes_per_cycle,
        dram_bytes=dram_bytes,
    )


def plot_utilization(network: Network, schedule: Schedule, hw: HardwareConfig,
                     path: "str | Path | None" = None, traces: list[GroupTrace] | None = None,
                     bins: int = 300, dpi: int = 100, group: int | None = None,
                     time_unit: str = "cycles") -> "Figure":
    """Three-panel utilization summary (per core, per group, DRAM bandwidth over time).

    ``group``: summarise that group alone (its launch at time 0), as the pipeline plot's
    ``--group`` shows it; ``time_unit``: ``cycles`` or ``us`` for the time axis."""
    if traces is None:
        traces = simulate_schedule_trace(network, schedule, hw)
    ids = list(range(len(traces)))
    if group is not None:
        start = group_spans(traces, hw)[group][0]
        # the group alone, its launch at time 0
        traces, ids = [traces[group]._replace(offset_cycles=traces[group].offset_cycles - start)], [group]
    n_cores = max(schedule.groups[k].cores for k in ids)
    data = utilization_data(traces, hw, bins=bins, cores=n_cores)
    scale = 1.0 if time_unit == "cycles" else 1.0 / hw.clock_mhz

    fig = new_figure(12.0, 9.5, layout="constrained")
    ax_core, ax_group, ax_bw = fig.subplots(3, 1, gridspec_kw={"height_ratios": [1, 1.25, 1]})
    _draw_core_panel(ax_core, data, n_cores, "whole schedule" if group is None else f"group {group}")
    _draw_group_panel(ax_group, data, [_group_tick(network, schedule, k) for k in ids])
    _draw_bandwidth_panel(ax_bw, data, group_spans(traces, hw), bins, scale, time_unit)
    fig.suptitle(_suptitle(network, schedule, hw, data, ids, group), fontsize=11)
    fig.fusiongym = {"data": data}
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig


def _busy_bars(ax, x: np.ndarray, fractions: np.ndarray, gid_prefix: str) -> None:
    """One bar per module at each x, side by side (load, compute, store)."""
    width = 0.8 / len(MODULE_NAMES)
    for m, name in enumerate(MODULE_NAMES):
        ax.bar(x + (m - 1) * width, fractions[:, m], width, color=MODULE_COLORS[name],
               label=name, gid=f"{gid_prefix}|{name}")


def _finish_busy_axis(ax, xlabel: str, ylabel: str, title: str) -> None:
    from matplotlib.ticker import PercentFormatter

    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(ncols=3, fontsize=8, loc="upper right", frameon=False)
    ax.grid(axis="y", color="#dddddd", linewidth=0.5)
    ax.set_axisbelow(True)


def _group_tick(network: Network, schedule: Schedule, k: int) -> str:
    """``g3 ×4: layer1.0.conv1..layer1.0.add``: what ran, on how many cores."""
    g = schedule.groups[k]
    first, last = network.layers[g.start].name, network.layers[g.end - 1].name
    return f"g{k} ×{g.cores}: {first}" + (f"..{last}" if g.end - g.start > 1 else "")


def _draw_core_panel(ax, data: UtilizationData, n_cores: int, what: str) -> None:
    x = np.arange(n_cores)
    _busy_bars(ax, x, data.core_busy_fraction, "core-busy")
    ax.set_xticks(x, [f"c{c}" for c in x], fontsize=8)
    pad = max(0.0, (6 - n_cores) / 2)  # a single core's bars stay bar-sized, not page-wide
    ax.set_xlim(-0.6 - pad, n_cores - 0.4 + pad)
    _finish_busy_axis(ax, "core", "busy / schedule time",
                      f"busy fraction per core and module ({what}, launch and barrier "
                      "time included)")


def _draw_group_panel(ax, data: UtilizationData, labels: list[str]) -> None:
    n_groups = len(labels)
    xg = np.arange(n_groups)
    _busy_bars(ax, xg, data.group_busy_fraction, "group-busy")
    ticks = xg[::thin_ticks(n_groups, 40)]
    ax.set_xticks(ticks, [labels[k] for k in ticks], fontsize=6.5 if n_groups > 8 else 8,
                  rotation=90 if n_groups > 4 else 0)
    pad = max(0.0, (6 - n_groups) / 2)  # one group's bars stay bar-sized
    ax.set_xlim(-0.6 - pad, n_groups - 0.4 + pad)
    _finish_busy_axis(ax, "group (in schedule order): ×cores: first..last layer",
                      "busy / (group time × cores)", "busy fraction per group")


def _draw_bandwidth_panel(ax, data: UtilizationData, spans: list[tuple[int, int, int, int]],
                          bins: int, scale: float = 1.0, time_unit: str = "cycles") -> None:
    """Achieved DRAM bytes per cycle per bin against the peak and the mean; the time axis
    in cycles, or µs (``scale`` = 1 / clock MHz)."""
    from matplotlib.ticker import EngFormatter

    edges = data.bin_edges * scale
    bw = data.dram_bytes_per_cycle
    ax.fill_between(edges, np.append(bw, bw[-1]), step="post", color=DRAM_COLOR, alpha=0.75,
                    linewidth=0, label="achieved (per bin)", gid="dram-bandwidth")
    ax.axhline(data.peak_bytes_per_cycle, color="#d62728", linewidth=1.2, linestyle="--",
               label=f"peak {data.peak_bytes_per_cycle:g} B/cycle", gid="dram-peak")
    ax.axhline(data.mean_dram_bytes_per_cycle, color="#1f77b4", linewidth=1.0,
               label=f"mean {data.mean_dram_bytes_per_cycle:.3g} B/cycle")
    for start, *_ in spans[1:]:
        ax.axvline(start * scale, color="black", linewidth=0.4, alpha=0.35)
    ax.set_xlim(0, data.total_cycles * scale)
    ax.set_ylim(0, data.peak_bytes_per_cycle * 1.3)  # room for the legend above the peak
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    unit = "cycles" if time_unit == "cycles" else "µs"
    ax.set_xlabel(f"time ({unit}); thin lines = group boundaries")
    ax.set_ylabel("DRAM bytes / cycle")
    bin_width = data.total_cycles * scale / bins if bins else 0
    ax.set_title(f"DRAM bandwidth over time ({bins} bins of "
                 f"{EngFormatter(sep='', places=1)(bin_width)} {unit}; instruction fetch "
                 "included)", fontsize=10, loc="left")
    ax.legend(fontsize=8, loc="upper center", ncols=3, frameon=False)


def _suptitle(network: Network, schedule: Schedule, hw: HardwareConfig,
              data: UtilizationData, ids: list[int], group: int | None) -> str:
    cores_used = sorted({schedule.groups[k].cores for k in ids})
    what = (f"{len(ids)} groups" if group is None
            else f"group {group} of {len(schedule.groups)} ({_group_tick(network, schedule, group)})")
    return (f"{network.name} on {hw.name}: {what} on "
            f"{'/'.join(map(str, cores_used))} core{'s' if cores_used != [1] else ''}, "
            f"{data.total_cycles:,} cycles "
            f"({data.total_cycles / hw.clock_mhz:,.1f} µs), "
            f"{data.dram_bytes / 1e6:,.2f} MB over DRAM")
