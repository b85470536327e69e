"""``cpsat``: OR-Tools CP-SAT over the candidate groupings with their isolated costs.

The model (one per workload):

- per request ``r`` and candidate grouping ``G`` (:mod:`agents.placement.candidates`:
  ``oracle``, ``split``, ``layers``, duplicates dropped) a Boolean ``use[r, G]``; exactly one
  grouping per request;
- per group ``g`` of ``G``: a start and an end variable, and per feasible core count ``c`` an
  optional fixed-size interval ``(start_g, latency(g, c))`` with presence ``x[g, c]``;
  ``sum over c of x[g, c] = use[r, G]`` and ``end_g = start_g + sum over c of latency(g, c)
  x[g, c]``; ``start_g >= arrival(r)``;
- precedence from the group DAG: ``start_g >= end_p`` for each producer ``p`` of ``g``
  (a grouping not used has every ``x = 0``, so its constraints are satisfiable at no cost);
- a cumulative on cores: each interval demands ``c`` of the chip's cores;
- a cumulative on DRAM bandwidth: each interval demands its average rate alone,
  ``bytes(g, c) / latency(g, c)``, in thousandths of the chip's bandwidth (rounded down, so a
  group alone always fits; a rate is never above the bus). Capacity: ``dram_capacity`` times
  the bandwidth, by default the *peak* demand of the hint plan (below), at least 1. At
  capacity 1 the rule forbids any two groups whose rates sum past the bus, though the bus
  serves them both, each a little slower: ResNet-50's oracle groups on 4 cores ask 17-89 % of
  the bus each (median 0.57), so four requests could hardly co-run in the model, while the
  simulation runs them side by side 1.4x faster. Calibrated to a plan the simulation has run, the model admits that much
  overlap and no more; the isolated costs then still miss the slowdown, which is why the
  answer is simulated;
- a cumulative on the host's ``host_launch_slots``: each group's driver work
  (``launch_overhead_cycles``) holds a slot, from ``launch_dispatch_cycles`` after its start
  with ``launch_overlap`` (beside its run) or from its start without (dispatch included), as
  :mod:`accelerator.spatial.simulate` runs it. Many small groups co-running (BERT's) queue
  at the host; the isolated costs alone cannot see that;
- minimise the makespan (the largest end).

It is solved with ``num_workers`` workers (default 1) and ``seed`` under two limits, whichever
comes first: ``work_limit`` units of CP-SAT's *deterministic* time (its own work counter,
default 8; on this project's shared 2-core machine one unit took about 4 s of wall time)
and ``time_limit_s`` seconds of wall time (default 60, a safety net). Stopped by the work
limit (or by proving optimality) the answer depends only on the model and the seed: the same
on any machine. Stopped by the wall clock (``info["wall_capped"]``) it may depend on the
machine's speed; pass ``work_limit=None`` to use the wall clock alone.

The hint: the ``list`` scheduler's best *simulated* plan (:mod:`agents.placement.list_sched`:
its simulations count in this scheduler's ``sim_calls``), made feasible for the model by
:func:`model_feasible_starts` (each group, in the plan's priority order, at its earliest
start where its cores, DRAM rate and host slot all fit), is given as a complete hint, so
CP-SAT starts from a solution of its own model.

The solution becomes a placement: launch order = solved start order, core ids assigned
greedily in that order (at a group's start the cumulative leaves at least its count free;
the lowest-numbered free cores are taken), pinned; then it is simulated once, and if it
simulates slower than the list plan it was hinted with, that plan is returned
(``info["fallback"]``): never worse than ``list``. ``info`` reports ``status`` and
``proved_optimal`` (``OPTIMAL`` means CP-SAT proved the *model's* optimum: isolated costs and
the rate cumulative, not the simulated makespan, so it is no claim about the placement), the
model's makespan and its bound, and the DRAM capacity used.

Too big a model: when the groupings' intervals exceed ``max_intervals`` (default 1000: with
1,498 intervals for BERT-base one worker found no first solution, hint included, within a
minute on this project's shared machine; with 653 it did at once), the largest groupings are
dropped (``layers`` first, then ``split``) for every request until it
fits (``info["groupings"]`` lists what stayed); if the hint's grouping was dropped, CP-SAT
starts cold and the list plan is still the fallback.
"""

from __future__ import annotations

