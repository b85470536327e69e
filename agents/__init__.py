"""Schedulers: no-fusion and random baselines, the DLFusion-style heuristic, the exact oracle.

``make_scheduler(name, **kwargs)`` builds one by name. The registry maps names to
``"module:Class"`` strings so that heavy modules (torch for PPO) load only when used; a new
scheduler is one line::

    from fusiongym.agents import register_scheduler
    register_scheduler("ppo", "fusiongym.agents.ppo:PPOScheduler")   # or add it to SCHEDULERS below
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Callable

from fusiongym.accelerator.errors import UserInputError

if TYPE_CHECKING:
    from fusiongym.agents.base import Scheduler

SCHEDULERS: dict[str, str | Callable[..., "Scheduler"]] = {
    "no-fusion": "fusiongym.agents.baselines:NoFusionScheduler",
    "heuristic": "fusiongym.agents.heuristic:HeuristicScheduler",
    "random": "fusiongym.agents.baselines:RandomScheduler",
    "oracle": "fusiongym.agents.oracle:OracleScheduler",
    "ppo": "fusiongym.agents.ppo:PPOScheduler",
    "ppo-search": "fusiongym.agents.ppo_search:PPOSearchScheduler",
    "cost-model-dp": "fusiongym.agents.cost_model:CostModelScheduler",
    "bound-dp": "fusiongym.agents.bound_dp:BoundDPScheduler",
}


class UnknownSchedulerError(UserInputError):
    """A scheduler name that is not registered."""


def register_scheduler(name: str, factory: str | Callable[..., "Scheduler"]) -> None:
    """Register ``factory`` (a callable or a ``"module:attr"`` path) under ``name``."""
    SCHEDULERS[name] = factory


def scheduler_names() -> list[str]:
    return list(SCHEDULERS)


def make_scheduler(name: str, **kwargs: Any) -> "Scheduler":
    """A scheduler by registry name, built with ``kwargs`` (e.g. ``evaluator=...``)."""
    try:
        factory = SCHEDULERS[name]
    except KeyError:
        raise UnknownSchedulerError(f"unknown scheduler {name!r}; valid: "
                                    f"{', '.join(SCHEDULERS)}") from None
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module), attr)
    return factory(**kwargs)
