"""``cpsat``: OR-Tools CP-SAT over candidate groupings, calibrated by the simulation.

The model (one per round, :meth:`CpSatPlacement._solve`):

- per request ``r`` and candidate grouping ``G`` (:mod:`agents.placement.candidates`:
  ``oracle``, ``split``, ``layers`` and, with ``capped`` (default), ``oracle@N`` for every
  allowed count ``N`` below the chip's; duplicates dropped) a Boolean ``use[r, G]``; exactly
  one grouping per request;
- per group ``g`` of ``G``: a start and an end variable, and per feasible core count ``c`` an
  optional fixed-size interval ``(start_g, duration(g, c))`` with presence ``x[g, c]``;
  ``sum over c of x[g, c] = use[r, G]`` and ``end_g = start_g + sum over c of duration(g, c)
  x[g, c]``; ``start_g >= arrival(r)``. ``duration`` is the group's isolated latency, or what
  the simulation measured for it (the calibration, below);
- precedence from the group DAG: ``start_g >= end_p`` for each producer ``p`` of ``g``
  (a grouping not used has every ``x = 0``, so its constraints are satisfiable at no cost);
- a cumulative on cores: each interval demands ``c`` of the chip's cores;
- a cumulative on DRAM bandwidth: each interval demands its average rate,
  ``bytes(g, c) / duration(g, c)``, in thousandths of the chip's bandwidth (rounded down, so a
  group alone always fits; a rate is never above the bus). Capacity: ``dram_capacity`` times
  the bandwidth, by default the *peak* demand of the plan CP-SAT is hinted with (below), at
  least 1: at capacity 1 the rule forbids any two groups whose average rates sum past the
  bus, though the bus serves them both, each a little slower (ResNet-50's oracle groups on 4
  cores ask 17-89 % of the bus each), so the model admits as much overlap as a plan the
  simulation has run, and no more;
- a cumulative on the host's ``host_launch_slots``: each group with work (not a host-run
  first layer, not a zero-copy Concat) holds a slot for its driver work
  (``launch_overhead_cycles``) over an interval that starts no earlier than
  ``launch_dispatch_cycles`` after the group (with ``launch_overlap``; at its start without,
  the dispatch then counted in the driver work) and ends within the group, as
  :mod:`accelerator.spatial.simulate` runs it: the driver work waits for a free slot while
  the cores run, and the group ends no earlier. Many small groups co-running (BERT's) queue
  at the host;
- minimise the makespan (the largest end).

The loop (:meth:`CpSatPlacement._place`, a logic-based-Benders reading: the simulation is the
subproblem, its measurements the cuts):

1. *hint*: the ``list`` scheduler's best *simulated* plan (:mod:`agents.placement.list_sched`;
   run over ``groupings`` -- exactly the ``list`` row -- and, apart, over the ``oracle@N``
   groupings, the faster kept; its simulations count in ``sim_calls``). ResNet-50 x4: list on
   ``oracle@2`` simulates at 2.23 M cycles, on the plain groupings at 2.50 M;
2. *calibrate* (:mod:`agents.placement.calibration`): every group of every simulated run
   gives its measured duration (launch to end, on the shared DRAM and host); the best run's
   own groups take what they measured there, so the hint -- that run, replayed on these costs
   by :func:`model_feasible_starts` -- is a model solution at (about) its simulated makespan;
   a (group, cores) measured only in other runs takes the mean of those; one never run takes
   its isolated latency times the group's measured stretch at the counts it ran at
   (``unexplored="stretched"``, default) or its isolated latency (``"isolated"``);
3. *solve* the model on those costs, hinted with the best run (a complete hint);
4. if the model finds a makespan below the hint's, the solution becomes a placement (launch
   order = solved start order, core ids assigned greedily in that order, pinned) and is
   simulated; its measurements join the calibration; the best simulated run so far is the
   next hint; repeat.

With ``calibrate=False`` every round solves on isolated costs, hinted with list's own plan
(the model before this loop; its capacity the plan's isolated peak), so the second round
repeats the first and stops. It stops after ``rounds`` rounds (default 8), when the model sees no gain over the hint
(``info["stop"]``: nothing the costs measured so far can improve), when a solution was
simulated before, after ``patience`` (default 2) simulated rounds without a gain, or at the
wall clock. The answer is the best simulated placement, so never worse than the hint
(``info["fallback"]`` when that is the hint). ``info["round_log"]`` lists, per round, the
model's makespan, the hint's makespan in the model, the DRAM capacity and the solution's
simulated makespan; ``proved_optimal`` is the last solve's (``OPTIMAL`` means CP-SAT proved
the *calibrated model's* optimum, with durations fixed as measured, not the simulated
makespan: no claim about the placement).

Limits: ``time_limit_s`` (default 60) bounds the wall time of the loop after the hint (solves
and simulations; each solve gets what is left); ``work_limit`` (default 8) units of CP-SAT's
*deterministic* time are split evenly over the ``rounds`` solves (1 each by default; on this
project's 2-core machine a unit took 4-20 s of wall time, depending on the model and the
load). Solved with ``num_workers`` workers (default 1) and ``seed``. Stopped by the work
limit, by proofs and by the stopping rules above, the answer depends only on the workload and
the seed: the same on any machine (the simulation is deterministic). Stopped by the wall clock
(``info["wall_capped"]``) it may depend on the machine's speed; pass ``work_limit=None`` to
use the wall clock alone.

Too big a model: when the groupings' intervals exceed ``max_intervals`` (default 1000: with
1,498 intervals for BERT-base one worker found no first solution, hint included, within a
minute on this project's shared machine; with 653 it did at once), the largest groupings are
dropped (the ``oracle@N`` ones first, then ``layers``, then ``split``) for every request
until it fits, never the hint's (``info["groupings"]`` lists what stayed); if the hint's
grouping is not in the model, CP-SAT starts cold and the hint is still the fallback.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.spatial.placement import Placement
from fusiongym.accelerator.spatial.simulate import PlacementResult
from fusiongym.accelerator.spatial.workload import Workload
from fusiongym.agents.placement.base import PlacementScheduler, PlannedGroup, plan_to_placement
from fusiongym.agents.placement.calibration import (UNEXPLORED, Calibration, peak_demand,
                                                    simulated_plan)
from fusiongym.agents.placement.candidates import GROUPINGS, Grouping, capped_kinds, groupings_of
from fusiongym.agents.placement.list_sched import ListPlacement
from fusiongym.agents.placement.simple import oracle_schedules

_RATE_UNITS = 1000  # DRAM demand in thousandths of the bandwidth


@dataclass
class _Solve:
    """One CP-SAT solve: its status, the model's makespan and bound, and its plan when it
    beat the hint in the model."""

    status: str
    proved_optimal: bool
    intervals: int
    wall_s: float
    wall_capped: bool
    hint_model_cycles: int | None
    model_cycles: int | None = None
    bound_cycles: int | None = None
    plan: list[PlannedGroup] | None = None


class CpSatPlacement(PlacementScheduler):
    name = "cpsat"

    def __init__(self, time_limit_s: float = 60.0, work_limit: float | None = 8.0,
                 seed: int = 0, num_workers: int = 1,
                 groupings: tuple[str, ...] = GROUPINGS, max_intervals: int = 1000,
                 dram_capacity: float | None = None, rounds: int = 8, patience: int = 2,
                 calibrate: bool = True, unexplored: str = "stretched", capped: bool = True):
        super().__init__()
        if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
            raise UserInputError(f"cpsat: rounds must be an integer >= 1, got {rounds!r}")
        if not isinstance(patience, int) or isinstance(patience, bool) or patience < 1:
            raise UserInputError(f"cpsat: patience must be an integer >= 1, got {patience!r}")
        if time_limit_s <= 0:
            raise UserInputError(f"cpsat: time_limit_s must be > 0, got {time_limit_s}")
        if num_workers < 1:
            raise UserInputError(f"cpsat: num_workers must be >= 1, got {num_workers}")
        if dram_capacity is not None and dram_capacity <= 0:
            raise UserInputError(f"cpsat: dram_capacity must be > 0 or None, got "
                                 f"{dram_capacity}")
        if work_limit is not None and work_limit <= 0:
            raise UserInputError(f"cpsat: work_limit must be > 0 or None, got {work_limit}")
        self.time_limit_s = float(time_limit_s)
        self.work_limit = None if work_limit is None else float(work_limit)
        self.seed = int(seed)
        self.num_workers = int(num_workers)
        self.groupings = tuple(groupings)
        self.max_intervals = int(max_intervals)
        self.dram_capacity = None if dram_capacity is None else float(dram_capacity)
        self.rounds = rounds
        self.patience = patience
        self.calibrate = bool(calibrate)
        if unexplored not in UNEXPLORED:
            raise UserInputError(f"cpsat: unexplored must be one of {', '.join(UNEXPLORED)}, "
                                 f"got {unexplored!r}")
        self.unexplored = unexplored
        self.capped = bool(capped)

    # ---- candidates --------------------------------------------------------------------
    def _candidates(self, workload: Workload, hw: HardwareConfig, ev: GroupEvaluator,
                    hint: list[PlannedGroup] | None = None) -> list[list[Grouping]]:
        """Each request's candidate groupings; the largest kinds are dropped while the model
        is too big (``max_intervals``), but never a kind whose grouping is the ``hint``
        plan's for some request (matched by its groups, not by list's label: a label whose
        grouping was a duplicate names another kind's groups)."""
        schedules = oracle_schedules(workload, hw, ev)
        per_net: dict[str, list[Grouping]] = {}
        for req, schedule in zip(workload.requests, schedules):
            h = req.network.content_hash()
            if h not in per_net:
                per_net[h] = groupings_of(req.network, hw, ev, self._kinds(hw), schedule)
        kinds = list(self._kinds(hw))
        keep = {G.kind for r, req in enumerate(workload.requests) if hint is not None
                for G in [_matching(per_net[req.network.content_hash()], hint, r)]
                if G is not None}

        def chosen() -> list[list[Grouping]]:
            return [[g for g in per_net[r.network.content_hash()] if g.kind in kinds]
                    or per_net[r.network.content_hash()][:1] for r in workload.requests]

        def size(c: list[list[Grouping]]) -> int:
            return sum(len(g.latency_cycles) for gs in c for gg in gs for g in gg.groups)

        while size(chosen()) > self.max_intervals:
            # GROUPINGS is ordered smallest model first, the capped ones come after: drop
            # the last that is not kept
            droppable = [k for k in kinds if k not in keep]
            if len(kinds) <= 1 or not droppable:
                break
            kinds.remove(droppable[-1])
        return chosen()

    def _kinds(self, hw: HardwareConfig) -> tuple[str, ...]:
        return self.groupings + (capped_kinds(hw) if self.capped else ())

    def _hint_list(self, workload: Workload, hw: HardwareConfig, ev: GroupEvaluator
                   ) -> tuple[ListPlacement, Placement]:
        """The ``list`` scheduler's best simulated plan over ``groupings`` (the ``list``
        row itself), and with ``capped`` over the ``oracle@N`` groupings too, apart (so
        their variants never push the plain ones out of list's few simulations): the
        faster of the two (their simulations count here)."""
        best = None
        for kinds in (self.groupings, capped_kinds(hw) if self.capped else ()):
            if not kinds:
                continue
            lister = ListPlacement(kinds)
            placement = lister.place(workload, hw, ev)
            self._placement_sims += lister._placement_sims  # noqa: SLF001 (same evaluator)
            cycles = lister.last_result.makespan_cycles
            if best is None or cycles < best[0].last_result.makespan_cycles:
                best = (lister, placement)
        return best

    # ---- the loop ----------------------------------------------------------------------
    def _place(self, workload: Workload, hw: HardwareConfig, ev: GroupEvaluator) -> Placement:
        # the hint: the list scheduler's best *simulated* plan (its simulations count here)
        lister, list_placement = self._hint_list(workload, hw, ev)
        list_result = lister.last_result
        cands = self._candidates(workload, hw, ev, hint=lister.plan)
        calibration = Calibration()
        if self.calibrate:
            calibration.add(workload, list_result)
        best_placement, best_result = list_placement, list_result
        # calibrated, every round is hinted with the best simulated run as it ran (its
        # measured durations make it the model's solution it simulated); uncalibrated, with
        # list's own plan (isolated starts); both are made model-feasible first
        hint_plan = simulated_plan(list_result) if self.calibrate else lister.plan
        t_end = time.perf_counter() + self.time_limit_s
        work = None if self.work_limit is None else self.work_limit / self.rounds
        rounds: list[dict] = []
        stale, stop, wall_capped = 0, "rounds", False
        simulated = {list_placement.groups}
        last = None
        for k in range(self.rounds):
            left_s = t_end - time.perf_counter()
            if left_s <= 0.5:
                stop, wall_capped = "time_limit_s", True
                break
            costs = calibration.apply(workload, cands, best_result, self.unexplored) \
                if self.calibrate else cands
            capacity = self._capacity(workload, costs, hint_plan,
                                      best_result if self.calibrate else None, hw, ev)
            last = self._solve(workload, hw, costs, hint_plan, capacity, left_s, work)
            wall_capped = wall_capped or last.wall_capped
            row = {"round": k, "status": last.status, "model_cycles": last.model_cycles,
                   "hint_model_cycles": last.hint_model_cycles,
                   "dram_capacity": round(capacity, 3), "solver_wall_s": last.wall_s}
            rounds.append(row)
            if last.plan is None:  # the model sees no gain over the best simulated run
                stop = "no model gain over the hint"
                break
            solved = plan_to_placement(workload, last.plan)
            if solved.groups in simulated:  # its measurement is in already: nothing to learn
                stop = "solution already simulated"
                break
            simulated.add(solved.groups)
            result = self.simulate(workload, solved, hw, ev)
            row["simulated_cycles"] = result.makespan_cycles
            if self.calibrate:
                calibration.add(workload, result)
            if result.makespan_cycles < best_result.makespan_cycles:
                best_placement, best_result, stale = solved, result, 0
                row["improved"] = True
            else:
                stale += 1
                if stale >= self.patience:
                    stop = f"{self.patience} round(s) without a simulated gain"
                    break
            if self.calibrate:
                hint_plan = simulated_plan(best_result)
        self.last_result = best_result
        self.info = {
            "status": last.status if last else "NOT_RUN",
            "proved_optimal": bool(last and last.proved_optimal),
            "groupings": sorted({G.kind for gs in cands for G in gs}),
            "intervals": last.intervals if last else 0,
            "rounds": len(rounds), "round_log": rounds, "stop": stop,
            "wall_capped": wall_capped, "calibrated_keys": len(calibration),
            "list_cycles": list_result.makespan_cycles, "hint": lister.info["grouping"],
            "solution_cycles": best_result.makespan_cycles,
            "hint_estimate_cycles": lister.info["estimate_cycles"],
            "solver_wall_s": round(sum(r["solver_wall_s"] for r in rounds), 1)}
        if last is not None and last.model_cycles is not None:
            self.info.update(model_makespan_cycles=last.model_cycles,
                             model_bound_cycles=last.bound_cycles)
        if rounds:
            self.info["dram_capacity"] = rounds[-1]["dram_capacity"]
        if best_placement is list_placement:
            self.info["fallback"] = "no round simulated faster than the list plan"
        return best_placement

    def _capacity(self, workload: Workload, costs: list[list[Grouping]],
                  hint_plan: list[PlannedGroup], ran: PlacementResult | None,
                  hw: HardwareConfig, ev: GroupEvaluator) -> float:
        """The DRAM cumulative's capacity (module docstring): ``dram_capacity`` if given, else
        the peak demand of the plan CP-SAT is hinted with, at the model's rates (``costs``)
        over the intervals it ran (``ran``) or, before any run, its planned isolated ones."""
        if self.dram_capacity is not None:
            return self.dram_capacity
        if ran is None:
            return max(1.0, peak_rate(workload, hint_plan, hw, ev))
        bw = hw.dram_bandwidth_bytes_per_cycle
        # a (request, layers) range costs the same in every grouping that has it
        cost = {(r, g.start, g.end): g for r, gs in enumerate(costs) for G in gs for g in G.groups}
        spans = []
        for g in ran.groups:
            cg = cost.get((g.request, g.start, g.end))
            if cg is None or cg.latency_cycles.get(g.cores, 0) <= 0:
                continue
            spans.append((g.launch_cycles, g.launch_cycles + cg.latency_cycles[g.cores],
                          _rate(cg, g.cores, bw) / _RATE_UNITS))
        return max(1.0, peak_demand(spans))

    # ---- one solve ---------------------------------------------------------------------
    def _solve(self, workload: Workload, hw: HardwareConfig, cands: list[list[Grouping]],
               hint_plan: list[PlannedGroup], capacity: float, time_limit_s: float,
               work_limit: float | None) -> "_Solve":
        """The model over ``cands`` (their costs as given: isolated or calibrated), hinted
        with ``hint_plan``; its plan only when it beats the hint in the model."""
        from ortools.sat.python import cp_model

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
                        dram_demand.append(_rate(g, c, bw))
                    m.Add(sum(xs.values()) == use)
                    m.Add(e == s + sum(g.latency_cycles[c] * x for c, x in xs.items()))
                    h = None
                    if _holds_host(g, host_offset, host_cycles):
                        # the driver work starts once dispatched, or later if the slot is
                        # busy, and the group ends no earlier (simulate.py's launch)
                        h = m.NewIntVar(req.arrival_cycles, horizon, f"h_r{r}_{G.kind}_{k}")
                        host.append(m.NewOptionalFixedSizeIntervalVar(
                            h, host_cycles, use, f"hi_r{r}_{G.kind}_{k}"))
                        m.Add(h >= s + host_offset).OnlyEnforceIf(use)
                        m.Add(h + host_cycles <= e).OnlyEnforceIf(use)
                    groups.append((s, e, xs, h))
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
        # CP-SAT gets no hint, and the best simulated plan stays the answer
        hint_groupings = [_matching(gs, hint_plan, r) for r, gs in enumerate(cands)]
        hinted = all(G is not None for G in hint_groupings)
        hint_model = math.inf
        if hinted:
            feasible, hint_model, host_starts = model_feasible_starts(
                workload, hint_plan, hint_groupings, hw, host_offset, host_cycles, capacity)
            self._hint(m, chosen_vars, hint_groupings, feasible, host_starts,
                       [r.arrival_cycles for r in workload.requests], host_offset)
            m.AddHint(makespan, int(hint_model))  # a complete hint: CP-SAT's hint search keeps it

        solver = cp_model.CpSolver()
        if work_limit is not None:
            solver.parameters.max_deterministic_time = work_limit
        solver.parameters.max_time_in_seconds = time_limit_s
        solver.parameters.num_workers = self.num_workers
        solver.parameters.random_seed = self.seed
        solver.parameters.repair_hint = True  # a hint the presolve breaks is repaired, not dropped
        status = solver.Solve(m)
        found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
        out = _Solve(status=solver.StatusName(status), proved_optimal=status == cp_model.OPTIMAL,
                     intervals=len(intervals), wall_s=round(solver.WallTime(), 1),
                     wall_capped=status != cp_model.OPTIMAL and (
                         work_limit is None
                         or solver.response_proto.deterministic_time < work_limit),
                     hint_model_cycles=int(hint_model) if hinted else None)
        if found:
            out.model_cycles = int(solver.ObjectiveValue())
            out.bound_cycles = int(solver.BestObjectiveBound())
            if solver.ObjectiveValue() < hint_model:
                out.plan = self._plan(solver, chosen_vars, hw.num_cores)
        return out

    @staticmethod
    def _hint(m, chosen_vars, chosen: list[Grouping], plan: list[PlannedGroup],
              host_starts: dict, arrivals: list[int], host_offset: int) -> None:
        """Hint ``plan``, whose groups are ``chosen[r]``'s for each request ``r``, with its
        driver work at ``host_starts``; groups of groupings not used at their request's
        arrival, with no length."""
        where = {(p.request, p.start, p.end): p for p in plan}
        for r, per_request in enumerate(chosen_vars):
            for use, G, groups in per_request:
                match = G is chosen[r]
                m.AddHint(use, int(match))
                for g, (s, e, xs, h) in zip(G.groups, groups):
                    p = where.get((r, g.start, g.end)) if match else None
                    for c, x in xs.items():
                        m.AddHint(x, int(p is not None and p.cores == c))
                    start = p.start_cycles if p is not None else arrivals[r]
                    m.AddHint(s, start)
                    m.AddHint(e, start + (g.latency_cycles[p.cores] if p is not None else 0))
                    if h is not None:
                        m.AddHint(h, host_starts.get((r, g.start, g.end), start + host_offset)
                                  if p is not None else start + host_offset)

    @staticmethod
    def _plan(solver, chosen_vars, chip_cores: int) -> list[PlannedGroup]:
        """The solved groups, core ids assigned greedily in start order (module docstring)."""
        solved = []
        hosted = set()
        for r, per_request in enumerate(chosen_vars):
            for use, G, groups in per_request:
                if not solver.Value(use):
                    continue
                for g, (s, e, xs, _) in zip(G.groups, groups):
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
    return peak_demand(spans)


