"""Training end to end on tiny networks: run directory, resume after SIGKILL, determinism."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from fusiongym.experiments.cli import main
from fusiongym.experiments.orchestration.runner import SEARCH_BUDGET_FRACTIONS, search_label

TINY = {
    "name": "tiny",
    "train_networks": ["tiny_chain", "synthetic:1"],
    "eval_networks": ["tiny_residual"],
    "seed": 3,
    "ppo": {"n_timesteps": 768, "n_steps": 128, "batch_size": 64, "n_epochs": 2},
    "eval_freq": 256,
    "checkpoint_freq": 128,
    "random_small_budget": 10,
}


def _config(tmp_path: Path, **over) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY, **over}))
    return path


def _model_timesteps(run: Path) -> int:
    from sb3_contrib import MaskablePPO
    return MaskablePPO.load(str(run / "model.zip"), device="cpu").num_timesteps


def _eval_without_timings(run: Path) -> dict:
    data = json.loads((run / "eval.json").read_text())
    data.pop("timings")
    data.pop("run")
    return data


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("train")
    run = tmp / "run"
    assert main(["train", str(_config(tmp)), "--out", str(run), "--no-progress"]) == 0
    assert main(["evaluate", str(run), "--no-progress", "--json"]) == 0
    return run


def test_run_directory_holds_everything(trained: Path):
    for name in ("config.yaml", "model.zip", "curve.csv", "eval.json", "eval.md", "train.json"):
        assert (trained / name).is_file(), name
    assert list((trained / "tb").rglob("events.out.tfevents*")), "no TensorBoard log"
    assert sorted(p.name for p in (trained / "checkpoints").iterdir())[:1] == ["ckpt_128_steps.zip"]
    assert _model_timesteps(trained) == 768
    curve = (trained / "curve.csv").read_text().splitlines()
    assert curve[0].startswith("timesteps,mean_return,eval_ratio_to_oracle")
    assert [int(r.split(",")[0]) for r in curve[1:]] == [256, 512, 768]
    assert not list(trained.rglob("*.tmp")), "a temporary file was left behind"


def test_eval_table_is_consistent(trained: Path):
    data = json.loads((trained / "eval.json").read_text())
    rows = {r["scheduler"]: r for r in data["results"]}
    searches = {search_label(f) for f in SEARCH_BUDGET_FRACTIONS}
    assert set(rows) == {"no-fusion", "heuristic", "random-small", "random-oracle-budget",
                         "ppo", "cost-model-dp", "bound-dp", "oracle"} | searches
    assert rows["oracle"]["ratio_to_oracle"] == 1.0
    for r in rows.values():
        assert r["ratio_to_oracle"] >= 1.0  # the oracle is optimal
        assert r["speedup_vs_no_fusion"] == pytest.approx(
            rows["no-fusion"]["latency_cycles"] / r["latency_cycles"], rel=1e-5)
    assert rows["random-oracle-budget"]["sim_calls"] <= rows["oracle"]["sim_calls"]
    assert rows["ppo"]["sim_calls"] == 0  # deployed policy: masks come from lowering only
    assert rows["bound-dp"]["sim_calls"] == 0  # lowering only
    assert all(rows[s]["latency_cycles"] <= rows["ppo"]["latency_cycles"] for s in searches)
    assert "| tiny_residual | ppo |" in (trained / "eval.md").read_text()


def test_same_seed_same_evaluation(trained: Path, tmp_path: Path):
    run = tmp_path / "again"
    assert main(["train", str(_config(tmp_path)), "--out", str(run), "--no-progress"]) == 0
    assert main(["evaluate", str(run), "--no-progress", "--json"]) == 0
    assert _eval_without_timings(run) == _eval_without_timings(trained)


def test_existing_run_needs_resume(trained: Path, tmp_path: Path, capsys):
    assert main(["train", str(_config(tmp_path)), "--out", str(trained), "--no-progress"]) == 2
    assert "--resume" in capsys.readouterr().err


def test_sigkill_then_resume_finishes_the_same_timesteps(tmp_path: Path):
    cfg = _config(tmp_path)
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "fusiongym.experiments.cli", "train", str(cfg), "--out", str(run),
           "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=Path(__file__).parent.parent)
    deadline = time.time() + 120
    ckpts = run / "checkpoints"
    while time.time() < deadline and not (ckpts.exists() and any(ckpts.glob("ckpt_256_*.zip"))):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "model.zip").exists(), "training finished before it was killed"
    assert main(["train", str(cfg), "--out", str(run), "--resume", "--no-progress"]) == 0
    assert _model_timesteps(run) == 768
    steps = [int(r.split(",")[0]) for r in (run / "curve.csv").read_text().splitlines()[1:]]
    assert steps == sorted(set(steps)) and steps[-1] == 768


def test_evaluate_bad_run_dirs(tmp_path: Path, capsys):
    assert main(["evaluate", str(tmp_path / "nope")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["evaluate", str(tmp_path / "empty")]) == 2
    errs = capsys.readouterr().err.strip().splitlines()
    assert len(errs) == 2 and "does not exist" in errs[0] and "not a run directory" in errs[1]
