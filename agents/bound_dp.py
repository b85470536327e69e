"""``bound-dp``: the oracle's exact DP over the sound lower bounds, with no simulation.

The bounds of :mod:`accelerator.bounds` come from lowering alone (the instruction streams
every core would run, their transfers at the bus's and the port's rate, the token chains);
on ``mlu100``-class machines they are within about 1 % of the simulated latency for most
groups, so the DP over them picks nearly the oracle's schedule at zero simulator calls.
It is the analytic baseline a learned tuner must be compared with, and the planner
features of the observation (:mod:`envs.features`) are its Q-values.
"""

from __future__ import annotations

import math

from fusiongym.accelerator.bounds import objective_lower_bound
from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.objectives import check_objective
from fusiongym.accelerator.schedule import Schedule
from fusiongym.accelerator.workloads.network import Network
from fusiongym.agents.base import Scheduler
from fusiongym.agents.cost_table import CostTable, dp_over


class BoundDPScheduler(Scheduler):
    """The exact DP over each candidate group's lower bound (0 simulator calls)."""

    name = "bound-dp"

    def __init__(self, max_group_layers: int = 8, objective: str = "latency",
                 evaluator: GroupEvaluator | None = None):
        super().__init__(evaluator)
        self.max_group_layers = max_group_layers
        self.objective = check_objective(objective, additive=True)

    def _schedule(self, network: Network, hw: HardwareConfig,
                  evaluator: GroupEvaluator) -> Schedule:
        bound = objective_lower_bound(self.objective)

        def cost(net: Network, s: int, e: int, c: int) -> float:
            value = bound(evaluator, net, s, e, c)
            return math.inf if value is None else float(value)

        schedule, _ = dp_over(CostTable(evaluator, cost, self.objective), network,
                              self.max_group_layers)
        return schedule
