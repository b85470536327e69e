"""FusionEnv: Gymnasium conformance, masks that never dead-end, returns equal to evaluate()."""

import itertools
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

from fusiongym import envs
from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.errors import InfeasibleError
from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate
from fusiongym.accelerator.results import GroupResult
from fusiongym.accelerator.workloads.zoo import get_network
from fusiongym.agents.brute_force import compositions
from fusiongym.envs.feasibility import GroupFeasibility
from fusiongym.envs.fusion_env import FusionEnv
from helpers.small_networks import (CHEAP_LAUNCH_HW, evaluator_for, small_branchy, small_chain,
                                    small_mobile)

HW = load_config()
SMALL = [small_chain(), small_branchy(), small_mobile(), get_network("tiny_residual"),
         get_network("tiny_chain")]


def make_env(networks=None, hw=CHEAP_LAUNCH_HW, **kw):
    return FusionEnv(networks or SMALL, hw=hw, evaluator=evaluator_for(hw), **kw)


def run_masked_episode(env, rng, seed=None, options=None):
    obs, info = env.reset(seed=seed, options=options)
    total, steps = 0.0, 0
    while True:
        mask = env.action_masks()
        assert mask.any(), "a masked policy reached a dead end"
        assert env.observation_space.contains(obs)
        obs, reward, terminated, truncated, info = env.step(int(rng.choice(np.flatnonzero(mask))))
        assert "repaired_action" not in info and not truncated
        total += reward
        steps += 1
        if terminated:
            assert steps == len(env.network)
            return total, info


def test_check_env_passes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gymnasium's notes on render fps / missing spec
        check_env(make_env())
        check_env(make_env(objective="edp", lookahead=0))


def test_registered_with_gymnasium():
    assert envs.ENV_ID == "fusiongym/Fusion-v0"
    env = gymnasium.make(envs.ENV_ID, networks=["tiny_chain"], hw=HW,
                         evaluator=evaluator_for(HW))
    obs, info = env.reset(seed=3)
    assert info["network"] == "tiny_chain" and obs.shape == env.observation_space.shape
    mask = env.unwrapped.action_masks()
    assert not mask[0] and mask[1:].any()  # layer 0: only START actions
    terminated = False
    while not terminated:
        mask = env.get_wrapper_attr("action_masks")()
        _, _, terminated, _, info = env.step(int(np.flatnonzero(mask)[-1]))
    assert info["latency_cycles"] > 0
    env.close()


def test_gym_make_with_no_arguments_passes_the_env_checker():
    """What every Gymnasium user tries first: the default networks on the default hardware."""
    from fusiongym.envs.fusion_env import DEFAULT_NETWORKS

    env = gymnasium.make(envs.ENV_ID)
    inner = env.unwrapped
    assert [n.name for n in inner.networks] == list(DEFAULT_NETWORKS)
    assert inner.hw.key == load_config().key and inner.objective == "latency"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(inner)
        check_env(env)
    obs, info = env.reset(seed=0)
    assert info["network"] in DEFAULT_NETWORKS and env.observation_space.contains(obs)
    env.close()


def test_gym_make_with_networks_and_hw_passes_the_env_checker():
    env = gymnasium.make(envs.ENV_ID, networks=["TINY_CHAIN", "synthetic:3:6"], hw="pynq")
    assert [n.name for n in env.unwrapped.networks] == ["tiny_chain", "synthetic:3:6"]
    assert env.unwrapped.hw.name == "pynq"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped)
    env.close()


@pytest.mark.parametrize("objective", ["latency", "energy", "edp"])
@pytest.mark.parametrize("max_group_layers", [8, 2])
def test_masked_random_episodes_give_feasible_schedules_and_exact_returns(objective,
                                                                         max_group_layers):
    env = make_env(objective=objective, max_group_layers=max_group_layers)
    ev = env.evaluator
    rng = np.random.default_rng(max_group_layers)
    for seed in range(12):
        ret, info = run_masked_episode(env, rng, seed=seed)
        schedule = info["schedule"]
        net = env.network
        schedule.validate(net, env.hw)
        assert max(len(g) for g in schedule.groups) <= max_group_layers
        result = evaluate(net, schedule, env.hw, ev)  # raises if a group is infeasible
        value = result.objective(objective)
        assert info["objective"] == pytest.approx(value, rel=1e-9)
        assert -ret * info["baseline"] == pytest.approx(value, rel=1e-9)
        assert info["latency_cycles"] == result.latency_cycles
        assert info["speedup"] == pytest.approx(info["baseline"] / value)


