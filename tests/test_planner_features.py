"""Planner features: Q-values of the DP over lower bounds in the observation, and bound-dp."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from fusiongym.accelerator.bounds import latency_lower_bound
from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate
from fusiongym.accelerator.workloads.zoo import get_network
from fusiongym.agents import make_scheduler
from fusiongym.envs.fusion_env import FusionEnv
from fusiongym.envs.planner import SuffixPlanner
from helpers.small_networks import CHEAP_LAUNCH_HW, small_branchy, small_mobile

NETS = [small_branchy(), small_mobile(), get_network("tiny_residual")]


def _brute_force_best(n, cores, table, m):
    """The cheapest partition of layers 0..n-1 into groups of <= m layers over ``table``."""
    best = math.inf
    for cuts in itertools.product([False, True], repeat=n - 1):
        ends = [j + 1 for j, cut in enumerate(cuts) if cut] + [n]
        starts = [0] + ends[:-1]
        if any(e - s > m for s, e in zip(starts, ends)):
            continue
        total = 0.0
        for s, e in zip(starts, ends):
            total += min((table.get((s, e, k), math.inf) for k in range(len(cores))))
        best = min(best, total)
    return best


def test_suffix_planner_optimum_is_the_brute_force_one():
    rng = np.random.default_rng(3)
    n, cores, m = 7, (1, 2, 4), 3
    table = {(i, j, k): float(rng.uniform(1, 10)) * (j - i) ** 0.7
             for i in range(n) for j in range(i + 1, min(n, i + m) + 1) for k in range(3)
             if rng.random() > 0.15}
    planner = SuffixPlanner(n, cores, m, table)
    assert planner.optimum == pytest.approx(_brute_force_best(n, cores, table, m))
    # Q(START k) at the first layer is the best completion with that first core count
    q = planner.q_values(0, None, None)
    assert q[0] == math.inf and min(q[1:]) == pytest.approx(planner.optimum)


@pytest.mark.parametrize("net", NETS, ids=lambda n: n.name)
def test_following_the_planners_choice_is_bound_dp_without_simulating(net):
    """The plan_best one-hot walks exactly bound-dp's schedule, and neither the observation
    nor bound-dp ever simulates a group."""
    ev = GroupEvaluator(CHEAP_LAUNCH_HW)
    env = FusionEnv([net], hw=CHEAP_LAUNCH_HW, evaluator=ev, max_group_layers=4,
                    compute_rewards=False, planner_features=True)
    best = [k for k, name in enumerate(env.feature_names) if name.startswith("plan_best_")]
    obs, _ = env.reset()
    done = False
    while not done:
        assert obs[best].sum() == 1.0
        obs, _, done, _, info = env.step(int(np.argmax(obs[best])))
    assert ev.sim_calls == 0
    bound_dp = make_scheduler("bound-dp", max_group_layers=4, evaluator=GroupEvaluator(CHEAP_LAUNCH_HW))
    expected = bound_dp.schedule(net, CHEAP_LAUNCH_HW)
    assert bound_dp.last_cost.sim_calls == 0
    assert info["schedule"].groups == expected.groups
    # its schedule's lower-bound total is the smallest of any schedule: <= the oracle's
    oracle = make_scheduler("oracle", max_group_layers=4, progress=False,
                            evaluator=GroupEvaluator(CHEAP_LAUNCH_HW))
    best_sched = oracle.schedule(net, CHEAP_LAUNCH_HW)

    def lb_total(schedule):
        return sum(latency_lower_bound(ev, net, g.start, g.end, g.cores) for g in schedule.groups)

    assert lb_total(expected) <= lb_total(best_sched)
    judge = GroupEvaluator(CHEAP_LAUNCH_HW)
    assert (evaluate(net, expected, CHEAP_LAUNCH_HW, judge).latency_cycles
            >= evaluate(net, best_sched, CHEAP_LAUNCH_HW, judge).latency_cycles)


def test_planner_features_mark_masked_actions_worst_and_never_best():
    net = small_mobile()
    env = FusionEnv([net], hw=CHEAP_LAUNCH_HW, max_group_layers=2, compute_rewards=False,
                    planner_features=True)
    names = env.feature_names
    n_actions = env.action_space.n
    regret = [names.index(f"plan_regret_{a}") for a in
              ("fuse", *(f"start_{c}" for c in env.core_counts))]
    best = [names.index(f"plan_best_{a}") for a in
            ("fuse", *(f"start_{c}" for c in env.core_counts))]
    obs, _ = env.reset()
    seen_masked = False
    for _ in range(len(net)):
        mask = env.action_masks()
        assert len(mask) == n_actions
        for a in range(n_actions):
            if not mask[a]:
                seen_masked = True
                assert obs[regret[a]] == 1.0 and obs[best[a]] == 0.0
        assert obs[[regret[a] for a in range(n_actions) if obs[best[a]] == 1.0]] == 0.0
        obs, _, done, _, _ = env.step(0 if mask[0] else int(np.argmax(mask)))
        if done:
            break
    assert seen_masked  # FUSE at layer 0 at least


def test_env_with_planner_features_passes_check_env():
    env = FusionEnv([small_branchy()], hw=CHEAP_LAUNCH_HW, max_group_layers=4,
                    planner_features=True)
    check_env(env, skip_render_check=True)
    plain = FusionEnv([small_branchy()], hw=CHEAP_LAUNCH_HW, max_group_layers=4)
    assert env.observation_space.shape[0] == plain.observation_space.shape[0] + 3 * env.action_space.n


def test_planner_prior_policy_follows_the_planner_and_survives_save_load(tmp_path):
    """With a large prior an untrained network's greedy action is the planner's choice (the
    prior dominates its near-zero logits); the prior's settings are saved with the model."""
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from fusiongym.agents.policy_net import PlannerPriorPolicy, planner_prior_kwargs

    env = FusionEnv([small_mobile()], hw=CHEAP_LAUNCH_HW, max_group_layers=4,
                    planner_features=True)
    kwargs = planner_prior_kwargs(env.feature_names, env.action_space.n, 1000.0)
    model = MaskablePPO(PlannerPriorPolicy, DummyVecEnv([lambda: env]), seed=0, device="cpu",
                        n_steps=32, batch_size=16, policy_kwargs=kwargs)
    best = [k for k, name in enumerate(env.feature_names) if name.startswith("plan_best_")]
    path = tmp_path / "m.zip"
    model.save(path)
    loaded = MaskablePPO.load(path, device="cpu")
    assert isinstance(loaded.policy, PlannerPriorPolicy)
    assert loaded.policy.prior_start == kwargs["prior_start"] and loaded.policy.prior_scale == 1000.0
    obs, _ = env.reset(seed=0)
    done = False
    while not done:
        mask = env.action_masks()
        action, _ = loaded.predict(obs, deterministic=True, action_masks=mask)
        assert int(action) == int(np.argmax(obs[best]))
        obs, _, done, _, _ = env.step(int(action))
    with pytest.raises(ValueError, match="planner features"):
        planner_prior_kwargs(FusionEnv([small_mobile()], hw=CHEAP_LAUNCH_HW).feature_names, 6, 8.0)
