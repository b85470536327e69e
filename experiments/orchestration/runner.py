"""Train and evaluate from an experiment config; everything lands in a run directory.

``runs/NAME/`` holds ``config.yaml`` (the resolved config), ``model.zip``,
``checkpoints/``, ``tb/`` (TensorBoard), ``curve.csv``, ``eval.json``, ``eval.md`` and
``plots/``. Every file is written atomically, so a crash leaves no half-written file.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable, Sequence

from accelerator.config import HardwareConfig, load_config
from accelerator.errors import UserInputError
from accelerator.evaluator import GroupEvaluator, evaluate
from accelerator.fileio import atomic_write_json, atomic_write_text
from accelerator.objectives import ADDITIVE_OBJECTIVES
from accelerator.schedule import Schedule
from accelerator.workloads.loader import load_network
from accelerator.workloads.network import Network
from experiments.cli.output import format_table, markdown_table
from experiments.orchestration.config import ExperimentConfig, config_to_yaml, load_experiment


class RunDirError(UserInputError):
    pass


def resolve(cfg: ExperimentConfig) -> tuple[HardwareConfig, list[Network], list[Network]]:
    """Load hardware and networks; any bad name fails here, before training starts."""
    hw = load_config(cfg.eval_hardware)
    train = [load_network(n) for n in cfg.train_networks]
    held_out = [load_network(n) for n in cfg.eval_networks]
    train_hashes = {n.content_hash(): n.name for n in train}
    for net in held_out:
        if net.content_hash() in train_hashes:
            raise UserInputError(f"eval network {net.name!r} is the same network as training "
                                 f"network {train_hashes[net.content_hash()]!r}")
    return hw, train, held_out


def geomean(xs: Sequence[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


# ---- training -------------------------------------------------------------------------
def train(cfg: ExperimentConfig, run_dir: Path, resume: bool = False,
          progress: bool = True, log: Callable[[str], None] = print,
          on_dagger_round: Callable[[int, dict], None] | None = None) -> Path:
    """Train per ``cfg`` into ``run_dir``; ``on_dagger_round(round, record)`` is a hook
    called after each saved DAgger round (tests stop a run there to check resuming)."""
    from experiments.orchestration.hardware_pool import training_hardware

    # bad names and bad hardware fail before anything is imported or written
    hw, train_nets, eval_nets = resolve(cfg)
    hardware = training_hardware(cfg)
    validation_nets = [load_network(n) for n in cfg.validation_networks]
    run_dir = Path(run_dir)
    _check_run_dir(cfg, run_dir, resume, log)
    atomic_write_text(run_dir / "config.yaml", config_to_yaml(cfg))

    from agents.ppo_train import train_ppo

    settings = _train_settings(cfg, hw, hardware, train_nets, eval_nets, validation_nets)
    eval_fn = _held_out_ratio_fn(cfg, hw, eval_nets)  # its oracle runs are not training time
    t0 = time.perf_counter()
    model_path = train_ppo(settings, run_dir, resume=resume, progress=progress,
                           eval_fn=eval_fn, on_dagger_round=on_dagger_round)
    atomic_write_json(run_dir / "train.json", {"train_seconds": round(time.perf_counter() - t0, 2),
                                               "resumed": resume})
    return model_path


def _check_run_dir(cfg: ExperimentConfig, run_dir: Path, resume: bool,
                   log: Callable[[str], None]) -> None:
    from agents.ppo_train import latest_checkpoint

    cfg_path = run_dir / "config.yaml"
    if resume:
        if not cfg_path.exists():
            raise RunDirError(f"{run_dir}: nothing to resume (no config.yaml)")
        if load_experiment(cfg_path) != cfg:
            raise RunDirError(f"{run_dir}: --resume with a config different from the run's "
                              "config.yaml")
        if latest_checkpoint(run_dir) is None and not (run_dir / "dagger" / "state.json").exists():
            log(f"no checkpoint in {run_dir}: starting from scratch")
    elif ((run_dir / "model.zip").exists() or latest_checkpoint(run_dir) is not None
          or (run_dir / "dagger" / "state.json").exists()):
        raise RunDirError(f"{run_dir} already holds a run: pass --resume, or choose --out")


def _train_settings(cfg: ExperimentConfig, hw: HardwareConfig, hardware: list[HardwareConfig],
                    train_nets: list[Network], eval_nets: list[Network],
                    validation_nets: list[Network]):
    from agents.dagger import DaggerSettings
    from agents.ppo_train import TrainSettings

    ppo = cfg.ppo.model_dump()
    extractor = ppo.pop("features_extractor")
    d = cfg.dagger
    dagger = None if d is None else DaggerSettings(d.rounds, d.sampled_rollouts, d.epochs,
                                                   d.batch_size, d.learning_rate)
    return TrainSettings(
        hw=hw, train_networks=train_nets, eval_networks=eval_nets, seed=cfg.seed,
        n_timesteps=ppo.pop("n_timesteps"), n_envs=ppo.pop("n_envs"),
        ppo_kwargs={k: v for k, v in ppo.items() if k != "policy"},
        env_kwargs=cfg.env.model_dump(), eval_freq=cfg.eval_freq,
        checkpoint_freq=cfg.checkpoint_freq, bc_epochs=cfg.bc_epochs, hardware=hardware,
        validation_networks=validation_nets, dagger=dagger,
        expert_coef=d.expert_coef if d else 0.0,
        expert_steps_per_rollout=d.expert_steps_per_rollout if d else 0,
        features_extractor=extractor)


def _held_out_ratio_fn(cfg: ExperimentConfig, hw: HardwareConfig, eval_nets: list[Network]):
    """``model -> geo-mean ratio to the oracle`` on the held-out networks, for the learning
    curve only (model selection never sees these). The oracle runs once, here; for EDP (not
    a sum over groups) the latency oracle's schedule is the reference."""
    from agents.oracle import OracleScheduler
    from agents.ppo import PPOScheduler

    exact = cfg.env.objective if cfg.env.objective in ADDITIVE_OBJECTIVES else "latency"
    judge = GroupEvaluator(hw)
    oracle_values = {}
    for net in eval_nets:
        sched = OracleScheduler(max_group_layers=cfg.env.max_group_layers, progress=False,
                                objective=exact, evaluator=judge).schedule(net, hw)
        oracle_values[net.name] = evaluate(net, sched, hw, judge).objective(cfg.env.objective)

    def eval_fn(model) -> float:
        ppo = PPOScheduler(model, env_kwargs=cfg.env.model_dump(), evaluator=judge)
        ratios = [evaluate(net, ppo.schedule(net, hw), hw, judge).objective(cfg.env.objective)
                  / oracle_values[net.name] for net in eval_nets]
        return geomean(ratios)
    return eval_fn