def _rate(g, c: int, bw: float) -> int:
    """A group's DRAM demand alone, in thousandths of the bandwidth (rounded down)."""
    return min(_RATE_UNITS, int(g.dram_bytes[c] / max(1, g.latency_cycles[c]) / bw * _RATE_UNITS))


def model_feasible_starts(workload: Workload, plan: list[PlannedGroup],
                          chosen: list[Grouping], hw: HardwareConfig,
                          host_offset: int, host_cycles: int, dram_capacity: float
                          ) -> tuple[list[PlannedGroup], int, dict]:
    """``plan`` (groupings ``chosen``, in priority order: a HEFT plan, or a simulated run in
    launch order) with each group moved to its earliest start >= its producers' ends and its
    arrival at which the model's three cumulatives (cores, DRAM rate, host slots: its driver
    work at the earliest free slot from ``host_offset`` after its start, ending within the
    group) still hold: a solution of the CP-SAT model, its makespan in the model, and each
    group's driver-work start. Core ids by :func:`assign_cores`."""
    bw = hw.dram_bandwidth_bytes_per_cycle
    cap_rate = max(1, int(_RATE_UNITS * dram_capacity))
    info = {}
    for r, G in enumerate(chosen):
        for k, g in enumerate(G.groups):
            info[(r, g.start, g.end)] = (g, [(r, G.groups[p].start, G.groups[p].end)
                                             for p in G.producers[k]])
    placed: list[tuple[int, int, int, int]] = []  # (start, end, cores, rate)
    hosts: list[tuple[int, int]] = []
    host_starts: dict = {}
    end_of: dict = {}
    solved = []
    for p in plan:
        key = (p.request, p.start, p.end)
        g, prods = info[key]
        c = p.cores if p.cores in g.latency_cycles else min(g.latency_cycles)
        lat, rate = g.latency_cycles[c], _rate(g, c, bw)
        needs_host = _holds_host(g, host_offset, host_cycles)
        ready = max([workload.requests[p.request].arrival_cycles]
                    + [end_of[q] for q in prods if q in end_of])
        times = sorted({ready} | {e for _, e, _, _ in placed if e > ready}
                       | {he - host_offset for _, he in hosts if he - host_offset > ready})
        h = None
        for t in times:  # the last time is past every interval, where everything fits
            if not _fits(placed, t, lat, c, rate, hw.num_cores, cap_rate):
                continue
            h = _host_slot(hosts, t + host_offset, t + lat - host_cycles, host_cycles,
                           hw.host_launch_slots) if needs_host else None
            if h is not None or not needs_host:
                break
        placed.append((t, t + lat, c, rate))
        if h is not None:
            hosts.append((h, h + host_cycles))
            host_starts[key] = h
        end_of[key] = t + lat
        solved.append((int(t), int(t + lat), p.request, p.start, p.end, c))
    hosted = {key for key, (g, _) in info.items() if g.on_host}
    return (_unpin_host(assign_cores(solved, hw.num_cores), hosted),
            max(e for _, e, *_ in solved), host_starts)


