"""Training the learned placer: DAgger from a teacher on Place-v0, then optional PPO.

The teacher (config ``teacher``) is by default the plan teacher
(:class:`agents.placement.teacher.PlanTeacher`: the best of the list teacher's, ``partition``'s,
``list``'s, the oracle's side-by-side and the per-request-cap chains' placements by
simulation, followed from any state); ``kind: list`` is the list teacher alone
(:class:`agents.placement.teacher.ListTeacher`, lower bounds only). Round 0 clones the
teacher's own episodes on every (training workload, training chip); rounds 1..R roll out the current policy (one
greedy, ``sampled_rollouts`` sampled episodes per pair), label every visited state with the
teacher's action, aggregate and retrain (Ross, Gordon & Bagnell 2011; the sequential
version is :mod:`agents.dagger`). Each state's value target is its return-to-go (the env's
shaped rewards telescope to ``-simulated makespan / sequential oracle makespan``). With
``ppo.n_timesteps > 0`` MaskablePPO then fine-tunes on the env's rewards.

The reward reference is the sequential oracle (:func:`oracle_reference`). The config (YAML)::

    name: place_quick
    seed: 0
    hardware: [mlu100]                  # training chips: presets or {preset, num_cores, name}
    train_workloads: [resnet18x2, "mobilenet_v1+squeezenet1_1"]
    eval_hardware: [mlu100, {preset: mlu100, num_cores: 8, name: mlu100-8c}]
    eval_workloads: {held_out_mixes: [...], held_out_networks: [...]}
    env: {max_slots: 4, max_group_layers: 8}
    teacher: {kind: plan, sources: [teacher, partition, list, side-by-side, chains]}
    policy: {net_arch: [256, 256]}
    dagger: {rounds: 2, sampled_rollouts: 1, epochs: 30, batch_size: 256, learning_rate: 0.001}
    ppo: {n_timesteps: 0, n_steps: 256, batch_size: 64, learning_rate: 0.0001}
    search: {budget: 4, samples: 16}
    sequential: {config: quick}         # the sequential policy, trained into RUN/sequential/

Every error is one line naming the config file and the key.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from fusiongym.accelerator.config import HardwareConfig, load_config
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.fileio import atomic_write_text, read_yaml
from fusiongym.agents.demonstrations import Demonstrations, behaviour_cloning
from fusiongym.agents.dagger import concat
from fusiongym.agents.placement.policy import policy_action
from fusiongym.agents.placement.teacher import PLAN_SOURCES, ListTeacher, PlanTeacher
from fusiongym.envs.placement_env import PlacementEnv, parse_workload

_SECTIONS = {
    "env": {"max_slots": 4, "max_group_layers": 8},
    # plan: the best placement of `sources` by simulation, followed (PlanTeacher);
    # list: the list teacher alone (ListTeacher, lower bounds only)
    "teacher": {"kind": "plan", "sources": list(PLAN_SOURCES)},
    "policy": {"net_arch": [256, 256]},
    "dagger": {"rounds": 2, "sampled_rollouts": 1, "epochs": 30, "batch_size": 256,
               "learning_rate": 0.001},
    "ppo": {"n_timesteps": 0, "n_steps": 256, "batch_size": 64, "learning_rate": 0.0001,
            "n_epochs": 4, "ent_coef": 0.0},
    "search": {"budget": 4, "samples": 16},
    # the sequential Fusion-v0 policy the zero-shot placer also draws on
    # (agents.placement.policy_plans): a tuner config (a shipped name such as `quick`, or a
    # path) that `place_learned train` trains into RUN/sequential/ first; null: none
    "sequential": {"config": None},
}
_TOP = {"name", "seed", "hardware", "train_workloads", "eval_hardware", "eval_workloads",
        *_SECTIONS}


@dataclass
class PlaceConfig:
    name: str
    seed: int
    hardware: list
    train_workloads: list[str]
    eval_hardware: list
    eval_workloads: dict[str, list[str]]
    sections: dict[str, dict] = field(default_factory=dict)

    def __getattr__(self, item):  # config.dagger["rounds"] ...
        sections = self.__dict__.get("sections", {})
        if item in sections:
            return sections[item]
        raise AttributeError(item)

    def to_dict(self) -> dict:
        return {"name": self.name, "seed": self.seed, "hardware": self.hardware,
                "train_workloads": self.train_workloads, "eval_hardware": self.eval_hardware,
                "eval_workloads": self.eval_workloads, **self.sections}


def load_place_config(path: str | Path) -> PlaceConfig:
    data = read_yaml(path, UserInputError, "config")
    return place_config_from_dict(data, str(path))


def place_config_from_dict(data, path: str) -> PlaceConfig:
    """Validate a mapping (a YAML config, or the ``config.json`` a run wrote)."""
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected a mapping")
    unknown = set(data) - _TOP
    if unknown:
        raise UserInputError(f"{path}: unknown key(s) {sorted(unknown)}")
    for key in ("hardware", "train_workloads", "eval_hardware"):
        if not isinstance(data.get(key), list) or not data[key]:
            raise UserInputError(f"{path}: {key} must be a non-empty list")
    evals = data.get("eval_workloads") or {}
    if not isinstance(evals, dict) or not all(isinstance(v, list) for v in evals.values()):
        raise UserInputError(f"{path}: eval_workloads must map a set name to a list")
    sections = {}
    for name, defaults in _SECTIONS.items():
        given = data.get(name) or {}
        if not isinstance(given, dict):
            raise UserInputError(f"{path}: {name} must be a mapping")
        extra = set(given) - set(defaults)
        if extra:
            raise UserInputError(f"{path}: {name}: unknown key(s) {sorted(extra)} "
                                 f"(expected {', '.join(defaults)})")
        sections[name] = {**defaults, **given}
    cfg = PlaceConfig(str(data.get("name") or Path(path).stem), int(data.get("seed", 0)),
                      list(data["hardware"]), [str(w) for w in data["train_workloads"]],
                      list(data["eval_hardware"]), {k: [str(w) for w in v]
                                                    for k, v in evals.items()}, sections)
    for spec in cfg.hardware + cfg.eval_hardware:
        hardware_from_spec(spec, str(path))
    t = cfg.teacher
    if t["kind"] not in ("plan", "list"):
        raise UserInputError(f"{path}: teacher: kind must be 'plan' or 'list', got {t['kind']!r}")
    bad = [x for x in t["sources"] or [None] if x not in PLAN_SOURCES]
    if bad:
        raise UserInputError(f"{path}: teacher: sources must be a non-empty list of "
                             f"{', '.join(PLAN_SOURCES)}, got {t['sources']!r}")
    return cfg


def make_teacher(cfg: PlaceConfig) -> ListTeacher | PlanTeacher:
    if cfg.teacher["kind"] == "list":
        return ListTeacher(cfg.env["max_group_layers"])
    return PlanTeacher(cfg.env["max_group_layers"], tuple(cfg.teacher["sources"]))


def hardware_from_spec(spec, source: str = "config") -> HardwareConfig:
    """A preset name, or ``{preset, num_cores, name}``: the preset on another core count
    (its allowed counts become the powers of two up to it)."""
    if isinstance(spec, str):
        return load_config(spec)
    if not isinstance(spec, dict) or "preset" not in spec:
        raise UserInputError(f"{source}: a hardware entry is a preset name or a mapping with "
                             f"'preset', got {spec!r}")
    extra = set(spec) - {"preset", "num_cores", "name"}
    if extra:
        raise UserInputError(f"{source}: hardware entry: unknown key(s) {sorted(extra)}")
    hw = load_config(spec["preset"])
    if "num_cores" in spec:
        cores = int(spec["num_cores"])
        hw = hw.with_(num_cores=cores, core_counts=None,
                      name=spec.get("name", f"{hw.name}-{cores}c"))
    return hw


def oracle_reference(network, hw, evaluator):
    """The sequential oracle's schedule: the env's reward reference in training."""
    from fusiongym.agents.oracle import OracleScheduler

    return OracleScheduler(progress=False, evaluator=evaluator).schedule(network, hw)


def make_env(cfg: PlaceConfig, workloads: list[str], hardware: list[HardwareConfig],
             compute_rewards: bool = True) -> PlacementEnv:
    return PlacementEnv(workloads, hardware, cfg.env["max_slots"], cfg.env["max_group_layers"],
                        compute_rewards=compute_rewards, reference=oracle_reference)


def collect(env: PlacementEnv, teacher: ListTeacher | PlanTeacher, pairs, model, rng, sampled: int
            ) -> tuple[Demonstrations, list[float]]:
    """Episodes of the teacher (``model=None``) or the policy, labelled by the teacher;
    also the speedups (reference / simulated makespan) of the greedy episodes."""
    obs_rows, masks, actions, returns, speedups = [], [], [], [], []
    for workload, h in pairs:
        for k in range(1 if model is None else 1 + sampled):
            obs, _ = env.reset(options={"workload": workload, "hw_index": h})
            teacher.plan(env)  # a plan teacher scores its candidates here, then resets env
            done, rewards, info = False, [], {}
            while not done:
                mask = env.action_masks()
                label = teacher.action(env)
                obs_rows.append(obs)
                masks.append(mask)
                actions.append(label)
                act = label if model is None else policy_action(model, obs, mask,
                                                                None if k == 0 else rng)
                obs, reward, done, _, info = env.step(act)
                rewards.append(reward)
            returns.extend(np.cumsum(rewards[::-1])[::-1].tolist())
            if k == 0:
                speedups.append(float(info["speedup"]))
    data = Demonstrations(np.asarray(obs_rows, dtype=np.float32), np.asarray(masks, dtype=bool),
                          np.asarray(actions, dtype=np.int64),
                          np.asarray(returns, dtype=np.float32))
    return data, speedups


def geomean(values) -> float:
    values = list(values)
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def train(cfg: PlaceConfig, out_dir: Path, log: Callable[[str], None] = print) -> Path:
    """DAgger (then optional PPO) on the training workloads; returns the model path.
    Writes ``config.json`` first and ``model.zip`` / ``train.json`` atomically at the end."""
    import torch
    from sb3_contrib import MaskablePPO

    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
    torch.manual_seed(cfg.seed)
    hardware = [hardware_from_spec(h) for h in cfg.hardware]
    for w in cfg.train_workloads:
        parse_workload(w)  # a bad spelling fails before any work
    env = make_env(cfg, cfg.train_workloads, hardware)
    teacher = make_teacher(cfg)
    ppo = cfg.ppo
    model = MaskablePPO("MlpPolicy", env, seed=cfg.seed, verbose=0, device="cpu", gamma=1.0,
                        n_steps=ppo["n_steps"], batch_size=ppo["batch_size"],
                        learning_rate=ppo["learning_rate"], n_epochs=ppo["n_epochs"],
                        ent_coef=ppo["ent_coef"],
                        policy_kwargs={"net_arch": list(cfg.policy["net_arch"])})
    pairs = [(w, h) for h in range(len(hardware)) for w in cfg.train_workloads]
    d = cfg.dagger
    data, history = None, []
    for r in range(d["rounds"] + 1):
        rng = np.random.default_rng([cfg.seed, r])
        new, speedups = collect(env, teacher, pairs, None if r == 0 else model, rng,
                                d["sampled_rollouts"])
        data = concat(data, new)
        accuracy = behaviour_cloning(model, data, d["epochs"], d["batch_size"],
                                     d["learning_rate"], seed=cfg.seed + r)
        record = {"round": r, "states": len(data), "action_accuracy": round(accuracy, 4),
                  ("teacher" if r == 0 else "policy") + "_geomean_speedup":
                  round(geomean(speedups), 4)}
        history.append(record)
        log(f"dagger round {r}: {record}")
    if ppo["n_timesteps"] > 0:
        model.learn(ppo["n_timesteps"])
        log(f"ppo: {ppo['n_timesteps']} timesteps")
    path = out_dir / "model.zip"
    tmp = out_dir / "model.tmp.zip"
    model.save(str(tmp))
    tmp.replace(path)
    atomic_write_text(out_dir / "train.json", json.dumps({"dagger": history}, indent=2) + "\n")
    return path