def test_synthetic_networks_by_name():
    names = ["synthetic:1:8", "synthetic:2:8:residual", "synthetic:3:7:chain"]
    env = FusionEnv(names, hw=HW, evaluator=evaluator_for(HW), max_group_layers=4)
    rng = np.random.default_rng(0)
    seen = set()
    for seed in range(6):
        ret, info = run_masked_episode(env, rng, seed=seed)
        seen.add(env.network.name)
        latency = evaluate(env.network, info["schedule"], HW, env.evaluator).latency_cycles
        assert -ret * info["baseline"] == pytest.approx(latency, rel=1e-9)
    assert len(seen) >= 2


def test_no_fusion_actions_return_minus_one():
    env = make_env(hw=HW)
    obs, _ = env.reset(options={"network": "tiny_residual"})
    start_default = 1 + env.hw.allowed_core_counts.index(env.hw.default_cores)
    total, terminated = 0.0, False
    while not terminated:
        _, r, terminated, _, info = env.step(start_default)
        total += r
    assert total == pytest.approx(-1.0, rel=1e-12)
    assert info["speedup"] == pytest.approx(1.0)


def test_same_seed_same_episode():
    def trajectory(seed):
        env = make_env()
        rng = np.random.default_rng(99)
        obs, info = env.reset(seed=seed)
        out = [info["network"], obs.tolist()]
        terminated = False
        while not terminated:
            obs, r, terminated, _, _ = env.step(int(rng.choice(np.flatnonzero(env.action_masks()))))
            out += [obs.tolist(), r]
        return out

    assert trajectory(5) == trajectory(5)
    firsts = {trajectory(s)[0] for s in range(10)}
    assert len(firsts) > 1  # the seed picks the network


def test_reset_without_seed_continues_the_rng():
    env = make_env()
    env.reset(seed=1)
    names = [env.reset()[1]["network"] for _ in range(8)]
    env.reset(seed=1)
    assert [env.reset()[1]["network"] for _ in range(8)] == names


def test_observations_are_fresh_arrays():
    env = make_env()
    obs1, _ = env.reset(seed=0)
    obs2, *_ = env.step(int(np.flatnonzero(env.action_masks())[0]))
    assert obs1 is not obs2 and not np.shares_memory(obs1, obs2)
    assert obs1.dtype == np.float32 and obs1.shape == (len(env.feature_names),)


def test_layer_zero_and_max_group_layers_masks():
    env = make_env(max_group_layers=1)
    env.reset(seed=0)
    for _ in range(len(env.network)):
        mask = env.action_masks()
        assert not mask[0]  # at layer 0 nothing is open; with groups of 1, FUSE never valid
        *_, terminated, _, info = env.step(int(np.flatnonzero(mask)[0]))
    assert all(len(g) == 1 for g in info["schedule"].groups)


def test_invalid_actions_are_repaired():
    env = make_env(hw=HW)
    env.reset(options={"network": "tiny_chain"})
    _, _, _, _, info = env.step(0)  # FUSE at layer 0
    start_default = 1 + env.hw.allowed_core_counts.index(env.hw.default_cores)
    assert info["repaired_action"] == start_default


@pytest.mark.parametrize("action", [99, -1, 1.5, "1"])
def test_an_action_outside_the_action_space_raises(action):
    """Gymnasium's contract (the issue's env.step(99) / env.step(-1)): only in-range actions
    that the mask forbids are repaired."""
    env = make_env(hw=HW)
    env.reset(options={"network": "tiny_chain"})
    with pytest.raises(ValueError, match="outside the action space Discrete"):
        env.step(action)
    env.step(np.int64(1))  # numpy integers in range are actions


def test_step_after_the_end_raises():
    env = make_env()
    env.reset(seed=0)
    for _ in range(len(env.network)):
        env.step(int(np.flatnonzero(env.action_masks())[0]))
    with pytest.raises(RuntimeError):
        env.step(1)


def test_render_ansi():
    env = make_env(render_mode="ansi")
    env.reset(options={"network": small_chain()})
    env.step(1)
    fuse = 0 if env.action_masks()[0] else int(np.flatnonzero(env.action_masks())[0])
    env.step(fuse)
    text = env.render()
    assert "small_chain" in text and ("open: [0..1]" in text if fuse == 0 else "open: [1..1]" in text)


# ---- dead-end freedom --------------------------------------------------------------------
def buildable_by_enumeration(n, core_counts, max_group_layers, feasible):
    """By brute force, every complete schedule the env can build: each group feasible,
    and so is every prefix of it (the open group must stay feasible as it grows)."""
    for parts in compositions(n, max_group_layers):
        bounds = list(itertools.accumulate(parts, initial=0))
        for cores in itertools.product(core_counts, repeat=len(parts)):
            groups = list(zip(bounds, bounds[1:], cores))
            if all(feasible(s, k, c) for s, e, c in groups for k in range(s + 1, e + 1)):
                yield groups


