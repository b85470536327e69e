"""The placement-scheduler interface and the *plan* its schedulers share.

``PlacementScheduler.place(workload, hw, evaluator=None) -> Placement``. After a call,
``sim_calls`` counts what the search ran: isolated group simulations (misses of the group
evaluator; memo hits are free) plus whole-placement simulations; ``seconds`` is its wall
time; ``last_result`` is the simulation of the returned placement when the search ran one
(else None); ``info`` holds scheduler-specific facts (CP-SAT's status, the variant chosen).

Every scheduler here first decides a **plan** with isolated group costs: for each group its
request, layers, core count, start cycle and core ids (:class:`PlannedGroup`).
:func:`plan_to_placement` turns a plan into a placement whose launch order is the plan's
start order (ties: plan order) with the plan's core ids pinned. That placement, replayed by
:func:`accelerator.spatial.timeline.replay` with the same isolated costs, starts no group
later than the plan did (the launch rule only waits for producers, the previous launch and
its own cores, all of which the plan already respected); the simulation then adds what
sharing the DRAM and the host costs.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator, default_evaluator
from fusiongym.accelerator.spatial.placement import PlacedGroup, Placement
from fusiongym.accelerator.spatial.simulate import PlacementResult, simulate_placement
from fusiongym.accelerator.spatial.workload import Workload


@dataclass(frozen=True)
class PlannedGroup:
    """One group of a plan: layers ``start .. end-1`` of request ``request`` on ``core_ids``
    from ``start_cycles`` (its isolated cost later). ``after``: plan indices of groups that
    must end first beyond its data producers (a sequential chain's order)."""

    request: int
    start: int
    end: int
    core_ids: tuple[int, ...]
    start_cycles: int
    after: tuple[int, ...] = ()
    host_cores: int = 0  # a host-run first layer (no core_ids): its schedule's nominal count

    @property
    def cores(self) -> int:
        return len(self.core_ids) or self.host_cores


def plan_to_placement(workload: Workload, plan: list[PlannedGroup], pin: bool = True
                      ) -> Placement:
    """The placement launching ``plan``'s groups in start order (see the module docstring)."""
    order = sorted(range(len(plan)), key=lambda k: (plan[k].start_cycles, k))
    position = {k: pos for pos, k in enumerate(order)}
    groups = []
    for k in order:
        p = plan[k]
        after = tuple(sorted(position[j] for j in p.after))
        groups.append(PlacedGroup(p.request, p.start, p.end, p.cores, after,
                                  tuple(sorted(p.core_ids)) or None if pin else None))
    return Placement(tuple(groups), workload.name, workload.content_hash())


class PlacementScheduler(ABC):
    """Base class: measures the search cost around :meth:`_place`."""

    name: str = "placement"

    def __init__(self) -> None:
        self.sim_calls = 0
        self.seconds = 0.0
        self.last_result: PlacementResult | None = None
        self.info: dict = {}
        self._placement_sims = 0

    def place(self, workload: Workload, hw: HardwareConfig,
              evaluator: GroupEvaluator | None = None) -> Placement:
        """A valid placement of ``workload`` on ``hw``; sets ``sim_calls`` and ``seconds``."""
        ev = evaluator if evaluator is not None else default_evaluator(hw)
        if ev.hw.key != hw.key:
            raise UserInputError(f"{self.name}: the evaluator was built for hardware "
                                 f"{ev.hw.name!r}, not {hw.name!r}")
        before = ev.sim_calls
        self._placement_sims = 0
        self.last_result = None
        self.info = {}
        t0 = time.perf_counter()
        placement = self._place(workload, hw, ev).without_host_pins(workload, hw)
        self.seconds = time.perf_counter() - t0
        self.sim_calls = ev.sim_calls - before + self._placement_sims
        return replace(placement, meta={**placement.meta, "scheduler": self.name})

    def simulate(self, workload: Workload, placement: Placement, hw: HardwareConfig,
                 ev: GroupEvaluator) -> PlacementResult:
        """One whole-placement simulation, counted in ``sim_calls``."""
        self._placement_sims += 1
        return simulate_placement(workload, placement.without_host_pins(workload, hw), hw, ev)

    @abstractmethod
    def _place(self, workload: Workload, hw: HardwareConfig, ev: GroupEvaluator) -> Placement:
        """The search itself."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