import math
from dataclasses import replace

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.spatial.placement import Placement
from fusiongym.accelerator.spatial.workload import Workload
from fusiongym.agents.placement.base import PlacementScheduler, PlannedGroup, plan_to_placement
from fusiongym.agents.placement.candidates import GROUPINGS, Grouping, groupings_of
from fusiongym.agents.placement.list_sched import ListPlacement
from fusiongym.agents.placement.simple import oracle_schedules

_RATE_UNITS = 1000  # DRAM demand in thousandths of the bandwidth


class CpSatPlacement(PlacementScheduler):
    name = "cpsat"

    def __init__(self, time_limit_s: float = 60.0, work_limit: float | None = 8.0,
                 seed: int = 0, num_workers: int = 1,
                 groupings: tuple[str, ...] = GROUPINGS, max_intervals: int = 1000,
                 dram_capacity: float | None = None):
        super().__init__()
        if time_limit_s <= 0:
            raise ValueError(f"time_limit_s must be > 0, got {time_limit_s}")
        if num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {num_workers}")
        if dram_capacity is not None and dram_capacity <= 0:
            raise ValueError(f"dram_capacity must be > 0 or None, got {dram_capacity}")
        if work_limit is not None and work_limit <= 0:
            raise ValueError(f"work_limit must be > 0 or None, got {work_limit}")
        self.time_limit_s = float(time_limit_s)
        self.work_limit = None if work_limit is None else float(work_limit)
        self.seed = int(seed)
        self.num_workers = int(num_workers)
        self.groupings = tuple(groupings)
        self.max_intervals = int(max_intervals)
        self.dram_capacity = None if dram_capacity is None else float(dram_capacity)

    # ---- candidates --------------------------------------------------------------------
    def _candidates(self, workload: Workload, hw: HardwareConfig, ev: GroupEvaluator,
                    keep: str | None = None) -> list[list[Grouping]]:
        """Each request's candidate groupings; the largest kinds are dropped while the model
        is too big (``max_intervals``), but never ``keep`` (the hint's grouping)."""
        schedules = oracle_schedules(workload, hw, ev)
        per_net: dict[str, list[Grouping]] = {}
        for req, schedule in zip(workload.requests, schedules):
            h = req.network.content_hash()
            if h not in per_net:
                per_net[h] = groupings_of(req.network, hw, ev, self.groupings, schedule)
        kinds = list(self.groupings)

        def chosen() -> list[list[Grouping]]:
            return [[g for g in per_net[r.network.content_hash()] if g.kind in kinds]
                    or per_net[r.network.content_hash()][:1] for r in workload.requests]

        def size(c: list[list[Grouping]]) -> int:
            return sum(len(g.latency_cycles) for gs in c for gg in gs for g in gg.groups)

        while size(chosen()) > self.max_intervals:
            # GROUPINGS is ordered smallest model first: drop the last that is not kept
            droppable = [k for k in kinds if k != keep]
            if len(kinds) <= 1 or not droppable:
                break
            kinds.remove(droppable[-1])
        return chosen()

    # ---- the search --------------------------------------------------------------------
    def _place(self, workload: Workload, hw: HardwareConfig, ev: GroupEvaluator) -> Placement:
        from ortools.sat.python import cp_model

        # the hint: the list scheduler's best *simulated* plan (its simulations count here)
        lister = ListPlacement(self.groupings)
        list_placement = lister.place(workload, hw, ev)
        self._placement_sims += lister._placement_sims  # noqa: SLF001 (same evaluator)
        list_result = lister.last_result
        hint_plan, hint_est = lister.plan, lister.info["estimate_cycles"]
        hint_kind = lister.info["grouping"].split("+")[0]  # "oracle+dram": the oracle groups
        cands = self._candidates(workload, hw, ev, keep=hint_kind)
        capacity = self.dram_capacity if self.dram_capacity is not None else max(
            1.0, peak_rate(workload, hint_plan, hw, ev))
        horizon = max(r.arrival_cycles for r in workload.requests) + sum(
            max(sum(max(g.latency_cycles.values()) for g in gg.groups) for gg in gs)
            for gs in cands)
        m = cp_model.CpModel()
        ends, intervals, core_demand, dram_demand = [], [], [], []
        chosen_vars = []  # per request: [(use, grouping, [(start, end, {c: x})])]
        bw = hw.dram_bandwidth_bytes_per_cycle
        host: list = []
        if hw.launch_overlap:
            host_offset, host_cycles = hw.launch_dispatch_cycles, hw.launch_overhead_cycles
        else:
            host_offset, host_cycles = 0, hw.launch_overhead_cycles + hw.launch_dispatch_cycles
        for r, (req, gs) in enumerate(zip(workload.requests, cands)):
            uses = []
            per_request = []
            for G in gs:
                use = m.NewBoolVar(f"use_r{r}_{G.kind}")
                uses.append(use)
                groups = []
                for k, g in enumerate(G.groups):
                    s = m.NewIntVar(req.arrival_cycles, horizon, f"s_r{r}_{G.kind}_{k}")
                    e = m.NewIntVar(req.arrival_cycles, horizon, f"e_r{r}_{G.kind}_{k}")
                    xs = {}
                    for c, lat in sorted(g.latency_cycles.items()):
                        x = m.NewBoolVar(f"x_r{r}_{G.kind}_{k}_c{c}")
                        xs[c] = x
                        intervals.append(m.NewOptionalFixedSizeIntervalVar(
                            s, lat, x, f"i_r{r}_{G.kind}_{k}_c{c}"))
                        core_demand.append(c)
                        rate = g.dram_bytes[c] / max(1, lat) / bw
                        dram_demand.append(min(_RATE_UNITS, int(rate * _RATE_UNITS)))
                    m.Add(sum(xs.values()) == use)
                    if host_cycles:
                        host.append(m.NewOptionalFixedSizeIntervalVar(
                            s + host_offset, host_cycles, use, f"h_r{r}_{G.kind}_{k}"))
                    m.Add(e == s + sum(g.latency_cycles[c] * x for c, x in xs.items()))
                    groups.append((s, e, xs))
                    ends.append(e)
                for k, prods in enumerate(G.producers):
                    for p in prods:
                        m.Add(groups[k][0] >= groups[p][1])
                per_request.append((use, G, groups))
            m.AddExactlyOne(uses)
            chosen_vars.append(per_request)
        m.AddCumulative(intervals, core_demand, hw.num_cores)
        m.AddCumulative(intervals, dram_demand, max(1, int(_RATE_UNITS * capacity)))
        if host:
            m.AddCumulative(host, [1] * len(host), hw.host_launch_slots)
        makespan = m.NewIntVar(0, horizon + host_offset + host_cycles, "makespan")
        m.AddMaxEquality(makespan, ends)
        m.Minimize(makespan)
        # the hint's grouping may have been dropped from a big model (max_intervals): then
        # CP-SAT gets no hint, and the hint plan itself (a valid placement) is the fallback
        hint_groupings = [_matching(gs, hint_plan, r) for r, gs in enumerate(cands)]
        hinted = all(G is not None for G in hint_groupings)
        if hinted:
            hint_plan, hint_model = model_feasible_starts(workload, hint_plan, hint_groupings,
                                                          hw, host_offset, host_cycles,
                                                          capacity)
            self._hint(m, chosen_vars, hint_groupings, hint_plan,
                       [r.arrival_cycles for r in workload.requests])
            m.AddHint(makespan, int(hint_model))  # a complete hint: CP-SAT's hint search keeps it
        else:
            hint_model = math.inf

        solver = cp_model.CpSolver()
        if self.work_limit is not None:
            solver.parameters.max_deterministic_time = self.work_limit
        solver.parameters.max_time_in_seconds = self.time_limit_s
        solver.parameters.num_workers = self.num_workers
        solver.parameters.random_seed = self.seed
        solver.parameters.repair_hint = True  # a hint the presolve breaks is repaired, not dropped
        status = solver.Solve(m)
        name = solver.StatusName(status)
        self.info = {"status": name, "proved_optimal": status == cp_model.OPTIMAL,
                     "groupings": sorted({G.kind for gs in cands for G in gs}),
                     "intervals": len(intervals), "hint_estimate_cycles": hint_est,
                     "wall_capped": status != cp_model.OPTIMAL and (
                         self.work_limit is None or solver.response_proto.deterministic_time < self.work_limit),
                     "solver_wall_s": round(solver.WallTime(), 1)}
        self.info["hint_model_cycles"] = hint_model if hinted else None
        self.info["dram_capacity"] = round(capacity, 3)
        placement, self.last_result = list_placement, list_result
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE) and solver.ObjectiveValue() <= hint_model:
            plan = self._plan(solver, chosen_vars, hw.num_cores)
            self.info.update(model_makespan_cycles=int(solver.ObjectiveValue()),
                             model_bound_cycles=int(solver.BestObjectiveBound()))
            solved = plan_to_placement(workload, plan)
            result = self.simulate(workload, solved, hw, ev)
            self.info["solution_cycles"] = result.makespan_cycles
            if result.makespan_cycles < list_result.makespan_cycles:
                placement, self.last_result = solved, result
            else:  # the model's optimum is not the simulation's: keep the plan it was hinted
                self.info["fallback"] = "the solution simulated no faster than the list plan"
        else:  # no solution, or one worse than the hint it was given
            self.info["fallback"] = f"CP-SAT {name} found nothing better than the list plan"
        return placement

    @staticmethod
    def _hint(m, chosen_vars, chosen: list[Grouping], plan: list[PlannedGroup],
              arrivals: list[int]) -> None:
        """Hint ``plan``, whose groups are ``chosen[r]``'s for each request ``r``; groups of
        groupings not used at their request's arrival, with no length."""
        where = {(p.request, p.start, p.end): p for p in plan}
        for r, per_request in enumerate(chosen_vars):
            for use, G, groups in per_request:
                match = G is chosen[r]
                m.AddHint(use, int(match))
                for g, (s, e, xs) in zip(G.groups, groups):
                    p = where.get((r, g.start, g.end)) if match else None
                    for c, x in xs.items():
                        m.AddHint(x, int(p is not None and p.cores == c))
                    start = p.start_cycles if p is not None else arrivals[r]
                    m.AddHint(s, start)
                    m.AddHint(e, start + (g.latency_cycles[p.cores] if p is not None else 0))

    @staticmethod
    def _plan(solver, chosen_vars, chip_cores: int) -> list[PlannedGroup]:
        """The solved groups, core ids assigned greedily in start order (module docstring)."""
        solved = []
        hosted = set()
        for r, per_request in enumerate(chosen_vars):
            for use, G, groups in per_request:
                if not solver.Value(use):
                    continue
                for g, (s, e, xs) in zip(G.groups, groups):
                    c = next(c for c, x in xs.items() if solver.Value(x))
                    solved.append((solver.Value(s), solver.Value(e), r, g.start, g.end, c))
                    if g.on_host:
                        hosted.add((r, g.start, g.end))
        return _unpin_host(assign_cores(solved, chip_cores), hosted)


