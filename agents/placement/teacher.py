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

from fusiongym.accelerator.bounds import latency_lower_bound
from fusiongym.accelerator.spatial.placement import Placement
from fusiongym.accelerator.spatial.timeline import host_flags, replay
from fusiongym.accelerator.spatial.workload import Workload
from fusiongym.envs.placement_env import PlacementEnv
from fusiongym.envs.placement_reference import bound_planner, planner_schedule
from fusiongym.envs.planner import SuffixPlanner

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


# ---- the plan teacher: the best known placement, followed from any state --------------------

PLAN_SOURCES = ("teacher", "partition", "list", "side-by-side", "chains")


def chains_placement(workload: Workload, hw, ev, schedules, latency=None
                     ) -> tuple[Placement, int]:
    """Each request's sequential schedule as a chain of groups, the chains interleaved by
    the launch rule: next is always the request whose next group could launch earliest
    (ties: workload order), costed by its isolated latency: ``latency(network, start, end,
    cores)``, by default the simulated (memoized) one. Returns the placement and that
    isolated-cost estimate of its makespan."""
    from fusiongym.accelerator.spatial.placement import PlacedGroup

    n = len(workload)
    nxt, free_at, last = [0] * n, [0] * hw.num_cores, 0
    ready = [r.arrival_cycles for r in workload.requests]
    groups = []
    while True:
        best = None
        for r in range(n):
            if nxt[r] < len(schedules[r].groups):
                g = schedules[r].groups[nxt[r]]
                t = max(last, ready[r], sorted(free_at)[g.cores - 1])
                if best is None or (t, r) < best[:2]:
                    best = (t, r, g)
        if best is None:
            break
        t, r, g = best
        net = workload.requests[r].network
        cost = int(latency(net, g.start, g.end, g.cores) if latency is not None
                   else ev.result(net, g.start, g.end, g.cores).latency_cycles)
        if cost > 0:  # a zero-copy group holds no core
            for c in [c for c in range(hw.num_cores) if free_at[c] <= t][:g.cores]:
                free_at[c] = t + cost
        ready[r], last = t + cost, t
        groups.append(PlacedGroup(r, g.start, g.end, g.cores))
        nxt[r] += 1
    return Placement(tuple(groups), workload.name, workload.content_hash()), max(ready)


def chains_candidates(workload: Workload, hw, ev, keep: int = 3, max_variants: int = 81,
                      schedule_for=None, latency=None, rank=None) -> list[Placement]:
    """The ``keep`` best :func:`chains_placement` s over per-request core caps: each request
    on its schedule restricted to a cap among half, once and twice the even share of the
    chip (``partition``'s share), so unequal shares (a long request wider, a short one
    narrower) are tried too.

    By default a request's schedule is the oracle's restricted to the cap and the chains are
    costed and ranked by simulated isolated latencies. A scheduler that may not simulate
    passes ``schedule_for(network, cap) -> Schedule``, ``latency`` (for the launch rule, see
    :func:`chains_placement`) and ``rank(placement, estimate) -> cycles``."""
    import itertools

    from fusiongym.agents.placement.simple import oracle_schedules, partition_share
    from fusiongym.accelerator.spatial.workload import Workload as W

    if schedule_for is None:
        def schedule_for(network, cap):
            return oracle_schedules(W.single(network), hw, ev, cap)[0]
    share = partition_share(hw, len(workload))
    caps = sorted({c for c in hw.allowed_core_counts if share / 2 <= c <= 2 * share})
    combos = list(itertools.product(caps, repeat=len(workload)))[:max_variants]
    memo: dict[tuple[str, int], object] = {}
    out = []
    for combo in combos:
        schedules = []
        for req, cap in zip(workload.requests, combo):
            key = (req.network.content_hash(), cap)
            if key not in memo:
                memo[key] = schedule_for(req.network, cap)
            schedules.append(memo[key])
        placement, estimate = chains_placement(workload, hw, ev, schedules, latency)
        out.append((estimate if rank is None else rank(placement, estimate), combo, placement))
    out.sort(key=lambda x: (x[0], x[1]))
    seen, kept = set(), []
    for _, _, placement in out:
        if placement.groups not in seen:
            seen.add(placement.groups)
            kept.append(placement)
        if len(kept) == keep:
            break
    return kept


def env_action_for_cores(env: PlacementEnv, cores: int) -> int:
    """The slot-relative START action whose core count on ``env``'s chip is nearest to
    ``cores`` (by ratio; ties: fewer cores): a plan's counts on a chip the fractions do not
    reach exactly (1 core of a 32-core chip) map to the nearest one they reach."""
    best = None
    for f, c in enumerate(env.fraction_counts):
        if c is not None:
            key = (abs(math.log2(c / cores)), c)
            if best is None or key < best[0]:
                best = (key, 1 + f)
    assert best is not None
    return best[1]


@dataclass
class FollowedPlan:
    """A placement to follow: ``owner[r][i]`` is the launch position of the group holding
    layer ``i`` of request ``r``; ``source`` names the scheduler that made it."""

    source: str
    placement: Placement
    owner: list[list[int]]
    makespan_cycles: int | None = None  # simulated, as the env realises it


