"""Train and evaluate from an experiment config; everything lands in a run directory.

``runs/NAME/`` holds ``config.yaml`` (the resolved config), ``model.zip``,
``checkpoints/``, ``tb/`` (TensorBoard), ``curve.csv``, ``eval.json``, ``eval.md`` (the run's
own evaluation), ``eval_<hardware>_<digest>.json`` / ``.md`` (any other hardware or network
set, never overwritten; see eval_files.py), ``evals.json`` (their index), ``cost_model.npz`` (the learned cost
model, trained at the first evaluation from the training networks) and ``plots/``. Every
file is written atomically, so a crash leaves no half-written file.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from fusiongym.accelerator.config import HardwareConfig, load_config
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate
from fusiongym.accelerator.fileio import atomic_write_json, atomic_write_text
from fusiongym.accelerator.objectives import ADDITIVE_OBJECTIVES
from fusiongym.accelerator.schedule import Schedule
from fusiongym.accelerator.workloads.loader import load_network
from fusiongym.accelerator.workloads.network import Network
from fusiongym.experiments.cli.output import format_table, markdown_table
from fusiongym.experiments.orchestration import eval_files
from fusiongym.experiments.orchestration.config import ExperimentConfig, config_to_yaml, load_experiment
from fusiongym.experiments.orchestration.hardware_pool import training_hardware


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
    # bad names and bad hardware fail before anything is imported or written
    hw, train_nets, eval_nets = resolve(cfg)
    hardware = training_hardware(cfg)
    validation_nets = [load_network(n) for n in cfg.validation_networks]
    run_dir = Path(run_dir)
    _check_run_dir(cfg, run_dir, resume, log)
    atomic_write_text(run_dir / "config.yaml", config_to_yaml(cfg))

    from fusiongym.agents.ppo_train import train_ppo

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
    from fusiongym.agents.ppo_train import latest_checkpoint

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
    from fusiongym.agents.dagger import DaggerSettings
    from fusiongym.agents.ppo_train import TrainSettings

    ppo = cfg.ppo.model_dump()
    # ours, not MaskablePPO's: the policy class and its prior are chosen in build_model
    extractor = ppo.pop("features_extractor")
    prior, limit = ppo.pop("planner_prior"), ppo.pop("correction_limit")
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
        features_extractor=extractor, planner_prior=prior, correction_limit=limit)


def _held_out_ratio_fn(cfg: ExperimentConfig, hw: HardwareConfig, eval_nets: list[Network]):
    """``model -> geo-mean ratio to the oracle`` on the held-out networks, for the learning
    curve only (model selection never sees these). The oracle runs once, here; for EDP (not
    a sum over groups) the latency oracle's schedule is the reference."""
    from fusiongym.agents.oracle import OracleScheduler
    from fusiongym.agents.ppo import PPOScheduler

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
# ppo-search budgets, as fractions of the oracle's simulator calls on the same network
SEARCH_BUDGET_FRACTIONS = (0.05, 0.1, 0.2, 0.5, 1.0)


def search_label(fraction: float) -> str:
    return f"ppo-search@{fraction:.0%}"


SCHEDULER_ORDER = ("no-fusion", "heuristic", "heuristic-resweep", "random-small",
                   "random-oracle-budget", "ppo",
                   *(search_label(f) for f in SEARCH_BUDGET_FRACTIONS), "cost-model-dp", "bound-dp",
                   "oracle")


@dataclass
class _EvalSetup:
    """What every network's evaluation shares (resolved once, before anything is written)."""

    run_dir: Path
    cfg: ExperimentConfig
    hw: HardwareConfig
    nets: list[Network]
    policy: object | None  # PPOScheduler, None if it cannot drive this hardware
    notes: list[str]
    cost_model: object | None = None
    resweep: tuple[Path, int] | None = None  # (thresholds file, the sweep's simulator calls)
    stem: str = eval_files.DEFAULT_STEM  # the evaluation's file names (eval_files.py)
    training_hashes: frozenset[str] = frozenset()  # content hashes of the training networks
    specs: tuple[str, ...] = ()  # the networks as given (zoo name, synthetic:..., .onnx path)

    @property
    def env_kwargs(self) -> dict:
        return self.cfg.env.model_dump()


