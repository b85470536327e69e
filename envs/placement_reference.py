"""Sequential schedules over the groups' lower bounds, for the placement env and its teacher.

:func:`bound_schedule` is the exact DP of :class:`envs.planner.SuffixPlanner` over every
candidate group's sound lower bound (:func:`accelerator.bounds.latency_lower_bound`:
lowering only, no simulation) with the core counts limited to ``core_counts``: the
``bound-dp`` scheduler's choice on a restricted chip share. It is the placement env's default
reward reference (the oracle is a scheduler, in ``agents``, which envs may not import; the
training code passes the oracle in) and the list teacher's per-request plan.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from fusiongym.accelerator.bounds import latency_lower_bound
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.schedule import Group, Schedule
from fusiongym.accelerator.workloads.network import Network
from fusiongym.envs.planner import SuffixPlanner


def bound_planner(network: Network, evaluator: GroupEvaluator, core_counts: Sequence[int],
                  max_group_layers: int = 8, cap: int | None = None,
                  over_cap_penalty: float = 4.0) -> SuffixPlanner:
    """The suffix DP over lower bounds on ``core_counts``; a group on more than ``cap``
    cores costs ``over_cap_penalty`` x its bound (penalised, not forbidden, so that a state
    with such a group open still has finite Q-values for an expert to label)."""

    def cost(s: int, e: int, c: int) -> float | None:
        value = latency_lower_bound(evaluator, network, s, e, c)
        if value is None:
            return None
        return float(value) * (over_cap_penalty if cap is not None and c > cap else 1.0)

    return SuffixPlanner.from_function(len(network), core_counts, max_group_layers, cost)


def planner_schedule(planner: SuffixPlanner, network: Network) -> Schedule:
    """The planner's optimal schedule (its greedy walk from layer 0)."""
    groups: list[Group] = []
    start = cores = None
    everything = np.ones(1 + len(planner.core_counts), dtype=bool)
    for i in range(len(network)):
        q = planner.q_values(i, start, cores)
        if not math.isfinite(float(np.min(q))):
            raise ValueError(f"{network.name}: no schedule over these core counts")
        a = planner.action(i, start, cores, everything)
        if a != 0:
            if start is not None:
                groups.append(Group(start, i, cores))
            start, cores = i, planner.core_counts[a - 1]
    groups.append(Group(start, len(network), cores))
    return Schedule(tuple(groups), network.name, network.content_hash())


def bound_schedule(network: Network, hw, evaluator: GroupEvaluator,
                   max_group_layers: int = 8) -> Schedule:
    """The bound-dp schedule on all of ``hw``'s allowed core counts."""
    return planner_schedule(bound_planner(network, evaluator, hw.allowed_core_counts,
                                          max_group_layers), network)
