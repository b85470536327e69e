"""Schedule diagram: a network's layers in order, fused groups as coloured spans.

x is the layer index (topological order, labelled with layer names, thinned for big
networks); each row is one schedule (1..3, e.g. ``PPO`` above ``oracle``) with its latency
in the row label. A span covers the layers of one fused group; its colour and the number
on it give the group's core count. Faint ticks inside a span mark the fused layers.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping, Sequence

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.evaluator import evaluate
from fusiongym.accelerator.schedule import Schedule, ScheduleError
from fusiongym.accelerator.workloads.network import Network
from fusiongym.experiments.plots import PlotError, new_figure, save_figure, thin_ticks

if TYPE_CHECKING:
    from pathlib import Path

    from matplotlib.figure import Figure

MAX_ROWS = 3
SPAN_HEIGHT = 0.7


def _check_covers(network: Network, schedule: Schedule, label: str) -> None:
    expected = 0
    for g in schedule.groups:
        if g.start != expected or not g.start < g.end <= len(network):
            raise ScheduleError(f"schedule {label!r}: groups do not cover layers "
                                f"0..{len(network) - 1} of {network.name} in order")
        expected = g.end
    if expected != len(network) or not schedule.groups:
        raise ScheduleError(f"schedule {label!r}: groups do not cover layers "
                            f"0..{len(network) - 1} of {network.name} in order")


def _core_colors(counts: Sequence[int]) -> dict[int, tuple]:
    from matplotlib import colormaps

    # by log2(cores) on a fixed 1..16 (or more) scale, so a core count keeps its colour
    # from one plot to the next whatever other counts appear
    cmap = colormaps["YlGnBu"]
    top = math.log2(max(16, max(counts)))
    return {c: cmap(0.2 + 0.75 * math.log2(c) / top) for c in sorted(set(counts))}


def _text_color(rgba: tuple) -> str:
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.55 else "white"


def plot_schedules(network: Network,
                   schedules: Schedule | Sequence[Schedule] | Mapping[str, Schedule],
                   hw: HardwareConfig | None = None, path: "str | Path | None" = None,
                   labels: Sequence[str] | None = None,
                   latencies: Sequence[int | None] | None = None, dpi: int = 100) -> "Figure":
    """Draw 1..3 schedules of ``network`` as rows of fused-group spans.

    Latencies come from ``latencies`` or, when ``hw`` is given, from
    :func:`accelerator.evaluator.evaluate`; without either the row label has no latency.
    """
    schedules, labels = _rows(network, schedules, hw, labels)
    if latencies is None:
        latencies = [evaluate(network, s, hw).latency_cycles if hw is not None else None
                     for s in schedules]
    latencies = list(latencies)

    n = len(network)
    names = [layer.name for layer in network.layers]
    label_h = min(2.2, 0.3 + 0.075 * max(len(name) for name in names))
    width = min(22.0, max(9.0, 3.0 + 0.2 * n))
    fig = new_figure(width, 1.5 + 0.85 * len(schedules) + label_h, layout="constrained")
    ax = fig.add_subplot()

    all_counts = sorted({g.cores for s in schedules for g in s.groups}
                        | (set(hw.allowed_core_counts) if hw is not None else set()))
    colors = _core_colors(all_counts)
    # font for the core count: fit a one-layer span (inches per layer ~ axes width / n)
    inch_per_layer = (width - 4.5) / max(n, 1)
    font = max(5.0, min(9.0, inch_per_layer * 72 * 0.55))
    for row, s in enumerate(schedules):
        _draw_row(ax, row, s, colors, font)
    ax.set_yticks(range(len(schedules)), _row_labels(schedules, labels, latencies, hw),
                  fontsize=9)
    _style_axes(ax, network, len(schedules), names)
    _legend(ax, colors, all_counts)
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig


def _rows(network: Network, schedules, hw: HardwareConfig | None,
          labels: Sequence[str] | None) -> tuple[list[Schedule], list[str]]:
    """The schedules as a list with one label each, every one checked against ``network``."""
    if isinstance(schedules, Schedule):
        schedules = [schedules]
    if isinstance(schedules, Mapping):
        labels = list(schedules) if labels is None else labels
        schedules = list(schedules.values())
    schedules = list(schedules)
    if not 1 <= len(schedules) <= MAX_ROWS:
        raise PlotError(f"give 1 to {MAX_ROWS} schedules to draw, got {len(schedules)}")
    if labels is None:
        labels = [f"schedule {i + 1}" for i in range(len(schedules))]
    labels = list(labels)
    if len(labels) != len(schedules):
        raise PlotError(f"{len(labels)} labels for {len(schedules)} schedules")
    for s, label in zip(schedules, labels):
        if hw is not None:
            s.validate(network, hw)
        else:
            _check_covers(network, s, label)
    return schedules, labels


def _draw_row(ax, y: int, schedule: Schedule, colors: dict[int, tuple], font: float) -> None:
    """One schedule: a span per group, ticks at its fused layers, its core count on it."""
    from matplotlib.patches import Rectangle

    for k, g in enumerate(schedule.groups):
        color = colors[g.cores]
        ax.add_patch(Rectangle((g.start - 0.5, y - SPAN_HEIGHT / 2), len(g), SPAN_HEIGHT,
                               facecolor=color, edgecolor="white", linewidth=1.5,
                               gid=f"span|{y}|{k}", zorder=2))
        for i in range(g.start + 1, g.end):  # the fused layers inside the span
            top = y - SPAN_HEIGHT / 2
            ax.plot([i - 0.5, i - 0.5], [top + 0.08, top + 0.18],
                    color=_text_color(color), linewidth=0.6, alpha=0.6, zorder=3)
        ax.text((g.start + g.end - 1) / 2, y, str(g.cores), ha="center", va="center",
                fontsize=font, color=_text_color(color), zorder=4)


def _row_labels(schedules: list[Schedule], labels: list[str],
                latencies: list[int | None], hw: HardwareConfig | None) -> list[str]:
    row_labels = []
    for s, label, lat in zip(schedules, labels, latencies):
        text = f"{label}\n{len(s.groups)} group{'s' if len(s.groups) != 1 else ''}"
        if lat is not None:
            us = f" ({lat / hw.clock_mhz:,.1f} µs)" if hw is not None else ""
            text += f"\n{lat:,} cycles{us}"
        row_labels.append(text)
    return row_labels


def _style_axes(ax, network: Network, rows: int, names: list[str]) -> None:
    n = len(names)
    ax.set_ylim(rows - 0.5, -0.5)
    step = thin_ticks(n, 70)
    ticks = list(range(0, n, step))
    ax.set_xticks(ticks, [f"{i} {names[i]}" for i in ticks], rotation=90,
                  fontsize=7 if n > 30 else 8)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_xlabel("layer (topological order)" + (f", every {step}th labelled" if step > 1 else ""))
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"{network.name} ({n} layers): fused groups as spans, number = cores per group",
                 fontsize=10, loc="left")


def _legend(ax, colors: dict[int, tuple], counts: list[int]) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=colors[c], label=f"{c} core{'s' if c > 1 else ''}")
               for c in counts]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8,
              frameon=False, title="cores", title_fontsize=8)