def evaluate_run(run_dir: Path, networks: Sequence[str] | None = None, hw: str | None = None,
                 resweep: bool = False, progress: bool = True,
                 log: Callable[[str], None] = print) -> dict:
    """Compare every scheduler on held-out networks. The run's own evaluation (its hardware,
    its config's eval networks) is eval.json / eval.md; any other gets its own pair of files
    (experiments/orchestration/eval_files.py), indexed in evals.json, so that no evaluation
    ever replaces a different one. ``result["files"]`` names the pair written."""
    setup = _eval_setup(Path(run_dir), networks, hw, log)
    _prepare_learned_baselines(setup, resweep, progress, log)
    rows: list[dict] = []
    timings: list[dict] = []
    for net in setup.nets:
        log(f"evaluating {net.name} ({len(net)} layers) on {setup.hw.name}")
        found = _search_network(setup, net, progress)
        net_rows, net_timings = _score_network(setup, net, found)
        rows += net_rows
        timings += net_timings
    seen = [n.name for n in setup.nets if n.content_hash() in setup.training_hashes]
    result = {"run": str(setup.run_dir), "hardware": setup.hw.name,
              "hardware_hash": eval_files.hardware_hash(setup.hw),
              "objective": setup.cfg.env.objective, "networks": [n.name for n in setup.nets],
              # how each network was named (an ONNX path), so plots can load it again
              "network_specs": dict(zip((n.name for n in setup.nets), setup.specs)),
              "seen_in_training": seen,
              "notes": setup.notes, "results": rows, "summary": _summary(rows),
              "timings": timings}  # wall times apart, so the rest is byte-identical per seed
    json_path, md_path = eval_files.file_pair(setup.run_dir, setup.stem)
    atomic_write_json(json_path, result)
    atomic_write_text(md_path, render_markdown(result))
    eval_files.record(setup.run_dir, {
        "json": json_path.name, "markdown": md_path.name, "hardware": setup.hw.name,
        "hardware_hash": result["hardware_hash"], "networks": result["networks"],
        "seen_in_training": seen, "default": setup.stem == eval_files.DEFAULT_STEM})
    result["files"] = [str(json_path), str(md_path)]  # for the caller; not in the file
    return result


def _open_run(run_dir: Path) -> ExperimentConfig:
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
    return cfg


def _eval_setup(run_dir: Path, networks: Sequence[str] | None, hw_spec: str | None,
                log: Callable[[str], None]) -> _EvalSetup:
    """Every check that can fail on user input, before anything is computed or written."""
    from fusiongym.agents.heuristic import load_thresholds, shipped_table
    from fusiongym.agents.ppo import PPOScheduler

    cfg = _open_run(run_dir)
    trained_on = training_hardware(cfg)
    hw = load_config(hw_spec if hw_spec is not None else cfg.eval_hardware)
    specs = tuple(str(n) for n in (networks or cfg.eval_networks))
    nets = [load_network(n) for n in specs]
    policy = PPOScheduler(run_dir / "model.zip", env_kwargs=cfg.env.model_dump())
    notes = []
    training_hashes = frozenset(load_network(n).content_hash() for n in cfg.train_networks)
    seen = [n.name for n in nets if n.content_hash() in training_hashes]
    if seen:
        notes.append(f"seen in training (marked *, not held out): {', '.join(seen)}")
        log(f"note: {notes[-1]}")
    own_hw = load_config(cfg.eval_hardware)
    is_default = (hw.key == own_hw.key and hw.name == own_hw.name
                  and [n.content_hash() for n in nets]
                  == [load_network(n).content_hash() for n in cfg.eval_networks])
    stem = eval_files.evaluation_stem(hw, nets, is_default)
    if all(hw.key != h.key for h in trained_on):
        table_hw = load_thresholds(str(shipped_table(hw)))["hardware"]
        how = "its own table" if table_hw == hw.name else f"its table derived on {table_hw} as is"
        notes.append(f"{hw.name} was not in training ({', '.join(h.name for h in trained_on)}): "
                     f"ppo, ppo-search and cost-model-dp see it zero-shot; the heuristic uses "
                     f"{how}")
    mismatch = _policy_mismatch(policy, hw, nets[0], cfg.env.model_dump())
    if mismatch:
        notes.append(f"ppo and ppo-search left out: {mismatch}")
        log(f"note: {notes[-1]}")
        policy = None
    return _EvalSetup(run_dir, cfg, hw, nets, policy, notes, stem=stem,
                      training_hashes=training_hashes, specs=specs)