def _holds_host(g, host_offset: int, host_cycles: int) -> bool:
    """Whether group ``g`` holds a host launch slot: every group with work does (a host-run
    first layer waits for the host CPU instead, a zero-copy Concat is not launched), and
    its latency at every count covers dispatch and driver work (group_overhead)."""
    return bool(host_cycles) and not g.on_host and min(
        g.latency_cycles.values()) >= host_offset + host_cycles


def _unpin_host(plan: list[PlannedGroup], hosted: set) -> list[PlannedGroup]:
    """The plan with the host-run first layers (accelerator/host.py) on no core: the model
    counted them on their nominal core count (an over-estimate), the host holds none."""
    return [replace(p, core_ids=(), host_cores=p.cores)
            if (p.request, p.start, p.end) in hosted else p for p in plan]


def _fits(placed, t, lat, cores, rate, chip, cap_rate) -> bool:
    """Whether a group [t, t + lat) fits beside ``placed`` (the core and DRAM cumulatives)."""
    over = [iv for iv in placed if iv[0] < t + lat and t < iv[1]]
    for point in {t} | {iv[0] for iv in over if iv[0] > t}:
        live = [iv for iv in over if iv[0] <= point < iv[1]]
        if sum(iv[2] for iv in live) + cores > chip or sum(iv[3] for iv in live) + rate > cap_rate:
            return False
    return True


def _host_slot(hosts, earliest: int, latest: int, cycles: int, slots: int) -> int | None:
    """The earliest start in ``[earliest, latest]`` of ``cycles`` of driver work beside
    ``hosts`` on ``slots`` slots, or None."""
    for h0 in sorted({earliest} | {e for _, e in hosts if earliest < e <= latest}):
        if h0 > latest:
            break
        hov = [iv for iv in hosts if iv[0] < h0 + cycles and h0 < iv[1]]
        if all(sum(1 for iv in hov if iv[0] <= point < iv[1]) + 1 <= slots
               for point in {h0} | {iv[0] for iv in hov if iv[0] > h0}):
            return h0
    return None
