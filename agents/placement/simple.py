"""``sequential`` (the baseline) and ``partition`` (each request on a fixed share of cores).

- ``sequential``: every request on its sequential oracle schedule, requests one after
  another in workload order (:meth:`Placement.sequential`): exact for one request alone, and
  the baseline every other placement is measured against. It runs no whole-placement
  simulation (its cost is the sum the oracle computed).
- ``partition``: the chip cut into ``slots`` equal shares of ``share`` cores, ``share`` the
  largest allowed core count <= chip cores / requests (at least the smallest allowed count);
  request ``r`` runs on share ``r mod slots`` (pinned core ids), its groups one after
  another on the oracle's schedule restricted to at most ``share`` cores (the DP over the
  allowed counts <= share); requests sharing a slot run one after another. Launch order is
  the start order of that plan with isolated costs (so no request waits behind another
  slot's group at the host's in-order queue longer than the plan says).
"""

from __future__ import annotations

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.schedule import Schedule
from fusiongym.accelerator.spatial.placement import Placement
from fusiongym.accelerator.spatial.workload import Workload
from fusiongym.agents.placement.base import PlacementScheduler, PlannedGroup, plan_to_placement
from fusiongym.agents.placement.candidates import oracle_schedule


def oracle_schedules(workload: Workload, hw: HardwareConfig, ev: GroupEvaluator,
                     max_cores: int | None = None) -> list[Schedule]:
    """Each request's (optionally core-limited) oracle schedule, one DP per distinct network."""
    memo: dict[str, Schedule] = {}
    out = []
    for r in workload.requests:
        h = r.network.content_hash()
        if h not in memo:
            memo[h] = oracle_schedule(r.network, hw, ev, max_cores)
        out.append(memo[h])
    return out


class SequentialPlacement(PlacementScheduler):
    name = "sequential"

    def _place(self, workload: Workload, hw: HardwareConfig, ev: GroupEvaluator) -> Placement:
        return Placement.sequential(workload, oracle_schedules(workload, hw, ev))


def partition_share(hw: HardwareConfig, requests: int) -> int:
    """The per-request core share: the largest allowed count <= chip cores / requests."""
    counts = hw.allowed_core_counts
    fits = [c for c in counts if c <= hw.num_cores // max(1, requests)]
    return max(fits) if fits else min(counts)


class PartitionPlacement(PlacementScheduler):
    name = "partition"

    def __init__(self, share_cores: int | None = None) -> None:
        """``share_cores``: cores per request (default :func:`partition_share`)."""
        super().__init__()
        self.share_cores = share_cores

    def _place(self, workload: Workload, hw: HardwareConfig, ev: GroupEvaluator) -> Placement:
        share = self.share_cores or partition_share(hw, len(workload))
        if share > hw.num_cores:
            raise UserInputError(f"partition: a core share of {share} is larger than the chip "
                                 f"({hw.name} has {hw.num_cores} cores)")
        if share not in hw.allowed_core_counts:
            raise UserInputError(f"partition: a core share of {share} is not an allowed core "
                                 f"count on {hw.name} ({list(hw.allowed_core_counts)})")
        schedules = oracle_schedules(workload, hw, ev, share)
        placement, slots = partition_placement(workload, hw, schedules, share,
                                               lambda n, s, e, c: ev.result(n, s, e, c).latency_cycles)
        self.info = {"share_cores": share, "slots": slots}
        return placement


def partition_placement(workload: Workload, hw: HardwareConfig, schedules: list[Schedule],
                        share: int, latency) -> tuple[Placement, int]:
    """Request ``r`` on slot ``r mod slots`` of ``share`` pinned cores, its ``schedules[r]``
    groups one after another, launched in the start order that ``latency(network, start,
    end, cores)`` gives them; returns the placement and the number of slots."""
    slots = max(1, hw.num_cores // share)
    slot_free = [0] * slots
    plan: list[PlannedGroup] = []
    for r, (req, schedule) in enumerate(zip(workload.requests, schedules)):
        slot = r % slots
        base = slot * share
        t = max(slot_free[slot], req.arrival_cycles)
        prev = None
        for g in schedule.groups:
            cost = latency(req.network, g.start, g.end, g.cores)
            plan.append(PlannedGroup(r, g.start, g.end, tuple(range(base, base + g.cores)),
                                     int(t), (prev,) if prev is not None else ()))
            prev = len(plan) - 1
            t += int(cost)
        slot_free[slot] = t
    return plan_to_placement(workload, plan), slots
