"""Oracle demonstrations replay the oracle exactly, and behaviour cloning learns them."""

from __future__ import annotations

import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.evaluator import evaluate
from fusiongym.accelerator.schedule import Schedule
from fusiongym.accelerator.workloads.zoo import get_network
from fusiongym.agents.demonstrations import behaviour_cloning, oracle_demonstrations
from fusiongym.agents.oracle import OracleScheduler

ENV = {"objective": "latency", "max_group_layers": 8, "lookahead": 2}


@pytest.fixture(scope="module")
def demos():
    hw = load_config()
    nets = [get_network("tiny_chain"), get_network("synthetic:1")]
    return hw, nets, oracle_demonstrations(nets, hw, ENV)


def test_demonstrations_replay_the_oracle(demos):
    hw, nets, d = demos
    assert len(d) == sum(len(n) for n in nets)
    assert all(d.masks[k][d.actions[k]] for k in range(len(d)))
    # the return-to-go at each network's first layer is -oracle latency / no-fusion latency
    first = 0
    for net in nets:
        best = evaluate(net, OracleScheduler(progress=False).schedule(net, hw), hw)
        base = evaluate(net, Schedule.no_fusion(net, hw.default_cores), hw)
        assert d.returns[first] == pytest.approx(-best.latency_cycles / base.latency_cycles,
                                                 rel=1e-5)
        first += len(net)


def test_behaviour_cloning_fits_the_demonstrations(demos):
    from sb3_contrib import MaskablePPO

    from fusiongym.envs.fusion_env import FusionEnv

    hw, nets, d = demos
    model = MaskablePPO("MlpPolicy", FusionEnv(nets, hw=hw, **ENV), seed=0, device="cpu")
    assert behaviour_cloning(model, d, epochs=100, learning_rate=3e-3, seed=0) >= 0.9
