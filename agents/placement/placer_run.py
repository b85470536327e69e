"""A trained placer run as a placement scheduler: ``ppo`` / ``ppo-search`` of the registry.

A placer run is the directory ``python -m fusiongym.experiments.place_learned train`` writes:
``config.json`` (the validated config, whose ``env`` sizes the policy's observation),
``model.zip`` and, when the config names a sequential policy, ``sequential/`` (a sequential
tuner run: ``config.yaml`` and ``model.zip``). A sequential PPO run (``config.yaml``) is not a
placer run, and says so.
"""

from __future__ import annotations

import json
from pathlib import Path

from fusiongym.accelerator.errors import UserInputError
from fusiongym.agents.placement.learn import PlaceConfig, place_config_from_dict
from fusiongym.agents.placement.policy import PolicyPlacer, PolicySearchPlacer


def open_placer_run(run: str | Path | None, scheduler: str = "ppo") -> tuple[Path, PlaceConfig]:
    """The model file and the validated config of a placer run (a directory written by
    ``python -m fusiongym.experiments.place_learned train``, or its ``model.zip``); every way it can
    be wrong is one line naming it."""
    if run is None or str(run) == "":
        raise UserInputError(f"placement scheduler {scheduler!r} needs --run RUN (a placer run "
                             "directory from `python -m fusiongym.experiments.place_learned train`)")
    path = Path(run)
    run_dir = path.parent if path.suffix == ".zip" else path
    model = path if path.suffix == ".zip" else run_dir / "model.zip"
    if not run_dir.is_dir():
        raise UserInputError(f"--run {run}: no such run directory")
    config = run_dir / "config.json"
    if not config.is_file():
        kind = (" (it is a sequential PPO run: use `fusiongym schedule --scheduler ppo`)"
                if (run_dir / "config.yaml").is_file() else "")
        raise UserInputError(f"--run {run}: not a placer run (no config.json){kind}")
    try:
        raw = json.loads(config.read_text())
    except (OSError, ValueError) as err:
        raise UserInputError(f"{config}: not valid JSON ({err})") from None
    cfg = place_config_from_dict(raw, str(config))
    if not model.is_file():
        raise UserInputError(f"--run {run}: holds no trained placer ({model.name}); train it first")
    return model, cfg


SEQUENTIAL_DIR = "sequential"


def sequential_policy(run_dir: Path, cfg: PlaceConfig):
    """The run's sequential policy as a :class:`agents.ppo.PPOScheduler`, or None when its
    config names none. Its env settings are the ``env`` mapping of the sequential run's
    resolved ``config.yaml`` (what the tuner trained with)."""
    if not cfg.sequential["config"]:
        return None
    from fusiongym.accelerator.fileio import read_yaml
    from fusiongym.agents.ppo import PPOScheduler

    seq_dir = Path(run_dir) / SEQUENTIAL_DIR
    model = seq_dir / "model.zip"
    if not model.is_file():
        raise UserInputError(f"{run_dir}: its config names the sequential policy "
                             f"{cfg.sequential['config']!r} but {model} is missing; train it first")
    data = read_yaml(seq_dir / "config.yaml", UserInputError, "sequential run config")
    env = data.get("env") if isinstance(data, dict) else None
    if not isinstance(env, dict):
        raise UserInputError(f"{seq_dir / 'config.yaml'}: no env mapping")
    return PPOScheduler(model, env_kwargs=env)


def placer_from_run(run: str | Path | None = None, search: bool = False, **options):
    """``ppo`` / ``ppo-search`` built from a run: its env sizes, search settings and
    sequential policy."""
    name = "ppo-search" if search else "ppo"
    model, cfg = open_placer_run(run, name)
    slots, layers = cfg.env["max_slots"], cfg.env["max_group_layers"]
    sequential = sequential_policy(model.parent, cfg)
    if not search:
        if options:
            raise UserInputError(f"placement scheduler 'ppo': unexpected option(s) "
                                 f"{sorted(options)}")
        return PolicyPlacer(model, slots, layers, sequential)
    s = {"budget": cfg.search["budget"], "samples": cfg.search["samples"], "seed": cfg.seed,
         **options}
    return PolicySearchPlacer(model, slots, layers, sequential=sequential, **s)
