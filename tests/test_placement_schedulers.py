"""Placement schedulers (agents/placement) and the makespan lower bound
(accelerator/spatial/bounds.py): every scheduler's placement is valid and simulates; the
bound is below the simulated makespan of random placements (any grouping with groups of at
most 8 layers, any core counts, launch order and arrivals) and of every scheduler's; the
plan a scheduler pins replays as planned; CP-SAT is reproducible with a seed."""

from __future__ import annotations

import random

import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.spatial.bounds import makespan_lower_bound
from fusiongym.accelerator.spatial.placement import PlacedGroup, Placement
from fusiongym.accelerator.spatial.simulate import simulate_placement
from fusiongym.accelerator.spatial.timeline import replay
from fusiongym.accelerator.spatial.workload import Workload
from fusiongym.agents.placement import PLACEMENT_SCHEDULERS, make_placement_scheduler
from fusiongym.agents.placement.candidates import branch_split, groupings_of
from fusiongym.agents.placement.list_sched import ListPlacement
from fusiongym.agents.placement.simple import partition_share

HW = load_config("mlu100")
MIX = ["tiny_residual", "tiny_transformer", "tiny_chain"]
_OPTIONS = {"cpsat": {"work_limit": 2.0, "time_limit_s": 30.0}}


@pytest.fixture(scope="module")
def mix():
    return Workload.parse(MIX)


@pytest.fixture(scope="module")
def placed(mix):
    """Each scheduler's placement of the mix and its simulation (fresh evaluator each)."""
    out = {}
    for name in PLACEMENT_SCHEDULERS:
        s = make_placement_scheduler(name, **_OPTIONS.get(name, {}))
        ev = GroupEvaluator(HW)
        p = s.place(mix, HW, ev)
        result = simulate_placement(mix, p, HW, ev)
        out[name] = (s, p, result)
    return out


@pytest.mark.parametrize("name", sorted(PLACEMENT_SCHEDULERS))
def test_every_scheduler_returns_a_valid_placement_that_simulates(placed, mix, name):
    s, p, result = placed[name]
    p.validate(mix, HW)
    assert p.meta["scheduler"] == name
    assert s.seconds > 0 and s.sim_calls > 0
    assert len(result.request_latency_cycles) == len(mix)
    if s.last_result is not None:  # the scheduler's own simulation is the same run
        assert s.last_result.makespan_cycles == result.makespan_cycles


def test_the_bound_is_below_every_schedulers_makespan(placed, mix):
    lb = makespan_lower_bound(mix, HW, GroupEvaluator(HW))
    assert lb.makespan_cycles == max(lb.area_cycles, lb.dram_cycles, lb.critical_path_cycles)
    for name, (_, _, result) in placed.items():
        assert lb.makespan_cycles <= result.makespan_cycles, name


def test_sequential_is_the_oracle_chain_and_co_running_beats_it_here(placed):
    seq = placed["sequential"][2].makespan_cycles
    # on this mix of three small requests every co-running scheduler is faster (measured,
    # not a theorem: see the README for workloads where contention eats the gain)
    for name in ("partition", "list", "cpsat"):
        assert placed[name][2].makespan_cycles < seq, name


def test_partition_keeps_each_request_on_its_share(placed, mix):
    share = partition_share(HW, len(mix))
    slots = HW.num_cores // share
    _, p, result = placed["partition"]
    for g in result.groups:
        slot = g.request % slots
        assert set(g.core_ids) <= set(range(slot * share, (slot + 1) * share))


def test_a_pinned_list_plan_replays_no_later_than_planned(mix):
    ev = GroupEvaluator(HW)
    estimate, _, _, plan = ListPlacement().variants(mix, HW, ev)[0]
    from fusiongym.agents.placement.base import plan_to_placement

    p = plan_to_placement(mix, plan)
    deps = p.validate(mix, HW)
    durations = [ev.result(mix.requests[g.request].network, g.start, g.end, g.cores)
                 .latency_cycles for g in p.groups]
    arrivals = [mix.requests[g.request].arrival_cycles for g in p.groups]
    line = replay(p.groups, deps, arrivals, durations, HW.num_cores)
    assert line.makespan_cycles <= estimate


