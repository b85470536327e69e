"""The exact oracle: dynamic programming over group boundaries and core counts.

A schedule's latency (or energy) is a sum over its groups, and a group's cost depends only
on its own layers and core count (tensors crossing a boundary always go through DRAM), so
with ``best[0] = 0``

    best[j] = min over i in [j - max_group_layers, j), c in core_counts, (i, j, c) feasible
              of best[i] + cost(i, j, c)

is the optimum over every schedule whose groups have at most ``max_group_layers`` layers.
Each candidate group is simulated once (the evaluator memoizes by group shape, so repeated
blocks such as ResNet stages cost one simulation). Ties go to the earlier boundary and then
to the smaller core count: longer groups, fewer cores.
"""

from __future__ import annotations

import math
import sys

from accelerator.cache import GroupEvaluator
from accelerator.config import HardwareConfig
from accelerator.errors import InfeasibleError
from accelerator.schedule import Group, Schedule
from accelerator.workload import Network
from agents.base import Scheduler, check_objective, group_value


class OracleScheduler(Scheduler):
    """Optimal schedule by exact DP (see the module docstring).

    ``progress``: show a tqdm bar on stderr; ``None`` (default) shows it only when stderr
    is a terminal. After a call, ``last_value`` holds the optimal objective value and
    ``candidates`` the number of (group, cores) candidates examined.
    """

    name = "oracle"

    def __init__(self, max_group_layers: int = 8, objective: str = "latency",
                 progress: bool | None = None, evaluator: GroupEvaluator | None = None):
        super().__init__(evaluator)
        if max_group_layers < 1:
            raise ValueError("max_group_layers must be >= 1")
        self.max_group_layers = max_group_layers
        self.objective = check_objective(objective)
        self.progress = progress
        self.last_value: float | None = None
        self.candidates = 0

    def _schedule(self, network: Network, hw: HardwareConfig,
                  evaluator: GroupEvaluator) -> Schedule:
        n, cores_list = len(network), hw.allowed_core_counts
        best = [math.inf] * (n + 1)
        choice: list[tuple[int, int] | None] = [None] * (n + 1)
        best[0] = 0.0
        self.candidates = 0
        bar = _progress_bar(n, network.name, self.progress)
        try:
            for j in range(1, n + 1):
                for i in range(max(0, j - self.max_group_layers), j):
                    if best[i] == math.inf:
                        continue
                    for c in cores_list:
                        self.candidates += 1
                        r = evaluator.result(network, i, j, c)
                        if not r.feasible:
                            continue
                        value = best[i] + group_value(r, self.objective)
                        if value < best[j]:
                            best[j], choice[j] = value, (i, c)
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        if best[n] == math.inf:
            raise InfeasibleError(f"{network.name}: no feasible schedule with groups of at "
                                  f"most {self.max_group_layers} layers")
        groups: list[Group] = []
        j = n
        while j > 0:
            i, c = choice[j]  # type: ignore[misc]
            groups.append(Group(i, j, c))
            j = i
        self.last_value = best[n]
        return Schedule(tuple(reversed(groups)), network.name, network.content_hash())


def _progress_bar(total: int, label: str, progress: bool | None):
    if progress is False or (progress is None and not sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=f"oracle {label}", unit="layer", file=sys.stderr,
                leave=False)
