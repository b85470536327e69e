"""The zero-shot placer's second source (issue 20, item 7): each request scheduled by the
sequential Fusion-v0 policy on a core cap, the chains interleaved, ranked by the fluid
estimate over lowering-only costs; no simulator call anywhere."""

from __future__ import annotations

import json

import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator, default_evaluator
from fusiongym.accelerator.workloads.zoo import get_network
from fusiongym.envs.placement_env import parse_workload

pytest.importorskip("sb3_contrib")

from fusiongym.agents.placement.fluid import fluid_makespan, lowering_cost, simulated_cost  # noqa: E402
from fusiongym.agents.placement.policy_plans import SequentialPolicyPlans, capped_hardware  # noqa: E402

HW16 = load_config("mlu100")
ENV_KWARGS = {"objective": "latency", "max_group_layers": 4, "lookahead": 2}


@pytest.fixture(scope="module")
def sequential():
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from fusiongym.agents.ppo import PPOScheduler
    from fusiongym.envs.fusion_env import FusionEnv

    venv = DummyVecEnv([lambda: FusionEnv(["tiny_residual"], hw=HW16, compute_rewards=False,
                                          **ENV_KWARGS)])
    model = MaskablePPO("MlpPolicy", venv, seed=0, device="cpu", n_steps=64, batch_size=32)
    return PPOScheduler(model, env_kwargs=ENV_KWARGS)


def test_a_cap_keeps_the_bus_and_drops_the_larger_counts():
    capped = capped_hardware(HW16, 4)
    assert capped.num_cores == 4 and capped.allowed_core_counts == (1, 2, 4)
    assert capped.dram_bandwidth_bytes_per_cycle == HW16.dram_bandwidth_bytes_per_cycle
    assert capped.key != HW16.key
    assert capped_hardware(HW16, 16) is HW16 and capped_hardware(HW16, 32) is HW16


def _capped_sims() -> int:
    return sum(default_evaluator(capped_hardware(HW16, c)).sim_calls for c in (1, 2, 4, 8))


def test_candidates_simulate_nothing_and_follow_the_policy_on_each_cap(sequential):
    w = parse_workload("tiny_residualx2+tiny_chain")
    ev = GroupEvaluator(HW16)
    plans = SequentialPolicyPlans(sequential, keep=50)
    before = _capped_sims()
    found = plans.candidates(w, HW16, ev)
    assert ev.sim_calls == 0 and _capped_sims() == before
    assert {"chains", "partition", "list"} <= {source for _, _, source in found}
    estimates = [e for e, _, _ in found]
    assert estimates == sorted(estimates)
    assert len({p.groups for _, p, _ in found}) == len(found)
    assert [p.groups for _, p, _ in SequentialPolicyPlans(sequential, keep=2).candidates(
        w, HW16, ev)] == [p.groups for _, p, _ in found[:2]]
    cost = lowering_cost(ev)
    for estimate, placement, source in found:
        placement.validate(w, HW16)
        assert estimate == fluid_makespan(w, placement, HW16, ev, cost=cost)
        if source == "list":  # the policy's whole-chip groups, maybe cut at branch starts
            continue
        for r, req in enumerate(w.requests):
            mine = [(g.start, g.end, g.cores) for g in placement.groups if g.request == r]
            cap = max(c for _, _, c in mine)
            # the request's groups are the policy's schedule on some cap >= its widest group
            options = [[(g.start, g.end, g.cores)
                        for g in plans.schedule(req.network, HW16, c).groups]
                       for c in HW16.allowed_core_counts if c >= cap]
            assert mine in options


def test_the_lowering_cost_is_the_planners_estimate_and_the_real_bytes(sequential):
    net = parse_workload("tiny_residual").requests[0].network
    ev = GroupEvaluator(HW16)
    low = lowering_cost(ev)(net, 0, 2, 1)
    assert ev.sim_calls == 0
    sim = simulated_cost(ev)(net, 0, 2, 1)
    assert ev.sim_calls == 1
    from fusiongym.accelerator.bounds import latency_lower_bound
    # the planner's estimate, never below the sound bound, close to the simulation here
    assert latency_lower_bound(ev, net, 0, 2, 1) <= low[0]
    assert abs(low[0] / sim[0] - 1) < 0.2
    # the streams' bytes are what the simulation moves, instruction fetch aside
    from fusiongym.accelerator.bounds import group_work
    fetch = group_work(ev, net, 0, 2, 1).instruction_bytes
    assert sim[1] <= low[1] <= sim[1] + fetch
    tight = GroupEvaluator(HW16.with_(log_wgt_buff_size=8))
    assert lowering_cost(tight)(get_network("resnet18"), 0, 1, 1) is None  # infeasible


