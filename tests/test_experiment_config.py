"""Experiment configs: shipped configs load; bad ones fail in one line before training."""

from __future__ import annotations

import pytest
import yaml

from experiments.cli import main
from experiments.orchestration.config import ExperimentConfigError, load_experiment, parse_config

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
