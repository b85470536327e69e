"""The simulation-in-the-loop ``search`` scheduler, the contention-aware fluid estimate, the
DRAM-aware list variant and CP-SAT's list-plan hint (agents/placement): each result is a
valid placement covered by the lower bound, never worse than the plan it started from, the
same for the same seed; bad options are one line."""

from __future__ import annotations

import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate
from fusiongym.accelerator.spatial.bounds import makespan_lower_bound
from fusiongym.accelerator.spatial.placement import PlacedGroup, Placement
from fusiongym.accelerator.spatial.simulate import simulate_placement
from fusiongym.accelerator.spatial.timeline import replay
from fusiongym.accelerator.spatial.workload import Workload
from fusiongym.agents.placement import make_placement_scheduler
from fusiongym.agents.placement.fluid import _water_fill, fluid_makespan
from fusiongym.agents.placement.list_sched import _stretch
from fusiongym.agents.placement.simple import oracle_schedules

HW = load_config("mlu100")
MIX = ["tiny_residual", "tiny_transformer", "tiny_chain"]


@pytest.fixture(scope="module")
def mix():
    return Workload.parse(MIX)


@pytest.fixture(scope="module")
def searched(mix):
    s = make_placement_scheduler("search", max_simulations=16, seed=1)
    ev = GroupEvaluator(HW)
    p = s.place(mix, HW, ev)
    return s, p, simulate_placement(mix, p, HW, ev)


def test_search_returns_a_valid_placement_no_worse_than_its_start(searched, mix):
    s, p, result = searched
    p.validate(mix, HW)
    assert p.meta["scheduler"] == "search"
    assert s.last_result.makespan_cycles == result.makespan_cycles
    assert result.makespan_cycles <= s.info["start_cycles"]
    assert s.info["start"] in ("sequential", "partition", "list")
    assert s.info["placement_sims"] <= 16 + 1  # the budget (+1: a sequential start's own run)
    assert s.sim_calls >= s.info["placement_sims"]


def test_search_is_never_worse_than_list_and_stays_under_the_bound(searched, mix):
    _, p, result = searched
    ev = GroupEvaluator(HW)
    lister = make_placement_scheduler("list")
    lister.place(mix, HW, ev)
    assert result.makespan_cycles <= lister.last_result.makespan_cycles
    assert all(len(g) <= 8 for g in p.groups)  # the bound covers groups of <= 8 layers
    assert makespan_lower_bound(mix, HW, ev).makespan_cycles <= result.makespan_cycles


def test_search_is_deterministic_for_a_seed(mix, searched):
    again = make_placement_scheduler("search", max_simulations=16, seed=1)
    p = again.place(mix, HW, GroupEvaluator(HW))
    assert p.groups == searched[1].groups
    assert again.info["accepted"] == searched[0].info["accepted"]


@pytest.mark.parametrize("options", [{"max_simulations": 0}, {"patience": 0},
                                     {"max_simulations": 2.5}, {"single_moves": -1}])
def test_search_rejects_bad_options_in_one_line(options):
    with pytest.raises(UserInputError) as err:
        make_placement_scheduler("search", **options)
    assert "search" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UserInputError, match="search"):
        make_placement_scheduler("search", budget=3)


def test_fluid_estimate_of_a_sequential_placement_is_the_sequential_latency(mix):
    ev = GroupEvaluator(HW)
    schedules = oracle_schedules(mix, HW, ev)
    seq = Placement.sequential(mix, schedules)
    exact = sum(evaluate(r.network, s, HW, ev).latency_cycles
                for r, s in zip(mix.requests, schedules))
    assert fluid_makespan(mix, seq, HW, ev) == exact
    assert simulate_placement(mix, seq, HW, ev).makespan_cycles == exact


def test_fluid_estimate_sees_dram_contention_the_isolated_estimate_misses():
    # four copies of one DRAM-heavy group side by side on 4 cores each: the bus is shared
    w = Workload.parse(["tiny_chainx4"])
    ev = GroupEvaluator(HW)
    net = w.requests[0].network
    c = 4
    groups = tuple(PlacedGroup(r, 0, len(net), c) for r in range(4))
    p = Placement(groups, w.name, w.content_hash())
    deps = p.validate(w, HW)
    iso = replay(p.groups, deps, [0] * 4,
                 [ev.result(net, 0, len(net), c).latency_cycles] * 4, HW.num_cores)
    r = ev.result(net, 0, len(net), c)
    demand = 4 * (r.dram_bytes_read + r.dram_bytes_written) / r.latency_cycles
    fluid = fluid_makespan(w, p, HW, ev)
    if demand > HW.dram_bandwidth_bytes_per_cycle:
        assert fluid > iso.makespan_cycles
    else:
        assert fluid >= iso.makespan_cycles
    assert simulate_placement(w, p, HW, ev).makespan_cycles >= iso.makespan_cycles


def test_water_fill_is_max_min_fair():
    assert _water_fill([10.0, 10.0], 30.0) == [10.0, 10.0]
    assert _water_fill([10.0, 50.0, 50.0], 60.0) == [10.0, 25.0, 25.0]
    assert sum(_water_fill([40.0, 40.0, 40.0], 100.0)) == pytest.approx(100.0)


def test_dram_stretch_charges_only_an_oversubscribed_bus():
    assert _stretch([], 0, 100, 50.0, 100.0) == 1.0
    assert _stretch([(0, 100, 30.0)], 0, 100, 50.0, 100.0) == 1.0
    assert _stretch([(0, 100, 150.0)], 0, 100, 50.0, 100.0) == pytest.approx(2.0)
    assert _stretch([(50, 150, 150.0)], 0, 100, 50.0, 100.0) == pytest.approx(1.25)


def test_cpsat_is_never_worse_than_the_list_plan_it_is_hinted_with(mix):
    ev = GroupEvaluator(HW)
    lister = make_placement_scheduler("list")
    lister.place(mix, HW, ev)
    s = make_placement_scheduler("cpsat", work_limit=1.0, time_limit_s=60.0)
    p = s.place(mix, HW, GroupEvaluator(HW))
    p.validate(mix, HW)
    assert s.last_result.makespan_cycles <= lister.last_result.makespan_cycles
    assert s.info["dram_capacity"] >= 1.0
    assert isinstance(s.info["proved_optimal"], bool)
