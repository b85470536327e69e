"""The learned placer end to end on tiny networks: the teacher, a DAgger smoke run, the
zero-shot placer (no simulator call) on a chip size it never saw, the search under its
budget, and the config's one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from accelerator.config import load_config
from accelerator.errors import UserInputError
from accelerator.evaluator import GroupEvaluator
from accelerator.spatial.simulate import simulate_placement
from envs.placement_env import PlacementEnv, parse_workload

pytest.importorskip("sb3_contrib")

from agents.placement.learn import place_config_from_dict, train  # noqa: E402
from agents.placement.policy import PolicyPlacer, PolicySearchPlacer, rollout  # noqa: E402
from agents.placement.teacher import ListTeacher  # noqa: E402

HW16 = load_config("mlu100")
HW8 = HW16.with_(num_cores=8, core_counts=None, name="mlu100-8c")
TINY = {"name": "tiny", "seed": 0, "hardware": ["mlu100"],
        "train_workloads": ["tiny_residualx2", "tiny_chain+tiny_residual"],
        "eval_hardware": ["mlu100"], "eval_workloads": {"mixes": ["tiny_chainx2"]},
        "policy": {"net_arch": [32, 32]},
        "dagger": {"rounds": 1, "sampled_rollouts": 1, "epochs": 5, "batch_size": 64}}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    out = tmp_path_factory.mktemp("place_run")
    return train(place_config_from_dict(TINY, "tiny"), out, log=lambda s: None)


def test_teacher_rollout_follows_its_plan_and_beats_sequential_on_two_requests():
    env = PlacementEnv(["tiny_residualx2"], HW16)
    teacher = ListTeacher()
    env.reset()
    plan = teacher.plan(env)
    done, info = False, {}
    while not done:
        _, _, done, _, info = env.step(teacher.action(env))
    assert info["placement"].groups == plan.placement.groups
    assert info["estimated_makespan_cycles"] == plan.estimated_makespan_cycles
    assert info["makespan_cycles"] < info["reference_cycles"]  # co-running pays here


def test_training_writes_a_model_and_its_history(model_path):
    assert model_path.exists() and (model_path.parent / "train.json").exists()
    assert not list(model_path.parent.glob("*.tmp*"))


def test_zero_shot_placer_makes_no_simulator_call_on_an_unseen_chip(model_path):
    placer = PolicyPlacer(model_path)
    ev = GroupEvaluator(HW8)
    w = parse_workload("tiny_chain+tiny_residualx2")
    placement = placer.place(w, HW8, ev)
    assert placer.sim_calls == 0 and ev.sim_calls == 0
    placement.validate(w, HW8)
    assert max(g.cores for g in placement.groups) <= 8
    # and the same seed-free greedy rollout twice gives the same placement
    assert placer.place(w, HW8, ev).groups == placement.groups


def test_search_stays_within_its_budget_and_is_no_worse_than_greedy(model_path):
    w = parse_workload("tiny_residualx3")
    ev = GroupEvaluator(HW16)
    greedy = PolicyPlacer(model_path).place(w, HW16, ev)
    search = PolicySearchPlacer(model_path, budget=3, samples=4)
    found = search.place(w, HW16, ev)
    assert search.sim_calls <= 3
    assert search.last_result.makespan_cycles == simulate_placement(w, found, HW16, ev).makespan_cycles
    if search.info["simulated"] < search.info["candidates"]:
        return  # the greedy one may have been ranked out by its estimate
    assert search.last_result.makespan_cycles <= simulate_placement(w, greedy, HW16, ev).makespan_cycles


@pytest.mark.parametrize("change, message", [
    ({"bogus": 1}, "unknown key"),
    ({"dagger": {"rounds": 1, "nope": 2}}, "dagger: unknown key"),
    ({"hardware": []}, "hardware must be a non-empty list"),
    ({"eval_hardware": [{"preset": "mlu100", "cores": 8}]}, "hardware entry: unknown key"),
])
def test_bad_configs_fail_in_one_line(change, message):
    with pytest.raises(UserInputError, match=message) as err:
        place_config_from_dict({**TINY, **change}, "cfg.yaml")
    assert "\n" not in str(err.value)


def test_rollout_helper_returns_the_estimate():
    env = PlacementEnv(["tiny_chainx2"], HW16, compute_rewards=False)
    rng = np.random.default_rng(0)
    placement, estimate = rollout(env, lambda o, m: int(rng.choice(np.flatnonzero(m))),
                                  parse_workload("tiny_chainx2"))
    assert estimate > 0 and len(placement.groups) >= 2
