"""fusiongym evaluate: every scheduler in the table, any run on any hardware (--hw), files
named for the hardware, the same table for the same run and seed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from fusiongym.experiments.cli import main
from fusiongym.experiments.orchestration.runner import SEARCH_BUDGET_FRACTIONS, search_label

CONFIG = {"name": "tiny-eval", "train_networks": ["tiny_chain", "synthetic:1"],
          "eval_networks": ["tiny_residual"], "seed": 3, "random_small_budget": 10,
          "env": {"max_group_layers": 4}}
SLOW_DRAM_HW = {"name": "slowdram", "clock_mhz": 1000.0, "num_cores": 16,
                "core_counts": [1, 2, 4, 8, 16], "dram_bandwidth_bytes_per_cycle": 25.6,
                "dram_latency_cycles": 200, "launch_overhead_cycles": 10000,
                "sync_cycles_per_core": 500, "log_inp_buff_size": 18,
                "log_wgt_buff_size": 19, "log_acc_buff_size": 18}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A run directory holding an untrained policy: evaluate's mechanics, not its quality."""
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from fusiongym.envs.fusion_env import FusionEnv
    from fusiongym.experiments.orchestration.config import parse_config

    run = tmp_path_factory.mktemp("eval") / "run"
    run.mkdir()
    cfg = parse_config(CONFIG)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    venv = DummyVecEnv([lambda: FusionEnv(["tiny_chain"], hw=cfg.hardware, **cfg.env.model_dump())])
    MaskablePPO("MlpPolicy", venv, seed=0, device="cpu").save(str(run / "model.zip"))
    return run


def _rows(path: Path) -> dict[str, dict]:
    return {r["scheduler"]: r for r in json.loads(path.read_text())["results"]}


def _indexed(run_dir: Path, hardware: str, networks: list[str]) -> Path:
    """The evaluation file that evals.json lists for this hardware and network set."""
    index = json.loads((run_dir / "evals.json").read_text())
    (entry,) = [e for e in index["evaluations"]
                if e["hardware"] == hardware and e["networks"] == networks]
    return run_dir / entry["json"]


def test_unseen_hardware_file_gets_its_own_eval_files(run_dir: Path, tmp_path: Path):
    hw_file = tmp_path / "slowdram.yaml"
    hw_file.write_text(yaml.safe_dump(SLOW_DRAM_HW))
    assert main(["evaluate", str(run_dir), "--hw", str(hw_file), "--no-progress"]) == 0
    assert not (run_dir / "eval.json").exists()  # the run's own evaluation is untouched
    path = _indexed(run_dir, "slowdram", ["tiny_residual"])
    assert path.name.startswith("eval_slowdram_")
    data = json.loads(path.read_text())
    assert data["hardware"] == "slowdram"
    assert any("not in training" in note for note in data["notes"])
    rows = _rows(path)
    labels = [search_label(f) for f in SEARCH_BUDGET_FRACTIONS]
    assert {"no-fusion", "heuristic", "ppo", "cost-model-dp", "oracle", *labels} <= set(rows)
    oracle_calls = rows["oracle"]["sim_calls"]
    for fraction, label in zip(SEARCH_BUDGET_FRACTIONS, labels):
        assert rows[label]["sim_calls"] <= max(1, round(fraction * oracle_calls))
        assert rows[label]["latency_cycles"] <= rows["ppo"]["latency_cycles"]
    assert rows["cost-model-dp"]["sim_calls"] == 0
    assert all(r["ratio_to_oracle"] >= 1.0 for r in rows.values())
    assert "| tiny_residual | cost-model-dp |" in path.with_suffix(".md").read_text()


def test_policy_schedules_hardware_with_other_core_counts(run_dir: Path):
    """The run trained on mlu100 (16 cores); pynq has other core counts. The policy reads
    them ranked from the top (agents.core_adapter) instead of being left out."""
    from fusiongym.accelerator.config import load_config
    assert load_config("pynq").allowed_core_counts != load_config("mlu100").allowed_core_counts
    assert main(["evaluate", str(run_dir), "--hw", "pynq", "--no-progress"]) == 0
    data = json.loads(_indexed(run_dir, "pynq", ["tiny_residual"]).read_text())
    schedulers = {r["scheduler"] for r in data["results"]}
    assert {"ppo", "heuristic", "cost-model-dp", "oracle"} <= schedulers
    assert any(s.startswith("ppo-search") for s in schedulers)
    assert not any("left out" in note for note in data["notes"])


