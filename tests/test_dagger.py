"""The exact expert is optimal from every state; DAgger runs are deterministic and resumable."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from fusiongym.accelerator.evaluator import evaluate
from fusiongym.accelerator.workloads.zoo import get_network
from fusiongym.agents.dagger import ExactExpert
from fusiongym.agents.oracle import OracleScheduler
from fusiongym.envs.fusion_env import FusionEnv
from fusiongym.experiments.cli import main
from fusiongym.experiments.orchestration.config import load_experiment
from fusiongym.experiments.orchestration.runner import train
from helpers.small_networks import CHEAP_LAUNCH_HW, evaluator_for, small_branchy, small_mobile

NETS = [small_branchy(), small_mobile(), get_network("tiny_residual")]


@pytest.mark.parametrize("net", NETS, ids=lambda n: n.name)
def test_expert_optimum_is_the_oracles(net):
    ev = evaluator_for(CHEAP_LAUNCH_HW)
    expert = ExactExpert(net, CHEAP_LAUNCH_HW, ev, max_group_layers=4)
    oracle = OracleScheduler(max_group_layers=4, progress=False, evaluator=ev)
    oracle.schedule(net, CHEAP_LAUNCH_HW)
    assert expert.optimum == pytest.approx(oracle.last_value, rel=1e-12)


@pytest.mark.parametrize("net", NETS, ids=lambda n: n.name)
def test_expert_completes_optimally_from_states_off_the_oracle_path(net):
    """Random masked actions for a while, then the expert: the episode's total equals the
    cost already committed plus the expert's min Q at the hand-over, and no masked action
    completion does better (checked by trying every valid action, then the expert)."""
    ev = evaluator_for(CHEAP_LAUNCH_HW)
    expert = ExactExpert(net, CHEAP_LAUNCH_HW, ev, max_group_layers=4)
    env = FusionEnv([net], hw=CHEAP_LAUNCH_HW, evaluator=ev, max_group_layers=4)
    rng = np.random.default_rng(7)

    def finish_with_expert(prefix: list[int]) -> float:
        env.reset(options={"network": net})
        for a in prefix:
            env.step(a)
        info: dict = {}
        done = False
        while not done:
            i, start, cores = env.decision_state
            _, _, done, _, info = env.step(expert.action(i, start, cores, env.action_masks()))
        return info["objective"]

    for trial in range(8):
        _, info = env.reset(options={"network": net})
        prefix, rewards = [], 0.0
        for _ in range(int(rng.integers(1, len(net) - 1))):
            prefix.append(int(rng.choice(np.flatnonzero(env.action_masks()))))
            rewards += env.step(prefix[-1])[1]
        i, start, cores = env.decision_state
        mask = env.action_masks()
        q = expert.q_values(i, start, cores)
        closed = -rewards * info["baseline"]  # cycles of the groups already closed
        best = finish_with_expert(prefix)
        assert best == pytest.approx(closed + np.min(np.where(mask, q, math.inf)), rel=1e-9)
        for a in np.flatnonzero(mask):
            assert finish_with_expert(prefix + [int(a)]) >= best * (1 - 1e-12)


TINY_DAGGER = {
    "name": "tiny-dagger",
    "train_networks": ["tiny_chain", "synthetic:1:10"],
    "validation_networks": ["synthetic:2:8"],
    "eval_networks": ["tiny_residual"],
    "hardware": ["vta16"],
    "hardware_sampler": {"base": "vta16", "count": 1,
                         "ranges": {"dram_bandwidth_bytes_per_cycle": [51.2, 204.8]}},
    "seed": 5,
    # the shipped configs' policy: planner features and a bounded correction to the planner
    "env": {"lookback": 4, "lookahead": 6, "planner_features": True},
    "ppo": {"n_timesteps": 256, "n_steps": 128, "batch_size": 64, "n_epochs": 2,
            "features_extractor": "layer_conv", "learning_rate": 0.0001,
            "planner_prior": 16.0, "correction_limit": 4.0},
    "dagger": {"rounds": 2, "sampled_rollouts": 1, "epochs": 5, "expert_coef": 0.5,
               "expert_steps_per_rollout": 2},
    "eval_freq": 128,
    "checkpoint_freq": 128,
    "random_small_budget": 10,
}


class _Killed(Exception):
    pass


def _eval_table(run: Path) -> dict:
    assert main(["evaluate", str(run), "--no-progress", "--json"]) == 0
    data = json.loads((run / "eval.json").read_text())
    data.pop("timings")
    data.pop("run")
    return data


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dagger")
    path = tmp / "c.yaml"
    path.write_text(yaml.safe_dump(TINY_DAGGER))
    cfg = load_experiment(path)
    done = {}
    for name in ("a", "b"):
        train(cfg, tmp / name, progress=False, log=lambda m: None)
        done[name] = _eval_table(tmp / name)

    def kill_after_round_1(r: int, record: dict) -> None:
        if r == 1:
            raise _Killed()

    with pytest.raises(_Killed):
        train(cfg, tmp / "killed", progress=False, log=lambda m: None,
              on_dagger_round=kill_after_round_1)
    killed = tmp / "killed"
    state = json.loads((killed / "dagger" / "state.json").read_text())
    assert state["rounds_done"] == 2 and not (killed / "model.zip").exists()
    train(cfg, killed, resume=True, progress=False, log=lambda m: None)
    done["resumed"] = _eval_table(killed)
    return tmp, done


def test_same_config_and_seed_same_table(runs):
    _, done = runs
    assert done["a"] == done["b"]


def test_run_killed_mid_dagger_resumes_to_the_same_table(runs):
    tmp, done = runs
    assert done["resumed"] == done["a"]
    a, k = tmp / "a", tmp / "killed"
    assert (a / "curve.csv").read_text().splitlines()[1:] and \
        [r.split(",")[0] for r in (a / "curve.csv").read_text().splitlines()] == \
        [r.split(",")[0] for r in (k / "curve.csv").read_text().splitlines()]
    assert np.load(a / "dagger" / "data.npz")["actions"].tolist() == \
        np.load(k / "dagger" / "data.npz")["actions"].tolist()


def test_model_is_the_best_validation_checkpoint(runs):
    tmp, _ = runs
    run = tmp / "a"
    best = json.loads((run / "best.json").read_text())
    rows = [r for r in (run / "curve.csv").read_text().splitlines()[1:]]
    ratios = {int(r.split(",")[0]): float(r.split(",")[4]) for r in rows}
    assert 0 in ratios  # the cloned policy is a candidate
    assert best["validation_ratio"] == pytest.approx(min(ratios.values()))
    assert (run / "model.zip").read_bytes() == (run / "best_model.zip").read_bytes()
    assert len(yaml.safe_load((run / "config.yaml").read_text())["hardware"]) == 1
    # round 0: one expert episode per (network, hardware); rounds 1-2: a greedy and a
    # sampled policy episode each, all aggregated
    layers = sum(len(get_network(n)) for n in TINY_DAGGER["train_networks"])
    state = json.loads((run / "dagger" / "state.json").read_text())
    assert state == {"rounds_done": 3, "dataset_states": 2 * layers * (1 + 2 * 2),
                     "action_accuracy": state["action_accuracy"]}


def test_trained_model_is_the_planner_prior_policy(runs):
    """The shipped configs' policy class survives DAgger, PPO, checkpointing and loading."""
    from fusiongym.agents.policy_net import PlannerPriorPolicy
    from fusiongym.agents.ppo import PPOScheduler

    tmp, _ = runs
    policy = PPOScheduler(tmp / "a" / "model.zip").model.policy
    assert isinstance(policy, PlannerPriorPolicy)
    assert (policy.prior_scale, policy.correction_limit) == (16.0, 4.0)
