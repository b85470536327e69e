"""Memoized group evaluation: lower + simulate each distinct (hardware, group shape, cores) once.

The key is the hardware config's identity, the group's layer shapes and internal edges
(not names), and the core count, so identical blocks (ResNet's repeated stages, the same
layer in two networks) are simulated once. ``sim_calls`` counts cache misses: that is the
search cost the schedulers report.
"""

from __future__ import annotations

from pathlib import Path

from accelerator.config import HardwareConfig
from accelerator.lowering import GroupSpec, LoweredGroup, infeasibility, lower_group
from accelerator.overheads import group_wall_cycles
from accelerator.schedule import GroupResult
from accelerator.sim import SimResult, simulate
from accelerator.workloads.network import Network


def group_latency_cycles(sim: SimResult, cores: int, hw: HardwareConfig) -> int:
    """A group's wall time: host launch + the cores' run + the end-of-group barrier (the
    simulated one; ``cores`` is kept for callers, the sim knows how many it had)."""
    return int(group_wall_cycles(sim.cycles + sim.barrier_cycles, hw))


def group_energy_pj(lowered: LoweredGroup, sim: SimResult, hw: HardwareConfig) -> float:
    """MACs issued (padding lanes included), SRAM traffic of loads / stores / GEMM operand
    reads, and DRAM bytes, at the config's per-unit energies."""
    uop_cycles = sim.gemm_cycles // hw.gemm_ii
    sram_bytes = (sim.dram_bytes_read + sim.dram_bytes_written
                  + uop_cycles * (hw.block_in * hw.inp_bytes
                                  + hw.block_in * hw.block_out * hw.wgt_bits / 8
                                  + 2 * hw.block_out * hw.acc_bytes)
                  + (sim.alu_cycles // hw.alu_ii) * 2 * hw.block_out * hw.acc_bytes)
    macs_issued = lowered.meta.get("gemm_macs_issued", lowered.macs)
    return (macs_issued * hw.energy_pj_per_mac + sram_bytes * hw.energy_pj_per_sram_byte
            + (sim.dram_bytes_read + sim.dram_bytes_written) * hw.energy_pj_per_dram_byte)


def run_group(spec: GroupSpec, cores: int, hw: HardwareConfig, start: int = 0,
              trace: bool = False) -> tuple[GroupResult, LoweredGroup, SimResult | None]:
    """Lower and simulate one group (no memo)."""
    end = start + len(spec.layers)
    lowered = lower_group(spec, cores, hw)
    if not lowered.feasible:
        return GroupResult(start, end, cores, feasible=False, reason=lowered.reason,
                           macs=lowered.macs), lowered, None
    sim = simulate(lowered.programs, hw, trace=trace)
    result = GroupResult(
        start, end, cores,
        latency_cycles=group_latency_cycles(sim, cores, hw),
        dram_bytes_read=sim.dram_bytes_read - sim.instruction_bytes,
        dram_bytes_written=sim.dram_bytes_written,
        macs=lowered.macs,
        energy_pj=group_energy_pj(lowered, sim, hw),
        busy_cycles=sim.module_busy(),
        instructions=sum(sim.instructions.values()),
        events=sim.events,
    )
    return result, lowered, sim


class GroupEvaluator:
    """Evaluates groups of a network on one hardware config, memoizing by group shape."""

    def __init__(self, hw: HardwareConfig, store_path: str | Path | None = None):
        """``store_path``: an on-disk memo (SQLite, :mod:`accelerator.store`) shared across
        runs and processes; results found there cost no simulation."""
        self.hw = hw
        self._memo: dict[tuple, GroupResult] = {}
        self._specs: dict[tuple[str, int, int], GroupSpec] = {}
        self.sim_calls = 0  # simulations actually run (misses of memo and store)
        self.hits = 0
        self.store_hits = 0
        self.store = None
        if store_path is not None:
            from accelerator.store import GroupStore
            self.store = GroupStore(store_path)

    def spec(self, network: Network, start: int, end: int) -> GroupSpec:
        k = (network.content_hash(), start, end)
        spec = self._specs.get(k)
        if spec is None:
            spec = self._specs[k] = GroupSpec.from_network(network, start, end)
        return spec

    def infeasible_reason(self, network: Network, start: int, end: int, cores: int) -> str | None:
        """Why the group cannot run (None if it can). Lowering only, no simulation."""
        return infeasibility(self.spec(network, start, end), cores, self.hw)

    def result(self, network: Network, start: int, end: int, cores: int) -> GroupResult:
        spec = self.spec(network, start, end)
        key = (spec.key, cores)
        hit = self._memo.get(key)
        if hit is not None:
            self.hits += 1
            return _relocated(hit, start, end)
        def run() -> GroupResult:
            return run_group(spec, cores, self.hw, start)[0]

        if self.store is None:
            result, simulated = run(), True
        else:
            from accelerator.store import lookup_or_run
            result, simulated = lookup_or_run(self.store, self.hw.key, spec.key, cores,
                                              start, end, run)
        if not simulated:
            self.store_hits += 1
        elif result.feasible:
            self.sim_calls += 1
        self._memo[key] = result
        return result

    def __len__(self) -> int:
        return len(self._memo)


def _relocated(r: GroupResult, start: int, end: int) -> GroupResult:
    if r.start == start and r.end == end:
        return r
    from dataclasses import replace
    return replace(r, start=start, end=end)


_DEFAULT: dict[str, GroupEvaluator] = {}


def default_evaluator(hw: HardwareConfig) -> GroupEvaluator:
    """A process-wide evaluator per hardware config (shared memo)."""
    ev = _DEFAULT.get(hw.key)
    if ev is None:
        ev = _DEFAULT[hw.key] = GroupEvaluator(hw)
    return ev
