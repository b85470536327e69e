"""Training over a distribution of hardware: the experiment's pool, the env's draws, the
observation's hardware features and the layer-window extractor."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.errors import UserInputError
from fusiongym.envs.features import HARDWARE_FEATURE_NAMES, LAYER_FEATURE_NAMES, FeatureExtractor
from fusiongym.envs.fusion_env import FusionEnv
from fusiongym.experiments.orchestration.config import ExperimentConfigError, parse_config
from fusiongym.experiments.orchestration.hardware_pool import training_hardware

BASE = {"name": "t", "train_networks": ["tiny_chain"], "eval_networks": ["tiny_residual"]}
SAMPLER = {"base": "vta16", "count": 4,
           "ranges": {"dram_bandwidth_bytes_per_cycle": [51.2, 204.8],
                      "launch_overhead_cycles": [5000, 20000]}}


def test_sampler_draws_inside_its_ranges_and_is_seeded():
    cfg = parse_config({**BASE, "hardware": ["vta16"], "hardware_sampler": SAMPLER})
    pool = training_hardware(cfg)
    assert [hw.name for hw in pool] == ["vta16"] + [f"vta16~{k}" for k in range(4)]
    assert cfg.eval_hardware == "vta16"
    for hw in pool[1:]:
        assert 51.2 <= hw.dram_bandwidth_bytes_per_cycle <= 204.8
        assert 5000 <= hw.launch_overhead_cycles <= 20000
        assert isinstance(hw.launch_overhead_cycles, int)
        assert hw.num_cores == pool[0].num_cores  # untouched fields stay the base's
    assert len({hw.key for hw in pool}) == 5
    again = training_hardware(cfg)
    assert [hw.key for hw in again] == [hw.key for hw in pool]
    other_seed = training_hardware(parse_config({**BASE, "seed": 1, "hardware_sampler": SAMPLER}))
    assert [hw.key for hw in other_seed[1:]] != [hw.key for hw in pool[1:]]


def test_a_range_that_is_invalid_at_one_bound_fails_whatever_the_draw():
    bad = {**SAMPLER, "ranges": {"sync_cycles_per_core": [0.5, 100.0],
                                 "default_cores": [1, 32]}}
    with pytest.raises(ExperimentConfigError, match="default_cores: gives invalid hardware"):
        training_hardware(parse_config({**BASE, "hardware_sampler": bad}))


def test_hardware_with_other_core_counts_cannot_share_a_policy(tmp_path):
    path = tmp_path / "eight.yaml"
    path.write_text("num_cores: 8\ncore_counts: [1, 2, 4, 8]\n")
    cfg = parse_config({**BASE, "hardware": ["vta16", str(path)]})
    with pytest.raises(ExperimentConfigError, match="same list"):
        training_hardware(cfg)
    with pytest.raises(UserInputError, match="same list"):
        FusionEnv(["tiny_chain"], hw=[load_config(), load_config(path)])


def test_env_draws_hardware_per_episode_and_shows_it_in_the_observation():
    base = load_config()
    pool = [base, base.with_(name="slow-dram", dram_bandwidth_bytes_per_cycle=25.6)]
    env = FusionEnv(["tiny_chain", "tiny_residual"], hw=pool, lookback=3, lookahead=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env)
    names = list(env.feature_names)
    bw = names.index("hw_log_dram_bytes_per_cycle")
    seen = {}
    for seed in range(12):
        obs, info = env.reset(seed=seed)
        seen[info["hardware"]] = obs[bw]
        assert env.hw.name == info["hardware"]
    assert set(seen) == {base.name, "slow-dram"}
    assert seen["slow-dram"] < seen[base.name]
    obs, _ = env.reset(options={"network": "tiny_chain", "hw_index": 1})
    assert env.hw.name == "slow-dram"


def test_window_rows_mark_the_open_group_and_residual_edges():
    hw = load_config()
    fx = FeatureExtractor(hw, lookahead=2, max_group_layers=8, lookback=2)
    env = FusionEnv(["tiny_residual"], hw=hw, lookback=2, lookahead=2)
    obs, _ = env.reset(options={"network": "tiny_residual"})
    rows = obs[:fx.window_size].reshape(fx.window, fx.row_width)
    assert not rows[:2].any()  # nothing before layer 0
    assert rows[2, 0] == 1.0  # the current layer is present
    env.step(1)
    obs, _, _, _, _ = env.step(0)  # layers 0 and 1 in the open group, layer 2 next
    rows = obs[:fx.window_size].reshape(fx.window, fx.row_width)
    in_group = len(LAYER_FEATURE_NAMES)
    assert rows[:, in_group].tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]
    net = env.network
    skip = LAYER_FEATURE_NAMES.index("log_input_skip_distance")
    joins = [i for i, layer in enumerate(net.layers) if any(p < i - 1 for p in layer.inputs)]
    assert joins, "tiny_residual has a skip edge"
    table = fx.table(net)
    assert all(table.layers[i, skip] > 0 for i in joins)
    assert all(table.layers[i, skip] == 0 for i in range(len(net)) if i not in joins)
    assert len(HARDWARE_FEATURE_NAMES) == len(set(HARDWARE_FEATURE_NAMES))


def test_layer_window_extractor_reads_the_window_as_a_sequence():
    import torch

    from fusiongym.agents.policy_net import LayerWindowExtractor, policy_kwargs_for

    env = FusionEnv(["tiny_chain"], lookback=2, lookahead=3)
    kwargs = policy_kwargs_for("layer_conv", env.features, {"net_arch": [32]})
    extra = kwargs["features_extractor_kwargs"]
    assert (extra["window"], extra["current_row"]) == (6, 2)
    ext = LayerWindowExtractor(env.observation_space, **extra, channels=8, features_dim=16)
    obs = torch.as_tensor(np.stack([env.reset(seed=s)[0] for s in range(3)]))
    out = ext(obs)
    assert out.shape == (3, 16) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="does not fit"):
        LayerWindowExtractor(env.observation_space, window=600, row_width=50, current_row=0)
