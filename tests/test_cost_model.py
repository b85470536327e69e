"""cost-model-dp: a deterministic regressor over group + hardware features, trained on the
training networks only, and the exact DP over its predictions (valid schedules, 0 sims)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate
from fusiongym.accelerator.workloads.zoo import get_network
from fusiongym.agents import make_scheduler
from fusiongym.agents.cost_model import (FEATURE_NAMES, ensure_cost_model, fit_mlp, group_features,
                               load_model, training_samples)
from fusiongym.agents.cost_table import CostTable, dp_over

HW = load_config()
TRAIN = [get_network("tiny_chain"), get_network("synthetic:1")]


def test_features_are_finite_and_none_for_infeasible_groups():
    ev = GroupEvaluator(HW)
    net = get_network("tiny_residual")
    feats, lb = group_features(ev, net, 1, 4, 4)  # (0..2: a launch-bound fusion, refused)
    assert feats.shape == (len(FEATURE_NAMES),) and np.isfinite(feats).all() and lb >= 1
    tight = HW.with_(log_inp_buff_size=8, log_acc_buff_size=8, log_wgt_buff_size=8)
    big = get_network("resnet18")
    assert group_features(GroupEvaluator(tight), big, 0, 8, 1) is None


def test_training_is_deterministic_and_learns(tmp_path):
    x, y, calls = training_samples(TRAIN, [HW], max_group_layers=4, max_samples=120, seed=0)
    assert calls == len(y) <= 120
    a, b = fit_mlp(x, y, seed=0, steps=300), fit_mlp(x, y, seed=0, steps=300)
    assert all(np.array_equal(p, q) for p, q in zip(a.weights, b.weights))
    rmse = float(np.sqrt(np.mean((a.predict(x) - y) ** 2)))
    assert rmse < 0.6 * float(np.std(y))  # explains most of the variance it was fit on


def test_saved_model_is_reused_only_for_the_same_training_data(tmp_path):
    path = tmp_path / "cost_model.npz"
    logs: list[str] = []
    first, meta = ensure_cost_model(path, TRAIN, [HW], 4, max_samples=60, log=logs.append)
    again, _ = ensure_cost_model(path, TRAIN, [HW], 4, max_samples=60, log=logs.append)
    assert len(logs) == 1  # the second call loaded the file
    assert all(np.array_equal(p, q) for p, q in zip(first.weights, again.weights))
    assert load_model(path)[1]["fingerprint"] == meta["fingerprint"]
    ensure_cost_model(path, TRAIN[:1], [HW], 4, max_samples=60, log=logs.append)
    assert len(logs) == 2  # other training networks: retrained


@pytest.mark.parametrize("name", ["tiny_residual", "synthetic:4:9:residual"])
def test_dp_over_predictions_is_valid_and_costs_no_simulation(tmp_path, name):
    model, _ = ensure_cost_model(tmp_path / "m.npz", TRAIN, [HW], 4, max_samples=80,
                                 log=lambda _: None)
    net = get_network(name)
    runs = [make_scheduler("cost-model-dp", model=model, max_group_layers=4,
                           evaluator=GroupEvaluator(HW)) for _ in range(2)]
    schedules = [r.schedule(net, HW) for r in runs]
    assert schedules[0] == schedules[1]
    schedules[0].validate(net, HW)
    assert all(g.end - g.start <= 4 for g in schedules[0].groups)
    assert runs[0].last_cost.sim_calls == 0
    assert evaluate(net, schedules[0], HW, GroupEvaluator(HW)).latency_cycles > 0


def test_cost_table_over_simulated_values_is_the_oracle():
    """The shared DP: fed the simulator's own values, it is the exhaustive oracle."""
    net = get_network("synthetic:4:9:residual")
    ev = GroupEvaluator(HW)
    table = CostTable(ev, lambda n, s, e, c: ev.result(n, s, e, c).latency_cycles)
    schedule, value = dp_over(table, net, 4)
    oracle = make_scheduler("oracle", max_group_layers=4, progress=False,
                            evaluator=GroupEvaluator(HW))
    best = oracle.schedule(net, HW)
    assert schedule == best and math.isclose(value, oracle.last_value)
