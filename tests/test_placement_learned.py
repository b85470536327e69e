"""The learned placer end to end on tiny networks: the teacher, a DAgger smoke run, the
zero-shot placer (no simulator call) on a chip size it never saw, the search under its
budget, and the config's one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.spatial.simulate import simulate_placement
from fusiongym.envs.placement_env import PlacementEnv, parse_workload

pytest.importorskip("sb3_contrib")

from fusiongym.agents.placement.learn import place_config_from_dict, train  # noqa: E402
from fusiongym.agents.placement.policy import PolicyPlacer, PolicySearchPlacer, rollout  # noqa: E402
from fusiongym.agents.placement.teacher import ListTeacher  # noqa: E402

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
    ({"teacher": {"kind": "oracle"}}, "teacher: kind must be"),
    ({"teacher": {"sources": ["partition", "magic"]}}, "teacher: sources must be"),
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


# ---- the plan teacher, the registry, the CLI and the evaluation (issue 20, items 7-8) -----

def test_plan_teacher_keeps_the_fastest_realised_source_and_its_rollout_realises_it():
    from fusiongym.agents.placement.teacher import PlanTeacher

    env = PlacementEnv(["tiny_residual+tiny_chainx2"], HW16)
    teacher = PlanTeacher()
    env.reset()
    plan = teacher.plan(env)
    scores = teacher.scores[(env.workload.content_hash(), HW16.key)]
    assert set(scores) == {"teacher", "partition", "list", "side-by-side", "chains"}
    assert plan.makespan_cycles == min(scores.values()) and scores[plan.source] == min(scores.values())
    done, info = False, {}
    while not done:
        _, _, done, _, info = env.step(teacher.action(env))
    assert info["makespan_cycles"] == plan.makespan_cycles


def test_plan_teacher_on_one_request_follows_the_sequential_oracle():
    from fusiongym.agents.placement.teacher import PlanTeacher

    env = PlacementEnv(["tiny_residual"], HW16, reference=None)
    teacher = PlanTeacher(sources=("partition",))  # one request: the whole chip's oracle
    env.reset()
    teacher.plan(env)
    done, info = False, {}
    while not done:
        _, _, done, _, info = env.step(teacher.action(env))
    from fusiongym.agents.placement.simple import oracle_schedules
    oracle = oracle_schedules(env.workload, HW16, env.evaluator)[0]
    assert [(g.start, g.end, g.cores) for g in info["placement"].groups] == \
        [(g.start, g.end, g.cores) for g in oracle.groups]


def test_registry_lists_the_learned_placers_and_wants_a_run(tmp_path):
    from fusiongym.agents.placement.registry import LEARNED_PLACEMENT_SCHEDULERS, make_placement_scheduler

    assert set(LEARNED_PLACEMENT_SCHEDULERS) == {"ppo", "ppo-search"}
    with pytest.raises(UserInputError, match="needs --run"):
        make_placement_scheduler("ppo")
    (tmp_path / "config.yaml").write_text("name: x\n")
    with pytest.raises(UserInputError, match="not a placer run.*sequential PPO run"):
        make_placement_scheduler("ppo-search", run=str(tmp_path))


def _cli(argv, capsys):
    from fusiongym.experiments.cli import main

    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_place_cli_runs_the_learned_placer_with_no_simulator_call(model_path, capsys):
    import json

    code, out, err = _cli(["place", "--networks", "tiny_chainx2", "tiny_residual", "--scheduler",
                           "ppo", "--run", str(model_path.parent), "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["sim_calls"] == 0 and data["scheduler"] == "ppo"
    assert data["makespan_cycles"] >= data["lower_bound_cycles"] > 0
    code, out, err = _cli(["place", "--networks", "tiny_chainx2", "--scheduler", "ppo-search",
                           "--run", str(model_path)], capsys)  # the model file works too
    assert code == 0, err
    assert "makespan" in out


@pytest.mark.parametrize("extra, message", [
    (["--scheduler", "ppo"], "needs --run"),
    (["--scheduler", "list", "--run", "x"], "--run applies to --scheduler ppo"),
    (["--scheduler", "ppo", "--run", "no/such/run"], "no such run directory"),
])
def test_place_cli_learned_placer_errors_are_one_line(extra, message, capsys):
    code, out, err = _cli(["place", "--networks", "tiny_chainx2", *extra], capsys)
    assert code == 2 and message in err and err.count("\n") == 1 and out == ""


def test_evaluate_scores_the_placer_beside_the_schedulers_and_never_overwrites(model_path,
                                                                             capsys):
    import json

    run = model_path.parent
    code, out, err = _cli(["evaluate", str(run), "--workload", "tiny_chainx2", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    row = data["rows"][0]
    assert set(row["results"]) == {"sequential", "partition", "list", "side-by-side", "ppo",
                                   "ppo-search"}
    assert row["results"]["ppo"]["sim_calls"] == 0
    assert row["results"]["ppo"]["chosen"] == "greedy"  # this tiny run has no sequential policy
    assert row["results"]["ppo-search"]["chosen"] in ("greedy", "sampled", "teacher")
    assert row["results"]["sequential"]["ratio_to_sequential"] == 1.0
    assert all(r["makespan_cycles"] >= row["lower_bound_cycles"] for r in row["results"].values())
    assert row["best_known_cycles"] == min(r["makespan_cycles"] for r in row["results"].values())
    first = sorted(p.name for p in run.glob("eval*.json"))
    assert len(first) == 2  # the evaluation and the index
    before = {p: p.read_bytes() for p in run.glob("eval_*.json")}
    code, out, err = _cli(["evaluate", str(run), "--workload", "tiny_residualx2"], capsys)
    assert code == 0, err
    assert "ppo-search" in out and "simulator calls" in out
    assert all(p.read_bytes() == b for p, b in before.items())  # the first one is untouched
    index = json.loads((run / "evals.json").read_text())
    assert len(index["evaluations"]) == 2
    code, out, err = _cli(["evaluate", str(run), "--networks", "tiny_chain"], capsys)
    assert code == 2 and "--workload" in err


def test_training_is_deterministic(tmp_path):

    cfg = {**TINY, "train_workloads": ["tiny_chainx2"],
           "dagger": {"rounds": 1, "sampled_rollouts": 1, "epochs": 2, "batch_size": 64}}
    runs = []
    for k in range(2):
        path = train(place_config_from_dict(cfg, "tiny"), tmp_path / str(k), log=lambda s: None)
        placer = PolicyPlacer(path)
        w = parse_workload("tiny_residual+tiny_chain")
        runs.append((placer.place(w, HW8, GroupEvaluator(HW8)).groups,
                     (path.parent / "train.json").read_text()))
    assert runs[0] == runs[1]


def test_evaluate_chip_spelling_preset_on_another_core_count():
    from fusiongym.experiments.place_learned import chip

    hw = chip("mlu100:8")
    assert hw.num_cores == 8 and hw.name == "mlu100-8c" and hw.key == HW8.key
    with pytest.raises(UserInputError, match="positive core count"):
        chip("mlu100:x")