def assign_cores(solved: list[tuple[int, int, int, int, int, int]], chip_cores: int
                 ) -> list[PlannedGroup]:
    """Plan groups ``(start_cycles, end_cycles, request, start, end, cores)`` on core ids:
    in start order, the lowest-numbered cores free by then (the core cumulative leaves
    enough free at every start, so this never fails on a solution of the model)."""
    free_at = [0] * chip_cores
    plan = []
    for s, e, r, start, end, c in sorted(solved):
        free = [k for k in range(chip_cores) if free_at[k] <= s]
        if len(free) < c:  # cannot happen under the cumulative; fail loudly if it does
            raise RuntimeError(f"a CP-SAT solution over-subscribes the cores at cycle {s}")
        ids = tuple(free[:c])
        for k in ids:
            free_at[k] = e
        plan.append(PlannedGroup(r, start, end, ids, int(s)))
    return plan


def _matching(gs: list[Grouping], plan: list[PlannedGroup], r: int) -> Grouping | None:
    """The candidate grouping of request ``r`` whose groups are exactly ``plan``'s."""
    want = {(q.start, q.end) for q in plan if q.request == r}
    return next((G for G in gs if {(g.start, g.end) for g in G.groups} == want), None)


def peak_rate(workload: Workload, plan: list[PlannedGroup], hw: HardwareConfig,
              ev: GroupEvaluator) -> float:
    """The most DRAM the groups of ``plan`` ask at once, at their isolated rates over their
    planned isolated-cost intervals, as a multiple of the bandwidth (the DRAM cumulative's
    capacity that admits the plan as it stands)."""
    bw = hw.dram_bandwidth_bytes_per_cycle
    spans = []
    for p in plan:
        res = ev.result(workload.requests[p.request].network, p.start, p.end, p.cores)
        if res.latency_cycles > 0:
            nbytes = res.dram_bytes_read + res.dram_bytes_written
            rate = min(_RATE_UNITS, int(nbytes / res.latency_cycles / bw * _RATE_UNITS))
            spans.append((p.start_cycles, p.start_cycles + res.latency_cycles,
                          rate / _RATE_UNITS))
    return max((sum(r for s, e, r in spans if s <= t < e) for t, _, _ in spans), default=0.0)


