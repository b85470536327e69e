"""Whole-placement simulation: back-compat with the sequential evaluation, the launch rule,
contention between co-running groups, and placement / workload validation."""

from __future__ import annotations

import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate
from fusiongym.accelerator.schedule import Schedule
from fusiongym.accelerator.spatial.placement import PlacedGroup, Placement, PlacementError
from fusiongym.accelerator.spatial.simulate import simulate_placement
from fusiongym.accelerator.spatial.timeline import replay
from fusiongym.accelerator.spatial.workload import Workload
from fusiongym.accelerator.workloads.network import WorkloadError
from fusiongym.accelerator.workloads.zoo import ZOO

HW = load_config("mlu100")


@pytest.mark.parametrize("name", sorted(ZOO))
@pytest.mark.parametrize("cores", [1, 16])
def test_sequential_placement_gives_the_sequential_cycles(name, cores):
    w = Workload.parse([name])
    net = w.requests[0].network
    ev = GroupEvaluator(HW)
    schedule = Schedule.no_fusion(net, cores)
    try:
        expected = evaluate(net, schedule, HW, ev)
    except Exception as err:  # a layer that does not fit on this many cores: nothing to compare
        pytest.skip(f"{name} on {cores} cores: {err}")
    got = simulate_placement(w, Placement.sequential(w, [schedule]), HW, ev)
    assert got.makespan_cycles == expected.latency_cycles
    assert got.dram_bytes_read == expected.dram_bytes_read
    assert got.dram_bytes_written == expected.dram_bytes_written
    assert got.energy_pj == pytest.approx(expected.energy_pj, rel=1e-12)


def _fused(net, size=3, cores=4):
    """The oracle's fusion groups on at most ``cores`` cores (``size`` is unused: kept the
    call sites short); single layers where a group does not fit on that many."""
    from fusiongym.agents.oracle import OracleScheduler

    ev = GroupEvaluator(HW)
    groups = []
    for g in OracleScheduler(progress=False, evaluator=ev).schedule(net, HW).groups:
        c = min(g.cores, cores)
        if ev.infeasible_reason(net, g.start, g.end, c) is None:
            groups.append((g.end, c))
        else:
            groups.extend((i + 1, c) for i in range(g.start, g.end))
    return Schedule.from_boundaries(net, [e for e, _ in groups], [c for _, c in groups])


def test_fused_sequential_placement_matches_on_a_multi_request_chain():
    w = Workload.parse(["resnet18", "squeezenet1_1"])
    schedules = [_fused(r.network) for r in w.requests]
    want = sum(evaluate(r.network, s, HW).latency_cycles for r, s in zip(w.requests, schedules))
    assert simulate_placement(w, Placement.sequential(w, schedules), HW).makespan_cycles == want


def test_the_simulation_follows_the_launch_rule_of_the_timeline():
    w = Workload.parse(["squeezenet1_1x3"])
    schedules = [_fused(r.network, 2, c) for r, c in zip(w.requests, (4, 8, 4))]
    placement = Placement.side_by_side(w, schedules)
    result = simulate_placement(w, placement, HW)
    deps = placement.validate(w, HW)
    arrivals = [w.requests[g.request].arrival_cycles for g in placement.groups]
    line = replay(placement.groups, deps, arrivals,
                  [g.end_cycles - g.launch_cycles for g in result.groups], HW.num_cores)
    assert list(line.start_cycles) == [g.launch_cycles for g in result.groups]
    assert list(line.core_ids) == [g.core_ids for g in result.groups]
    # groups did co-run: some core sets overlap in time
    spans = [(g.launch_cycles, g.end_cycles) for g in result.groups]
    assert any(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans) for b in spans[i + 1:])


def test_co_running_requests_slow_each_other_down_through_dram():
    w1 = Workload.parse(["resnet18"])
    net = w1.requests[0].network
    s = _fused(net, 2, 8)
    alone = simulate_placement(w1, Placement.sequential(w1, [s]), HW).makespan_cycles
    w2 = Workload.parse(["resnet18x2"])
    both = simulate_placement(w2, Placement.side_by_side(w2, [s, s]), HW)
    assert min(both.request_latency_cycles) > alone  # contention, not a formula
    assert both.makespan_cycles < 2 * alone  # ... but co-running still pays


def test_pinned_replay_is_exact_and_arrivals_delay_a_request():
    w = Workload.from_entries([("squeezenet1_1", 1, 0), ("squeezenet1_1", 1, 50_000)])
    schedules = [_fused(r.network, 2, 4) for r in w.requests]
    placement = Placement.side_by_side(w, schedules)
    first = simulate_placement(w, placement, HW)
    again = simulate_placement(w, Placement.from_dict(first.pinned(placement).to_dict()), HW)
    assert again.makespan_cycles == first.makespan_cycles
    late = [g for g in first.groups if g.request == 1]
    assert min(g.launch_cycles for g in late) >= 50_000


def _two_groups(net):
    n = len(net)
    return (PlacedGroup(0, 0, n // 2, 4), PlacedGroup(0, n // 2, n, 4))


def test_placement_errors_are_one_line():
    w = Workload.parse(["squeezenet1_1"])
    net = w.requests[0].network
    a, b = _two_groups(net)
    with pytest.raises(PlacementError, match="before its producer"):
        Placement((b, a)).validate(w, HW)
    with pytest.raises(PlacementError, match="cores, but"):
        Placement((PlacedGroup(0, 0, len(net), 32),)).validate(w, HW)
    with pytest.raises(PlacementError, match="both run on core 1 at once"):
        Placement((PlacedGroup(0, 0, len(net), 2, core_ids=(0, 1), start_cycles=0,
                               end_cycles=100),
                   PlacedGroup(1, 0, len(net), 2, core_ids=(1, 2), start_cycles=50,
                               end_cycles=200))).validate(Workload.parse(["squeezenet1_1x2"]), HW)
    with pytest.raises(PlacementError, match="in no group"):
        Placement((a,)).validate(w, HW)


def test_workload_spellings_and_errors(tmp_path):
    w = Workload.parse(["resnet18x3", "squeezenet1_1"])
    assert [r.name for r in w.requests] == ["resnet18#0", "resnet18#1", "resnet18#2",
                                            "squeezenet1_1"]
    with pytest.raises(WorkloadError, match="unknown network"):
        Workload.parse(["resnet99"])
    bad = tmp_path / "w.yaml"
    bad.write_text("requests:\n  - {network: resnet18, arrival_cycles: -5}\n")
    with pytest.raises(WorkloadError, match="arrival_cycles must be >= 0"):
        Workload.load(bad)
    good = tmp_path / "mix.yaml"
    good.write_text("requests:\n  - {network: resnet18, count: 2}\n  - squeezenet1_1\n")
    assert len(Workload.load(good)) == 3