def test_branch_split_cuts_before_each_branch_start():
    net = Workload.parse(["squeezenet1_1"]).requests[0].network
    pieces = branch_split(net, [(0, len(net))])
    for s, e in pieces:
        for i in range(s + 1, e):
            assert (i - 1) in net.layers[i].inputs
    ev = GroupEvaluator(HW)
    kinds = [g.kind for g in groupings_of(net, HW, ev)]
    assert kinds[0] == "oracle" and "layers" in kinds


def _random_placement(w: Workload, ev: GroupEvaluator, rng: random.Random) -> Placement:
    """Random groups (<= 8 layers, a random feasible core count each), interleaved across
    requests in a random launch order that keeps each request's groups in order."""
    per = []
    for r, req in enumerate(w.requests):
        net, i, groups = req.network, 0, []
        while i < len(net):
            options = []
            for j in range(i + 1, min(len(net), i + 8) + 1):
                for c in HW.allowed_core_counts:
                    if ev.infeasible_reason(net, i, j, c) is None:
                        options.append((j, c))
            j, c = rng.choice(options)
            groups.append(PlacedGroup(r, i, j, c))
            i = j
        per.append(groups)
    order = []
    heads = [0] * len(per)
    while any(h < len(g) for h, g in zip(heads, per)):
        r = rng.choice([r for r, g in enumerate(per) if heads[r] < len(g)])
        order.append(per[r][heads[r]])
        heads[r] += 1
    return Placement(tuple(order), w.name, w.content_hash())


@pytest.mark.parametrize("arbitration", ["fair_share", "burst"])
def test_the_bound_is_sound_on_random_placements(arbitration):
    hw = HW.with_(dram_arbitration=arbitration)
    ev = GroupEvaluator(hw)
    rng = random.Random(20)
    workloads = [Workload.parse(MIX),
                 Workload.from_entries([("tiny_residual", 2, 0), ("tiny_chain", 1, 30_000)])]
    if arbitration == "fair_share":  # a real network too (its bound's DP takes a few seconds)
        workloads.append(Workload.parse(["squeezenet1_1x2"]))
    for w in workloads:
        lb = makespan_lower_bound(w, hw, ev).makespan_cycles
        for _ in range(4):
            p = _random_placement(w, ev, rng)
            assert lb <= simulate_placement(w, p, hw, ev).makespan_cycles, w.name


def test_cpsat_is_reproducible_with_a_seed(mix):
    runs = []
    for _ in range(2):
        s = make_placement_scheduler("cpsat", work_limit=1.0, time_limit_s=60.0, seed=3)
        p = s.place(mix, HW, GroupEvaluator(HW))
        runs.append((p.groups, s.info["status"]))
        assert isinstance(s.info["proved_optimal"], bool)
    assert runs[0] == runs[1]


def test_registry_errors_are_one_line():
    with pytest.raises(UserInputError, match="not one of"):
        make_placement_scheduler("heft")
    with pytest.raises(UserInputError, match="cpsat"):
        make_placement_scheduler("cpsat", budget=3)


def test_placement_table_rejects_bad_input_in_one_line(capsys):
    from fusiongym.benchmarks.placement_table import main

    with pytest.raises(SystemExit) as err:
        main(["--hw", "no_such_chip"])
    assert err.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as err:
        main(["--quick", "--work-limit", "0"])
    assert err.value.code == 2
    capsys.readouterr()
    with pytest.raises(SystemExit) as err:
        main(["--quick", "--schedulers", "cpsat,heft"])
    assert err.value.code == 2
    assert "heft" in capsys.readouterr().err.strip()
