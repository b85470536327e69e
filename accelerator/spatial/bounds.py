"""A sound lower bound on a workload's makespan, over every placement of it.

Coverage: every placement whose groups have at most ``max_group_layers`` layers (default 8,
the oracle's limit; every placement scheduler in ``agents.placement`` makes such groups),
*whatever* the grouping, core counts, launch order and core ids. Longer groups are not
covered. These facts of the simulator (:mod:`accelerator.spatial.simulate`) make it:

1. *A group's time is at least its isolated lower bound.* A group holds its cores from its
   launch to its end for at least :func:`accelerator.bounds.latency_lower_bound` of its
   layers and core count: that bound's facts (whole cycles, per-transfer and total DRAM
   rates, in-order modules, fetch first, tokens) hold for a group's streams whatever else
   runs on the DRAM, and sharing the DRAM and the host's launch slots only adds waits.
2. *No core runs two groups at once*, and nothing starts before the earliest arrival; so
   ``sum over groups of cores x time <= chip cores x (makespan - first arrival)``. Area
   bound: ``first arrival + ceil(sum over requests of A_r / chip cores)``, where ``A_r`` is
   the least ``sum of min over c of c x bound(g, c)`` over all groupings of request ``r``
   (a DP over group boundaries, like the oracle's, on bounds only).
3. *The DRAM moves at most its bandwidth in total* and each group moves its programs' bytes
   (loads, stores, instruction fetch: :class:`accelerator.bounds.GroupWork` ``dram_bytes``,
   fixed before simulation) between its launch and its end. DRAM bound: ``first arrival +
   ceil(sum over requests of B_r / bandwidth - 1/2)``, ``B_r`` the least
   ``sum of min over c of bytes(g, c)`` over groupings.
4. *Critical path.* For a dependency path P of a request's layers, the groups containing
   P's layers run one after another (a group holding two layers of P holds every layer
   between them in topological order, and each next group reads the previous one), each for
   at least its bound (1). So the request ends no earlier than its arrival plus the least,
   over groupings, of ``sum over groups meeting P of min over c of bound(g, c)`` (groups
   missing P cost 0): a DP again. P is the longest path by each layer's cheapest single-layer
   bound, and the whole topological order when the network is a chain.

5. *The host.* A host-run first layer (``first_layer_on: host``, :mod:`accelerator.host`)
   holds no core and its bytes are not on the simulated bus, so it adds nothing to (2) or (3)
   (area and bytes 0); it is never fused (a longer group is infeasible), so every placement
   runs each request's host layer, one at a time on the host, each for exactly its cost:
   host bound ``first arrival + sum over requests of their host layer's cycles``.

The bound is the largest of these. It is the bound of the groups' *own* work; DRAM
contention between co-running groups is what it cannot see, so the gap of a placement to it
is partly contention no schedule can avoid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fusiongym.accelerator.bounds import group_work, latency_lower_bound
from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.evaluator import GroupEvaluator, default_evaluator
from fusiongym.accelerator.host import host_cost, host_layers, runs_on_host
from fusiongym.accelerator.spatial.workload import Workload
from fusiongym.accelerator.workloads.network import Network

_INF = math.inf


@dataclass(frozen=True)
class MakespanBound:
    makespan_cycles: int  # the largest of the three below
    area_cycles: int
    dram_cycles: int
    critical_path_cycles: int
    max_group_layers: int  # sound over placements whose groups have at most this many layers
    host_cycles: int = 0  # the host runs the requests' host-run first layers one at a time


@dataclass(frozen=True)
class _RequestBound:
    area_core_cycles: float
    dram_bytes: float
    path_cycles: float
    host_cycles: int = 0


def _dp(n: int, max_len: int, cost) -> float:
    """Least sum of ``cost(i, j)`` over cuts of ``0..n`` into ranges of <= max_len layers."""
    best = [_INF] * (n + 1)
    best[0] = 0.0
    for j in range(1, n + 1):
        for i in range(max(0, j - max_len), j):
            if best[i] < _INF:
                c = cost(i, j)
                if best[i] + c < best[j]:
                    best[j] = best[i] + c
    return best[n]


def _longest_path(network: Network, weight: list[float]) -> set[int]:
    """Layers of the longest dependency path by ``weight`` (ties: the earlier producer)."""
    n = len(network)
    length = [0.0] * n
    parent = [-1] * n
    for i, layer in enumerate(network.layers):
        preds = [p for p in layer.inputs if p >= 0]
        if preds:
            p = max(preds, key=lambda q: (length[q], -q))
            length[i], parent[i] = length[p] + weight[i], p
        else:
            length[i] = weight[i]
    i = max(range(n), key=lambda k: (length[k], -k))
    path = set()
    while i >= 0:
        path.add(i)
        i = parent[i]
    return path


def request_bound(network: Network, ev: GroupEvaluator, max_group_layers: int = 8
                  ) -> _RequestBound:
    """``A_r``, ``B_r`` and the critical path of one request (module docstring, 2-4)."""
    hw = ev.hw
    n = len(network)
    counts = hw.allowed_core_counts
    table: dict[tuple[int, int], tuple[float, float, float]] = {}

    def entry(i: int, j: int) -> tuple[float, float, float]:
        """(min over c of c x bound, min bytes, min bound) of group i..j-1; inf if infeasible."""
        got = table.get((i, j))
        if got is None:
            area = nbytes = fastest = _INF
            for c in counts:
                lb = latency_lower_bound(ev, network, i, j, c)
                if lb is None:
                    continue
                work = group_work(ev, network, i, j, c)
                on_host = runs_on_host(network, i, j, hw)  # fact 5: no core, not on the bus
                area = min(area, 0 if on_host else c * lb)
                nbytes = min(nbytes, 0 if on_host else work.dram_bytes)
                fastest = min(fastest, lb)
            got = table[(i, j)] = (area, nbytes, fastest)
        return got

    area = _dp(n, max_group_layers, lambda i, j: entry(i, j)[0])
    nbytes = _dp(n, max_group_layers, lambda i, j: entry(i, j)[1])
    single = [entry(i, i + 1)[2] for i in range(n)]
    path = _longest_path(network, [0.0 if s == _INF else s for s in single])
    if all((i - 1) in network.layers[i].inputs for i in range(1, n)):
        path = set(range(n))  # a chain: every layer is on the path

    def path_cost(i: int, j: int) -> float:
        if not any(k in path for k in range(i, j)):
            return 0.0  # a group off the path costs nothing here (feasible or not: a relaxation)
        return entry(i, j)[2]

    hosted = host_cost(network, hw).latency_cycles if host_layers(network, hw) else 0
    return _RequestBound(area, nbytes, _dp(n, max_group_layers, path_cost), hosted)


def makespan_lower_bound(workload: Workload, hw: HardwareConfig,
                         evaluator: GroupEvaluator | None = None,
                         max_group_layers: int = 8) -> MakespanBound:
    """A lower bound on the simulated makespan of every placement of ``workload`` whose groups
    have at most ``max_group_layers`` layers (see the module docstring). No simulation."""
    ev = evaluator if evaluator is not None else default_evaluator(hw)
    per_net: dict[str, _RequestBound] = {}
    bounds = []
    for r in workload.requests:
        h = r.network.content_hash()
        if h not in per_net:
            per_net[h] = request_bound(r.network, ev, max_group_layers)
        bounds.append(per_net[h])
    first = min(r.arrival_cycles for r in workload.requests)
    area = first + math.ceil(sum(b.area_core_cycles for b in bounds) / hw.num_cores)
    total = sum(b.dram_bytes for b in bounds)
    dram = first + max(0, math.ceil(total / hw.dram_bandwidth_bytes_per_cycle - 0.5))
    path = max(r.arrival_cycles + math.ceil(b.path_cycles)
               for r, b in zip(workload.requests, bounds))
    host = first + sum(b.host_cycles for b in bounds)
    return MakespanBound(max(area, dram, path, host), int(area), int(dram), int(path),
                         max_group_layers, int(host))
