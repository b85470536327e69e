"""Optimal completions from any FusionEnv decision state, over a table of group costs.

A schedule's cost is a sum over its groups, so the best completion of a partial schedule
has a closed form over a suffix DP. With ``to_go[i]`` the optimal cost of layers
``i..n-1`` starting a fresh group at ``i`` and ``start_value[i][k]`` the same with that
first group on core count ``k``, the state "layer ``i`` next, open group ``[s, i)`` on core
count ``k``" has

    Q(FUSE)      = min over j in (i, s + M], (s, j, k) in the table of cost(s, j, k) + to_go[j]
    Q(START k')  = cost(s, i, k) + start_value[i][k']

Two users, two tables: the exact expert of DAgger (:class:`agents.dagger.ExactExpert`:
simulated costs) and the planner features of the observation (:mod:`envs.features`: the
sound lower bounds of :mod:`accelerator.bounds`, computed from lowering alone, so a
deployed policy still makes no simulator call).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

# (start, end, core index) -> the group's objective value; absent = infeasible
CostTable = dict[tuple[int, int, int], float]


def cost_table(n_layers: int, core_counts: Sequence[int], max_group_layers: int,
               cost: Callable[[int, int, int], float | None]) -> CostTable:
    """Every candidate group's ``cost(start, end, cores)`` (None or inf: infeasible, left out)."""
    table: CostTable = {}
    for i in range(n_layers):
        for j in range(i + 1, min(n_layers, i + max_group_layers) + 1):
            for k, c in enumerate(core_counts):
                value = cost(i, j, c)
                if value is not None and math.isfinite(value):
                    table[(i, j, k)] = float(value)
    return table


class SuffixPlanner:
    """Q-values of every action from every decision state of one network, over ``cost``."""

    def __init__(self, n_layers: int, core_counts: Sequence[int], max_group_layers: int,
                 cost: CostTable):
        self.n, self.core_counts, self.max_group_layers = n_layers, tuple(core_counts), max_group_layers
        self._cost = cost
        n = n_layers
        self.to_go = [math.inf] * (n + 1)
        self.to_go[n] = 0.0
        self.start_value = [[math.inf] * len(self.core_counts) for _ in range(n + 1)]
        for i in reversed(range(n)):
            for k in range(len(self.core_counts)):
                self.start_value[i][k] = self._best_completion(i, i, k)
            self.to_go[i] = min(self.start_value[i])

    @classmethod
    def from_function(cls, n_layers: int, core_counts: Sequence[int], max_group_layers: int,
                      cost: Callable[[int, int, int], float | None]) -> "SuffixPlanner":
        return cls(n_layers, core_counts, max_group_layers,
                   cost_table(n_layers, core_counts, max_group_layers, cost))

    @property
    def optimum(self) -> float:
        """The optimal objective value of the whole network over this table."""
        return self.to_go[0]

    def _best_completion(self, start: int, first_end_after: int, k: int) -> float:
        """min over group ends j > first_end_after of cost(start, j, k) + to_go[j]."""
        best = math.inf
        for j in range(first_end_after + 1, min(self.n, start + self.max_group_layers) + 1):
            cost = self._cost.get((start, j, k))
            if cost is not None and cost + self.to_go[j] < best:
                best = cost + self.to_go[j]
        return best

    def q_values(self, i: int, start: int | None, cores: int | None) -> np.ndarray:
        """Optimal total cost of layers from the open group's start (or ``i``) to the end,
        per action (FUSE first; ``inf`` where the action has no completion in the table)."""
        q = np.full(1 + len(self.core_counts), math.inf)
        if start is None:
            q[1:] = self.start_value[i]
            return q
        k = self.core_counts.index(cores)
        q[0] = self._best_completion(start, i, k)
        close = self._cost.get((start, i, k), math.inf)
        q[1:] = [close + v for v in self.start_value[i]]
        return q

    def action(self, i: int, start: int | None, cores: int | None, mask: np.ndarray) -> int:
        """The masked argmin of :meth:`q_values` (ties: FUSE, then the fewest cores)."""
        q = np.where(mask, self.q_values(i, start, cores), math.inf)
        return int(np.argmin(q))