# ---- evaluation -----------------------------------------------------------------------
SCHEDULER_ORDER = ("no-fusion", "heuristic", "random-small", "random-oracle-budget", "ppo",
                   "oracle")


def evaluate_run(run_dir: Path, networks: Sequence[str] | None = None, progress: bool = True,
                 log: Callable[[str], None] = print) -> dict:
    """Compare every scheduler on held-out networks; writes eval.json and eval.md."""
    from agents import make_scheduler
    from agents.ppo import PPOScheduler

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"run directory {str(run_dir)!r} does not exist")
    if not (run_dir / "config.yaml").exists():
        raise RunDirError(f"{run_dir}: not a run directory (no config.yaml)")
    if not (run_dir / "model.zip").exists():
        raise RunDirError(f"{run_dir}: holds no trained model (model.zip); train it first")
    cfg = load_experiment(run_dir / "config.yaml")
    if cfg.env.objective not in ADDITIVE_OBJECTIVES:
        raise RunDirError(f"{run_dir}: objective {cfg.env.objective!r} is not a sum over groups, "
                          f"so there is no exact oracle to compare with (evaluate supports "
                          f"{', '.join(ADDITIVE_OBJECTIVES)})")
    hw = load_config(cfg.eval_hardware)
    names = list(networks) if networks else list(cfg.eval_networks)
    nets = [load_network(n) for n in names]
    objective = cfg.env.objective
    ppo = PPOScheduler(run_dir / "model.zip", env_kwargs=cfg.env.model_dump())
    judge = GroupEvaluator(hw)  # scores schedules; never counted as search cost
    rows: list[dict] = []
    timings: list[dict] = []
    for net in nets:
        log(f"evaluating {net.name} ({len(net)} layers)")
        found: dict[str, tuple[Schedule, int, float]] = {}
        # each search gets a cold evaluator, so its simulator calls are its own cost
        ppo.evaluator = GroupEvaluator(hw)
        limit = cfg.env.max_group_layers
        budgeted = {
            "no-fusion": make_scheduler("no-fusion", evaluator=GroupEvaluator(hw)),
            "heuristic": make_scheduler("heuristic", max_group_layers=limit, objective=objective,
                                        evaluator=GroupEvaluator(hw)),
            "ppo": ppo,
            "oracle": make_scheduler("oracle", max_group_layers=limit, objective=objective,
                                     progress=progress, evaluator=GroupEvaluator(hw)),
        }
        for name in ("no-fusion", "heuristic", "ppo", "oracle"):
            sched = budgeted[name].schedule(net, hw)
            cost = budgeted[name].last_cost
            found[name] = (sched, cost.sim_calls, cost.wall_seconds)
        oracle_calls = found["oracle"][1]
        for name, budget in (("random-small", cfg.random_small_budget),
                             ("random-oracle-budget", max(1, oracle_calls))):
            rnd = make_scheduler("random", budget_sim_calls=budget, seed=cfg.seed,
                                 max_group_layers=limit, objective=objective,
                                 evaluator=GroupEvaluator(hw))
            found[name] = (rnd.schedule(net, hw), rnd.last_cost.sim_calls,
                           rnd.last_cost.wall_seconds)
        scores = {name: evaluate(net, s, hw, judge) for name, (s, _, _) in found.items()}
        best = scores["oracle"].objective(objective)
        base = scores["no-fusion"].objective(objective)
        for name in SCHEDULER_ORDER:
            sched, calls, secs = found[name]
            value = scores[name].objective(objective)
            rows.append({"network": net.name, "scheduler": name,
                         "latency_cycles": scores[name].latency_cycles,
                         "objective": value,
                         "ratio_to_oracle": round(value / best, 6),
                         "speedup_vs_no_fusion": round(base / value, 6),
                         "sim_calls": calls, "groups": len(sched.groups),
                         "schedule": sched.to_dict()["groups"]})
            timings.append({"network": net.name, "scheduler": name, "wall_seconds": round(secs, 4)})
    summary = _summary(rows)
    result = {"run": str(run_dir), "hardware": hw.name, "objective": objective,
              "networks": [n.name for n in nets], "results": rows, "summary": summary,
              "timings": timings}  # wall times apart, so the rest is byte-identical per seed
    atomic_write_json(run_dir / "eval.json", result)
    atomic_write_text(run_dir / "eval.md", render_markdown(result))
    return result


