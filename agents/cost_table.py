"""Group costs from somewhere other than the simulator, for the oracle's exact DP to run over.

:class:`agents.oracle.OracleScheduler` (``prune=False``) asks its evaluator only for
``hw``, ``sim_calls`` and ``result(network, start, end, cores)``. A :class:`CostTable`
answers those from a cost function (a learned model's prediction, or a lower bound / an
already simulated value) without simulating anything, so one DP serves the oracle, the
learned cost model's search (:mod:`agents.cost_model`) and the policy-guided search
(:mod:`agents.ppo_search`) instead of three copies of it.

Feasibility is never guessed: a candidate is feasible only if the real evaluator's lowering
says so (the same test FusionEnv's action masks use), and ``allowed`` can exclude more.
"""

from __future__ import annotations

import math
from typing import Callable

from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.results import GroupResult
from fusiongym.accelerator.workloads.network import Network

# (network, start, end, cores) -> the group's objective value (cycles or pJ)
CostFn = Callable[[Network, int, int, int], float]
AllowedFn = Callable[[int, int, int], bool]  # (start, end, cores) -> may the DP use it?


class CostTable:
    """An evaluator look-alike whose group values come from ``cost`` (no simulation).

    ``objective`` names the GroupResult field the value goes in (``latency`` ->
    ``latency_cycles``, ``energy`` -> ``energy_pj``), which is the field the DP reads.
    """

    sim_calls = 0  # nothing here is ever simulated

    def __init__(self, real: GroupEvaluator, cost: CostFn, objective: str = "latency",
                 allowed: AllowedFn | None = None):
        self.real = real
        self.hw: HardwareConfig = real.hw
        self.cost = cost
        self.objective = objective
        self.allowed = allowed
        self._reasons: dict[tuple, str | None] = {}  # the DP asks for each candidate every run

    def spec(self, network: Network, start: int, end: int):
        return self.real.spec(network, start, end)

    def infeasible_reason(self, network: Network, start: int, end: int, cores: int) -> str | None:
        if self.allowed is not None and not self.allowed(start, end, cores):
            return "not a candidate of this search"
        key = self.real.key(network, start, end, cores)
        if key not in self._reasons:
            self._reasons[key] = self.real.infeasible_reason(network, start, end, cores)
        return self._reasons[key]

    def result(self, network: Network, start: int, end: int, cores: int) -> GroupResult:
        reason = self.infeasible_reason(network, start, end, cores)
        if reason is not None:
            return GroupResult(start, end, cores, feasible=False, reason=reason)
        value = float(self.cost(network, start, end, cores))
        if not math.isfinite(value):
            return GroupResult(start, end, cores, feasible=False, reason="no finite cost")
        if self.objective == "energy":
            return GroupResult(start, end, cores, energy_pj=value)
        # the DP sums latency_cycles; keep the prediction's fraction (rounding would tie)
        return GroupResult(start, end, cores, latency_cycles=value)  # type: ignore[arg-type]


def dp_over(table: CostTable, network: Network, max_group_layers: int):
    """The exact DP's optimum over ``table``'s costs: ``(Schedule, value)``."""
    from fusiongym.agents.oracle import OracleScheduler

    oracle = OracleScheduler(max_group_layers=max_group_layers, objective=table.objective,
                             progress=False, evaluator=table, prune=False)  # type: ignore[arg-type]
    schedule = oracle.schedule(network, table.hw)
    return schedule, float(oracle.last_value)  # type: ignore[arg-type]
