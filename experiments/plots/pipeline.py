"""Pipeline Gantt chart: what every core's load, compute and store module and the DRAM bus
did, instruction by instruction, over a whole schedule.

Groups run back to back as :func:`accelerator.evaluator.evaluate` counts them: group ``k``
starts at the sum of the earlier groups' latencies, its cores start after the host launch
and the group ends after the end-of-group barrier (both from
:func:`accelerator.results.group_overhead`). Those periods are drawn as grey hatched spans.

One row per (core, module) -- ``c3 load``, ``c3 compute``, ``c3 store`` -- for every core
that did work in the shown interval, plus a ``DRAM bus`` row: the time the bus is moving
data, i.e. the union of the transfers in ``sim.dram_trace`` (per burst with the
``burst`` DRAM model; per transfer, possibly overlapping, with ``fair_share``, where the
bus runs at full bandwidth whenever one transfer is in flight). When
more than ``max_bars`` instructions would be drawn, each row is aggregated into time bins:
the filled height in a bin is the fraction of the bin the module was busy, stacked by
instruction kind, so a full row means 100 % busy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.isa import MODULE_NAMES
from fusiongym.accelerator.schedule import Schedule
from fusiongym.accelerator.trace_export import GroupTrace, sim_overhead, simulate_schedule_trace  # noqa: F401  (re-export)
from fusiongym.accelerator.workloads.network import Network
from fusiongym.experiments.plots import (DRAM_COLOR, PlotError, binned_overlap, kind_color, kind_sort_key,
                               new_figure, save_figure)

if TYPE_CHECKING:
    from pathlib import Path

    from matplotlib.figure import Figure

ROW_HEIGHT = 0.8  # of the 1.0 spacing between rows
DRAM_ROW = "DRAM bus"


def group_spans(traces: list[GroupTrace], hw: HardwareConfig) -> list[tuple[int, int, int, int]]:
    """Per group: (launch start, cores start, cores end, group end) in schedule cycles."""
    spans = []
    for offset, result, sim in traces:
        start = offset - sim_overhead(sim, result.cores, hw).launch_cycles
        spans.append((start, offset, offset + sim.cycles, start + result.latency_cycles))
    return spans


@dataclass
class TimelineData:
    """The trace of a schedule flattened onto one timeline (cycles), clipped to a window."""

    t0: float
    t1: float
    # (core, module) -> kind -> (starts, ends); only instructions with a non-zero duration
    rows: dict[tuple[int, int], dict[str, tuple[np.ndarray, np.ndarray]]] = field(
        default_factory=dict)
    dram: tuple[np.ndarray, np.ndarray, np.ndarray] = field(
        default_factory=lambda: (np.zeros(0), np.zeros(0), np.zeros(0)))  # starts, ends, bytes
    spans: list[tuple[int, int, int, int]] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)  # indices of groups overlapping the window

    @property
    def instructions(self) -> int:
        return sum(len(s) for kinds in self.rows.values() for s, _ in kinds.values())

    @property
    def working_cores(self) -> list[int]:
        return sorted({c for (c, _), kinds in self.rows.items()
                       if any(len(s) for s, _ in kinds.values())})

    def busy_cycles(self, core: int, module: int) -> float:
        kinds = self.rows.get((core, module), {})
        return float(sum((e - s).sum() for s, e in kinds.values()))


def timeline(traces: list[GroupTrace], hw: HardwareConfig,
             window: tuple[float, float] | None = None) -> TimelineData:
    """Flatten per-group traces onto the schedule timeline, keeping what overlaps ``window``."""
    spans = group_spans(traces, hw)
    total = spans[-1][3] if spans else 0
    t0, t1 = (0.0, float(total)) if window is None else (float(window[0]), float(window[1]))
    data = TimelineData(t0, t1, spans=spans)
    raw: dict[tuple[int, int, str], tuple[list, list]] = {}
    dram_s: list[np.ndarray] = []
    dram_e: list[np.ndarray] = []
    dram_b: list[np.ndarray] = []
    for k, ((offset, _, sim), span) in enumerate(zip(traces, spans)):
        if span[3] <= t0 or span[0] >= t1:
            continue
        data.groups.append(k)
        for core, module, kind, start, end, _nbytes, _layer in sim.trace or ():
            s, e = offset + start, offset + end
            if e <= s or e <= t0 or s >= t1:
                continue
            lists = raw.setdefault((core, module, kind), ([], []))
            lists[0].append(s)
            lists[1].append(e)
        if sim.dram_trace:
            arr = np.asarray([(s, e, b) for _, s, e, b in sim.dram_trace], dtype=float)
            dram_s.append(arr[:, 0] + offset)
            dram_e.append(arr[:, 1] + offset)
            dram_b.append(arr[:, 2])
    for (core, module, kind), (s, e) in raw.items():
        s_arr = np.clip(np.asarray(s, dtype=float), t0, t1)
        e_arr = np.clip(np.asarray(e, dtype=float), t0, t1)
        data.rows.setdefault((core, module), {})[kind] = (s_arr, e_arr)
    if dram_s:
        s, e, b = np.concatenate(dram_s), np.concatenate(dram_e), np.concatenate(dram_b)
        keep = (e > t0) & (s < t1)
        s, e, b = s[keep], e[keep], b[keep]
        # bytes of a burst cut by the window scale with the part that is inside it
        dur = np.maximum(e - s, 1e-12)
        cs, ce = np.clip(s, t0, t1), np.clip(e, t0, t1)
        data.dram = (cs, ce, b * (ce - cs) / dur)
    return data


def merge_touching(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge intervals that touch or overlap (back-to-back DRAM bursts become one bar)."""
    if len(starts) == 0:
        return starts, ends
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], np.maximum.accumulate(ends[order])
    new = np.concatenate(([True], s[1:] > e[:-1]))
    idx = np.flatnonzero(new)
    last = np.concatenate((idx[1:] - 1, [len(s) - 1]))
    return s[idx], e[last]


def _resolve_window(traces: list[GroupTrace], hw: HardwareConfig,
                    window: tuple[float, float] | None, group: int | None
                    ) -> tuple[float, float] | None:
    spans = group_spans(traces, hw)
    total = spans[-1][3] if spans else 0
    if window is not None and group is not None:
        raise PlotError("give a window or a group to zoom to, not both")
    if group is not None:
        if not 0 <= group < len(spans):
            raise PlotError(f"group {group} does not exist; the schedule has groups "
                            f"0..{len(spans) - 1}")
        return (float(spans[group][0]), float(spans[group][3]))
    if window is not None:
        t0, t1 = float(window[0]), float(window[1])
        if not (np.isfinite(t0) and np.isfinite(t1)) or t0 < 0 or t1 <= t0:
            raise PlotError(f"bad window {t0:.0f}:{t1:.0f}: need 0 <= T0 < T1 (cycles)")
        if t0 >= total:
            raise PlotError(f"window {t0:.0f}:{t1:.0f} starts after the schedule ends "
                            f"({total} cycles)")
        return (t0, min(t1, float(total)))
    return None


@dataclass(frozen=True)
class PipelineOptions:
    """What :func:`plot_pipeline` shows and how.

    - ``window=(t0, t1)`` zooms to a cycle window of the schedule's timeline; ``group=k``
      to group ``k`` (its launch and barrier included); not both.
    - More than ``max_bars`` instructions in view -> rows aggregated into ``bins`` time bins
      (filled height = busy fraction, stacked by kind).
    - ``time_unit``: ``"cycles"`` or ``"us"`` (microseconds at ``hw.clock_mhz``).
    - Only cores that executed something in view get rows, unless ``all_cores``.
    """

    window: tuple[float, float] | None = None
    group: int | None = None
    max_bars: int = 4000
    bins: int = 400
    time_unit: str = "cycles"
    all_cores: bool = False
    dpi: int = 100


@dataclass
class _Layout:
    """Everything the drawing steps share: the clipped timeline, rows, and binning."""

    data: TimelineData
    cores: list[int]
    row_keys: list[tuple[int, int] | None]  # (core, module) per row; None = the DRAM row
    labels: list[str]
    aggregated: bool
    aggregate_dram: bool
    dram_s: np.ndarray
    dram_e: np.ndarray
    edges: np.ndarray
    bin_width: float
    scale: float  # cycles -> the axis unit
    few_groups: bool

    @property
    def n_rows(self) -> int:
        return len(self.row_keys)


def plot_pipeline(network: Network, schedule: Schedule, hw: HardwareConfig,
                  path: "str | Path | None" = None,
                  options: PipelineOptions = PipelineOptions(),
                  traces: list[GroupTrace] | None = None) -> "Figure":
    """Gantt chart of every (core, module) and the DRAM bus over the schedule (see
    :class:`PipelineOptions`). ``traces``: the result of :func:`simulate_schedule_trace`,
    to avoid re-simulating."""
    if options.time_unit not in ("cycles", "us"):
        raise PlotError(f"time unit {options.time_unit!r}: use 'cycles' or 'us'")
    if traces is None:
        traces = simulate_schedule_trace(network, schedule, hw)
    layout = _layout(traces, schedule, hw, options)
    fig, ax = _new_axes(layout)
    kinds_seen = _draw_module_rows(ax, layout)
    _draw_dram_row(ax, layout)
    labels = _draw_groups(ax, layout, network, schedule)
    _style_axes(ax, layout, options.time_unit)
    # the title sits above the tallest group label, measured, so they never overlap
    ax.set_title(_title(layout, network, schedule, hw, options), fontsize=10, loc="left",
                 pad=_label_height_points(fig, labels) + 6)
    _legend(ax, kinds_seen)
    fig.fusiongym = {"aggregated": layout.aggregated, "rows": layout.labels,
                     "bins": options.bins if layout.aggregated else 0,
                     "bin_width_cycles": layout.bin_width if layout.aggregated else 0.0,
                     "row_height": ROW_HEIGHT, "time_scale": layout.scale}
    if path is not None:
        save_figure(fig, path, dpi=options.dpi)
    return fig


def _layout(traces: list[GroupTrace], schedule: Schedule, hw: HardwareConfig,
            options: PipelineOptions) -> _Layout:
    """Clip the timeline to the window, pick the rows, decide bars or bins."""
    win = _resolve_window(traces, hw, options.window, options.group)
    data = timeline(traces, hw, win)
    cores = (list(range(max(g.cores for g in schedule.groups))) if options.all_cores
             else data.working_cores)
    row_keys: list[tuple[int, int] | None] = [(c, m) for c in cores
                                              for m in range(len(MODULE_NAMES))]
    row_keys.append(None)  # DRAM
    labels = [f"c{c} {MODULE_NAMES[m]}" for c, m in row_keys[:-1]] + [DRAM_ROW]
    aggregated = data.instructions > options.max_bars
    dram_s, dram_e = merge_touching(data.dram[0], data.dram[1])
    return _Layout(
        data=data, cores=cores, row_keys=row_keys, labels=labels, aggregated=aggregated,
        aggregate_dram=aggregated or len(dram_s) > options.max_bars,
        dram_s=dram_s, dram_e=dram_e,
        edges=np.linspace(data.t0, data.t1, options.bins + 1),
        bin_width=(data.t1 - data.t0) / options.bins,
        scale=1.0 if options.time_unit == "cycles" else 1.0 / hw.clock_mhz,
        few_groups=len(data.groups) <= 12)


def _new_axes(layout: _Layout):
    label_room_in = 0.35 if layout.few_groups else 1.8  # rotated full layer names
    height = min(40.0, 1.4 + label_room_in + 0.24 * layout.n_rows + 0.6)
    fig = new_figure(14.0, max(3.4, height), layout="constrained")
    ax = fig.add_subplot()
    # light bands behind every other core, so a core's three rows read as one
    for i, _ in enumerate(layout.cores):
        if i % 2:
            ax.axhspan(3 * i - 0.5, 3 * i + 2.5, color="#f0f0f0", zorder=0, lw=0)
    return fig, ax


def _draw_module_rows(ax, layout: _Layout) -> set[str]:
    """One bar per instruction, or busy fractions per bin; returns the kinds drawn."""
    n_bars = layout.data.instructions
    edge_style = dict(edgecolor="black", linewidth=0.3) if n_bars <= 600 else dict(
        edgecolor="none", linewidth=0)
    kinds_seen: set[str] = set()
    for y, key in enumerate(layout.row_keys):
        if key is None:
            continue
        kinds = layout.data.rows.get(key, {})
        drawn = [kind for kind in sorted(kinds, key=kind_sort_key) if len(kinds[kind][0])]
        kinds_seen.update(drawn)
        if layout.aggregated:
            _draw_binned_row(ax, layout, y, {kind: kinds[kind] for kind in drawn})
        else:
            for kind in drawn:
                s, e = kinds[kind]
                ax.broken_barh(list(zip(s * layout.scale, (e - s) * layout.scale)),
                               (y - ROW_HEIGHT / 2, ROW_HEIGHT), facecolors=kind_color(kind),
                               gid=f"{layout.labels[y]}|{kind}", zorder=2, **edge_style)
    return kinds_seen


def _draw_binned_row(ax, layout: _Layout, y: int, kinds: dict) -> None:
    """Busy fraction per time bin, stacked by kind in ``kinds``' order."""
    half, edges = ROW_HEIGHT / 2, layout.edges
    base = np.zeros(len(edges) - 1)
    for kind, (s, e) in kinds.items():
        top = base + binned_overlap(s, e, edges) / layout.bin_width
        # y grows downward (inverted axis): a row fills from its bottom edge up
        lo = y + half - base * ROW_HEIGHT
        hi = y + half - top * ROW_HEIGHT
        ax.fill_between(edges * layout.scale, np.append(lo, lo[-1]), np.append(hi, hi[-1]),
                        step="post", color=kind_color(kind), linewidth=0,
                        gid=f"{layout.labels[y]}|{kind}|binned", zorder=2)
        base = top


def _draw_dram_row(ax, layout: _Layout) -> None:
    """The DRAM bus: merged busy intervals, or the busy fraction per bin."""
    dram_s, dram_e, half = layout.dram_s, layout.dram_e, ROW_HEIGHT / 2
    if not len(dram_s):
        return
    y_dram, scale, edges = layout.n_rows - 1, layout.scale, layout.edges
    if not layout.aggregate_dram:
        ax.broken_barh(list(zip(dram_s * scale, (dram_e - dram_s) * scale)),
                       (y_dram - half, ROW_HEIGHT), facecolors=DRAM_COLOR,
                       gid=f"{DRAM_ROW}|busy", zorder=2)
        return
    frac = binned_overlap(dram_s, dram_e, edges) / layout.bin_width
    lo = np.full(len(edges), y_dram + half)
    hi = y_dram + half - np.append(frac, frac[-1]) * ROW_HEIGHT
    ax.fill_between(edges * scale, lo, hi, step="post", color=DRAM_COLOR, linewidth=0,
                    gid=f"{DRAM_ROW}|binned", zorder=2)


def _label_height_points(fig, labels: list) -> float:
    """Height (points) of the tallest label above the axes, as the renderer draws it."""
    if not labels:
        return 2.0
    renderer = fig.canvas.get_renderer()
    tallest_px = max(t.get_window_extent(renderer).height for t in labels)
    return tallest_px * 72.0 / fig.dpi + 4  # + the 1 % gap between axes and labels


def _draw_groups(ax, layout: _Layout, network: Network, schedule: Schedule) -> list:
    """Group boundaries, hatched launch and barrier spans, and group labels (returned).
    A group too narrow for its label beside the previous one's is left unlabelled."""
    data, scale, few_groups = layout.data, layout.scale, layout.few_groups
    t0, t1 = data.t0, data.t1
    min_gap = (t1 - t0) * (0.012 if not few_groups else 0.0)  # ~one rotated label width
    last_label_x = -np.inf
    labels = []
    for k in data.groups:
        start, run0, run1, end = data.spans[k]
        for a, b in ((start, run0), (run1, end)):
            a, b = max(a, t0), min(b, t1)
            if b > a:
                ax.axvspan(a * scale, b * scale, facecolor="#dddddd", edgecolor="#aaaaaa",
                           hatch="////", linewidth=0, zorder=1)
        if t0 <= start <= t1:
            ax.axvline(start * scale, color="black", linewidth=0.8, alpha=0.7, zorder=3,
                       gid=f"group-boundary|{k}")
        mid = (max(start, t0) + min(end, t1)) / 2
        if mid - last_label_x >= min_gap:
            last_label_x = mid
            labels.append(ax.text(
                mid * scale, 1.01, _group_label(k, network, schedule, few_groups),
                transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                fontsize=8 if few_groups else 6.5, rotation=0 if few_groups else 90,
                clip_on=False, gid=f"group-label|{k}"))
    last_end = data.spans[-1][3] if data.spans else 0
    if t0 <= last_end <= t1:
        ax.axvline(last_end * scale, color="black", linewidth=0.8, alpha=0.7, zorder=3)
    return labels


def _group_label(k: int, network: Network, schedule: Schedule, few_groups: bool) -> str:
    g = schedule.groups[k]
    first = network.layers[g.start].name
    if few_groups:
        return f"g{k}: {first}" + (f" +{len(g) - 1}" if len(g) > 1 else "") + \
               f" ({g.cores} core{'s' if g.cores > 1 else ''})"
    # the whole name (never cut: it is how a reader finds the layer), layers and cores
    return f"g{k} {first}" + (f" +{len(g) - 1}" if len(g) > 1 else "") + f" ×{g.cores}"


def _style_axes(ax, layout: _Layout, time_unit: str) -> None:
    from matplotlib.ticker import EngFormatter

    n_rows = layout.n_rows
    ax.set_ylim(n_rows - 0.5, -0.5)  # first core at the top
    ax.set_yticks(range(n_rows), layout.labels)
    ax.tick_params(axis="y", labelsize=8 if n_rows <= 24 else 6.5, length=0)
    for y in range(2, n_rows - 1, 3):
        ax.axhline(y + 0.5, color="#bbbbbb", linewidth=0.5, zorder=1)
    ax.set_xlim(layout.data.t0 * layout.scale, layout.data.t1 * layout.scale)
    ax.set_xlabel("time (cycles)" if time_unit == "cycles" else "time (µs)")
    ax.set_ylabel("core / module")
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.grid(axis="x", color="#cccccc", linewidth=0.4, zorder=0)


def _title(layout: _Layout, network: Network, schedule: Schedule, hw: HardwareConfig,
           options: PipelineOptions) -> str:
    from matplotlib.ticker import EngFormatter

    data = layout.data
    total = data.spans[-1][3] if data.spans else 0
    where = ""
    if options.group is not None:
        where = f", group {options.group}"
    elif options.window is not None:
        where = f", window {data.t0:,.0f}..{data.t1:,.0f} cycles"
    unit = "cycles" if options.time_unit == "cycles" else "µs"
    width = EngFormatter(sep="", places=1)(layout.bin_width * layout.scale)
    mode = (f"binned: {options.bins} bins of {width} {unit}, filled height = busy fraction"
            if layout.aggregated else "one bar per instruction")
    return (f"{network.name} on {hw.name}: {len(schedule.groups)} groups, "
            f"{total:,} cycles ({total / hw.clock_mhz:,.1f} µs){where}\n{mode}")


def _legend(ax, kinds_seen: set[str]) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=kind_color(k), label=k)
               for k in sorted(kinds_seen, key=kind_sort_key)]
    handles.append(Patch(facecolor=DRAM_COLOR, label="DRAM busy"))
    handles.append(Patch(facecolor="#dddddd", edgecolor="#aaaaaa", hatch="////",
                         label="launch / barrier"))
    handles.append(Line2D([], [], color="black", linewidth=0.8, label="group boundary"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8,
              frameon=False, title="instruction", title_fontsize=8)