def _rate(g, c: int, bw: float) -> int:
    """A group's DRAM demand alone, in thousandths of the bandwidth (rounded down)."""
    return min(_RATE_UNITS, int(g.dram_bytes[c] / max(1, g.latency_cycles[c]) / bw * _RATE_UNITS))


def model_feasible_starts(workload: Workload, plan: list[PlannedGroup],
                          chosen: list[Grouping], hw: HardwareConfig,
                          host_offset: int, host_cycles: int, dram_capacity: float
                          ) -> tuple[list[PlannedGroup], int]:
    """``plan`` (a HEFT plan of groupings ``chosen``, in priority order) with each group moved to
    its earliest start >= its producers' ends and its arrival at which the model's three
    cumulatives (cores, DRAM rate, host slots) still hold: a solution of the CP-SAT model,
    and its makespan in the model.
    Core ids by :func:`assign_cores`."""
    bw = hw.dram_bandwidth_bytes_per_cycle
    cap_rate = max(1, int(_RATE_UNITS * dram_capacity))
    info = {}
    for r, G in enumerate(chosen):
        for k, g in enumerate(G.groups):
            info[(r, g.start, g.end)] = (g, [(r, G.groups[p].start, G.groups[p].end)
                                             for p in G.producers[k]])
    placed: list[tuple[int, int, int, int]] = []  # (start, end, cores, rate)
    hosts: list[tuple[int, int]] = []
    end_of: dict = {}
    solved = []
    for p in plan:
        g, prods = info[(p.request, p.start, p.end)]
        c = p.cores if p.cores in g.latency_cycles else min(g.latency_cycles)
        lat, rate = g.latency_cycles[c], _rate(g, c, bw)
        ready = max([workload.requests[p.request].arrival_cycles]
                    + [end_of[q] for q in prods if q in end_of])
        times = sorted({ready} | {e for _, e, _, _ in placed if e > ready}
                       | {he - host_offset for _, he in hosts if he - host_offset > ready})
        for t in times:
            if _fits(placed, hosts, t, lat, c, rate, hw.num_cores, cap_rate, host_offset,
                     host_cycles, hw.host_launch_slots):
                break
        placed.append((t, t + lat, c, rate))
        if host_cycles:
            hosts.append((t + host_offset, t + host_offset + host_cycles))
        end_of[(p.request, p.start, p.end)] = t + lat
        solved.append((int(t), int(t + lat), p.request, p.start, p.end, c))
    hosted = {key for key, (g, _) in info.items() if g.on_host}
    return (_unpin_host(assign_cores(solved, hw.num_cores), hosted),
            max(e for _, e, *_ in solved))


