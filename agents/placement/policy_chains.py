"""Placements from the sequential policy: each request's groups by the trained Fusion-v0
policy on a core cap, the requests' chains interleaved by the launch rule.

The sequential policy (``fusiongym/Fusion-v0``, :class:`agents.ppo.PPOScheduler`) schedules a
network it never saw within about 1 % of the oracle, on chips of other sizes too (through
:class:`agents.core_adapter.CoreCountAdapter`). A request that shares the chip is a network
on a smaller chip: its *cap*. So a placement is, per request, the policy's schedule on a
chip of ``cap`` cores (:func:`capped_hardware`: the same chip, core counts up to the cap),
and the chains of groups interleaved by the launch rule
(:func:`agents.placement.teacher.chains_placement`: the request whose next group could
launch earliest goes next). The caps tried are those of the plan teacher's ``chains`` source
(half, once and twice the even share, per request); each combination is scored by the
contention-aware fluid estimate over lowering-only costs
(:func:`agents.placement.fluid.lowering_cost`: sound latency lower bounds, the streams'
DRAM bytes) and the ``keep`` best are returned with their estimates.

Nothing here simulates: the policy's env runs with its rewards off (feasibility and
estimates from lowering), the chains and the ranking use lowering only. This is what the
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
from fusiongym.agents.placement.fluid import fluid_makespan, lowering_cost
from fusiongym.agents.placement.teacher import chains_candidates


def capped_hardware(hw: HardwareConfig, cap: int) -> HardwareConfig:
    """``hw`` seen by one request limited to ``cap`` cores: its allowed core counts up to
    the cap (the bus, buffers and overheads unchanged). The chip itself when the cap is the
    whole chip."""
    if cap >= hw.num_cores:
        return hw
    counts = [c for c in hw.allowed_core_counts if c <= cap]
    return hw.with_(num_cores=cap, core_counts=counts, name=f"{hw.name}-cap{cap}")


class PolicyChains:
    """Zero-simulation placements from a sequential policy (see the module docstring)."""

    source = "policy-chains"

    def __init__(self, policy, keep: int = 3):
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
                   ) -> list[tuple[int, Placement]]:
        """The ``keep`` best placements with their fluid estimates (cycles), best first."""
        cost = lowering_cost(ev)

        def estimate(placement: Placement, _isolated: int | None = None) -> int:
            return fluid_makespan(workload, placement, hw, ev, cost=cost)

        placements = chains_candidates(
            workload, hw, ev, self.keep,
            schedule_for=lambda network, cap: self.schedule(network, hw, cap),
            latency=lambda n, s, e, c: cost(n, s, e, c)[0], rank=estimate)
        return sorted(((estimate(p), p) for p in placements), key=lambda x: x[0])