def _policy_mismatch(policy, hw: HardwareConfig, network: Network, env_kwargs: dict) -> str:
    """Why the policy cannot act on ``hw`` ('' if it can): its spaces must match the env's."""
    from fusiongym.agents.ppo import policy_mismatch
    from fusiongym.envs.fusion_env import FusionEnv

    env = FusionEnv([network], hw=hw, compute_rewards=False, **env_kwargs)
    return policy_mismatch(policy.model, env, hw)


def _prepare_learned_baselines(setup: _EvalSetup, resweep: bool, progress: bool,
                               log: Callable[[str], None]) -> None:
    """The cost model (trained on the run's training networks and hardware, once, then
    reused from the run directory) and, if asked, the heuristic's table re-derived on
    the evaluation hardware by its sweep."""
    from fusiongym.agents.cost_model import ensure_cost_model

    cfg = setup.cfg
    setup.cost_model, meta = ensure_cost_model(
        setup.run_dir / "cost_model.npz", [load_network(n) for n in cfg.train_networks],
        training_hardware(cfg), cfg.env.max_group_layers, seed=cfg.seed, progress=progress,
        log=log)
    setup.notes.append(f"cost-model-dp: MLP over group + hardware features, trained on "
                       f"{meta['samples']} simulated groups of the training networks "
                       f"({meta['training_sim_calls']} simulator calls, not counted per network)")
    if resweep:
        setup.resweep = _resweep(setup, progress, log)
        setup.notes.append(f"heuristic-resweep: its sim calls include the whole sweep on "
                           f"{setup.hw.name} ({setup.resweep[1]} calls) in every row")


def _resweep(setup: _EvalSetup, progress: bool, log: Callable[[str], None]) -> tuple[Path, int]:
    from fusiongym.agents.heuristic_sweep import sweep, swept_on

    path = setup.run_dir / f"heuristic_thresholds-{_slug(setup.hw.name)}.json"
    if path.is_file():
        doc = json.loads(path.read_text())
        if swept_on(doc, setup.hw):
            return path, int(doc["sim_calls"])
    log(f"heuristic-resweep: re-deriving the core-count table on {setup.hw.name}")
    doc = sweep(setup.hw, progress=progress)
    atomic_write_json(path, doc)
    return path, int(doc["sim_calls"])