def actions_of(groups, core_counts):
    """The action sequence that builds ``groups``."""
    out = []
    for s, e, c in groups:
        out.append(1 + core_counts.index(c))
        out += [0] * (e - s - 1)
    return out


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 6), max_group_layers=st.integers(1, 4),
       table=st.lists(st.booleans(), min_size=6 * 7 * 3, max_size=6 * 7 * 3),
       walk_seed=st.integers(0, 2**16))
def test_mask_is_exactly_the_completable_actions(n, max_group_layers, table, walk_seed):
    """Against brute force: an action is unmasked iff some buildable complete schedule
    starts with the actions taken so far followed by it. Arbitrary feasibility predicates
    (including layers that only run fused) exercise the backward recursion."""
    core_counts = (1, 2, 4)

    def feasible(s, e, c):
        return table[(s * 7 + e) * 3 + core_counts.index(c)]

    feas = GroupFeasibility(n, core_counts, max_group_layers, feasible)
    schedules = [actions_of(g, list(core_counts)) for g in
                 buildable_by_enumeration(n, core_counts, max_group_layers, feasible)]
    if not schedules:
        with pytest.raises(InfeasibleError):
            feas.check_schedulable()
        return
    feas.check_schedulable()
    rng = np.random.default_rng(walk_seed)
    taken: list[int] = []
    start = cores = None
    for i in range(n):
        mask = feas.valid_actions(i, start, cores)
        expected = tuple(any(s[:i] == taken and s[i] == a for s in schedules)
                         for a in range(1 + len(core_counts)))
        assert mask == expected
        a = int(rng.choice(np.flatnonzero(mask)))
        taken.append(a)
        if a:
            start, cores = i, core_counts[a - 1]
    assert taken in schedules


class PickyEvaluator(GroupEvaluator):
    """Declares some real groups infeasible: layer 2 never runs alone, and no group that
    contains layer 2 runs on 1 or 2 cores, so the env must steer through fused options."""

    @staticmethod
    def banned(start, end, cores):
        return start <= 2 < end and (end - start == 1 or cores <= 2)

    def infeasible_reason(self, network, start, end, cores):
        return "banned" if self.banned(start, end, cores) else super().infeasible_reason(
            network, start, end, cores)

    def result(self, network, start, end, cores):
        if self.banned(start, end, cores):
            return GroupResult(start, end, cores, feasible=False, reason="banned")
        return super().result(network, start, end, cores)


def test_env_steers_around_layers_that_only_run_fused():
    hw = CHEAP_LAUNCH_HW
    env = FusionEnv([small_chain(), small_mobile()], hw=hw, evaluator=PickyEvaluator(hw),
                    max_group_layers=3)
    rng = np.random.default_rng(0)
    for seed in range(25):
        ret, info = run_masked_episode(env, rng, seed=seed)
        groups = info["schedule"].groups
        assert not any(PickyEvaluator.banned(g.start, g.end, g.cores) for g in groups)
        assert any(g.start <= 2 < g.end and len(g) > 1 for g in groups)


def test_unschedulable_network_is_reported_at_reset():
    class NothingRuns(GroupEvaluator):
        def infeasible_reason(self, network, start, end, cores):
            return "nothing runs"

    env = FusionEnv([small_chain()], hw=CHEAP_LAUNCH_HW, evaluator=NothingRuns(CHEAP_LAUNCH_HW))
    with pytest.raises(InfeasibleError, match="no feasible schedule"):
        env.reset(seed=0)


def test_schedule_only_mode_simulates_nothing():
    """compute_rewards=False: a deployed policy's search costs zero simulator calls."""
    from fusiongym.accelerator.config import load_config
    from fusiongym.accelerator.evaluator import GroupEvaluator
    from fusiongym.envs.fusion_env import FusionEnv

    hw = load_config()
    ev = GroupEvaluator(hw)
    env = FusionEnv(["tiny_residual"], hw=hw, evaluator=ev, compute_rewards=False)
    env.reset(seed=1)
    done, info, total = False, {}, 0.0
    while not done:
        mask = env.action_masks()
        _, reward, done, _, info = env.step(int(mask.nonzero()[0][-1]))
        total += reward
    assert ev.sim_calls == 0 and total == 0.0
    info["schedule"].validate(env.network, hw)
