"""The observation of :class:`envs.placement_env.PlacementEnv`, declared once.

Every feature lies in [0, 1] and every block is declared in :data:`BLOCKS` style (name,
width, scale) by :class:`PlacementLayout`; the observation is written block by block
through the layout's slices, so the names, sizes and positions cannot drift apart.

Times and sizes are log-scaled against fixed reference scales (``log10(1 + x) / decades``),
never against per-workload maxima: the same state must look the same in every workload,
or a policy could not transfer. Core counts are fractions of the chip, so the same
observation describes an 8-, 16- or 32-core chip (the chip itself is an input through the
hardware features of :mod:`envs.features`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.workloads.network import Network
from fusiongym.envs.features import (LAYER_FEATURE_NAMES, HARDWARE_FEATURE_NAMES, core_count_estimates,
                           ideal_compute_cycles, layer_features)

# Core counts as fractions of the chip: action j >= 1 of a slot starts a group on
# FRACTIONS[j - 1] of the cores (see envs.placement_env.fraction_core_counts).
FRACTIONS: tuple[float, ...] = (1.0, 0.5, 0.25, 0.125, 0.0625)
FRACTION_NAMES: tuple[str, ...] = ("all", "half", "quarter", "eighth", "sixteenth")

# decades of cycles that the time features span: 1e8 cycles is ~0.1 s at 1 GHz
_TIME_DECADES = 8.0

SLOT_GROUP_NAMES = ("group_open", "group_length", "group_log_macs", "group_cores_fraction",
                    "group_log_estimated_cycles")
SLOT_REQUEST_NAMES = ("progress", "log_layers", "log_remaining_ideal_cycles_whole_chip",
                      "log_cycles_until_open_group_ends", "log_cycles_until_next_group_ready",
                      "earliest_ready", "fewest_groups")
MACHINE_NAMES = ("free_cores_fraction", "log_cycles_until_quarter_free",
                 "log_cycles_until_half_free", "log_cycles_until_all_free",
                 "dram_demand_fraction", "running_groups_per_core", "requests_left_fraction",
                 "log_estimated_makespan_cycles", "log_last_launch_cycles",
                 "inverse_requests")  # 1 / the workload's requests: how many share the chip


def log_scaled(value: float, decades: float = _TIME_DECADES) -> float:
    return min(1.0, max(0.0, math.log10(1.0 + max(0.0, value)) / decades))


@dataclass(frozen=True)
class Block:
    name: str
    names: tuple[str, ...]  # one per scalar, in order
    scale: str  # how the block is normalised (for the reader)


class PlacementLayout:
    """Blocks of the observation and their slices (``slices[name]``)."""

    def __init__(self, max_slots: int, num_actions: int):
        per_slot = ("present", *(f"next.{n}" for n in LAYER_FEATURE_NAMES), *SLOT_GROUP_NAMES,
                    *SLOT_REQUEST_NAMES, *(f"estimate_{f}" for f in FRACTION_NAMES))
        self.slot_width = len(per_slot)
        blocks = [Block(f"slot{s}", tuple(f"slot{s}.{n}" for n in per_slot),
                        "layer features as envs.features; times log10(1+cycles)/8; "
                        "estimates log2(cycles / best)/4")
                  for s in range(max_slots)]
        blocks += [Block("machine", MACHINE_NAMES, "fractions; times log10(1+cycles)/8"),
                   Block("hardware", HARDWARE_FEATURE_NAMES, "fusiongym.envs.features.hardware_features"),
                   Block("mask", tuple(f"mask_{a}" for a in range(num_actions)), "1 = valid")]
        self.blocks = tuple(blocks)
        self.slices: dict[str, slice] = {}
        pos = 0
        for b in self.blocks:
            self.slices[b.name] = slice(pos, pos + len(b.names))
            pos += len(b.names)
        self.size = pos
        self.names: tuple[str, ...] = tuple(n for b in self.blocks for n in b.names)


class RequestTable:
    """Per-network precomputation (one per network and chip): layer rows, prefix sums and
    the roofline estimates of every layer on every fraction's core count."""

    def __init__(self, network: Network, hw: HardwareConfig,
                 fraction_counts: tuple[int | None, ...]):
        self.n = len(network)
        self.layers = np.stack([layer_features(network, i, hw) for i in range(self.n)])
        self.macs = np.concatenate([[0.0], np.cumsum([la.macs for la in network.layers])])
        ideal = [ideal_compute_cycles(la, hw) for la in network.layers]
        self.ideal_suffix = np.concatenate([np.cumsum(ideal[::-1])[::-1], [0.0]])
        counts = hw.allowed_core_counts
        rows = []
        for la in network.layers:
            est = core_count_estimates(la, hw)  # one per allowed count
            best = max(1.0, min(est))
            rows.append([min(1.0, math.log2(max(est[counts.index(c)], 1.0) / best) / 4.0)
                         if c is not None else 1.0 for c in fraction_counts])
        self.estimates = np.asarray(rows, dtype=np.float32)
