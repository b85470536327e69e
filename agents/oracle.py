"""The exact oracle: dynamic programming over group boundaries and core counts.

A schedule's latency (or energy) is a sum over its groups, and a group's cost depends only
on its own layers and core count (tensors crossing a boundary always go through DRAM), so
with ``best[0] = 0``

    best[j] = min over i in [j - max_group_layers, j), c in core_counts, (i, j, c) feasible
              of best[i] + cost(i, j, c)

is the optimum over every schedule whose groups have at most ``max_group_layers`` layers.
Ties go to the earlier boundary and then to the smaller core count: longer groups, fewer
cores. Formally ``(best[j], choice[j])`` is the smallest ``(best[i] + cost, i, core index)``.

Pruning (the default). Simulating a candidate is what costs; most candidates cannot win.
For each end ``j`` every feasible candidate gets a sound lower bound on its cost from its
lowering alone (:mod:`accelerator.bounds`; a candidate the evaluator has already simulated gets
its exact cost), and the candidates sit in a heap keyed by ``(best[i] + bound, i, core
index)``. The smallest key is popped: a bound is replaced by the simulated value and pushed
back; an exact value is the answer, because every other key is at most the true key of its
candidate. The result is therefore exactly the exhaustive DP's (same values, same ties), and
only candidates whose bound key is below the winner's key are simulated. For latency a
candidate first enters with a floor from its layer shapes alone (:func:`accelerator.bounds.
latency_floor`, never above the bound) and is planned, lowered and bounded only when that
floor is popped; since floor <= bound <= cost, exactly the same candidates are simulated,
and those whose floor already loses are never planned. ``prune=False``
runs the exhaustive DP, which simulates every feasible candidate once (the evaluator
memoizes by group shape, so repeated blocks such as ResNet stages cost one simulation).
"""

from __future__ import annotations

import heapq
import math
import sys

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.errors import InfeasibleError
from fusiongym.accelerator.evaluator import GroupEvaluator, unschedulable_message
from fusiongym.accelerator.schedule import Group, Schedule
from fusiongym.accelerator.workloads.network import Network
from fusiongym.accelerator.objectives import check_objective, group_value
from fusiongym.agents.base import Scheduler
from fusiongym.accelerator.bounds import energy_lower_bound, latency_floor, latency_lower_bound

_FLOOR, _BOUND, _EXACT = -1, 0, 1


class OracleScheduler(Scheduler):
    """Optimal schedule by exact DP (see the module docstring).

    ``progress``: show a tqdm bar on stderr; ``None`` (default) shows it only when stderr
    is a terminal. ``prune``: skip simulating candidates whose lower bound already loses
    (same result as ``prune=False``, far fewer simulations). After a call, ``last_value``
    holds the optimal objective value, ``candidates`` the number of (group, cores)
    candidates examined and ``pruned`` how many of them were decided without their result.
    """

    name = "oracle"

    def __init__(self, max_group_layers: int = 8, objective: str = "latency",
                 progress: bool | None = None, evaluator: GroupEvaluator | None = None,
                 prune: bool = True):
        super().__init__(evaluator)
        if max_group_layers < 1:
            raise ValueError("max_group_layers must be >= 1")
        self.max_group_layers = max_group_layers
        self.objective = check_objective(objective, additive=True)
        self.progress = progress
        self.prune = prune
        self.last_value: float | None = None
        self.candidates = 0
        self.pruned = 0

    def _schedule(self, network: Network, hw: HardwareConfig,
                  evaluator: GroupEvaluator) -> Schedule:
        n = len(network)
        best = [math.inf] * (n + 1)
        choice: list[tuple[int, int] | None] = [None] * (n + 1)
        best[0] = 0.0
        self.candidates = self.pruned = 0
        step = self._best_pruned if self.prune else self._best_exhaustive
        bar = _progress_bar(n, network.name, self.progress)
        try:
            for j in range(1, n + 1):
                best[j], choice[j] = step(network, hw, evaluator, best, j)
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        if best[n] == math.inf:
            raise InfeasibleError(unschedulable_message(network, evaluator,
                                                        self.max_group_layers))
        groups: list[Group] = []
        j = n
        while j > 0:
            i, c = choice[j]  # type: ignore[misc]
            groups.append(Group(i, j, c))
            j = i
        self.last_value = best[n]
        return Schedule(tuple(reversed(groups)), network.name, network.content_hash())

    def _best_exhaustive(self, network: Network, hw: HardwareConfig, evaluator: GroupEvaluator,
                         best: list[float], j: int) -> tuple[float, tuple[int, int] | None]:
        """``(best[j], choice[j])``, simulating every candidate ending at ``j``."""
        value_j, choice_j = math.inf, None
        for i in range(max(0, j - self.max_group_layers), j):
            if best[i] == math.inf:
                continue
            for c in hw.allowed_core_counts:
                self.candidates += 1
                r = evaluator.result(network, i, j, c)
                if not r.feasible:
                    continue
                value = best[i] + group_value(r, self.objective)
                if value < value_j:
                    value_j, choice_j = value, (i, c)
        return value_j, choice_j

    def _best_pruned(self, network: Network, hw: HardwareConfig, evaluator: GroupEvaluator,
                     best: list[float], j: int) -> tuple[float, tuple[int, int] | None]:
        """The same ``(best[j], choice[j])``, simulating only candidates that could win."""
        cores_list = hw.allowed_core_counts
        bound = latency_lower_bound if self.objective == "latency" else energy_lower_bound
        # latency: candidates enter with the shape-only floor (<= the bound), which is
        # replaced by the bound only when popped: the same candidates are simulated (each
        # whose bound key is below the winner's), and the others are never planned
        floor = latency_floor if self.objective == "latency" else None
        heap: list[tuple[float, int, int, int]] = []
        for i in range(max(0, j - self.max_group_layers), j):
            if best[i] == math.inf:
                continue
            for k, c in enumerate(cores_list):
                self.candidates += 1
                if evaluator.knows(network, i, j, c):  # already simulated: costs nothing
                    r = evaluator.result(network, i, j, c)  # counted as a memo hit
                    if r.feasible:
                        heap.append((best[i] + group_value(r, self.objective), i, k, _EXACT))
                    continue
                if floor is not None:
                    heap.append((best[i] + floor(evaluator, network, i, j, c), i, k, _FLOOR))
                    continue
                lb = bound(evaluator, network, i, j, c)
                if lb is not None:  # None: infeasible (planning says so; nothing to simulate)
                    heap.append((best[i] + lb, i, k, _BOUND))
        heapq.heapify(heap)
        while heap:
            key, i, k, state = heapq.heappop(heap)
            if state == _EXACT:
                # every key left is <= its candidate's true key: this one is the minimum
                self.pruned += sum(1 for entry in heap if entry[3] != _EXACT)
                return key, (i, cores_list[k])
            if state == _FLOOR:
                lb = bound(evaluator, network, i, j, cores_list[k])
                if lb is not None:  # None: infeasible
                    heapq.heappush(heap, (best[i] + lb, i, k, _BOUND))
                continue
            r = evaluator.result(network, i, j, cores_list[k])
            if r.feasible:
                heapq.heappush(heap, (best[i] + group_value(r, self.objective), i, k, _EXACT))
        return math.inf, None


def _progress_bar(total: int, label: str, progress: bool | None):
    if progress is False or (progress is None and not sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=f"oracle {label}", unit="layer", file=sys.stderr,
                leave=False)
