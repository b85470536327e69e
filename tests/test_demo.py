"""`fusiongym demo` (what `make demo` runs) end to end on a tiny config, twice."""

from __future__ import annotations

from pathlib import Path

import yaml

from fusiongym.experiments.cli import main

TINY = {"name": "demotest", "train_networks": ["tiny_chain", "synthetic:1"],
        "eval_networks": ["tiny_residual"],
        "ppo": {"n_timesteps": 256, "n_steps": 128, "batch_size": 64, "n_epochs": 1},
        "eval_freq": 128, "checkpoint_freq": 128, "bc_epochs": 5}


def test_demo_trains_evaluates_plots_and_reruns(tmp_path: Path, capsys):
    cfg = tmp_path / "demo.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "run"
    argv = ["demo", "--config", str(cfg), "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "ppo" in printed and "oracle" in printed  # the evaluation table
    plots = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert {"learning_curve.png", "speedup.png", "quality_vs_cost.png"} <= set(plots)
    assert (out / "pretrain.json").exists()
    # a second run reuses the finished run instead of failing or retraining
    assert main(argv) == 0
    assert "ppo" in capsys.readouterr().out
