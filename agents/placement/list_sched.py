"""``list``: HEFT-style list scheduling of the candidate groups (Topcuoglu et al., 2002).

For one choice of grouping (the same kind for every request: ``oracle``, ``split`` or
``layers``, :mod:`agents.placement.candidates`) and a per-group core cap:

1. *priority*: the upward rank over the group DAG, ``rank(g) = fastest(g) + max over
   consumers s of rank(s)``, with ``fastest(g)`` the group's cheapest isolated latency over
   its feasible core counts (HEFT's average over processors has no meaning here: a core
   count is not a processor). Costs are >= 1 cycle, so a producer always ranks above its
   consumers and the order is topological; ties go to the earlier request, then group;
2. *placement*: in that order, each group at the core count (<= the cap) that minimises its
   finish time given when each core is next free (:func:`accelerator.spatial.timeline.
   choose_cores`, the launch rule's own arithmetic) and its producers' ends and its request's
   arrival; ties go to fewer cores (a host-run first layer takes no core: it waits for the
   host CPU, one at a time). No insertion into earlier gaps: a core's groups start in
   plan order, so the plan pinned (:func:`~agents.placement.base.plan_to_placement`) replays
   exactly.

Minimising each group's own finish time grabs the whole chip whenever that is fastest, which
starves co-running requests; the cap (every allowed core count) is the one knob that trades
a group's speed for room beside it.

*Contention-aware* variant (reported as grouping ``KIND+dram``): step 2 also charges the DRAM. A group at ``c``
cores asks ``bytes(g, c) / latency(g, c)`` bytes per cycle alone; the groups already planned
over its interval ask their own rates (averaged over the overlap); if the sum exceeds the
bus, the group's time is stretched by that ratio. The core count minimising the stretched
finish wins, and the stretched end is what later groups wait for. Without it, HEFT puts
BERT's Q / K / V projections on 4 cores each side by side (each ~76 B/cycle of a 102 B/cycle
bus): three times the bus, which the simulation then serialises.

The scheduler plans every (grouping, cap, plain / contention-aware) variant, ranks them by
the contention-aware fluid estimate (:func:`agents.placement.fluid.fluid_makespan`, no
simulation), simulates the ``simulate_top`` best and returns the best simulated one.
"""

from __future__ import annotations

from dataclasses import dataclass

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.spatial.placement import Placement
from fusiongym.accelerator.spatial.timeline import choose_cores
from fusiongym.accelerator.spatial.workload import Workload
from fusiongym.agents.placement.base import PlacementScheduler, PlannedGroup, plan_to_placement
from fusiongym.agents.placement.candidates import GROUPINGS, CandidateGroup, Grouping, groupings_of
from fusiongym.agents.placement.fluid import fluid_makespan
from fusiongym.agents.placement.simple import oracle_schedules


@dataclass(frozen=True)
class Node:
    """A candidate group of the whole workload (global indices)."""

    request: int
    group: CandidateGroup
    producers: tuple[int, ...]
    arrival_cycles: int


def flatten(workload: Workload, chosen: list[Grouping]) -> list[Node]:
    """The workload's group DAG for one grouping per request."""
    nodes: list[Node] = []
    for r, (req, grouping) in enumerate(zip(workload.requests, chosen)):
        base = len(nodes)
        for g, prods in zip(grouping.groups, grouping.producers):
            nodes.append(Node(r, g, tuple(base + p for p in prods), req.arrival_cycles))
    return nodes


def upward_ranks(nodes: list[Node]) -> list[int]:
    consumers: list[list[int]] = [[] for _ in nodes]
    for k, n in enumerate(nodes):
        for p in n.producers:
            consumers[p].append(k)
    rank = [0] * len(nodes)
    for k in range(len(nodes) - 1, -1, -1):  # producers precede consumers in each request
        rank[k] = nodes[k].group.fastest_cycles + max((rank[s] for s in consumers[k]), default=0)
    return rank


def _stretch(planned: list[tuple[int, int, float]], t: int, lat: int, rate: float,
             bw: float) -> float:
    """How much a group asking ``rate`` over ``[t, t + lat)`` is slowed by the planned
    groups' average demand over that interval (1.0 if the bus has room)."""
    if lat <= 0 or bw <= 0:
        return 1.0
    others = sum(r * (min(e, t + lat) - max(s, t)) for s, e, r in planned
                 if s < t + lat and t < e) / lat
    return max(1.0, (rate + others) / bw)