def follow(placement: Placement, workload: Workload, source: str) -> FollowedPlan:
    owner = [[-1] * len(r.network) for r in workload.requests]
    for k, g in enumerate(placement.groups):
        for i in range(g.start, g.end):
            owner[g.request][i] = k
    return FollowedPlan(source, placement, owner)


class PlanTeacher:
    """DAgger's expert: the best of several schedulers' placements, by simulation.

    Per (workload, chip) it asks every source in ``sources`` for a placement (``teacher``:
    :class:`ListTeacher`'s plan; ``partition``, ``list``: the placement schedulers of
    :mod:`agents.placement`, which cost groups by isolated simulation; ``side-by-side``: the
    sequential oracle's schedules interleaved), realises each in the env by following it
    (below) and keeps the one whose realisation simulates fastest (one whole-placement
    simulation each; the env scores the finished episode). Training may simulate; the
    deployed policy does not.

    From any env state, on the plan or off it, the label follows the plan:

    - the slot: the request whose next layer belongs to the plan group launched earliest,
      which reproduces the plan's launch order group by group;
    - the action: START on the plan group's core count when the next layer opens a plan
      group, else FUSE (off the plan, the request so re-joins it at the next plan boundary);
      a masked choice falls back to START on the plan's count, then to the nearest offered
      count, then to any offered action.

    Pinned core ids and extra ``after`` edges of the sources' placements are not followed
    (the env has neither); that is why each plan is scored by its realisation.
    """

    def __init__(self, max_group_layers: int = 8, sources: tuple[str, ...] = PLAN_SOURCES):
        unknown = set(sources) - set(PLAN_SOURCES)
        if unknown or not sources:
            raise ValueError(f"plan sources must be among {PLAN_SOURCES}, got {sources}")
        self.sources = tuple(sources)
        self.list_teacher = ListTeacher(max_group_layers)
        self._plans: dict[tuple[str, str], FollowedPlan] = {}
        self.scores: dict[tuple[str, str], dict[str, int]] = {}

    def candidates(self, env: PlacementEnv) -> list[FollowedPlan]:
        from fusiongym.agents.placement.list_sched import ListPlacement
        from fusiongym.agents.placement.simple import PartitionPlacement, oracle_schedules

        w, hw, ev = env.workload, env.hw, env.evaluator
        out = []
        for source in self.sources:
            if source == "teacher":
                placement = self.list_teacher.plan(env).placement
            elif source == "partition":
                placement = PartitionPlacement().place(w, hw, ev)
            elif source == "list":
                placement = ListPlacement().place(w, hw, ev)
            elif source == "chains":
                out += [follow(p, w, source) for p in chains_candidates(w, hw, ev)]
                continue
            else:
                placement = Placement.side_by_side(w, oracle_schedules(w, hw, ev))
            out.append(follow(placement, w, source))
        return out

    def plan(self, env: PlacementEnv) -> FollowedPlan:
        """The best candidate for ``env``'s current workload and chip (cached). Scoring
        rolls the env out, so call it right after ``reset`` (it resets to the same
        workload and chip when done)."""
        w = env.workload
        key = (w.content_hash(), env.hw.key)
        if key not in self._plans:
            hw_index = env._hw_index
            best, scores = None, {}
            for cand in self.candidates(env):
                env.reset(options={"workload": w, "hw_index": hw_index})
                self._plans[key] = cand  # so that action() follows this one
                done, info = False, {}
                while not done:
                    _, _, done, _, info = env.step(self.action(env))
                cand.makespan_cycles = int(info["makespan_cycles"])
                scores[cand.source] = min(cand.makespan_cycles,
                                          scores.get(cand.source, cand.makespan_cycles))
                if best is None or cand.makespan_cycles < best.makespan_cycles:
                    best = cand
            self._plans[key], self.scores[key] = best, scores
            env.reset(options={"workload": w, "hw_index": hw_index})
        return self._plans[key]

    def action(self, env: PlacementEnv) -> int:
        """The plan's action in ``env``'s current state (always a valid one)."""
        plan = self._plans.get((env.workload.content_hash(), env.hw.key)) or self.plan(env)
        slots = env.slots()
        chosen = min(slots, key=lambda s: (plan.owner[s.request][s.layer], s.slot))
        g = plan.placement.groups[plan.owner[chosen.request][chosen.layer]]
        mask = env.slot_mask(chosen.slot)
        base = chosen.slot * env.actions_per_slot
        start = env_action_for_cores(env, g.cores)
        wanted = [start] if chosen.layer == g.start or chosen.open_start is None else [0, start]
        for j in wanted:
            if mask[j]:
                return base + j
        offered = [1 + f for f, c in enumerate(env.fraction_counts) if c is not None
                   and mask[1 + f]]
        if offered:
            want = env.fraction_counts[start - 1]
            return base + min(offered, key=lambda j: (abs(math.log2(
                env.fraction_counts[j - 1] / want)), j))
        return base + int(np.flatnonzero(mask)[0])
