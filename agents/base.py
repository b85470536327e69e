"""The scheduler interface: ``Scheduler.schedule(network, hw) -> Schedule``.

A scheduler decides the fused groups and core counts of a network. Every call records its
search cost in ``last_cost``: the simulator calls it caused (misses of the group evaluator
it used; memo hits are free) and its wall time. Schedulers share the process-wide
:func:`accelerator.evaluator.default_evaluator` of the hardware unless given their own
:class:`~accelerator.evaluator.GroupEvaluator` (give each its own evaluator to compare search
costs fairly, since a warm shared memo makes a later search look free).

To add a scheduler, subclass :class:`Scheduler`, implement :meth:`Scheduler._schedule`,
and register it in :data:`agents.SCHEDULERS`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator, default_evaluator
from fusiongym.accelerator.schedule import Schedule
from fusiongym.accelerator.workloads.network import Network

@dataclass(frozen=True)
class SearchCost:
    """What one ``schedule()`` call cost."""

    sim_calls: int  # group simulations run (evaluator cache misses) during the call
    wall_seconds: float


class Scheduler(ABC):
    """Base class: measures the search cost around :meth:`_schedule`."""

    name: str = "scheduler"

    def __init__(self, evaluator: GroupEvaluator | None = None):
        self.evaluator = evaluator
        self.last_cost: SearchCost | None = None

    def evaluator_for(self, hw: HardwareConfig) -> GroupEvaluator:
        """The given evaluator if it was built for ``hw``, else the shared one for ``hw``."""
        if self.evaluator is not None:
            if self.evaluator.hw.key != hw.key:
                raise UserInputError(f"{self.name}: the scheduler's evaluator was built for "
                                     f"hardware {self.evaluator.hw.name!r}, not {hw.name!r}")
            return self.evaluator
        return default_evaluator(hw)

    def schedule(self, network: Network, hw: HardwareConfig) -> Schedule:
        """A complete, feasible schedule of ``network`` on ``hw``; sets ``last_cost``."""
        evaluator = self.evaluator_for(hw)
        calls_before = evaluator.sim_calls
        t0 = time.perf_counter()
        schedule = self._schedule(network, hw, evaluator)
        self.last_cost = SearchCost(evaluator.sim_calls - calls_before,
                                    time.perf_counter() - t0)
        return schedule

    @abstractmethod
    def _schedule(self, network: Network, hw: HardwareConfig,
                  evaluator: GroupEvaluator) -> Schedule:
        """The search itself; ``evaluator`` is the one to simulate groups with."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
