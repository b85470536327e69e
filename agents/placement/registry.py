"""``PLACEMENT_SCHEDULERS``: name -> factory taking keyword options (``time_limit_s`` ...)."""

from __future__ import annotations

from typing import Callable

from fusiongym.accelerator.errors import UserInputError
from fusiongym.agents.placement.base import PlacementScheduler


def _sequential(**options) -> PlacementScheduler:
    from fusiongym.agents.placement.simple import SequentialPlacement

    return SequentialPlacement(**options)


def _partition(**options) -> PlacementScheduler:
    from fusiongym.agents.placement.simple import PartitionPlacement

    return PartitionPlacement(**options)


def _list(**options) -> PlacementScheduler:
    from fusiongym.agents.placement.list_sched import ListPlacement

    return ListPlacement(**options)


def _cpsat(**options) -> PlacementScheduler:
    from fusiongym.agents.placement.cpsat import CpSatPlacement  # OR-Tools imported only when asked

    return CpSatPlacement(**options)


def _search(**options) -> PlacementScheduler:
    from fusiongym.agents.placement.search import SearchPlacement

    return SearchPlacement(**options)


def _ppo(**options) -> PlacementScheduler:
    from fusiongym.agents.placement.placer_run import placer_from_run  # torch / SB3 only when asked

    return placer_from_run(search=False, **options)


def _ppo_search(**options) -> PlacementScheduler:
    from fusiongym.agents.placement.placer_run import placer_from_run

    return placer_from_run(search=True, **options)


PLACEMENT_SCHEDULERS: dict[str, Callable[..., PlacementScheduler]] = {
    "sequential": _sequential,
    "partition": _partition,
    "list": _list,
    "cpsat": _cpsat,
    "search": _search,
}

# Schedulers that need a trained placer (``run=RUN``, from ``python -m
# experiments.place_learned train``): apart, so loops over PLACEMENT_SCHEDULERS (tests,
# benchmarks/placement_table.py) need no run directory.
LEARNED_PLACEMENT_SCHEDULERS: dict[str, Callable[..., PlacementScheduler]] = {
    "ppo": _ppo,
    "ppo-search": _ppo_search,
}


def make_placement_scheduler(name: str, **options) -> PlacementScheduler:
    """The scheduler ``name`` with ``options``; an unknown name or option is one line."""
    factory = PLACEMENT_SCHEDULERS.get(name) or LEARNED_PLACEMENT_SCHEDULERS.get(name)
    if factory is None:
        raise UserInputError(f"placement scheduler {name!r} is not one of "
                             f"{', '.join([*PLACEMENT_SCHEDULERS, *LEARNED_PLACEMENT_SCHEDULERS])}")
    try:
        return factory(**options)
    except TypeError as err:
        raise UserInputError(f"placement scheduler {name!r}: {err}") from None
