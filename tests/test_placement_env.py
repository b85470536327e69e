"""fusiongym/Place-v0: the Gymnasium contract, masks that never dead-end on 8/16/32-core chips,
seeded determinism, out-of-range actions, and the reward = the simulated makespan ratio."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from fusiongym import envs  # noqa: F401  (registers the ids)
from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.spatial.simulate import simulate_placement
from fusiongym.envs.placement_env import PlacementEnv, fraction_core_counts

HW16 = load_config("mlu100")
CHIPS = {8: HW16.with_(num_cores=8, core_counts=None, name="mlu100-8c"), 16: HW16,
         32: HW16.with_(num_cores=32, core_counts=None, name="mlu100-32c")}
# tiny networks: a chain, a residual block, and mixes of them (cold resets in about a second)
WORKLOADS = ["tiny_residualx2", "tiny_chain+tiny_residual", "tiny_chainx3", "tiny_residual"]


@pytest.fixture(scope="module")
def env16():
    return PlacementEnv(WORKLOADS, HW16)


def _random_episode(env, rng, options=None):
    obs, info = env.reset(options=options)
    steps, total, done = 0, 0.0, False
    while not done:
        mask = env.action_masks()
        assert mask.any(), "a reachable state offers no action (dead end)"
        assert env.observation_space.contains(obs)
        obs, reward, done, truncated, info = env.step(int(rng.choice(np.flatnonzero(mask))))
        assert not truncated
        total += reward
        steps += 1
    return steps, total, info


def test_check_env_passes(env16):
    check_env(env16, skip_render_check=True)


def test_make_with_no_arguments_and_fusion_env_unchanged():
    assert gymnasium.spec("fusiongym/Fusion-v0").entry_point == "fusiongym.envs.fusion_env:FusionEnv"
    env = gymnasium.make("fusiongym/Place-v0").unwrapped
    assert isinstance(env, PlacementEnv)
    assert env.action_space.n == 4 * 6


def test_the_action_space_does_not_depend_on_the_chip():
    spaces = {n: PlacementEnv(WORKLOADS, hw).action_space for n, hw in CHIPS.items()}
    assert len({s.n for s in spaces.values()}) == 1
    assert fraction_core_counts(CHIPS[8]) == (8, 4, 2, 1, None)
    assert fraction_core_counts(CHIPS[16]) == (16, 8, 4, 2, 1)
    assert fraction_core_counts(CHIPS[32]) == (32, 16, 8, 4, 2)


@pytest.mark.parametrize("cores", sorted(CHIPS))
def test_random_masked_play_never_dead_ends(cores):
    env = PlacementEnv(WORKLOADS, CHIPS[cores])
    rng = np.random.default_rng(cores)
    for spec in WORKLOADS:
        for _ in range(3):
            steps, _, info = _random_episode(env, rng, {"workload": spec})
            assert steps == sum(len(r.network) for r in env.workload.requests)
            placement = info["placement"]
            placement.validate(env.workload, env.hw)  # a valid placement of the workload
            assert all(g.cores <= cores for g in placement.groups)


def test_masks_steer_around_layers_that_only_run_fused():
    """Layer 2 of tiny_residual cannot run alone, nor on the whole chip (an injected
    feasibility predicate, as FusionEnv's tests do): random masked walks still complete, and
    every group they make satisfies the predicate."""
    from fusiongym.envs.feasibility import GroupFeasibility

    from fusiongym.accelerator.evaluator import GroupEvaluator

    env = PlacementEnv(["tiny_residualx2"], HW16)
    net = env.workloads[0].requests[0].network
    ev = GroupEvaluator(HW16)

    def feasible(s, e, c):  # the injected rule, on top of what really lowers
        return not (s <= 2 < e and (e - s < 2 or c == 16)) and ev.infeasible_reason(
            net, s, e, c) is None

    env._per_hw[0]["feas"][net.content_hash()] = GroupFeasibility(
        len(net), (1, 2, 4, 8, 16), env.max_group_layers, feasible)
    env._per_hw[0]["tables"][net.content_hash()] = __import__(
        "fusiongym.envs.placement_features", fromlist=["RequestTable"]).RequestTable(
        net, HW16, fraction_core_counts(HW16))
    rng = np.random.default_rng(1)
    for _ in range(20):
        _, _, info = _random_episode(env, rng)
        assert all(feasible(g.start, g.end, g.cores) for g in info["placement"].groups)


def test_same_seed_same_episode(env16):
    def run(seed):
        obs, _ = env16.reset(seed=seed)
        rng = np.random.default_rng(seed)
        trace, done = [obs], False
        while not done:
            obs, r, done, _, _ = env16.step(int(rng.choice(np.flatnonzero(env16.action_masks()))))
            trace.append(np.append(obs, r))
        return env16.workload.name, trace

    a, b = run(7), run(7)
    assert a[0] == b[0] and all(np.array_equal(x, y) for x, y in zip(a[1], b[1]))
    names = {run(s)[0] for s in range(8)}
    assert len(names) > 1  # the seed does draw different workloads


@pytest.mark.parametrize("bad", [-1, 24, 1000])
def test_out_of_range_actions_raise(env16, bad):
    env16.reset(seed=0)
    with pytest.raises(ValueError, match="outside"):
        env16.step(bad)


def test_masked_action_is_repaired_not_applied(env16):
    env16.reset(seed=0, options={"workload": "tiny_residual"})
    mask = env16.action_masks()
    assert not mask[0]  # nothing open yet: FUSE is invalid
    _, _, _, _, info = env16.step(0)
    assert mask[info["repaired_action"]]


def test_return_is_minus_the_simulated_makespan_over_the_reference(env16):
    rng = np.random.default_rng(3)
    for spec in ["tiny_residualx2", "tiny_chain+tiny_residual"]:
        _, total, info = _random_episode(env16, rng, {"workload": spec})
        sim = simulate_placement(env16.workload, info["placement"], env16.hw)
        assert info["makespan_cycles"] == sim.makespan_cycles
        assert total == pytest.approx(-sim.makespan_cycles / info["reference_cycles"], rel=1e-9)
        assert info["reference_cycles"] == env16.reference_cycles()


def test_the_shaped_estimate_is_the_replayed_lower_bound_timeline(env16):
    """The estimate never exceeds the simulation (lower-bound durations, same launch rule,
    no contention), and two requests side by side beat one after another in it."""
    rng = np.random.default_rng(5)
    for _ in range(4):
        _, _, info = _random_episode(env16, rng, {"workload": "tiny_residualx2"})
        assert info["estimated_makespan_cycles"] <= info["makespan_cycles"]


def test_deployed_env_simulates_nothing():
    env = PlacementEnv(["tiny_residualx2"], HW16, compute_rewards=False)
    before = env.evaluator.sim_calls
    rng = np.random.default_rng(0)
    _, total, info = _random_episode(env, rng)
    assert total == 0.0 and "makespan_cycles" not in info
    assert env.evaluator.sim_calls == before
