"""Placements from the sequential policy: each request's groups by the trained Fusion-v0
policy, arranged on the chip by the placement heuristics, with no simulation.

The sequential policy (``fusiongym/Fusion-v0``, :class:`agents.ppo.PPOScheduler`) schedules a
network it never saw within about 1 % of the oracle, on chips of other sizes too (through
:class:`agents.core_adapter.CoreCountAdapter`). A request that shares the chip is a network
on a smaller chip: its *cap* (:func:`capped_hardware`: the same chip, core counts up to the
cap). From the policy's schedules this module builds the placements of three arrangements:

- ``chains``: per request the policy's schedule on a cap among half, once and twice the even
  share (the plan teacher's ``chains`` source, every combination), the chains interleaved
  by the launch rule (:func:`agents.placement.teacher.chains_placement`);
- ``partition``: ``partition``'s arrangement (each request on its slot of pinned cores) with
  the policy's schedules on once and twice the even share;
- ``list``: the HEFT plans of ``list`` (:func:`agents.placement.list_sched.heft_variants`)
  over the policy's whole-chip groups, those groups cut at branch starts, and the groups
  the policy makes on each smaller cap (``policy@N``: on few cores it fuses differently).

All are costed by lowering only (:func:`agents.placement.fluid.lowering_cost`: the planner's
estimate, never below the sound latency lower bound, and the streams' DRAM bytes) and ranked by the contention-aware fluid estimate
over those costs; the ``keep`` best are returned. Nothing here simulates: the policy's env
runs with its rewards off (feasibility and estimates from lowering). This is what the
zero-shot placer (:class:`agents.placement.policy.PolicyPlacer`) adds to the placement
policy's own rollout when its run holds a sequential policy.
"""

from __future__ import annotations

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.schedule import Schedule
from fusiongym.accelerator.spatial.placement import Placement
from fusiongym.accelerator.spatial.workload import Workload
from fusiongym.accelerator.workloads.network import Network
from fusiongym.agents.placement.base import plan_to_placement
from fusiongym.agents.placement.candidates import groupings_of, make_grouping
from fusiongym.agents.placement.fluid import fluid_makespan, lowering_cost
from fusiongym.agents.placement.list_sched import heft_variants
from fusiongym.agents.placement.simple import partition_placement, partition_share
from fusiongym.agents.placement.teacher import chains_candidates

# the groupings of the policy's groups that the list arrangement schedules
LIST_KINDS = ("oracle", "split")


def capped_hardware(hw: HardwareConfig, cap: int) -> HardwareConfig:
    """``hw`` seen by one request limited to ``cap`` cores: its allowed core counts up to
    the cap (the bus, buffers and overheads unchanged). The chip itself when the cap is the
    whole chip."""
    if cap >= hw.num_cores:
        return hw
    counts = [c for c in hw.allowed_core_counts if c <= cap]
    return hw.with_(num_cores=cap, core_counts=counts, name=f"{hw.name}-cap{cap}")


class SequentialPolicyPlans:
    """Zero-simulation placements from a sequential policy (see the module docstring)."""

    def __init__(self, policy, keep: int = 4):
        """``policy``: a :class:`agents.ppo.PPOScheduler` (or anything with
        ``schedule(network, hw) -> Schedule`` that does not simulate)."""
        self.policy = policy
        self.keep = keep
        self._schedules: dict[tuple[str, str], Schedule] = {}

    def schedule(self, network: Network, hw: HardwareConfig, cap: int) -> Schedule:
        """The policy's schedule of ``network`` on ``cap`` of ``hw``'s cores (memoized)."""
        capped = capped_hardware(hw, cap)
        key = (network.content_hash(), capped.key)
        if key not in self._schedules:
            self._schedules[key] = self.policy.schedule(network, capped)
        return self._schedules[key]

    def candidates(self, workload: Workload, hw: HardwareConfig, ev: GroupEvaluator
                   ) -> list[tuple[int, Placement, str]]:
        """The ``keep`` best distinct placements as (fluid estimate, placement, arrangement),
        best first."""
        cost = lowering_cost(ev)

        def estimate(placement: Placement, _isolated: int | None = None) -> int:
            return fluid_makespan(workload, placement, hw, ev, cost=cost)

        def latency(n, s, e, c) -> int:
            return cost(n, s, e, c)[0]

        found = [(p, "chains") for p in chains_candidates(
            workload, hw, ev, self.keep,
            schedule_for=lambda network, cap: self.schedule(network, hw, cap),
            latency=latency, rank=estimate)]
        share = partition_share(hw, len(workload))
        for cap in sorted({share, 2 * share} & set(hw.allowed_core_counts)):
            schedules = [self.schedule(r.network, hw, cap) for r in workload.requests]
            found.append((partition_placement(workload, hw, schedules, cap, latency)[0],
                          "partition"))
        found += [(p, "list") for p in self._list_placements(workload, hw, ev, cost)]
        ranked = sorted(((estimate(p), k, p, source) for k, (p, source) in enumerate(found)),
                        key=lambda x: x[:2])
        seen, out = set(), []
        for est, _, p, source in ranked:
            if p.groups not in seen:  # groups, cores, pins and order edges
                seen.add(p.groups)
                out.append((est, p, source))
        return out[:self.keep]

    def _list_placements(self, workload, hw, ev, cost) -> list[Placement]:
        from dataclasses import replace

        per_net: dict[str, dict] = {}
        capped_kinds = [f"policy@{c}" for c in hw.allowed_core_counts if c < hw.num_cores]
        for req in workload.requests:
            h = req.network.content_hash()
            if h not in per_net:
                mine = self.schedule(req.network, hw, hw.num_cores)
                per_net[h] = {g.kind: g for g in groupings_of(req.network, hw, ev, LIST_KINDS,
                                                              mine, cost)}
                for kind in capped_kinds:  # the groups the policy makes on fewer cores
                    capped = self.schedule(req.network, hw, int(kind.split("@")[1]))
                    grouping = make_grouping("oracle", req.network, hw, ev, capped, cost)
                    per_net[h][kind] = replace(grouping, kind=kind)
        seen, out = set(), []
        for _, _, _, plan in heft_variants(workload, hw, per_net, (*LIST_KINDS, *capped_kinds)):
            placement = plan_to_placement(workload, plan)
            if placement.groups not in seen:
                seen.add(placement.groups)
                out.append(placement)
        return out
