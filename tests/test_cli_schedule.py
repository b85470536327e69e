"""``fusiongym schedule``: every scheduler from the command line, the learned ones from a
run directory, torch imported only for those, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fusiongym.experiments.cli import main
from fusiongym.experiments.cli.commands.schedule import SCHEDULER_CHOICES
from helpers.run_dirs import make_untrained_run

CONFIG = {"name": "tiny-schedule", "train_networks": ["tiny_chain", "synthetic:1"],
          "eval_networks": ["tiny_residual"], "seed": 3, "env": {"max_group_layers": 4}}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_untrained_run(tmp_path_factory.mktemp("sched") / "run", CONFIG)


@pytest.mark.parametrize("scheduler", SCHEDULER_CHOICES)
def test_every_scheduler_saves_a_schedule_that_replays(scheduler, run_dir, tmp_path, capsys):
    path = tmp_path / "s.json"
    extra = ["--run", str(run_dir)] if scheduler in ("ppo", "ppo-search", "cost-model-dp") else []
    assert main(["schedule", "--scheduler", scheduler, *extra, "--network", "tiny_residual",
                 "--save", str(path), "--json", "--budget-sim-calls", "5", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    doc = json.loads(path.read_text())
    assert doc["scheduler"] == scheduler == summary["scheduler"]
    assert doc["expected"]["latency_cycles"] == summary["latency_cycles"]
    if extra:  # the run's own limit on group length
        assert max(g["end"] - g["start"] for g in doc["groups"]) <= 4
    if scheduler == "no-fusion":
        assert len(doc["groups"]) == doc["layers"]
    assert main(["simulate", "--network", "tiny_residual", "--schedule", str(path),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["latency_cycles"] == summary["latency_cycles"]


def test_torch_is_imported_only_for_the_policy_schedulers(tmp_path):
    code = ("import sys; from experiments.cli import main; "
            f"main(['schedule', '--scheduler', 'bound-dp', '--network', 'tiny_chain', "
            f"'--save', {str(tmp_path / 's.json')!r}]); "
            "print('torch' in sys.modules, 'stable_baselines3' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "False False"


@pytest.mark.parametrize("argv, fragment", [
    (["--scheduler", "ppo", "--network", "tiny_chain"], "--scheduler ppo needs --run"),
    (["--scheduler", "heuristic", "--run", "x", "--network", "tiny_chain"],
     "--run is only used by"),
    (["--scheduler", "ppo", "--run", "/no/such/run", "--network", "tiny_chain"],
     "does not exist"),
    (["--scheduler", "oracle", "--network", "tiny_chain", "--max-group-layers", "0"],
     "--max-group-layers"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, fragment):
    assert main(["schedule", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and fragment in err