def test_the_zero_shot_placer_picks_the_lowest_estimate_and_simulates_nothing(
        sequential, tmp_path):
    from fusiongym.agents.placement.learn import place_config_from_dict, train
    from fusiongym.agents.placement.policy import PolicyPlacer

    cfg = {"name": "tiny", "seed": 0, "hardware": ["mlu100"],
           "train_workloads": ["tiny_chainx2"], "eval_hardware": ["mlu100"],
           "policy": {"net_arch": [16]},
           "dagger": {"rounds": 0, "sampled_rollouts": 0, "epochs": 1, "batch_size": 64}}
    model = train(place_config_from_dict(cfg, "tiny"), tmp_path, log=lambda s: None)
    w = parse_workload("tiny_residualx2")
    ev = GroupEvaluator(HW16)
    alone = PolicyPlacer(model)
    both = PolicyPlacer(model, sequential=sequential)
    p_alone, p_both = alone.place(w, HW16, ev), both.place(w, HW16, ev)
    assert alone.sim_calls == both.sim_calls == 0 and ev.sim_calls == 0
    assert both.info["candidates"] >= 2 and (both.info["chosen"] == "greedy"
                                            or both.info["chosen"].startswith("sequential-policy"))
    cost = lowering_cost(ev)
    assert (fluid_makespan(w, p_both, HW16, ev, cost=cost)
            <= fluid_makespan(w, p_alone, HW16, ev, cost=cost))
    assert both.info["estimated_makespan_cycles"] == fluid_makespan(w, p_both, HW16, ev, cost=cost)


def test_a_placer_run_naming_a_sequential_policy_it_lacks_is_one_line(tmp_path):
    from fusiongym.agents.placement.learn import place_config_from_dict
    from fusiongym.agents.placement.placer_run import placer_from_run

    cfg = place_config_from_dict({"name": "x", "hardware": ["mlu100"],
                                  "train_workloads": ["tiny_chainx2"],
                                  "eval_hardware": ["mlu100"],
                                  "sequential": {"config": "quick"}}, "x")
    (tmp_path / "config.json").write_text(json.dumps(cfg.to_dict()))
    (tmp_path / "model.zip").write_bytes(b"")
    with pytest.raises(UserInputError, match="sequential policy 'quick' but .* is missing") as err:
        placer_from_run(tmp_path)
    assert "\n" not in str(err.value)


def test_an_unknown_sequential_key_is_one_line():
    from fusiongym.agents.placement.learn import place_config_from_dict

    with pytest.raises(UserInputError, match="sequential: unknown key"):
        place_config_from_dict({"name": "x", "hardware": ["mlu100"],
                                "train_workloads": ["tiny_chainx2"], "eval_hardware": ["mlu100"],
                                "sequential": {"run": "runs/quick"}}, "x")


def test_the_fluid_estimate_ends_when_the_last_launches_cost_nothing():
    """A zero-copy group (a Concat whose producers wrote in place) launched last: the
    estimate is the end of the work before it (it used to index past the groups)."""
    from fusiongym.accelerator.spatial.placement import Placement
    from fusiongym.agents.placement.simple import oracle_schedules

    w = parse_workload("tiny_residual")
    ev = GroupEvaluator(HW16)
    placement = Placement.sequential(w, oracle_schedules(w, HW16, ev))
    last = placement.groups[-1]
    real = simulated_cost(ev)

    def cost(network, start, end, cores):
        if (start, end) == (last.start, last.end):
            return 0, 0
        return real(network, start, end, cores)

    others = sum(real(w.requests[0].network, g.start, g.end, g.cores)[0]
                 for g in placement.groups[:-1])
    assert fluid_makespan(w, placement, HW16, ev, cost=cost) == others
