"""Exhaustive search for tiny networks: every composition into groups x every core count.

Used to cross-check the oracle's dynamic programme. The number of schedules grows like
``(1 + len(core_counts)) ** n``, so it refuses networks longer than ``max_layers``.
"""

from __future__ import annotations

import itertools
import math

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.errors import InfeasibleError, UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.schedule import Group, Schedule
from fusiongym.accelerator.workloads.network import Network
from fusiongym.accelerator.objectives import check_objective, group_value
from fusiongym.agents.base import Scheduler


def compositions(n: int, max_part: int):
    """Every way to write ``n`` as an ordered sum of parts in ``1..max_part``."""
    if n == 0:
        yield ()
        return
    for first in range(1, min(n, max_part) + 1):
        for rest in compositions(n - first, max_part):
            yield (first,) + rest


class BruteForceScheduler(Scheduler):
    name = "brute-force"

    def __init__(self, max_group_layers: int = 8, objective: str = "latency",
                 max_layers: int = 8, evaluator: GroupEvaluator | None = None):
        super().__init__(evaluator)
        self.max_group_layers = max_group_layers
        self.objective = check_objective(objective, additive=True)
        self.max_layers = max_layers
        self.last_value: float | None = None
        self.schedules_examined = 0

    def _schedule(self, network: Network, hw: HardwareConfig,
                  evaluator: GroupEvaluator) -> Schedule:
        n = len(network)
        if n > self.max_layers:
            raise UserInputError(f"brute force is limited to {self.max_layers} layers; "
                                 f"{network.name} has {n}")
        best_value, best_groups = math.inf, None
        self.schedules_examined = 0
        for parts in compositions(n, self.max_group_layers):
            bounds = list(itertools.accumulate(parts, initial=0))
            spans = list(zip(bounds, bounds[1:]))
            for cores in itertools.product(hw.allowed_core_counts, repeat=len(spans)):
                self.schedules_examined += 1
                value = 0.0
                for (s, e), c in zip(spans, cores):
                    r = evaluator.result(network, s, e, c)
                    if not r.feasible:
                        value = math.inf
                        break
                    value += group_value(r, self.objective)
                if value < best_value:
                    best_value = value
                    best_groups = [Group(s, e, c) for (s, e), c in zip(spans, cores)]
        if best_groups is None:
            raise InfeasibleError(f"{network.name}: no feasible schedule")
        self.last_value = best_value
        return Schedule(tuple(best_groups), network.name, network.content_hash())
