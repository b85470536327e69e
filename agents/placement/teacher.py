"""The list-scheduling teacher of the placement env: the expert that DAgger imitates.

For a (workload, chip) the teacher first makes a small search over *plans*, each scored by
its isolated-cost estimate (the launch rule replayed over the groups' sound lower bounds,
:func:`accelerator.spatial.timeline.replay`; lowering only, no simulation):

- a **core cap** ``c`` among the counts the env's fractions reach: every request gets the
  exact sequential DP over lower bounds (:func:`envs.placement_reference.bound_planner`)
  with groups above ``c`` cores penalised 4x (so a request leaves room for the others);
- a **launch order**: ``interleaved`` (requests take turns, group by group:
  :meth:`Placement.side_by_side`) or ``in_order`` (request after request, each group still
  free to co-run with the previous request's last groups when cores allow).

It keeps the plan with the lowest estimate (ties: the larger cap, then interleaved). From any
env state, on the plan or off it (DAgger visits both), its label is then:

- the slot: ``in_order`` -> the first unfinished request; ``interleaved`` -> the request with
  the fewest groups started (ties: workload order), which reproduces the side-by-side order;
- the action for that request's next layer: the masked argmin of its DP's Q-values at
  (layer, open group, its core count) — the optimal completion of that request over the
  penalised bounds — mapped to the env's FUSE / fraction action.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from accelerator.bounds import latency_lower_bound
from accelerator.spatial.placement import Placement
from accelerator.spatial.timeline import host_flags, replay
from accelerator.spatial.workload import Workload
from envs.placement_env import PlacementEnv
from envs.placement_reference import bound_planner, planner_schedule
from envs.planner import SuffixPlanner

ORDERS = ("interleaved", "in_order")


@dataclass
class TeacherPlan:
    order: str
    cap: int
    estimated_makespan_cycles: int
    planners: list[SuffixPlanner]  # one per request
    placement: Placement


def estimate_cycles(workload: Workload, placement: Placement, env: PlacementEnv) -> int:
    """The isolated-cost estimate of ``placement`` (lower-bound durations, the launch rule)."""
    deps = placement.validate(workload, env.hw)
    durations = [latency_lower_bound(env.evaluator, workload.requests[g.request].network,
                                     g.start, g.end, g.cores) for g in placement.groups]
    arrivals = [workload.requests[g.request].arrival_cycles for g in placement.groups]
    return replay(placement.groups, deps, arrivals, durations, env.hw.num_cores,
                  host_flags(workload, placement.groups, env.hw)).makespan_cycles


class ListTeacher:
    """Plans once per (workload, chip), then labels any state of a :class:`PlacementEnv`."""

    def __init__(self, max_group_layers: int = 8):
        self.max_group_layers = max_group_layers
        self._plans: dict[tuple[str, str], TeacherPlan] = {}
        self._planners: dict[tuple[str, str, int], SuffixPlanner] = {}

    def plan(self, env: PlacementEnv) -> TeacherPlan:
        w = env.workload
        key = (w.content_hash(), env.hw.key)
        if key in self._plans:
            return self._plans[key]
        best: TeacherPlan | None = None
        for cap in sorted(env.reachable_counts, reverse=True):
            planners = [self._planner(env, r.network, cap) for r in w.requests]
            schedules = [planner_schedule(p, r.network) for p, r in zip(planners, w.requests)]
            for order in ORDERS:
                if order == "interleaved":
                    placement = Placement.side_by_side(w, schedules)
                else:  # request after request, no extra ordering edges
                    seq = Placement.sequential(w, schedules)
                    placement = Placement(tuple(g.__class__(g.request, g.start, g.end, g.cores)
                                                for g in seq.groups), w.name, w.content_hash())
                est = estimate_cycles(w, placement, env)
                if best is None or est < best.estimated_makespan_cycles:
                    best = TeacherPlan(order, cap, est, planners, placement)
        assert best is not None
        self._plans[key] = best
        return best

    def _planner(self, env: PlacementEnv, network, cap: int) -> SuffixPlanner:
        key = (network.content_hash(), env.hw.key, cap)
        if key not in self._planners:
            self._planners[key] = bound_planner(network, env.evaluator, env.reachable_counts,
                                                self.max_group_layers, cap)
        return self._planners[key]

    def action(self, env: PlacementEnv) -> int:
        """The teacher's action in ``env``'s current state (always a valid one)."""
        plan = self.plan(env)
        slots = env.slots()
        if plan.order == "in_order":
            chosen = slots[0]
        else:
            chosen = min(slots, key=lambda s: (s.groups_started, s.slot))
        mask = env.slot_mask(chosen.slot)
        base = chosen.slot * env.actions_per_slot
        planner = plan.planners[chosen.request]
        q = planner.q_values(chosen.layer, chosen.open_start, chosen.open_cores)
        # env action j -> planner action: FUSE -> 0, fraction f -> 1 + index of its count
        candidates = []  # (Q, cores, env action): ties go to FUSE, then fewer cores
        if mask[0] and math.isfinite(q[0]):
            candidates.append((float(q[0]), 0, 0))
        for f, c in enumerate(env.fraction_counts):
            if c is not None and mask[1 + f]:
                value = float(q[1 + planner.core_counts.index(c)])
                if math.isfinite(value):
                    candidates.append((value, c, 1 + f))
        if not candidates:  # no completion in the table: any valid action
            return base + int(np.flatnonzero(mask)[0])
        return base + min(candidates)[2]
