"""A FusionEnv policy trained on one chip schedules chips with other core counts
(issue 20 item 7): the adapter ranks a chip's core counts against the policy's from the top."""

from __future__ import annotations

import numpy as np
import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.workloads.zoo import get_network
from fusiongym.agents.core_adapter import CoreCountAdapter
from fusiongym.agents.ppo import policy_mismatch

HW16 = load_config()
CHIPS = {n: HW16.with_(num_cores=n, core_counts=None, name=f"mlu100-{n}c") for n in (4, 8, 32)}
ENV_KWARGS = {"objective": "latency", "max_group_layers": 4, "lookahead": 2}


def _env(hw, **kw):
    from fusiongym.envs.fusion_env import FusionEnv
    return FusionEnv(["tiny_residual"], hw=hw, compute_rewards=False, **{**ENV_KWARGS, **kw})


@pytest.fixture(scope="module")
def policy():
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from fusiongym.agents.ppo import PPOScheduler
    venv = DummyVecEnv([lambda: _env(HW16)])
    model = MaskablePPO("MlpPolicy", venv, seed=0, device="cpu", n_steps=64, batch_size=32)
    return PPOScheduler(model, env_kwargs=ENV_KWARGS)


def _adapter(env16, env):
    return CoreCountAdapter(tuple(env.feature_names), tuple(env.core_counts),
                            env16.action_space.n, env16.observation_space.shape[0])


def test_same_chip_is_the_identity():
    env = _env(HW16)
    a = _adapter(env, env)
    obs, _ = env.reset(seed=0)
    assert a.identity and a.observation(obs) is obs
    assert [a.to_env(k) for k in range(env.action_space.n)] == list(range(env.action_space.n))


@pytest.mark.parametrize("cores", [8, 32])
def test_counts_are_ranked_from_the_top(cores):
    env16, env = _env(HW16), _env(CHIPS[cores])
    a = _adapter(env16, env)
    obs, _ = env.reset(seed=0)
    env.step(1 + len(env.core_counts) - 1)  # START on all of the chip's cores
    obs, *_ = env.step(0)  # FUSE: the open group is on the largest count
    mine = a.observation(obs)
    assert mine.shape == env16.observation_space.shape
    names16, names = env16.feature_names, env.feature_names
    # the chip's largest count reads as the policy's largest ("all cores")
    assert mine[names16.index("group_cores_16")] == obs[names.index(f"group_cores_{cores}")] == 1.0
    assert mine[names16.index("mask_start_16")] == obs[names.index(f"mask_start_{cores}")]
    assert mine[names16.index("mask_start_8")] == obs[names.index(f"mask_start_{cores // 2}")]
    # features that do not depend on the counts pass through
    for name in ("position", "hw_log_num_cores", "mask_fuse", "layer+0.log_macs"):
        if name in names:
            assert mine[names16.index(name)] == obs[names.index(name)]
    assert a.to_env(len(env16.core_counts)) == len(env.core_counts)  # top START <-> top START
    if cores == 8:  # the policy's "1 core" has no counterpart on the 8-core chip: masked
        assert a.to_env(1) == -1
        assert not a.mask(env.action_masks())[1]
        assert mine[names16.index("estimate_cores_1")] == 1.0  # reads as the slowest
    else:  # the 32-core chip's 1 core is out of the policy's reach
        assert 1 not in [env.core_counts[a.to_env(k) - 1] for k in range(1, 6)]


def test_other_env_settings_are_still_refused():
    env16, other = _env(HW16), _env(CHIPS[8], lookahead=3)
    with pytest.raises(ValueError, match="features"):
        _adapter(env16, other)


@pytest.mark.parametrize("cores", [4, 8, 32])
def test_a_16_core_policy_schedules_other_chips(policy, cores):
    hw = CHIPS[cores]
    net = get_network("tiny_residual")
    assert policy_mismatch(policy.model, _env(hw), hw) == ""
    policy.evaluator = GroupEvaluator(hw)
    schedule = policy.schedule(net, hw)
    assert {g.cores for g in schedule.groups} <= set(hw.allowed_core_counts)
    assert sum(len(g) for g in schedule.groups) == len(net)


def test_ppo_search_reads_the_chip_through_the_adapter(policy):
    from fusiongym.agents.ppo_search import policy_prior
    hw = CHIPS[8]
    net = get_network("tiny_residual")
    prior = policy_prior(policy, net, hw, GroupEvaluator(hw), ENV_KWARGS)
    assert prior.core_counts == hw.allowed_core_counts
    for probs in prior.start_probs:
        assert len(probs) == 1 + len(hw.allowed_core_counts)
        assert np.isclose(probs.sum(), 1.0)


def test_a_policy_from_other_env_settings_names_the_problem(policy):
    hw = CHIPS[8]
    from fusiongym.envs.fusion_env import FusionEnv
    with pytest.raises(UserInputError, match="cannot schedule on 'mlu100-8c'"):
        policy.adapter(FusionEnv(["tiny_residual"], hw=hw, compute_rewards=False,
                                 objective="latency", max_group_layers=4, lookahead=3), hw)