def _search_network(setup: _EvalSetup, net: Network,
                    progress: bool) -> dict[str, tuple[Schedule, int, float]]:
    """Every scheduler on one network, each with a cold evaluator so that its simulator
    calls are its own cost: ``{name: (schedule, sim calls, wall seconds)}``."""
    from fusiongym.agents import make_scheduler

    hw, cfg = setup.hw, setup.cfg
    common = {"max_group_layers": cfg.env.max_group_layers, "objective": cfg.env.objective}
    found: dict[str, tuple[Schedule, int, float]] = {}

    def run(name: str, scheduler, extra_calls: int = 0) -> None:
        scheduler.evaluator = GroupEvaluator(hw)
        sched = scheduler.schedule(net, hw)
        cost = scheduler.last_cost
        found[name] = (sched, cost.sim_calls + extra_calls, cost.wall_seconds)

    run("no-fusion", make_scheduler("no-fusion"))
    run("heuristic", make_scheduler("heuristic", **common))
    if setup.resweep is not None:
        run("heuristic-resweep", make_scheduler("heuristic", thresholds=setup.resweep[0],
                                                **common), extra_calls=setup.resweep[1])
    if setup.policy is not None:
        run("ppo", setup.policy)
    run("oracle", make_scheduler("oracle", progress=progress, **common))
    oracle_calls = found["oracle"][1]
    for name, budget in (("random-small", cfg.random_small_budget),
                         ("random-oracle-budget", max(1, oracle_calls))):
        run(name, make_scheduler("random", budget_sim_calls=budget, seed=cfg.seed, **common))
    if setup.policy is not None:
        for fraction in SEARCH_BUDGET_FRACTIONS:
            run(search_label(fraction), make_scheduler(
                "ppo-search", policy=setup.policy, env_kwargs=setup.env_kwargs, seed=cfg.seed,
                budget_sim_calls=max(1, round(fraction * oracle_calls)), **common))
    run("cost-model-dp", make_scheduler("cost-model-dp", model=setup.cost_model, **common))
    run("bound-dp", make_scheduler("bound-dp", **common))
    return found


def _score_network(setup: _EvalSetup, net: Network,
                   found: dict[str, tuple[Schedule, int, float]]) -> tuple[list[dict], list[dict]]:
    """Every schedule scored by one judge evaluator (never counted as search cost)."""
    objective = setup.cfg.env.objective
    judge = GroupEvaluator(setup.hw)
    scores = {name: evaluate(net, s, setup.hw, judge) for name, (s, _, _) in found.items()}
    best = scores["oracle"].objective(objective)
    base = scores["no-fusion"].objective(objective)
    rows, timings = [], []
    for name in (n for n in SCHEDULER_ORDER if n in found):
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
    return rows, timings


_slug = eval_files.slug


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
    seen = set(result.get("seen_in_training", []))
    rows = [[r["network"] + (" *" if r["network"] in seen else ""), r["scheduler"],
             r["latency_cycles"], f"{r['ratio_to_oracle']:.4f}",
             f"{r['speedup_vs_no_fusion']:.3f}x", r["sim_calls"], r["groups"],
             f"{wall[(r['network'], r['scheduler'])]:.2f}"] for r in result["results"]]
    return headers, rows


def _summary_rows(result: dict) -> tuple[list[str], list[list]]:
    headers = ["scheduler", "geo-mean ratio to oracle", "geo-mean speedup", "sim calls (total)"]
    rows = [[s["scheduler"], f"{s['geomean_ratio_to_oracle']:.4f}",
             f"{s['geomean_speedup_vs_no_fusion']:.3f}x", s["total_sim_calls"]]
            for s in result["summary"]]
    return headers, rows


def _notes(result: dict) -> str:
    return "".join(f"- {note}\n" for note in result.get("notes", []))


def render_text(result: dict) -> str:
    notes = _notes(result)
    return (format_table(*_table_rows(result)) + "\n\n" + format_table(*_summary_rows(result))
            + ("\n\n" + notes.rstrip() if notes else ""))


def render_markdown(result: dict) -> str:
    notes = _notes(result)
    return (f"# Evaluation of {result['run']} on {result['hardware']} ({result['objective']})\n\n"
            + markdown_table(*_table_rows(result)) + "\n\n"
            + markdown_table(*_summary_rows(result)) + "\n"
            + ("\n" + notes if notes else ""))


def load_eval(run_dir: Path) -> dict:
    path = Path(run_dir) / "eval.json"
    if not path.exists():
        raise RunDirError(f"{run_dir}: no eval.json (run `fusiongym evaluate {run_dir}` first)")
    return json.loads(path.read_text())
