"""Experiment configs: shipped configs load; bad ones fail in one line before training."""

from __future__ import annotations

import pytest
import yaml

from fusiongym.experiments.cli import main
from fusiongym.experiments.orchestration.config import ExperimentConfigError, load_experiment, parse_config

BASE = {"name": "t", "train_networks": ["tiny_chain"], "eval_networks": ["tiny_residual"]}


def test_shipped_configs_load_and_hold_disjoint_network_sets():
    for name in ("quick", "full"):
        cfg = load_experiment(name)
        assert not set(cfg.train_networks) & set(cfg.eval_networks)
        assert cfg.ppo.n_timesteps > 0
    full = load_experiment("full")
    assert {"resnet50", "mobilenet_v2", "vgg16"} <= set(full.eval_networks)


@pytest.mark.parametrize("patch, needle", [
    ({"learning_rat": 0.1}, "learning_rat: unknown key"),
    ({"ppo": {"n_steps": "many"}}, "ppo.n_steps"),
    ({"ppo": {"batch_size": 1}}, "ppo.batch_size"),
    ({"env": {"objective": "speed"}}, "env.objective"),
    ({"eval_networks": ["tiny_chain"]}, "overlap: tiny_chain"),
    ({"train_networks": []}, "train_networks"),
    ({"ppo": {"planner_prior": 8.0}}, "ppo.planner_prior needs env.planner_features"),
    ({"ppo": {"planner_prior": -1}}, "ppo.planner_prior"),
])
def test_bad_config_names_the_key(patch, needle):
    data = {**BASE, **patch}
    with pytest.raises(ExperimentConfigError) as err:
        parse_config(data, "cfg.yaml")
    msg = str(err.value)
    assert needle in msg and "\n" not in msg


def test_integer_learning_rate_is_accepted_as_float():
    cfg = parse_config({**BASE, "ppo": {"learning_rate": 1, "gamma": 1}})
    assert cfg.ppo.learning_rate == 1.0


@pytest.mark.parametrize("content, needle", [
    ("", "empty"),
    ("name: [unclosed", "not valid YAML"),
    ("- a\n- b\n", "mapping"),
])
def test_bad_config_files(tmp_path, content, needle):
    path = tmp_path / "c.yaml"
    path.write_text(content)
    with pytest.raises(ExperimentConfigError, match=needle):
        load_experiment(path)


def test_train_cli_rejects_bad_config_before_training(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({**BASE, "train_networks": ["resnet18", "no_such_net"]}))
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no_such_net" in err[0]
    assert not out.exists()  # nothing written before the config was fully valid


def test_train_cli_missing_config(capsys):
    assert main(["train", "does/not/exist.yaml"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not found" in err[0]


@pytest.mark.parametrize("name", ["quick", "full"])
def test_shipped_configs_networks_schedule_on_their_hardware(name):
    """Every layer of every network a shipped config names (training, validation, held out)
    lowers alone on some allowed core count of every training hardware, so the oracle (and
    DAgger's expert) has a schedule. Caught full's synthetic:11/12, whose 56x56 global
    average pool needs more accumulator buffer than mlu100 has: the run died after DAgger."""
    from fusiongym.accelerator.evaluator import GroupEvaluator
    from fusiongym.accelerator.workloads.loader import load_network
    from fusiongym.experiments.orchestration.hardware_pool import training_hardware

    cfg = load_experiment(name)
    names = [*cfg.train_networks, *cfg.validation_networks, *cfg.eval_networks]
    for hw in training_hardware(cfg):
        evaluator = GroupEvaluator(hw)
        for net in map(load_network, names):
            stuck = [layer.name for i, layer in enumerate(net.layers)
                     if all(evaluator.infeasible_reason(net, i, i + 1, c) is not None
                            for c in hw.allowed_core_counts)]
            assert not stuck, f"{net.name} on {hw.name}: no core count lowers {stuck}"
