"""A DLFusion-style heuristic: a core count per layer from a lookup table, then greedy fusion.

1. **Core count per layer.** :mod:`agents.heuristic_sweep` simulated synthesized layers on
   every core count and tabulated, per layer category (conv, depthwise, dense, ALU-only),
   the best core count for each (operation count, output channels) cell. The scheduler
   looks each layer up in that table: the one shipped for the hardware
   (``heuristic_tables/<preset>.json``, used only if the hardware's values still match the
   ones it was swept on), else the default preset's table *as is* (``mlu100``) — on unseen
   hardware the heuristic does not re-derive anything unless asked (``thresholds=`` a
   table made by ``python -m fusiongym.agents.heuristic_sweep --hw FILE``; ``fusiongym evaluate
   --resweep`` does that and counts the sweep's simulations in the heuristic's cost).
   If the table's core count is not allowed on the hardware, or the layer cannot run alone
   on it, the nearest allowed feasible count is used (fewer cores on a tie).
2. **Greedy fusion.** Walking the layers in order, the open group takes the next layer if
   the fused group (on the open group's or the new layer's core count, whichever is
   faster) is feasible, has at most ``max_group_layers`` layers, and is faster than the
   open group and the layer run apart.

Cost: a few simulations per layer (no search over schedules).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from fusiongym.accelerator.config import DEFAULT_PRESET, HardwareConfig
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.results import GroupResult
from fusiongym.accelerator.schedule import Group, Schedule
from fusiongym.accelerator.workloads.network import Layer, Network
from fusiongym.accelerator.objectives import check_objective, group_value
from fusiongym.agents.base import Scheduler
from fusiongym.agents.heuristic_sweep import category, channel_bin, ops_bin, swept_on

TABLE_DIR = Path(__file__).with_name("heuristic_tables")
DEFAULT_THRESHOLDS = TABLE_DIR / f"{DEFAULT_PRESET}.json"


def shipped_table(hw: HardwareConfig) -> Path:
    """The shipped table swept on this hardware (same name and values), else the default's."""
    path = TABLE_DIR / f"{hw.name}.json"
    if path.is_file() and swept_on(load_thresholds(str(path)), hw):
        return path
    return DEFAULT_THRESHOLDS


@lru_cache(maxsize=8)
def load_thresholds(path: str | Path = DEFAULT_THRESHOLDS) -> dict:
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
        doc["tables"], doc["ops_edges"], doc["channel_edges"]  # noqa: B018  (shape check)
    except FileNotFoundError:
        raise UserInputError(f"heuristic thresholds {str(path)!r} not found; create them with "
                             "`python -m fusiongym.agents.heuristic_sweep --out PATH`") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserInputError(f"{path}: not a heuristic thresholds file ({err!s})") from None
    return doc


class HeuristicScheduler(Scheduler):
    """Table-driven core counts + greedy fusion (see the module docstring)."""

    name = "heuristic"

    def __init__(self, thresholds: str | Path | None = None, max_group_layers: int = 8,
                 objective: str = "latency", fuse: bool = True,
                 evaluator: GroupEvaluator | None = None):
        """``thresholds``: a table file; None picks the shipped table for each hardware
        (:func:`shipped_table`)."""
        super().__init__(evaluator)
        self.fixed_table = None if thresholds is None else _checked(thresholds)
        self.thresholds = self.fixed_table or _checked(DEFAULT_THRESHOLDS)
        self.max_group_layers = max_group_layers
        self.objective = check_objective(objective, additive=True)
        self.fuse = fuse

    def table_cores(self, layer: Layer) -> int:
        """The table's core count for a layer (before the feasibility fix-up)."""
        table = self.thresholds["tables"][category(layer)]
        return int(table[ops_bin(layer.ops)][channel_bin(layer.c_out)])

    def layer_cores(self, network: Network, i: int, evaluator: GroupEvaluator) -> int:
        want = self.table_cores(network.layers[i])
        counts = sorted(evaluator.hw.allowed_core_counts, key=lambda c: (abs(c - want), c))
        for c in counts:
            if evaluator.infeasible_reason(network, i, i + 1, c) is None:
                return c
        reason = evaluator.infeasible_reason(network, i, i + 1, evaluator.hw.default_cores)
        raise UserInputError(f"{network.name}: layer {i} ({network.layers[i].name}) cannot "
                             f"run alone on any allowed core count: {reason}")

    def _schedule(self, network: Network, hw: HardwareConfig,
                  evaluator: GroupEvaluator) -> Schedule:
        self.thresholds = self.fixed_table or _checked(shipped_table(hw))
        def run(s: int, e: int, c: int) -> GroupResult:
            return evaluator.result(network, s, e, c)

        groups: list[Group] = []
        start, cores = 0, self.layer_cores(network, 0, evaluator)
        open_value = group_value(run(0, 1, cores), self.objective)
        for i in range(1, len(network)):
            c_i = self.layer_cores(network, i, evaluator)
            alone = group_value(run(i, i + 1, c_i), self.objective)
            best: tuple[float, int] | None = None
            if self.fuse and i + 1 - start <= self.max_group_layers:
                for c in dict.fromkeys((cores, c_i)):
                    if evaluator.infeasible_reason(network, start, i + 1, c) is not None:
                        continue
                    v = group_value(run(start, i + 1, c), self.objective)
                    if best is None or v < best[0]:
                        best = (v, c)
            if best is not None and best[0] < open_value + alone:
                open_value, cores = best
                continue
            groups.append(Group(start, i, cores))
            start, cores, open_value = i, c_i, alone
        groups.append(Group(start, len(network), cores))
        return Schedule(tuple(groups), network.name, network.content_hash())


def _checked(path: str | Path) -> dict:
    doc = load_thresholds(str(path))
    if tuple(doc["ops_edges"]) != _edges("ops") or tuple(
            doc["channel_edges"]) != _edges("channels"):
        raise UserInputError(f"{path}: bin edges differ from agents.heuristic_sweep's; "
                             "regenerate the file")
    return doc


def _edges(which: str) -> tuple[int, ...]:
    from fusiongym.agents import heuristic_sweep

    return heuristic_sweep.OPS_EDGES if which == "ops" else heuristic_sweep.CHANNEL_EDGES