def _unpin_host(plan: list[PlannedGroup], hosted: set) -> list[PlannedGroup]:
    """The plan with the host-run first layers (accelerator/host.py) on no core: the model
    counted them on their nominal core count (an over-estimate), the host holds none."""
    return [replace(p, core_ids=(), host_cores=p.cores)
            if (p.request, p.start, p.end) in hosted else p for p in plan]


def _fits(placed, hosts, t, lat, cores, rate, chip, cap_rate, host_offset, host_cycles,
          slots) -> bool:
    """Whether a group [t, t + lat) fits beside ``placed`` and ``hosts`` (all cumulatives)."""
    over = [iv for iv in placed if iv[0] < t + lat and t < iv[1]]
    for point in {t} | {iv[0] for iv in over if iv[0] > t}:
        live = [iv for iv in over if iv[0] <= point < iv[1]]
        if sum(iv[2] for iv in live) + cores > chip or sum(iv[3] for iv in live) + rate > cap_rate:
            return False
    if host_cycles:
        h0, h1 = t + host_offset, t + host_offset + host_cycles
        hov = [iv for iv in hosts if iv[0] < h1 and h0 < iv[1]]
        for point in {h0} | {iv[0] for iv in hov if iv[0] > h0}:
            if sum(1 for iv in hov if iv[0] <= point < iv[1]) + 1 > slots:
                return False
    return True
