"""A fake run directory (curve.csv, eval.json) as the runner writes it, for the plot tests."""

from __future__ import annotations

import json

NETWORKS = ["tiny_chain", "tiny_residual", "resnet18"]
SCHEDULERS = ["no-fusion", "heuristic", "oracle", "ppo"]


def make_run_dir(path, networks=NETWORKS, schedulers=SCHEDULERS, curve=True, evaluation=True):
    path.mkdir(parents=True, exist_ok=True)
    if curve:
        rows = ["timesteps,mean_return,eval_ratio_to_oracle,extra"]
        for i, t in enumerate([2048, 1024, 3072, 4096, 5120]):  # out of order on purpose
            ratio = "" if i % 2 else f"{1.5 - 0.1 * i:.2f}"
            rows.append(f"{t},{-1.0 + 0.05 * i:.3f},{ratio},x")
        (path / "curve.csv").write_text("\n".join(rows) + "\n")
    if evaluation:
        results = []
        for n, net in enumerate(networks):
            for s, sched in enumerate(schedulers):
                results.append({"network": net, "scheduler": sched,
                                "latency_cycles": 1000 - 10 * s,
                                "ratio_to_oracle": (None if sched == "ppo" and n == 0
                                                    else 1 + 0.1 * s),
                                "speedup_vs_no_fusion": 1.0 + 0.25 * s + 0.1 * n,
                                "sim_calls": 0 if sched == "no-fusion" else 10 ** (s + 1),
                                "wall_seconds": 0.01 * s})
        (path / "eval.json").write_text(json.dumps({"networks": networks, "results": results}))
    return path


def make_untrained_run(path, config: dict):
    """A run directory with ``config`` and an untrained MaskablePPO policy (mechanics of
    the commands that read a run, not its quality). Imports torch: call it from a fixture."""
    import yaml
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from fusiongym.envs.fusion_env import FusionEnv
    from fusiongym.experiments.orchestration.config import parse_config

    path.mkdir(parents=True, exist_ok=True)
    cfg = parse_config(config)
    (path / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    venv = DummyVecEnv([lambda: FusionEnv([config["train_networks"][0]], hw=cfg.hardware,
                                          **cfg.env.model_dump())])
    MaskablePPO("MlpPolicy", venv, seed=0, device="cpu").save(str(path / "model.zip"))
    return path
