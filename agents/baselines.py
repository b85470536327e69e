"""Baselines: no fusion (DLFusion's "no optimization" point) and random search."""

from __future__ import annotations

import numpy as np

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.schedule import Group, Schedule
from fusiongym.accelerator.workloads.network import Network
from fusiongym.accelerator.objectives import check_objective, group_value
from fusiongym.agents.base import Scheduler
from fusiongym.envs.feasibility import GroupFeasibility, no_fusion_schedule


class NoFusionScheduler(Scheduler):
    """Every layer alone on ``hw.default_cores``: DLFusion's "no optimization" baseline.

    On the mlu100 and vta16 presets ``default_cores`` is 1, the toolchain default of one core per
    operator. It is also the baseline that ``FusionEnv`` rewards are normalised by.
    """

    name = "no-fusion"

    def _schedule(self, network: Network, hw: HardwareConfig,
                  evaluator: GroupEvaluator) -> Schedule:
        schedule = no_fusion_schedule(network, evaluator)
        for g in schedule.groups:  # simulate, so that last_cost counts what it costs
            evaluator.result(network, g.start, g.end, g.cores)
        return schedule


class RandomScheduler(Scheduler):
    """Random feasible schedules; keeps the best; stops when the simulator budget is spent.

    Each sample walks the layers like ``FusionEnv``'s masked random policy, but draws a
    target group length uniformly in ``1..max_group_layers`` and a core count uniformly
    among the valid ones at each group start (a uniform choice between FUSE and the START
    actions would give mostly single-layer groups).

    The budget counts the distinct (group shape, core count) candidates this call
    evaluates, i.e. the simulations it needs on a cold memo; a shared, already warm
    evaluator makes the call cheaper (``last_cost.sim_calls`` is the true count) but does
    not change its result. A sample that would go past ``budget_sim_calls`` is abandoned
    and ends the search, except the first, so the budget holds unless one schedule alone
    needs more candidates than that. ``max_samples`` bounds the loop when the whole
    candidate space fits in the budget (small networks).
    """

    name = "random"

    def __init__(self, budget_sim_calls: int = 200, seed: int = 0, max_group_layers: int = 8,
                 objective: str = "latency", max_samples: int = 2_000,
                 evaluator: GroupEvaluator | None = None):
        super().__init__(evaluator)
        if budget_sim_calls < 0:
            raise ValueError("budget_sim_calls must be >= 0")
        self.budget_sim_calls = budget_sim_calls
        self.seed = seed
        self.max_group_layers = max_group_layers
        self.objective = check_objective(objective, additive=True)
        self.max_samples = max_samples
        self.samples = 0  # samples evaluated in the last call

    def _schedule(self, network: Network, hw: HardwareConfig,
                  evaluator: GroupEvaluator) -> Schedule:
        rng = np.random.default_rng(self.seed)
        feas = GroupFeasibility.for_network(network, evaluator, self.max_group_layers)
        feas.check_schedulable(network.name)
        seen: set[tuple] = set()  # (group shape, cores) evaluated in this call
        best: tuple[float, list[Group]] | None = None
        self.samples = 0
        while self.samples < self.max_samples:
            groups = self._sample(feas, rng)
            value: float | None = 0.0
            for g in groups:
                key = (evaluator.spec(network, g.start, g.end).key, g.cores)
                if key not in seen:
                    if best is not None and len(seen) >= self.budget_sim_calls:
                        value = None  # would go past the budget: abandon this sample
                        break
                    seen.add(key)
                value += group_value(evaluator.result(network, g.start, g.end, g.cores),
                                     self.objective)
            if value is None:
                break
            self.samples += 1
            if best is None or value < best[0]:
                best = (value, groups)
            if len(seen) >= self.budget_sim_calls:
                break
        assert best is not None
        return Schedule(tuple(best[1]), network.name, network.content_hash())

    def _sample(self, feas: GroupFeasibility, rng: np.random.Generator) -> list[Group]:
        groups: list[Group] = []
        start = cores = None
        target = 0
        for i in range(feas.n):
            valid = feas.valid_actions(i, start, cores)
            starts = [c for c, ok in zip(feas.core_counts, valid[1:]) if ok]
            if valid[0] and (i - start < target or not starts):  # type: ignore[operator]
                continue  # FUSE
            if start is not None:
                groups.append(Group(start, i, cores))  # type: ignore[arg-type]
            start, cores = i, int(rng.choice(starts))
            target = int(rng.integers(1, self.max_group_layers + 1))
        groups.append(Group(start, feas.n, cores))  # type: ignore[arg-type]
        return groups
