"""The training distribution of hardware an experiment asks for, resolved and checked.

``hardware:`` is one preset/file or a list of them; ``hardware_sampler:`` adds ``count``
configs drawn around a base preset. Everything is validated before anything is trained or
written: an unknown entry, a field the hardware model does not have, or a range whose
bounds give invalid hardware is one line naming the key. Both *bounds* of every range are
checked, not only the drawn samples, so a range that is invalid somewhere fails whatever
the seed.
"""

from __future__ import annotations

import math

import numpy as np

from fusiongym.accelerator.config import ConfigError, HardwareConfig, load_config
from fusiongym.experiments.orchestration.config import ExperimentConfig, ExperimentConfigError, HardwareSampler


def training_hardware(cfg: ExperimentConfig) -> list[HardwareConfig]:
    """Listed entries first (the first is the evaluation hardware), then sampled ones."""
    entries = cfg.hardware if isinstance(cfg.hardware, list) else [cfg.hardware]
    pool = [load_config(entry) for entry in entries]
    if cfg.hardware_sampler is not None:
        pool += sample_hardware(cfg.hardware_sampler, cfg.seed)
    counts = pool[0].allowed_core_counts
    for hw in pool[1:]:
        if hw.allowed_core_counts != counts:
            raise ExperimentConfigError(
                f"hardware: {hw.name!r} allows core counts {list(hw.allowed_core_counts)} but "
                f"{pool[0].name!r} {list(counts)}; one policy needs the same list")
    return pool


def sample_hardware(sampler: HardwareSampler, seed: int) -> list[HardwareConfig]:
    base = load_config(sampler.base)
    fields = base.model_dump()
    for key, (low, high) in sampler.ranges.items():
        if key not in fields or isinstance(fields[key], (bool, str, tuple, list)) \
                or fields[key] is None:
            raise ExperimentConfigError(f"hardware_sampler.ranges.{key}: not a numeric "
                                        f"hardware field")
        for bound in (low, high):
            _derive(base, {key: _typed(fields[key], bound)}, f"hardware_sampler.ranges.{key}")
    rng = np.random.default_rng([seed, 0x4857])  # its own stream: training draws stay put
    samples = []
    for k in range(sampler.count):
        changes = {key: _typed(fields[key], math.exp(rng.uniform(math.log(low), math.log(high))))
                   for key, (low, high) in sampler.ranges.items()}
        changes["name"] = f"{base.name}~{k}"
        samples.append(_derive(base, changes, f"hardware_sampler sample {k}"))
    return samples


def _typed(like, value: float):
    return int(round(value)) if isinstance(like, int) else float(value)


def _derive(base: HardwareConfig, changes: dict, where: str) -> HardwareConfig:
    try:
        return base.with_(**changes)
    except ConfigError as err:
        detail = str(err).removeprefix("override: ")
        raise ExperimentConfigError(f"{where}: gives invalid hardware: {detail}") from None
