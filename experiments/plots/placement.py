"""A placement on the chip: cores x time, one bar per group on each core it held.

Each request has its colour; a bar is labelled with its group number (and, when it is wide
enough, its first layer and core count), so groups that co-run show side by side on their
own cores. Under it, each request's span (arrival to its last group's end).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fusiongym.experiments.plots import new_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_placement(workload, result, hw, path: str | Path | None = None, *,
                   title: str = "", dpi: int = 110) -> "Figure":
    from matplotlib import colormaps

    cores = hw.num_cores
    n_req = len(workload)
    fig = new_figure(11, 1.2 + 0.28 * cores + 0.25 * n_req)
    grid = fig.add_gridspec(2, 1, height_ratios=[cores, max(1.5, n_req)], hspace=0.35)
    ax = fig.add_subplot(grid[0])
    ax_req = fig.add_subplot(grid[1], sharex=ax)
    cmap = colormaps["tab10"] if n_req <= 10 else colormaps["tab20"]
    us = 1.0 / hw.clock_mhz
    makespan_us = result.makespan_cycles * us
    for k, g in enumerate(result.groups):
        color = cmap(g.request % cmap.N)
        x, w = g.launch_cycles * us, (g.end_cycles - g.launch_cycles) * us
        net = workload.requests[g.request].network
        label = f"g{k}"
        if w > 0.12 * makespan_us:
            label += f" {net.layers[g.start].name} x{g.cores}"
        for c in g.core_ids:
            ax.barh(c, w, left=x, height=0.8, color=color, edgecolor="white", linewidth=0.5)
        mid = g.core_ids[len(g.core_ids) // 2]
        if w > 0.035 * makespan_us:
            ax.text(x + w / 2, mid, label, ha="center", va="center", fontsize=6.5,
                    color="black", clip_on=True)
    ax.set_ylim(cores - 0.5, -0.5)
    ax.set_yticks(range(cores))
    ax.set_yticklabels([f"core {c}" for c in range(cores)], fontsize=7)
    ax.set_title(title or f"{workload.name} on {hw.name}", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ends = [0] * n_req
    for g in result.groups:
        ends[g.request] = max(ends[g.request], g.end_cycles)
    for r, req in enumerate(workload.requests):
        color = cmap(r % cmap.N)
        ax_req.barh(r, (ends[r] - req.arrival_cycles) * us, left=req.arrival_cycles * us,
                    height=0.6, color=color)
        ax_req.text(ends[r] * us, r, f" {ends[r] - req.arrival_cycles:,} cycles", va="center",
                    fontsize=7)
    ax_req.set_yticks(range(n_req))
    ax_req.set_yticklabels([r.name for r in workload.requests], fontsize=7)
    ax_req.set_ylim(n_req - 0.5, -0.5)
    ax_req.set_xlabel("time (us)")
    ax_req.set_xlim(0, makespan_us * 1.12)
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig
