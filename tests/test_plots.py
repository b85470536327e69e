"""fusiongym.experiments.plots: what the figures draw matches the simulator's numbers.

Small networks on a 4-core config keep this fast. Figures are inspected, not just saved:
row labels, the summed width of the bars in every (core, module) row against the
simulator's busy cycles, binned areas, span and bar counts, axis labels.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.evaluator import evaluate
from fusiongym.accelerator.results import group_latency_cycles
from fusiongym.accelerator.trace_export import sim_overhead
from fusiongym.accelerator.isa import MODULE_NAMES
from fusiongym.accelerator.schedule import Group, Schedule, ScheduleError
from fusiongym.accelerator.workloads.network import NetworkBuilder
from fusiongym.experiments.plots import PlotError, binned_overlap, save_figure
from fusiongym.experiments.plots.pipeline import (DRAM_ROW, PipelineOptions, plot_pipeline,
                                        simulate_schedule_trace, timeline)
from fusiongym.experiments.plots.schedule_diagram import plot_schedules
from fusiongym.experiments.plots.training import (RunDirError, load_curve, load_eval, plot_eval_schedules,
                                        plot_learning_curve, plot_quality_vs_cost, plot_run,
                                        plot_speedup)
from fusiongym.experiments.plots.utilization import plot_utilization, utilization_data
from helpers.run_dirs import NETWORKS, SCHEDULERS, make_run_dir


# ---- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hw():
    return load_config().with_(num_cores=4, core_counts=(1, 2, 4), default_cores=1)


@pytest.fixture(scope="module")
def net():
    """Five layers with a residual add (a Gantt with loads, GEMMs, ALU-only adds, stores)."""
    b = NetworkBuilder("plot_net", (16, 32, 32))
    x = b.conv(None, 32, 3, 1, name="conv1")
    y = b.conv(x, 32, 3, 1, name="conv2")
    y = b.conv(y, 32, 3, 1, activation="none", name="conv3")
    x = b.add(y, x, activation="relu", name="add")
    b.conv(x, 64, 1, 1, name="head")
    return b.build()


@pytest.fixture(scope="module")
def schedule(net):
    # a fused pair on 4 cores, a fused pair on 2, a single layer on 1
    return Schedule((Group(0, 1, 4), Group(1, 4, 2), Group(4, 5, 1)), net.name,
                    net.content_hash())


@pytest.fixture(scope="module")
def traces(net, schedule, hw):
    return simulate_schedule_trace(net, schedule, hw)


def _dram_busy(traces):
    """Time at least one DRAM transfer is in flight (union of dram_trace intervals)."""
    total = 0.0
    for offset, _, sim in traces:
        end = -1.0
        for _, s, e, _ in sorted(sim.dram_trace, key=lambda t: t[1]):
            if s >= end:
                total += e - s
                end = e
            elif e > end:
                total += e - end
                end = e
    return total


def _busy(traces, core, module):
    return sum(sim.busy_cycles[core][module] for _, _, sim in traces if core < sim.cores)


def _rows_of(ax):
    return [t.get_text() for t in ax.get_yticklabels()]


def _bar_widths(ax, prefix):
    """Summed width of broken_barh rectangles whose gid starts with ``prefix``."""
    total = 0.0
    for coll in ax.collections:
        gid = coll.get_gid() or ""
        if gid.startswith(prefix) and not gid.endswith("|binned"):
            for path in coll.get_paths():
                v = path.vertices
                total += v[:, 0].max() - v[:, 0].min()
    return total


def _bar_intervals(ax, prefix):
    out = []
    for coll in ax.collections:
        gid = coll.get_gid() or ""
        if gid.startswith(prefix) and not gid.endswith("|binned"):
            for path in coll.get_paths():
                v = path.vertices
                out.append((v[:, 0].min(), v[:, 0].max()))
    return sorted(out)


def _polygon_area(ax, prefix):
    """Area of the filled (binned) polygons whose gid starts with ``prefix``."""
    area = 0.0
    for coll in ax.collections:
        gid = coll.get_gid() or ""
        if gid.startswith(prefix) and gid.endswith("|binned"):
            for path in coll.get_paths():
                for poly in path.to_polygons(closed_only=False):
                    x, y = poly[:, 0], poly[:, 1]
                    area += 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    return area


# ---- schedule trace ---------------------------------------------------------------------------
def test_trace_lays_groups_back_to_back_with_launch_then_barrier(net, schedule, hw, traces):
    assert len(traces) == len(schedule.groups)
    t = 0
    for (offset, result, sim), g in zip(traces, schedule.groups):
        overhead = sim_overhead(sim, g.cores, hw)
        assert offset == t + overhead.launch_cycles
        assert sim.barrier_cycles == overhead.barrier_cycles  # the events match the formula
        assert result.latency_cycles == group_latency_cycles(sim.cycles, g.cores, hw,
                                                             sim.active_cores)
        assert sim.trace and sim.dram_trace and sim.cores == g.cores
        t += result.latency_cycles
    assert t == evaluate(net, schedule, hw).latency_cycles


def test_trace_rejects_a_schedule_of_another_network(net, hw):
    other = NetworkBuilder("other", (16, 8, 8))
    other.conv(None, 16, 3, 1, name="c")
    with pytest.raises(ScheduleError):
        simulate_schedule_trace(net, Schedule.no_fusion(other.build(), 1), hw)


def test_no_two_instructions_overlap_within_a_module(net, hw, traces):
    """The simulator runs one instruction per module at a time; overlapping bars would be a
    simulator bug, so the Gantt's rows must never overlap themselves."""
    fig = plot_pipeline(net, Schedule.no_fusion(net, 4), hw)
    ax = fig.axes[0]
    for label in _rows_of(ax):
        iv = _bar_intervals(ax, label + "|")
        for (a0, a1), (b0, b1) in zip(iv, iv[1:]):
            assert b0 >= a1 - 1e-9, (label, (a0, a1), (b0, b1))


# ---- pipeline Gantt ---------------------------------------------------------------------------
def test_gantt_has_three_rows_per_working_core_plus_dram(net, schedule, hw, traces):
    fig = plot_pipeline(net, schedule, hw, traces=traces)
    ax = fig.axes[0]
    working = sorted({c for _, _, sim in traces for (c, _, _, s, e, _, _) in sim.trace if e > s})
    assert working == [0, 1, 2, 3]
    assert _rows_of(ax) == [f"c{c} {m}" for c in working for m in MODULE_NAMES] + [DRAM_ROW]
    assert len(ax.get_yticks()) == 3 * len(working) + 1
    assert ax.get_xlabel() == "time (cycles)"
    assert ax.get_ylabel() == "core / module"
    total = sum(r.latency_cycles for _, r, _ in traces)
    assert ax.get_xlim() == pytest.approx((0, total))
    # one boundary line per group start, plus the end of the last group
    lines = [ln for ln in ax.lines if (ln.get_gid() or "").startswith("group-boundary|")]
    assert len(lines) == len(schedule.groups)
    assert {t.get_gid() for t in ax.texts} >= {f"group-label|{k}" for k in range(3)}
    kinds = {t.get_text() for t in ax.get_legend().get_texts()}
    assert {"LOAD.INP", "LOAD.WGT", "GEMM", "ALU", "STORE.OUT", "DRAM busy"} <= kinds


def test_only_cores_that_worked_get_rows(net, hw):
    fig = plot_pipeline(net, Schedule.no_fusion(net, 2), hw)
    assert _rows_of(fig.axes[0]) == ["c0 load", "c0 compute", "c0 store",
                                     "c1 load", "c1 compute", "c1 store", DRAM_ROW]
    fig = plot_pipeline(net, Schedule.no_fusion(net, 2), hw,
                        options=PipelineOptions(all_cores=True))
    assert len(_rows_of(fig.axes[0])) == 2 * 3 + 1  # all cores of the schedule, not of hw
    # 32 output channels split by channel blocks of 16: a 4-core group keeps 2 cores idle
    b = NetworkBuilder("one_conv", (16, 16, 16))
    b.conv(None, 32, 3, 1, name="conv")
    one = b.build()
    traces = simulate_schedule_trace(one, Schedule.no_fusion(one, 4), hw)
    idle = [c for c in range(4) if not any(traces[0].sim.busy_cycles[c])]
    fig = plot_pipeline(one, Schedule.no_fusion(one, 4), hw, traces=traces)
    rows = _rows_of(fig.axes[0])
    assert len(rows) == 3 * (4 - len(idle)) + 1
    assert not any(r.startswith(f"c{c} ") for c in idle for r in rows)
    fig = plot_pipeline(one, Schedule.no_fusion(one, 4), hw, traces=traces,
                        options=PipelineOptions(all_cores=True))
    assert len(_rows_of(fig.axes[0])) == 4 * 3 + 1


def test_bar_widths_per_row_equal_simulator_busy_cycles(net, schedule, hw, traces):
    fig = plot_pipeline(net, schedule, hw, traces=traces, options=PipelineOptions(max_bars=10**6))
    assert fig.fusiongym["aggregated"] is False
    ax = fig.axes[0]
    checked = 0
    for c in range(4):
        for m, name in enumerate(MODULE_NAMES):
            expected = _busy(traces, c, m)
            assert _bar_widths(ax, f"c{c} {name}|") == pytest.approx(expected, abs=1e-6)
            checked += expected > 0
    assert checked >= 8
    assert _bar_widths(ax, f"{DRAM_ROW}|") == pytest.approx(_dram_busy(traces), abs=1e-6)
    # the bus cannot move its bytes in less time than they need at peak bandwidth
    moved = sum(sim.dram_bytes_read + sim.dram_bytes_written for _, _, sim in traces)
    assert moved / hw.dram_bandwidth_bytes_per_cycle <= _dram_busy(traces)


def test_binned_rows_sum_to_busy_cycles(net, schedule, hw, traces):
    fig = plot_pipeline(net, schedule, hw, traces=traces,
                        options=PipelineOptions(max_bars=10, bins=97))
    meta = fig.fusiongym
    assert meta["aggregated"] is True and meta["bins"] == 97
    ax = fig.axes[0]
    assert not _bar_intervals(ax, "c0 compute|")  # no per-instruction bars any more
    h = meta["row_height"]
    for c in range(4):
        for m, name in enumerate(MODULE_NAMES):
            expected = _busy(traces, c, m)
            assert _polygon_area(ax, f"c{c} {name}|") / h == pytest.approx(expected, rel=1e-6,
                                                                          abs=1e-3)
    assert _polygon_area(ax, f"{DRAM_ROW}|") / h == pytest.approx(_dram_busy(traces), rel=1e-6)
    assert "binned" in ax.get_title(loc="left")


def test_window_clips_bars_to_the_window(net, schedule, hw, traces):
    total = sum(r.latency_cycles for _, r, _ in traces)
    t0, t1 = 0.3 * total, 0.7 * total
    fig = plot_pipeline(net, schedule, hw, traces=traces, options=PipelineOptions(window=(t0, t1)))
    ax = fig.axes[0]
    assert ax.get_xlim() == pytest.approx((t0, t1))
    expected = 0.0
    for offset, _, sim in traces:
        for (c, m, _, s, e, _, _) in sim.trace:
            if (c, m) == (0, 1):
                expected += max(0.0, min(e + offset, t1) - max(s + offset, t0))
    assert _bar_widths(ax, "c0 compute|") == pytest.approx(expected, abs=1e-6)
    for a, b in _bar_intervals(ax, ""):
        assert t0 - 1e-9 <= a <= b <= t1 + 1e-9


def test_group_zoom_shows_that_group_only(net, schedule, hw, traces):
    fig = plot_pipeline(net, schedule, hw, traces=traces, options=PipelineOptions(group=2))
    ax = fig.axes[0]
    start = traces[2].offset_cycles - sim_overhead(traces[2].sim, 1, hw).launch_cycles
    assert ax.get_xlim() == pytest.approx((start, start + traces[2].result.latency_cycles))
    assert _rows_of(ax) == ["c0 load", "c0 compute", "c0 store", DRAM_ROW]  # group 2: 1 core
    assert _bar_widths(ax, "c0 compute|") == pytest.approx(traces[2].sim.busy_cycles[0][1])
    assert "g2: head (1 core)" in [t.get_text() for t in ax.texts]


def test_group_labels_are_whole_and_below_the_title(net, hw):
    """Few groups: horizontal labels with the cores, the title drawn above them."""
    sched = Schedule(tuple(Group(i, i + 1, 1) for i in range(5)), net.name, net.content_hash())
    fig = plot_pipeline(net, sched, hw, options=PipelineOptions())
    ax = fig.axes[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = [t for t in ax.texts if (t.get_gid() or "").startswith("group-label|")]
    assert [t.get_text() for t in labels][:2] == ["g0: conv1 (1 core)", "g1: conv2 (1 core)"]
    title_bottom = ax.title.get_window_extent(renderer).y0
    assert all(t.get_window_extent(renderer).y1 <= title_bottom + 0.5 for t in labels)


def test_many_group_labels_are_not_truncated(hw):
    """Many groups: rotated labels carry the whole first-layer name and the cores, and the
    title is drawn above the tallest of them (the issue's cut and overlapping labels)."""
    b = NetworkBuilder("long_names", (16, 16, 16))
    x = None
    for i in range(14):
        x = b.conv(x, 16, 1, 1, name=f"stage{i}.block.downsample_convolution")
    net = b.build()
    sched = Schedule.no_fusion(net, 2)
    fig = plot_pipeline(net, sched, hw, options=PipelineOptions())
    ax = fig.axes[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = [t for t in ax.texts if (t.get_gid() or "").startswith("group-label|")]
    assert labels and all("…" not in t.get_text() for t in labels)
    assert "g0 stage0.block.downsample_convolution ×2" in [t.get_text() for t in labels]
    title_bottom = ax.title.get_window_extent(renderer).y0
    assert all(t.get_window_extent(renderer).y1 <= title_bottom + 0.5 for t in labels)


def test_group_summary_covers_that_group_in_the_unit_asked(net, schedule, hw, traces):
    fig = plot_utilization(net, schedule, hw, traces=traces, bins=20, group=1, time_unit="us")
    ax_core, ax_group, ax_bw = fig.axes[:3]
    (_, r, sim) = traces[1]
    for m, name in enumerate(MODULE_NAMES):
        heights = [p.get_height() for p in ax_core.patches if p.get_gid() == f"core-busy|{name}"]
        assert heights[0] == pytest.approx(sim.busy_cycles[0][m] / r.latency_cycles)
        gheights = [p.get_height() for p in ax_group.patches if p.get_gid() == f"group-busy|{name}"]
        assert len(gheights) == 1
    assert ax_bw.get_xlabel().startswith("time (µs)")
    assert ax_bw.get_xlim()[1] == pytest.approx(r.latency_cycles / hw.clock_mhz)
    assert [t.get_text() for t in ax_group.get_xticklabels()] == ["g1 ×2: conv2..add"]
    assert "group 1 of 3" in fig._suptitle.get_text()


def test_microseconds_axis(net, schedule, hw, traces):
    fig = plot_pipeline(net, schedule, hw, traces=traces, options=PipelineOptions(time_unit="us"))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time (µs)"
    total = sum(r.latency_cycles for _, r, _ in traces)
    assert ax.get_xlim()[1] == pytest.approx(total / hw.clock_mhz)


@pytest.mark.parametrize("kwargs, match", [
    (dict(window=(10, 5)), "0 <= T0 < T1"),
    (dict(window=(-1, 5)), "0 <= T0 < T1"),
    (dict(window=(1e12, 2e12)), "after the schedule ends"),
    (dict(group=3), "groups 0..2"),
    (dict(group=0, window=(0, 10)), "not both"),
    (dict(time_unit="ms"), "time unit"),
])
def test_bad_zoom_is_a_user_error(net, schedule, hw, traces, kwargs, match):
    with pytest.raises(PlotError, match=match):
        plot_pipeline(net, schedule, hw, traces=traces, options=PipelineOptions(**kwargs))


def test_timeline_counts_only_timed_instructions(hw, traces):
    data = timeline(traces, hw)
    timed = sum(1 for _, _, sim in traces for t in sim.trace if t[4] > t[3])
    assert data.instructions == timed
    assert data.working_cores == [0, 1, 2, 3]


def test_binned_overlap_is_exact():
    edges = np.array([0.0, 10.0, 20.0, 30.0])
    got = binned_overlap(np.array([5.0, 12.0, 25.0]), np.array([15.0, 14.0, 40.0]), edges)
    assert got.tolist() == [5.0, 7.0, 5.0]
    w = binned_overlap(np.array([0.0]), np.array([20.0]), edges, weights=np.array([3.0]))
    assert w.tolist() == [30.0, 30.0, 0.0]


@pytest.mark.parametrize("arbitration", ["burst", "fair_share"])
def test_dram_row_and_bandwidth_under_both_dram_models(net, hw, arbitration):
    hw = hw.with_(dram_arbitration=arbitration)
    sched = Schedule.no_fusion(net, 4)
    traces = simulate_schedule_trace(net, sched, hw)
    bursts = sorted((s + off, e + off) for off, _, sim in traces for _, s, e, _ in sim.dram_trace)
    overlapping = any(b[0] < a[1] for a, b in zip(bursts, bursts[1:]))
    # one bus, burst by burst: bursts never overlap; fair share: transfers may
    assert overlapping == (arbitration == "fair_share")
    fig = plot_pipeline(net, sched, hw, traces=traces, options=PipelineOptions(max_bars=10**6))
    assert _bar_widths(fig.axes[0], f"{DRAM_ROW}|") == pytest.approx(_dram_busy(traces))
    data = utilization_data(traces, hw, bins=64)
    assert (data.dram_bytes_per_cycle <= hw.dram_bandwidth_bytes_per_cycle * (1 + 1e-9)).all()
    moved = float((data.dram_bytes_per_cycle * np.diff(data.bin_edges)).sum())
    assert moved == pytest.approx(data.dram_bytes, rel=1e-9)


# ---- utilization summary -------------------------------------------------------------------------
def test_utilization_summary_bars_and_bandwidth(net, schedule, hw, traces):
    fig = plot_utilization(net, schedule, hw, traces=traces, bins=50)
    ax_core, ax_group, ax_bw = fig.axes[:3]
    total = sum(r.latency_cycles for _, r, _ in traces)
    for m, name in enumerate(MODULE_NAMES):
        heights = [p.get_height() for p in ax_core.patches if p.get_gid() == f"core-busy|{name}"]
        assert len(heights) == 4
        for c in range(4):
            assert heights[c] == pytest.approx(_busy(traces, c, m) / total)
        gheights = [p.get_height() for p in ax_group.patches if p.get_gid() == f"group-busy|{name}"]
        assert len(gheights) == len(schedule.groups)
        for k, (_, r, sim) in enumerate(traces):
            assert gheights[k] == pytest.approx(
                sum(b[m] for b in sim.busy_cycles) / (r.latency_cycles * r.cores))
    assert ax_core.get_xlabel() == "core" and "busy" in ax_core.get_ylabel()
    assert ax_bw.get_ylabel() == "DRAM bytes / cycle"
    assert ax_bw.get_xlabel().startswith("time (cycles)")
    peak = [ln for ln in ax_bw.lines if ln.get_gid() == "dram-peak"]
    assert len(peak) == 1 and peak[0].get_ydata()[0] == hw.dram_bandwidth_bytes_per_cycle
    data = utilization_data(traces, hw, bins=50)
    moved = float((data.dram_bytes_per_cycle * np.diff(data.bin_edges)).sum())
    dram_bytes = sum(sim.dram_bytes_read + sim.dram_bytes_written for _, _, sim in traces)
    assert moved == pytest.approx(dram_bytes, rel=1e-9)
    assert data.dram_bytes == dram_bytes
    assert (data.dram_bytes_per_cycle <= hw.dram_bandwidth_bytes_per_cycle * (1 + 1e-9)).all()


# ---- schedule diagram -------------------------------------------------------------------------
def _spans(ax, row):
    return [p for p in ax.patches if (p.get_gid() or "").startswith(f"span|{row}|")]


def test_schedule_diagram_one_span_per_group_with_latency_labels(net, schedule, hw):
    nofuse = Schedule.no_fusion(net, 4)
    fig = plot_schedules(net, {"PPO": schedule, "no-fusion": nofuse}, hw)
    ax = fig.axes[0]
    assert len(_spans(ax, 0)) == len(schedule.groups)
    assert len(_spans(ax, 1)) == len(nofuse.groups)
    assert len(_spans(ax, 2)) == 0
    widths = [p.get_width() for p in _spans(ax, 0)]
    assert widths == [len(g) for g in schedule.groups]
    labels = _rows_of(ax)
    lat = evaluate(net, schedule, hw).latency_cycles
    assert labels[0].startswith("PPO") and f"{lat:,} cycles" in labels[0]
    assert labels[1].startswith("no-fusion")
    texts = [t.get_text() for t in ax.texts]
    assert texts == [str(g.cores) for g in schedule.groups] + ["4"] * len(net)
    assert ax.get_xlabel().startswith("layer")
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{i} {layer.name}"
                                                           for i, layer in enumerate(net.layers)]


def test_schedule_diagram_checks_its_input(net, schedule, hw):
    with pytest.raises(PlotError, match="1 to 3"):
        plot_schedules(net, [schedule] * 4, hw)
    with pytest.raises(PlotError, match="labels"):
        plot_schedules(net, [schedule], hw, labels=["a", "b"])
    bad = Schedule((Group(0, 2, 1),), net.name)
    with pytest.raises(ScheduleError):
        plot_schedules(net, bad, hw)
    with pytest.raises(ScheduleError):
        plot_schedules(net, bad)  # without hardware: coverage is still checked
    fig = plot_schedules(net, schedule, latencies=[123])
    assert "123 cycles" in _rows_of(fig.axes[0])[0]


def test_learning_curve_draws_both_series_sorted(tmp_path):
    run = make_run_dir(tmp_path / "run")
    curve = load_curve(run)
    assert curve["timesteps"].tolist() == [1024, 2048, 3072, 4096, 5120]
    fig = plot_learning_curve(curve)
    ax_ret, ax_ratio = fig.axes[:2]
    (ret,) = [ln for ln in ax_ret.lines if ln.get_gid() == "mean-return"]
    assert ret.get_xdata().tolist() == [1024, 2048, 3072, 4096, 5120]
    (ratio,) = [ln for ln in ax_ratio.lines if ln.get_gid() == "eval-ratio"]
    assert len(ratio.get_xdata()) == 3  # empty cells are skipped
    assert not np.isnan(ratio.get_ydata()).any()
    assert ax_ratio.get_xlabel() == "timesteps"
    assert "return" in ax_ret.get_ylabel() and "oracle" in ax_ratio.get_ylabel()


def test_learning_curve_without_evaluations_says_so(tmp_path):
    (tmp_path / "curve.csv").write_text(
        "timesteps,mean_return,eval_ratio_to_oracle\n1,-1,\n2,-0.9,nan\n")
    fig = plot_learning_curve(tmp_path)
    assert any("no held-out" in t.get_text() for t in fig.axes[1].texts)


def test_speedup_chart_has_one_bar_per_network_and_scheduler(tmp_path):
    evaluation = load_eval(make_run_dir(tmp_path / "run"))
    fig = plot_speedup(evaluation)
    ax = fig.axes[0]
    bars = [p for c in ax.containers for p in c.patches]
    assert len(bars) == len(NETWORKS) * len(SCHEDULERS)
    assert [c.get_label() for c in ax.containers] == SCHEDULERS
    by_sched = {c.get_label(): [p.get_height() for p in c.patches] for c in ax.containers}
    assert by_sched["oracle"] == pytest.approx([1.5, 1.6, 1.7])
    assert [t.get_text() for t in ax.get_xticklabels()] == NETWORKS
    assert "speedup" in ax.get_ylabel()


def test_quality_vs_cost_scatter(tmp_path):
    evaluation = load_eval(make_run_dir(tmp_path / "run"))
    fig = plot_quality_vs_cost(evaluation)
    ax = fig.axes[0]
    points = [c for c in ax.collections if (c.get_gid() or "").startswith("point|")]
    assert len(points) == len(NETWORKS) * len(SCHEDULERS) - 1  # one ratio is null
    assert ax.get_xscale() == "log"
    xy = {c.get_gid(): tuple(c.get_offsets()[0]) for c in points}
    assert xy["point|resnet18|oracle"] == (1000, pytest.approx(1.2))
    assert xy["point|resnet18|no-fusion"][0] < 1  # no simulation: the column left of 1 call
    assert "no simulation" in ax.get_xlabel()
    assert "0" in [t.get_text() for t in ax.get_xticklabels()]
    markers = {c.get_paths()[0].vertices.shape for c in points}
    assert len(markers) > 1  # different marker shapes per scheduler


def test_quality_axis_keeps_near_optimal_schedulers_apart_from_a_5x_baseline(tmp_path):
    """The issue's squashed plot: no-fusion at ~5x must not press 1.00-1.05 into a sliver,
    and schedulers at 0 calls must not sit on top of one another."""
    results = [{"network": "n", "scheduler": s, "ratio_to_oracle": r, "sim_calls": c,
                "latency_cycles": 1, "speedup_vs_no_fusion": 1.0}
               for s, r, c in (("no-fusion", 5.0, 0), ("ppo", 1.004, 0), ("bound-dp", 1.008, 0),
                               ("heuristic", 1.05, 30), ("oracle", 1.0, 100))]
    ax = plot_quality_vs_cost({"networks": ["n"], "results": results}).axes[0]
    to_px = ax.transData.transform
    y = {c.get_gid().split("|")[2]: to_px(c.get_offsets()[0])[1]
         for c in ax.collections if (c.get_gid() or "").startswith("point|")}
    height = ax.bbox.height
    assert (y["heuristic"] - y["oracle"]) > 0.25 * height  # 1.00 .. 1.05: a quarter or more
    assert (y["bound-dp"] - y["ppo"]) > 0.02 * height  # 0.4 % apart is visible
    xs = sorted(to_px(c.get_offsets()[0])[0] for c in ax.collections
                if (c.get_gid() or "").startswith("point|") and c.get_gid().split("|")[2]
                in ("no-fusion", "ppo", "bound-dp"))
    assert min(b - a for a, b in zip(xs, xs[1:])) > 5  # pixels: jittered apart


def test_ppo_search_budgets_are_one_curve_per_network(tmp_path):
    schedulers = ["no-fusion", "ppo", "ppo-search@10%", "ppo-search@50%", "oracle"]
    evaluation = load_eval(make_run_dir(tmp_path / "run", schedulers=schedulers))
    ax = plot_quality_vs_cost(evaluation).axes[0]
    curves = {ln.get_gid(): ln for ln in ax.lines if (ln.get_gid() or "").startswith("search-curve|")}
    assert set(curves) == {f"search-curve|{n}" for n in NETWORKS}
    line = curves[f"search-curve|{NETWORKS[0]}"]
    assert line.get_xdata().tolist() == [1000, 10000]  # budgets in order of simulator calls
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "ppo-search (line: budgets)" in labels and "ppo-search@10%" not in labels


def test_plot_run_draws_onnx_schedules_or_says_why_not(tmp_path, net):
    from helpers.onnx_models import network_to_onnx, save as save_onnx

    path = save_onnx(network_to_onnx(net), tmp_path / "mine.onnx")
    run = tmp_path / "run"
    run.mkdir()
    sched = [{"start": i, "end": i + 1, "cores": 1} for i in range(len(net))]
    results = [{"network": "mine", "scheduler": s, "latency_cycles": 10, "ratio_to_oracle": 1.0,
                "speedup_vs_no_fusion": 1.0, "sim_calls": 1, "schedule": sched}
               for s in ("heuristic", "oracle")]
    evaluation = {"networks": ["mine"], "results": results}
    (run / "eval.json").write_text(json.dumps(evaluation))
    heard: list[str] = []
    names = [p.name for p in plot_run(run, log=heard.append)]
    assert "schedules_mine.png" not in names
    assert heard and "not a built-in network" in heard[0]
    evaluation["network_specs"] = {"mine": str(path)}
    (run / "eval.json").write_text(json.dumps(evaluation))
    assert "schedules_mine.png" in [p.name for p in plot_run(run)]


def test_plot_run_plots_evaluations_on_other_hardware(tmp_path):
    run = make_run_dir(tmp_path / "run", curve=False)
    (run / "eval-pynq.json").write_text((run / "eval.json").read_text())
    names = [p.name for p in plot_run(run)]
    assert names[-2:] == ["speedup-pynq.png", "quality_vs_cost-pynq.png"]
    assert all((run / "plots" / n).is_file() for n in names)


def test_plot_run_writes_every_plot_atomically(tmp_path):
    run = make_run_dir(tmp_path / "run")
    paths = plot_run(run)
    assert [p.name for p in paths] == ["learning_curve.png", "speedup.png", "quality_vs_cost.png"]
    for p in paths:
        assert p.parent == run / "plots"
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(f.name for f in (run / "plots").iterdir()) == sorted(p.name for p in paths)


def test_run_dir_as_the_runner_writes_it(tmp_path):
    """fusiongym.experiments.orchestration.runner keeps wall_seconds in a separate 'timings' list and adds keys of
    its own; curve.csv has an extra wall_seconds column and 'nan' before the first episode."""
    (tmp_path / "curve.csv").write_text(
        "timesteps,mean_return,eval_ratio_to_oracle,wall_seconds\n"
        "256,nan,1.4,1.0\n512,-0.95,,2.0\n768,-0.9,1.2,3.0\n")
    results = [{"network": "tiny_chain", "scheduler": s, "latency_cycles": 100, "objective": 100.0,
                "ratio_to_oracle": r, "speedup_vs_no_fusion": 1 / r, "sim_calls": c, "groups": 2,
                "schedule": [{"start": 0, "end": 2, "cores": 4},
                             {"start": 2, "end": 5, "cores": 1}]}
               for s, r, c in (("no-fusion", 1.5, 5), ("ppo", 1.1, 5), ("oracle", 1.0, 15))]
    timings = [{"network": "tiny_chain", "scheduler": s, "wall_seconds": w}
               for s, w in (("no-fusion", 0.1), ("ppo", 0.2), ("oracle", 3.0))]
    (tmp_path / "eval.json").write_text(json.dumps(
        {"run": str(tmp_path), "hardware": "quad", "objective": "energy",
         "networks": ["tiny_chain"], "results": results, "summary": [], "timings": timings}))
    evaluation = load_eval(tmp_path)
    assert [r["wall_seconds"] for r in evaluation["results"]] == [0.1, 0.2, 3.0]
    assert evaluation["objective"] == "energy" and evaluation["hardware"] == "quad"
    curve = load_curve(tmp_path)
    assert np.isnan(curve["mean_return"][0]) and np.isnan(curve["eval_ratio_to_oracle"][1])
    fig = plot_quality_vs_cost(evaluation)
    assert fig.axes[0].get_ylabel().startswith("energy / oracle energy")
    # the recorded schedules: rows ppo, oracle (in that order), one span per group
    fig = plot_eval_schedules(evaluation, "tiny_chain")
    ax = fig.axes[0]
    assert [t.get_text().split("\n")[0] for t in ax.get_yticklabels()] == ["ppo", "oracle"]
    assert len(_spans(ax, 0)) == len(_spans(ax, 1)) == 2
    assert plot_eval_schedules(evaluation, "not_in_zoo") is None
    assert [p.name for p in plot_run(tmp_path)] == [
        "learning_curve.png", "speedup.png", "quality_vs_cost.png", "schedules_tiny_chain.png"]


def test_plot_run_with_only_an_evaluation(tmp_path):
    run = make_run_dir(tmp_path / "run", curve=False)
    assert [p.name for p in plot_run(run)] == ["speedup.png", "quality_vs_cost.png"]


@pytest.mark.parametrize("curve, evaluation, match", [
    ("timesteps,mean_return\n1,2\n", None, "missing column"),
    ("timesteps,mean_return,eval_ratio_to_oracle\n1,abc,\n", None, "expected a number"),
    ("timesteps,mean_return,eval_ratio_to_oracle\n", None, "no data rows"),
    (None, "{not json", "not valid JSON"),
    (None, '{"results": {}}', "'results' list"),
    (None, '{"results": [{"network": "a"}]}', "'scheduler'"),
    (None, '{"results": [{"network": "a", "scheduler": "b", "sim_calls": "many"}]}', "number"),
    (None, None, "neither"),
])
def test_bad_run_dirs_are_user_errors(tmp_path, curve, evaluation, match):
    if curve is not None:
        (tmp_path / "curve.csv").write_text(curve)
    if evaluation is not None:
        (tmp_path / "eval.json").write_text(evaluation)
    with pytest.raises(RunDirError, match=match):
        plot_run(tmp_path)
    assert not (tmp_path / "plots").exists() or not any(
        f.name.startswith(".") for f in (tmp_path / "plots").iterdir())


# ---- files --------------------------------------------------------------------------------
def test_save_figure_format_by_suffix_and_no_temp_files(tmp_path, net, schedule, hw):
    fig = plot_schedules(net, schedule, latencies=[1])
    assert save_figure(fig, tmp_path / "a.svg").read_bytes().lstrip()[:5] in (b"<?xml", b"<svg ")
    assert save_figure(fig, tmp_path / "a.pdf").read_bytes()[:4] == b"%PDF"
    assert save_figure(fig, tmp_path / "sub" / "a").name == "a.png"
    with pytest.raises(PlotError, match="unsupported image format"):
        save_figure(fig, tmp_path / "a.jpg")
    names = sorted(p.name for p in tmp_path.rglob("*"))
    assert names == ["a.pdf", "a.png", "a.svg", "sub"]
    assert not math.isnan(fig.get_figwidth())


def test_plots_do_not_import_matplotlib_at_import_time():
    import subprocess
    import sys

    code = ("import sys, fusiongym.experiments.plots.pipeline, fusiongym.experiments.plots.utilization, "
            "fusiongym.experiments.plots.schedule_diagram, fusiongym.experiments.plots.training, "
            "fusiongym.experiments.cli.commands.plot; print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
