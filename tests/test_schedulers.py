"""Schedulers: valid feasible schedules, honest search costs, the registry, the oracle on top."""

import json

import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate
from fusiongym.accelerator.schedule import Schedule
from fusiongym.accelerator.workloads.zoo import get_network
from fusiongym.agents import SCHEDULERS, make_scheduler, register_scheduler, scheduler_names
from fusiongym.agents.base import Scheduler
from fusiongym.agents.baselines import NoFusionScheduler, RandomScheduler
from fusiongym.agents.heuristic import DEFAULT_THRESHOLDS, HeuristicScheduler, load_thresholds
from fusiongym.agents.heuristic_sweep import CATEGORIES, _table, synthesized_layers
from helpers.small_networks import (CHEAP_LAUNCH_HW, evaluator_for, small_branchy, small_chain,
                                    small_mobile)

HW = load_config()


def networks():
    return [small_chain(), small_branchy(), small_mobile(), get_network("tiny_residual"),
            get_network("synthetic:4:9:residual")]


def test_registry_names_and_unknown_name():
    assert {"no-fusion", "heuristic", "random", "oracle"} <= set(scheduler_names())
    assert isinstance(make_scheduler("random", budget_sim_calls=5), RandomScheduler)
    with pytest.raises(UserInputError, match="unknown scheduler 'nope'"):
        make_scheduler("nope")


def test_registry_hook_for_new_schedulers():
    class Fixed(Scheduler):
        name = "fixed"

        def _schedule(self, network, hw, evaluator):
            return Schedule.no_fusion(network, hw.default_cores)

    register_scheduler("fixed-test", Fixed)
    try:
        sched = make_scheduler("fixed-test")
        net = small_chain()
        assert len(sched.schedule(net, HW).groups) == len(net)
        assert sched.last_cost.sim_calls == 0 and sched.last_cost.wall_seconds >= 0
    finally:
        SCHEDULERS.pop("fixed-test")


@pytest.mark.parametrize("name, kwargs", [
    ("no-fusion", {}), ("heuristic", {}), ("random", {"budget_sim_calls": 30, "seed": 1}),
    ("oracle", {"progress": False}),
])
def test_every_scheduler_returns_a_feasible_schedule(name, kwargs):
    for net in networks():
        sched = make_scheduler(name, evaluator=evaluator_for(HW), **kwargs)
        schedule = sched.schedule(net, HW)
        schedule.validate(net, HW)
        evaluate(net, schedule, HW, evaluator_for(HW))  # raises on an infeasible group
        assert sched.last_cost is not None and sched.last_cost.sim_calls >= 0


def test_no_fusion_is_every_layer_alone_on_default_cores():
    net = get_network("tiny_residual")
    assert NoFusionScheduler().schedule(net, HW) == Schedule.no_fusion(net, HW.default_cores)


def test_oracle_is_never_worse_than_the_others():
    for hw in (HW, CHEAP_LAUNCH_HW):
        ev = evaluator_for(hw)
        for net in networks():
            oracle = make_scheduler("oracle", evaluator=ev, progress=False)
            best = evaluate(net, oracle.schedule(net, hw), hw, ev).latency_cycles
            for name, kw in (("no-fusion", {}), ("heuristic", {}),
                             ("random", {"budget_sim_calls": 40, "seed": 0})):
                other = make_scheduler(name, evaluator=ev, **kw).schedule(net, hw)
                assert best <= evaluate(net, other, hw, ev).latency_cycles, (hw.name, net.name, name)


def test_random_keeps_to_its_budget_and_is_deterministic():
    net = get_network("synthetic:4:9:residual")
    runs = []
    for _ in range(2):
        rs = RandomScheduler(budget_sim_calls=25, seed=7, evaluator=GroupEvaluator(CHEAP_LAUNCH_HW))
        runs.append(rs.schedule(net, CHEAP_LAUNCH_HW))
        assert rs.last_cost.sim_calls <= 25 and rs.samples >= 1
    assert runs[0] == runs[1]
    warm = RandomScheduler(budget_sim_calls=25, seed=7, evaluator=rs.evaluator)
    assert warm.schedule(net, CHEAP_LAUNCH_HW) == runs[0]  # same result on a warm memo
    assert warm.last_cost.sim_calls == 0
    bigger = RandomScheduler(budget_sim_calls=80, seed=7,
                             evaluator=GroupEvaluator(CHEAP_LAUNCH_HW))
    bigger.schedule(net, CHEAP_LAUNCH_HW)
    assert bigger.samples >= rs.samples


