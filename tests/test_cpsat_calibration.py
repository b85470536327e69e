"""CP-SAT's simulation-calibrated loop (agents/placement/cpsat.py, calibration.py) and the
``oracle@N`` groupings (candidates.py): a calibrated duration is what the simulation measured
(the best run's own, else the mean, else the isolated latency stretched as measured); the
best run replayed on the calibrated costs is a model solution at its simulated makespan; the
loop never returns worse than its hint and reports its rounds; bad options are one line."""

from __future__ import annotations

import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.spatial.workload import Workload
from fusiongym.agents.placement import make_placement_scheduler
from fusiongym.agents.placement.calibration import Calibration, simulated_plan
from fusiongym.agents.placement.candidates import (capped_kinds, make_grouping,
                                                   oracle_schedule)
from fusiongym.agents.placement.cpsat import CpSatPlacement, _matching, model_feasible_starts

HW = load_config("mlu100")
MIX = ["tiny_residual", "tiny_transformer", "tiny_chain"]


def _hinted(specs):
    """The workload, its evaluator, cpsat's list hint (scheduler, simulated run) and its
    candidates."""
    w = Workload.parse(specs)
    ev = GroupEvaluator(HW)
    s = CpSatPlacement()
    lister, _ = s._hint_list(w, HW, ev)  # noqa: SLF001
    cands = s._candidates(w, HW, ev, hint=lister.plan)  # noqa: SLF001
    return w, ev, s, lister.last_result, cands


@pytest.fixture(scope="module")
def hinted():
    return _hinted(MIX)


def _cost(costs, r, start, end):
    return next(g for G in costs[r] for g in G.groups if (g.start, g.end) == (start, end))


def test_a_calibrated_duration_is_what_the_simulation_measured(hinted):
    w, _, _, result, cands = hinted
    cal = Calibration()
    assert cal.add(w, result) == len(result.groups)
    costs = cal.apply(w, cands, result)
    stretched = 0
    for g in result.groups:
        measured = g.end_cycles - g.launch_cycles
        c = _cost(costs, g.request, g.start, g.end)
        iso = _cost(cands, g.request, g.start, g.end)
        if iso.latency_cycles[g.cores] > 0:
            assert c.latency_cycles[g.cores] == measured
        for other, v in iso.latency_cycles.items():  # never run at that count: stretched
            if other != g.cores and v > 0:
                s = cal.stretch(w.requests[g.request].network.content_hash(), g.start, g.end,
                                iso.latency_cycles)
                assert c.latency_cycles[other] == round(v * s)
                stretched += s > 1.0
    assert stretched, "no group met contention in the mix: the test checks nothing"
    # "isolated": counts never run keep their isolated latency
    plain = cal.apply(w, cands, result, unexplored="isolated")
    g = result.groups[0]
    iso = _cost(cands, g.request, g.start, g.end)
    for other, v in iso.latency_cycles.items():
        if other != g.cores:
            assert _cost(plain, g.request, g.start, g.end).latency_cycles[other] == v


def test_a_duration_measured_in_other_runs_is_their_mean(hinted):
    w, _, _, result, _ = hinted
    cal = Calibration()
    cal.add(w, result)
    cal.add(w, result)
    g = result.groups[-1]
    h = w.requests[g.request].network.content_hash()
    assert cal.duration(h, g.start, g.end, g.cores) == g.end_cycles - g.launch_cycles
    assert cal.duration(h, g.start, g.end, 99) is None


def test_the_best_run_replays_as_a_model_solution_at_its_makespan():
    # two SqueezeNets: the mix's makespan is its host launches', the same on any costs
    w, ev, s, result, cands = _hinted(["squeezenet1_1x2"])
    cal = Calibration()
    cal.add(w, result)
    costs = cal.apply(w, cands, result)
    plan = simulated_plan(result)
    chosen = [_matching(gs, plan, r) for r, gs in enumerate(costs)]
    assert all(G is not None for G in chosen)
    capacity = s._capacity(w, costs, plan, result, HW, ev)  # noqa: SLF001
    _, model_cycles, _ = model_feasible_starts(w, plan, chosen, HW, HW.launch_dispatch_cycles,
                                               HW.launch_overhead_cycles, capacity)
    assert model_cycles == result.makespan_cycles
    # on isolated costs (and the capacity that admits the run's overlap at their rates) the
    # same run is far off: the model cannot see contention
    _, isolated, _ = model_feasible_starts(
        w, plan, [_matching(gs, plan, r) for r, gs in enumerate(cands)], HW,
        HW.launch_dispatch_cycles, HW.launch_overhead_cycles,
        s._capacity(w, cands, plan, result, HW, ev))  # noqa: SLF001
    assert isolated < 0.9 * result.makespan_cycles


def test_the_loop_never_returns_worse_than_its_hint_and_reports_its_rounds():
    w = Workload.parse(MIX)
    s = make_placement_scheduler("cpsat", work_limit=2.0, time_limit_s=60.0)
    p = s.place(w, HW, GroupEvaluator(HW))
    p.validate(w, HW)
    info = s.info
    assert s.last_result.makespan_cycles == info["solution_cycles"] <= info["list_cycles"]
    assert info["rounds"] == len(info["round_log"]) >= 1
    assert isinstance(info["proved_optimal"], bool) and isinstance(info["stop"], str)
    for row in info["round_log"]:
        assert {"round", "status", "model_cycles", "hint_model_cycles", "dram_capacity",
                "solver_wall_s"} <= set(row)
        if "simulated_cycles" in row:  # a simulated round never beats the answer
            assert row["simulated_cycles"] >= info["solution_cycles"]
    if "fallback" not in info:
        assert any(row.get("improved") for row in info["round_log"])


def test_the_capped_grouping_is_the_core_limited_oracles():
    w = Workload.parse(["resnet18"])
    net, ev = w.requests[0].network, GroupEvaluator(HW)
    assert capped_kinds(HW) == ("oracle@1", "oracle@2", "oracle@4", "oracle@8")
    G = make_grouping("oracle@2", net, HW, ev, oracle_schedule(net, HW, ev))
    assert [(g.start, g.end) for g in G.groups] == [
        (g.start, g.end) for g in oracle_schedule(net, HW, ev, max_cores=2).groups]
    with pytest.raises(ValueError, match="oracle@3"):
        make_grouping("oracle@3", net, HW, ev, oracle_schedule(net, HW, ev))


@pytest.mark.parametrize("options", [{"rounds": 0}, {"rounds": 1.5}, {"patience": 0},
                                     {"unexplored": "optimistic"}, {"work_limit": 0}])
def test_bad_loop_options_are_one_line(options):
    with pytest.raises(UserInputError, match="cpsat") as err:
        make_placement_scheduler("cpsat", **options)
    assert "\n" not in str(err.value)


def test_uncalibrated_rounds_stop_at_the_repeat_and_keep_the_never_worse_rule():
    w = Workload.parse(MIX)
    s = make_placement_scheduler("cpsat", work_limit=2.0, calibrate=False)
    s.place(w, HW, GroupEvaluator(HW))
    assert s.info["calibrated_keys"] == 0 and s.info["rounds"] <= 2
    assert s.last_result.makespan_cycles <= s.info["list_cycles"]
