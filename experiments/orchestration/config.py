"""Experiment configs (YAML), validated on load.

Hyperparameters use stable-baselines3 / rl-zoo3 key names (``n_timesteps``, ``policy``,
``n_steps``, ``batch_size``, ``learning_rate``, ``gamma``, ``ent_coef``, ``policy_kwargs``
...). Unknown keys and wrong types are one-line errors naming the key; the training and
evaluation network sets must not overlap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fusiongym.accelerator.config import DEFAULT_PRESET
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.objectives import OBJECTIVE_NAMES

CONFIG_DIR = Path(__file__).parent.parent / "configs"


class ExperimentConfigError(UserInputError):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PPOHyperparams(_Strict):
    """MaskablePPO (sb3-contrib) hyperparameters, rl-zoo3 key names."""

    n_timesteps: int = Field(20_000, ge=1)
    policy: Literal["MlpPolicy"] = "MlpPolicy"
    n_envs: int = Field(1, ge=1, le=64)
    n_steps: int = Field(512, ge=8)
    batch_size: int = Field(128, ge=2)
    n_epochs: int = Field(10, ge=1)
    learning_rate: float = Field(3e-4, gt=0)
    gamma: float = Field(1.0, ge=0, le=1)
    gae_lambda: float = Field(0.95, ge=0, le=1)
    clip_range: float = Field(0.2, gt=0)
    ent_coef: float = Field(0.01, ge=0)
    vf_coef: float = Field(0.5, ge=0)
    max_grad_norm: float = Field(0.5, gt=0)
    normalize_advantage: bool = True
    # "layer_conv": a 1-D convolution over the observation's layer window (agents.policy_net)
    features_extractor: Literal["flat", "layer_conv"] = "flat"
    # > 0: logits get -planner_prior x the planner's per-action regret (agents.policy_net.
    # PlannerPriorPolicy; needs env.planner_features): the network learns a correction
    planner_prior: float = Field(0.0, ge=0)
    # > 0 (with planner_prior): the network's logits live in (-limit, limit), so it can
    # overturn the planner only on near-ties (agents.policy_net.PlannerPriorPolicy)
    correction_limit: float = Field(0.0, ge=0)
    policy_kwargs: dict[str, Any] = Field(default_factory=lambda: {"net_arch": [128, 128]})

    @model_validator(mode="before")
    @classmethod
    def _ints_as_floats(cls, data: Any) -> Any:
        return _floats(data, ("learning_rate", "gamma", "gae_lambda", "clip_range", "ent_coef",
                              "vf_coef", "max_grad_norm"))


class EnvSettings(_Strict):
    objective: Literal[OBJECTIVE_NAMES] = "latency"  # type: ignore[valid-type]
    max_group_layers: int = Field(8, ge=1, le=64)
    lookahead: int = Field(2, ge=0, le=64)  # layers after the current one in the observation
    lookback: int = Field(0, ge=0, le=64)  # layers before it
    # Q-values under the DP over lower bounds in the observation (envs.features)
    planner_features: bool = False


class DaggerConfig(_Strict):
    """DAgger with the exact expert (agents.dagger), then PPO with an imitation term."""

    rounds: int = Field(0, ge=0, description="policy-rollout rounds after the expert round")
    sampled_rollouts: int = Field(2, ge=0, description="per (network, hardware) and round")
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(128, ge=2)
    learning_rate: float = Field(1e-3, gt=0)
    expert_coef: float = Field(0.0, ge=0, description="imitation-loss weight during PPO")
    expert_steps_per_rollout: int = Field(0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _ints_as_floats(cls, data: Any) -> Any:
        return _floats(data, ("learning_rate", "expert_coef"))


class HardwareSampler(_Strict):
    """Training hardware drawn around a preset: each field in ``ranges`` uniformly in log
    space between its bounds (integers rounded), ``count`` configs, seeded by the
    experiment's seed. Checked up front (see experiments.orchestration.hardware_pool)."""

    base: str
    count: int = Field(ge=1, le=256)
    ranges: dict[str, list[float]] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _range_numbers_as_floats(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("ranges"), dict):
            data = dict(data)
            data["ranges"] = {k: [float(x) if isinstance(x, int) and not isinstance(x, bool)
                                  else x for x in v] if isinstance(v, list) else v
                              for k, v in data["ranges"].items()}
        return data

    @model_validator(mode="after")
    def _bounds(self) -> "HardwareSampler":
        for key, bounds in self.ranges.items():
            if len(bounds) != 2 or not 0 < bounds[0] <= bounds[1]:
                raise ValueError(f"ranges.{key}: expected [low, high] with 0 < low <= high, "
                                 f"got {bounds}")
        return self