def test_random_budget_zero_still_returns_one_schedule():
    rs = RandomScheduler(budget_sim_calls=0, evaluator=GroupEvaluator(CHEAP_LAUNCH_HW))
    net = small_chain()
    rs.schedule(net, CHEAP_LAUNCH_HW).validate(net, CHEAP_LAUNCH_HW)
    assert rs.samples == 1


def test_search_costs_count_simulations_on_a_fresh_evaluator():
    net = small_branchy()
    ev = GroupEvaluator(CHEAP_LAUNCH_HW)
    sched = NoFusionScheduler(evaluator=ev)
    sched.schedule(net, CHEAP_LAUNCH_HW)
    assert sched.last_cost.sim_calls == len(net)
    sched.schedule(net, CHEAP_LAUNCH_HW)
    assert sched.last_cost.sim_calls == 0  # memo hits are free


def test_evaluator_for_other_hardware_is_rejected():
    sched = NoFusionScheduler(evaluator=GroupEvaluator(CHEAP_LAUNCH_HW))
    with pytest.raises(UserInputError, match="evaluator"):
        sched.schedule(small_chain(), HW)


def test_shipped_thresholds_cover_every_category_and_core_count():
    doc = load_thresholds(DEFAULT_THRESHOLDS)
    assert doc["hardware"] == HW.name == "mlu100"
    assert set(doc["tables"]) == set(CATEGORIES)
    n_ops, n_ch = len(doc["ops_edges"]) + 1, len(doc["channel_edges"]) + 1
    for table in doc["tables"].values():
        assert len(table) == n_ops and all(len(row) == n_ch for row in table)
        assert {c for row in table for c in row} <= set(HW.allowed_core_counts)
    heuristic = HeuristicScheduler()
    for layer in get_network("resnet18").layers:
        assert heuristic.table_cores(layer) in HW.allowed_core_counts


def test_heuristic_uses_the_table_swept_on_its_hardware_else_the_default_as_is():
    """Each preset's shipped table applies only to the hardware values it was swept on;
    anything else (an edited preset, an unseen machine) gets the default table as is."""
    from fusiongym.agents.heuristic import TABLE_DIR, shipped_table

    vta16 = load_config("vta16")
    assert shipped_table(HW) == DEFAULT_THRESHOLDS == TABLE_DIR / "mlu100.json"
    assert shipped_table(vta16) == TABLE_DIR / "vta16.json"
    assert load_thresholds(shipped_table(vta16))["hardware"] == "vta16"
    edited = vta16.with_(dram_bandwidth_bytes_per_cycle=25.6)
    assert shipped_table(edited) == DEFAULT_THRESHOLDS
    # the tables differ, so the choice matters: some zoo layer gets another core count
    heuristic, net = HeuristicScheduler(), get_network("resnet18")
    heuristic.schedule(net, HW)
    on_mlu = [heuristic.table_cores(layer) for layer in net.layers]
    heuristic.schedule(net, vta16)
    assert [heuristic.table_cores(layer) for layer in net.layers] != on_mlu


def test_missing_thresholds_file_is_a_user_error(tmp_path):
    with pytest.raises(UserInputError, match="heuristic_sweep"):
        HeuristicScheduler(thresholds=tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"tables": {}}))
    with pytest.raises(UserInputError, match="not a heuristic thresholds file"):
        HeuristicScheduler(thresholds=bad)


def test_sweep_table_picks_least_slowdown_and_fills_empty_cells():
    samples = [  # two layers in one cell: 4 cores is best on the geometric mean
        {"ops": 10**7, "c_out": 64, "latency_cycles": {"1": 100, "4": 50, "16": 60}},
        {"ops": 10**7, "c_out": 64, "latency_cycles": {"1": 100, "4": 80, "16": 70}},
    ]
    table, slowdown = _table(samples, [1, 4, 16])
    assert {c for row in table for c in row} == {4}  # every empty cell copies the one filled
    assert slowdown == pytest.approx((80 / 70) ** 0.5, rel=1e-3)


def test_sweep_grid_builds_valid_layers():
    layers = list(synthesized_layers())
    assert len(layers) > 100
    assert {net.layers[i].kind.value for net, i in layers} >= {
        "conv2d", "depthwise_conv2d", "dense", "max_pool", "add"}


def test_greedy_fusion_can_be_switched_off():
    net = small_branchy()
    ev = evaluator_for(HW)
    unfused = HeuristicScheduler(fuse=False, evaluator=ev).schedule(net, HW)
    assert all(len(g) == 1 for g in unfused.groups)
    fused = HeuristicScheduler(evaluator=ev).schedule(net, HW)
    assert (evaluate(net, fused, HW, ev).latency_cycles
            <= evaluate(net, unfused, HW, ev).latency_cycles)