def heft_plan(nodes: list[Node], chip_cores: int, max_cores: int,
              dram_bw: float | None = None) -> tuple[list[PlannedGroup], int]:
    """The plan (in priority order) and its estimated makespan: isolated costs, or with
    ``dram_bw`` (bytes per cycle) each group stretched by the DRAM demand it meets."""
    rank = upward_ranks(nodes)
    order = sorted(range(len(nodes)), key=lambda k: (-rank[k], nodes[k].request, k))
    free_at = [0] * chip_cores
    host_free_at = 0  # the host CPU runs one host-run first layer at a time
    end_of = [0] * len(nodes)
    plan: list[PlannedGroup] = []
    planned: list[tuple[int, int, float]] = []  # (start, end, bytes per cycle)
    for k in order:
        n = nodes[k]
        ready = max([n.arrival_cycles] + [end_of[p] for p in n.producers])
        if n.group.on_host:  # holds no core (accelerator/host.py): waits for the host only
            (c, cycles), = n.group.latency_cycles.items()
            t = max(ready, host_free_at)
            end_of[k] = host_free_at = t + cycles
            plan.append(PlannedGroup(n.request, n.group.start, n.group.end, (), int(t),
                                     host_cores=c))
            continue
        counts = [c for c in n.group.latency_cycles if c <= max_cores] or [
            min(n.group.latency_cycles)]
        best = None
        for c in sorted(counts):
            t, ids = choose_cores(free_at, c, ready, None)
            lat = n.group.latency_cycles[c]
            rate = n.group.dram_bytes[c] / lat if lat > 0 else 0.0
            if dram_bw is not None:
                lat = int(round(lat * _stretch(planned, t, lat, rate, dram_bw)))
            finish = t + lat
            if best is None or finish < best[0]:
                best = (finish, t, ids, n.group.dram_bytes[c])
        finish, t, ids, nbytes = best
        for c in ids:
            free_at[c] = finish
        end_of[k] = finish
        if finish > t:  # its bytes spread over its (stretched) time
            planned.append((t, finish, nbytes / (finish - t)))
        plan.append(PlannedGroup(n.request, n.group.start, n.group.end, ids, int(t)))
    return plan, max(end_of)


def heft_variants(workload: Workload, hw: HardwareConfig, per_net: dict[str, dict[str, Grouping]],
                  kinds: tuple[str, ...]) -> list[tuple[int, str, int, list[PlannedGroup]]]:
    """Every (grouping kind, cap, plain / contention-aware) HEFT plan as (estimate, kind,
    cap, plan), best first; ``per_net``: each network's (content hash) groupings by kind
    (a request whose network lacks a kind takes its ``oracle`` one)."""
    out = []
    for kind in kinds:
        chosen = []
        for req in workload.requests:
            by_kind = per_net[req.network.content_hash()]
            chosen.append(by_kind.get(kind, by_kind["oracle"] if "oracle" in by_kind
                                      else next(iter(by_kind.values()))))
        nodes = flatten(workload, chosen)
        for cap in hw.allowed_core_counts:
            for aware in (False, True):
                plan, estimate = heft_plan(nodes, hw.num_cores, cap,
                                           hw.dram_bandwidth_bytes_per_cycle if aware else None)
                out.append((estimate, kind if not aware else kind + "+dram", cap, plan))
    out.sort(key=lambda v: (v[0], v[1], -v[2]))
    return out


class ListPlacement(PlacementScheduler):
    """HEFT-style list scheduling (see the module docstring)."""

    name = "list"

    def __init__(self, groupings: tuple[str, ...] = GROUPINGS, simulate_top: int = 3):
        super().__init__()
        if simulate_top < 1:
            raise ValueError("simulate_top must be >= 1")
        self.groupings = tuple(groupings)
        self.simulate_top = simulate_top
        self.plan: list[PlannedGroup] = []

    def variants(self, workload: Workload, hw: HardwareConfig, ev: GroupEvaluator
                 ) -> list[tuple[int, str, int, list[PlannedGroup]]]:
        """Every (grouping, cap) plan as (estimate, grouping, cap, plan), best first."""
        schedules = oracle_schedules(workload, hw, ev)
        per_net: dict[str, dict[str, Grouping]] = {}
        for req, schedule in zip(workload.requests, schedules):
            h = req.network.content_hash()
            if h not in per_net:
                per_net[h] = {g.kind: g for g in groupings_of(req.network, hw, ev,
                                                              self.groupings, schedule)}
        return heft_variants(workload, hw, per_net, self.groupings)

    def _place(self, workload: Workload, hw: HardwareConfig, ev: GroupEvaluator) -> Placement:
        ranked = []
        seen = set()
        for estimate, kind, cap, plan in self.variants(workload, hw, ev):
            placement = plan_to_placement(workload, plan)
            if placement.groups in seen:
                continue
            seen.add(placement.groups)
            fluid = fluid_makespan(workload, placement, hw, ev)
            ranked.append((fluid, len(ranked), estimate, kind, cap, plan, placement))
        ranked.sort(key=lambda v: v[:2])
        best = None
        for fluid, _, estimate, kind, cap, plan, placement in ranked[:self.simulate_top]:
            result = self.simulate(workload, placement, hw, ev)
            if best is None or result.makespan_cycles < best[0].makespan_cycles:
                best = (result, placement, kind, cap, estimate, plan, fluid)
        result, placement, kind, cap, estimate, plan, fluid = best
        self.last_result = result
        self.plan = plan  # the chosen plan itself (CP-SAT hints with it)
        self.info = {"grouping": kind, "max_cores": cap, "estimate_cycles": estimate,
                     "fluid_estimate_cycles": fluid}
        return placement