def _floats(data: Any, keys: tuple[str, ...]) -> Any:
    """YAML writes 1.0 as 1; accept integers where a float is expected."""
    if isinstance(data, dict):
        data = dict(data)
        for key in keys:
            if isinstance(data.get(key), int) and not isinstance(data.get(key), bool):
                data[key] = float(data[key])
    return data


class ExperimentConfig(_Strict):
    name: str
    # preset name or path to a YAML / JSON hardware file, or a list of them: the training
    # distribution, whose first entry is the evaluation hardware
    hardware: str | list[str] = DEFAULT_PRESET
    hardware_sampler: HardwareSampler | None = None  # more training hardware around a preset
    train_networks: list[str] = Field(min_length=1)  # zoo names, 'synthetic:SEED', .onnx paths
    eval_networks: list[str] = Field(min_length=1)
    # model selection during training: never trained on, never the eval networks
    validation_networks: list[str] = Field(default_factory=list)
    seed: int = 0
    env: EnvSettings = Field(default_factory=EnvSettings)
    ppo: PPOHyperparams = Field(default_factory=PPOHyperparams)
    eval_freq: int = Field(5_000, ge=1, description="timesteps between held-out evaluations")
    checkpoint_freq: int = Field(5_000, ge=1)
    random_small_budget: int = Field(50, ge=1, description="sim calls of the small random baseline")
    bc_epochs: int = Field(0, ge=0, description="behaviour cloning of oracle demonstrations "
                                                "on the training networks before PPO")
    dagger: DaggerConfig | None = None  # replaces bc_epochs when given

    @model_validator(mode="after")
    def _no_overlap(self) -> "ExperimentConfig":
        sets = {"train_networks": self.train_networks, "eval_networks": self.eval_networks,
                "validation_networks": self.validation_networks}
        names = list(sets)
        for a in range(len(names)):
            for b in range(a + 1, len(names)):
                overlap = sorted(set(sets[names[a]]) & set(sets[names[b]]))
                if overlap:
                    raise ValueError(f"{names[a]} and {names[b]} overlap: {', '.join(overlap)}")
        if isinstance(self.hardware, list) and not self.hardware:
            raise ValueError("hardware: the list is empty (give at least one preset or file)")
        if self.ppo.correction_limit > 0 and self.ppo.planner_prior <= 0:
            raise ValueError("ppo.correction_limit needs ppo.planner_prior > 0 (it bounds the "
                             "network's correction to the planner's prior)")
        if self.ppo.planner_prior > 0 and not self.env.planner_features:
            raise ValueError("ppo.planner_prior needs env.planner_features: true (the prior "
                             "reads the planner's per-action regret from the observation)")
        return self

    @property
    def eval_hardware(self) -> str:
        """The hardware evaluation uses unless told otherwise: the first entry."""
        return self.hardware[0] if isinstance(self.hardware, list) else self.hardware


def _format(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return f"{source}: {loc + ': ' if loc else ''}{msg}"


def parse_config(data: Any, source: str = "config") -> ExperimentConfig:
    if not isinstance(data, dict):
        raise ExperimentConfigError(f"{source}: expected a mapping at the top level")
    try:
        return ExperimentConfig(**data)
    except ValidationError as err:
        raise ExperimentConfigError(_format(err, source)) from None
    except TypeError as err:  # e.g. a non-string key
        raise ExperimentConfigError(f"{source}: {err}") from None


def load_experiment(spec: str | Path) -> ExperimentConfig:
    """Load a config by path, or by the name of a shipped config (``quick``, ``full``)."""
    path = Path(spec)
    if not path.exists() and (CONFIG_DIR / f"{spec}.yaml").exists():
        path = CONFIG_DIR / f"{spec}.yaml"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
        raise ExperimentConfigError(f"experiment config {str(spec)!r} not found "
                                    f"(not a file, nor a shipped config: {shipped})")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ExperimentConfigError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ExperimentConfigError(f"{path}: cannot read: {err}") from None
    if data is None:
        raise ExperimentConfigError(f"{path}: file is empty")
    return parse_config(data, str(path))


def config_to_yaml(cfg: ExperimentConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