def _summary(rows: list[dict]) -> list[dict]:
    out = []
    for name in SCHEDULER_ORDER:
        mine = [r for r in rows if r["scheduler"] == name]
        if mine:
            out.append({"scheduler": name,
                        "geomean_ratio_to_oracle": round(geomean([r["ratio_to_oracle"] for r in mine]), 6),
                        "geomean_speedup_vs_no_fusion": round(geomean([r["speedup_vs_no_fusion"] for r in mine]), 6),
                        "total_sim_calls": sum(r["sim_calls"] for r in mine)})
    return out


def _table_rows(result: dict) -> tuple[list[str], list[list]]:
    wall = {(t["network"], t["scheduler"]): t["wall_seconds"] for t in result["timings"]}
    headers = ["network", "scheduler", "latency (cycles)", "ratio to oracle",
               "speedup vs no-fusion", "sim calls", "groups", "seconds"]
    rows = [[r["network"], r["scheduler"], r["latency_cycles"], f"{r['ratio_to_oracle']:.4f}",
             f"{r['speedup_vs_no_fusion']:.3f}x", r["sim_calls"], r["groups"],
             f"{wall[(r['network'], r['scheduler'])]:.2f}"] for r in result["results"]]
    return headers, rows


def _summary_rows(result: dict) -> tuple[list[str], list[list]]:
    headers = ["scheduler", "geo-mean ratio to oracle", "geo-mean speedup", "sim calls (total)"]
    rows = [[s["scheduler"], f"{s['geomean_ratio_to_oracle']:.4f}",
             f"{s['geomean_speedup_vs_no_fusion']:.3f}x", s["total_sim_calls"]]
            for s in result["summary"]]
    return headers, rows


def render_text(result: dict) -> str:
    return (format_table(*_table_rows(result)) + "\n\n" + format_table(*_summary_rows(result)))


def render_markdown(result: dict) -> str:
    return (f"# Evaluation of {result['run']} on {result['hardware']} ({result['objective']})\n\n"
            + markdown_table(*_table_rows(result)) + "\n\n"
            + markdown_table(*_summary_rows(result)) + "\n")


def load_eval(run_dir: Path) -> dict:
    path = Path(run_dir) / "eval.json"
    if not path.exists():
        raise RunDirError(f"{run_dir}: no eval.json (run `fusiongym evaluate {run_dir}` first)")
    return json.loads(path.read_text())
