"""Why a layer runs fastest on fewer than all cores: measure it, then name the cause.

Used by ``tests/test_attribution.py`` and ``benchmarks/attribution_table.py``. Every quantity
is measured on the simulator (one layer alone per core count, overheads off); the cause is a
rule over those numbers, never a per-layer label:

- *partition granularity*: on all cores no more cores get work, or the busiest core's GEMM
  time does not shrink: the output rows / 64-wide channel blocks ran out (the planner may then
  pick a split that leaves most cores idle);
- *weight duplication*: on all cores the split is over rows, the layer's DRAM bytes grow by
  more than 5%, and turning multicast reads on removes at least half of that growth (every
  core of a row split reads all the weights);
- *DRAM contention*: the DRAM time at the cores' share of the bus, bytes / min(bus, active
  cores x port), is at least half the latency on all cores and larger than on the best count
  (extra bytes, such as each core of a channel split reading the whole input, on a bus that
  four 32 B/cycle ports already saturate).
"""

from __future__ import annotations

from dataclasses import dataclass

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.evaluator import run_group
from fusiongym.accelerator.lowering import GroupSpec
from fusiongym.accelerator.workloads.network import Network

BYTES_GROWTH = 0.05  # more than this relative growth in DRAM bytes counts as "bytes grow"
SLOWER = 1.02  # all cores must be at least 2% slower than the best count to count


@dataclass(frozen=True)
class CoreRun:
    """One layer alone on some cores: what the simulator measured."""

    cores: int
    latency_cycles: int
    dram_bytes: int  # read + written (instruction fetch excluded)
    active_cores: int
    busiest_gemm_cycles: int  # the busiest core's compute-module time
    split: str


@dataclass(frozen=True)
class Attribution:
    network: str
    layer: str
    best: CoreRun
    all_cores: CoreRun
    best_multicast: CoreRun
    all_cores_multicast: CoreRun
    bus_bytes_per_cycle: float
    port_bytes_per_cycle: float

    def dram_cycles(self, run: CoreRun) -> float:
        """DRAM time at the run's share of the bus: bytes / min(bus, active x port)."""
        share = min(self.bus_bytes_per_cycle, run.active_cores * self.port_bytes_per_cycle)
        return run.dram_bytes / share

    @property
    def slowdown(self) -> float:
        return self.all_cores.latency_cycles / self.best.latency_cycles

    @property
    def cause(self) -> str:
        """The first rule that the measured numbers meet (module docstring)."""
        best, most = self.best, self.all_cores
        if (most.active_cores <= best.active_cores
                or most.busiest_gemm_cycles >= 0.9 * best.busiest_gemm_cycles):
            return "partition granularity"
        growth = most.dram_bytes - best.dram_bytes
        mc_growth = self.all_cores_multicast.dram_bytes - self.best_multicast.dram_bytes
        if (growth > BYTES_GROWTH * best.dram_bytes and most.split == "rows"
                and mc_growth <= 0.5 * growth):
            return "weight duplication"
        if (self.dram_cycles(most) >= 0.5 * most.latency_cycles
                and self.dram_cycles(most) > self.dram_cycles(best)):
            return "DRAM contention"
        return "unattributed"


def run_layer(spec: GroupSpec, cores: int, hw: HardwareConfig) -> CoreRun | None:
    result, lowered, sim = run_group(spec, cores, hw)
    if not result.feasible:
        return None
    return CoreRun(cores, result.latency_cycles,
                   result.dram_bytes_read + result.dram_bytes_written, sim.active_cores,
                   max(busy[1] for busy in sim.busy_cycles), lowered.split)


def layers_faster_on_fewer_cores(network: Network, hw: HardwareConfig) -> tuple[int, list[Attribution]]:
    """(layers that run on all cores, attributions of those strictly faster on fewer)."""
    multicast = hw.with_(dram_multicast=True)
    most = max(hw.allowed_core_counts)
    considered, found = 0, []
    for i, layer in enumerate(network.layers):
        spec = GroupSpec.from_network(network, i, i + 1)
        runs = [r for c in hw.allowed_core_counts if (r := run_layer(spec, c, hw)) is not None]
        if not runs or runs[-1].cores != most or runs[-1].latency_cycles == 0:
            continue  # (0: a zero-copy Concat does nothing on any core count)
        considered += 1
        best = min(runs, key=lambda r: (r.latency_cycles, r.cores))
        if runs[-1].latency_cycles < SLOWER * best.latency_cycles:
            continue
        found.append(Attribution(network.name, layer.name, best, runs[-1],
                                 run_layer(spec, best.cores, multicast),
                                 run_layer(spec, most, multicast),
                                 hw.dram_bandwidth_bytes_per_cycle, hw.dram_port_bytes_per_cycle))
    return considered, found