def test_same_run_and_seed_give_the_same_table(run_dir: Path, tmp_path: Path):
    copies = []
    for name in ("a", "b"):
        dst = tmp_path / name
        shutil.copytree(run_dir, dst, ignore=shutil.ignore_patterns("eval*", "cost_model.npz"))
        assert main(["evaluate", str(dst), "--no-progress", "--json"]) == 0
        data = json.loads((dst / "eval.json").read_text())
        data.pop("timings")
        data.pop("run")
        copies.append(data)
    assert copies[0] == copies[1]
    assert any(r["scheduler"].startswith("ppo-search@") for r in copies[0]["results"])


def test_resweep_counts_the_sweep_in_its_cost_and_keeps_its_table(run_dir: Path, tmp_path: Path,
                                                                   monkeypatch):
    """The sweep itself is replaced by the shipped table (the real one simulates ~2,000
    layers); what is checked is the accounting and the file evaluate keeps."""
    import hashlib

    import fusiongym.agents.heuristic_sweep as heuristic_sweep
    from fusiongym.accelerator.config import load_config
    from fusiongym.agents.heuristic import DEFAULT_THRESHOLDS

    sweeps = []

    def fake_sweep(hw, progress=None):
        sweeps.append(hw.name)
        doc = json.loads(DEFAULT_THRESHOLDS.read_text())
        return {**doc, "hardware": hw.name, "sim_calls": 123,
                "hardware_key_sha256": hashlib.sha256(hw.key.encode()).hexdigest()[:16]}

    monkeypatch.setattr(heuristic_sweep, "sweep", fake_sweep)
    hw_file = tmp_path / "slowdram.yaml"
    hw_file.write_text(yaml.safe_dump(SLOW_DRAM_HW))
    for _ in range(2):
        assert main(["evaluate", str(run_dir), "--hw", str(hw_file), "--resweep",
                     "--no-progress"]) == 0
    assert sweeps == ["slowdram"]  # the second evaluation reused the kept table
    assert json.loads((run_dir / "heuristic_thresholds-slowdram.json").read_text())[
        "hardware"] == "slowdram"
    rows = _rows(_indexed(run_dir, "slowdram", ["tiny_residual"]))
    # same table as the shipped one here, so the same schedule, plus the sweep's calls
    assert rows["heuristic-resweep"]["schedule"] == rows["heuristic"]["schedule"]
    assert rows["heuristic-resweep"]["sim_calls"] == rows["heuristic"]["sim_calls"] + 123
    assert load_config(str(hw_file)).name == "slowdram"


def test_a_second_evaluation_of_other_networks_leaves_the_first_intact(run_dir: Path,
                                                                        tmp_path: Path):
    """The issue's lost table: evaluating other networks (one of them a training network)
    adds its own files; the run's own evaluation stays byte for byte, and the training
    network is marked in the new table."""
    run = tmp_path / "run"
    shutil.copytree(run_dir, run, ignore=shutil.ignore_patterns("eval*"))
    assert main(["evaluate", str(run), "--no-progress"]) == 0
    first = {p.name: p.read_bytes() for p in (run / "eval.json", run / "eval.md")}
    assert main(["evaluate", str(run), "--networks", "tiny_chain", "tiny_residual",
                 "--no-progress"]) == 0
    assert {p.name: p.read_bytes() for p in (run / "eval.json", run / "eval.md")} == first
    second = _indexed(run, "mlu100", ["tiny_chain", "tiny_residual"])
    assert second.name != "eval.json"
    data = json.loads(second.read_text())
    assert data["seen_in_training"] == ["tiny_chain"]
    assert any("seen in training" in n and "tiny_chain" in n for n in data["notes"])
    assert "| tiny_chain * | no-fusion |" in second.with_suffix(".md").read_text()
    index = json.loads((run / "evals.json").read_text())
    assert [e["json"] for e in index["evaluations"]] == ["eval.json", second.name]
    assert index["evaluations"][0]["default"] and not index["evaluations"][1]["default"]
