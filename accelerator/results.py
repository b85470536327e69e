"""What a group and a schedule cost, and the formulas that turn a run into that cost.

Everything here works on plain numbers (cycles, bytes, MACs), not on simulator or lowering
objects, so the evaluator (:mod:`accelerator.evaluator`, which simulates) and the oracle's
lower bounds (:mod:`agents.bounds`, which only sum the instruction streams) call the very
same formulas. This module imports nothing of the evaluator, the store or the schedule.

- :func:`group_overhead`: the fixed costs around a group's run (host launch before the
  cores start, end-of-group barrier after). The one place that defines them.
- :func:`group_latency_cycles`: launch + the cores' run + barrier.
- :func:`group_energy_pj`: issued MACs, SRAM and DRAM traffic at the config's energies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

from accelerator.config import HardwareConfig
from accelerator.objectives import objective_value


class GroupOverhead(NamedTuple):
    """Cycles a group costs besides its cores' run: before it (launch) and after (barrier)."""

    launch_cycles: int  # host launch: the group's cores start this long after it begins
    barrier_cycles: int  # end-of-group synchronisation, after the last core finishes

    @property
    def total_cycles(self) -> int:
        return self.launch_cycles + self.barrier_cycles


def group_overhead(hw: HardwareConfig, cores: int) -> GroupOverhead:
    """The launch and barrier of a group on ``cores`` cores (one core needs no barrier)."""
    barrier = hw.sync_cycles_per_core * cores if cores > 1 else 0
    return GroupOverhead(hw.launch_overhead_cycles, barrier)


def group_latency_cycles(run_cycles: int, cores: int, hw: HardwareConfig) -> int:
    """A group's wall time: host launch + the cores' run (``run_cycles``) + the barrier."""
    overhead = group_overhead(hw, cores)
    return overhead.launch_cycles + run_cycles + overhead.barrier_cycles


def group_energy_pj(hw: HardwareConfig, *, macs_issued: int, gemm_cycles: int,
                    alu_cycles: int, dram_bytes_read: int, dram_bytes_written: int) -> float:
    """Energy of one group run, from quantities its instruction streams fix.

    ``macs_issued`` counts padding lanes (what the GEMM unit really does);
    ``gemm_cycles`` / ``alu_cycles`` are summed instruction times (micro-ops x initiation
    interval); ``dram_bytes_read`` includes instruction fetch. SRAM traffic is the DRAM
    bytes landing in / leaving the buffers plus, per GEMM micro-op, one input vector, one
    weight block and an accumulator read + write, and per ALU op an accumulator read + write.
    """
    uop_cycles = gemm_cycles // hw.gemm_ii
    sram_bytes = (dram_bytes_read + dram_bytes_written
                  + uop_cycles * (hw.block_in * hw.inp_bytes
                                  + hw.block_in * hw.block_out * hw.wgt_bits / 8
                                  + 2 * hw.block_out * hw.acc_bytes)
                  + (alu_cycles // hw.alu_ii) * 2 * hw.block_out * hw.acc_bytes)
    return (macs_issued * hw.energy_pj_per_mac + sram_bytes * hw.energy_pj_per_sram_byte
            + (dram_bytes_read + dram_bytes_written) * hw.energy_pj_per_dram_byte)


@dataclass
class GroupResult:
    """What one fused group costs. ``feasible`` is False (with ``reason``) if it cannot run."""

    start: int
    end: int
    cores: int
    feasible: bool = True
    reason: str = ""
    latency_cycles: int = 0
    dram_bytes_read: int = 0
    dram_bytes_written: int = 0
    macs: int = 0
    energy_pj: float = 0.0
    busy_cycles: dict[str, int] = field(default_factory=dict)  # module -> summed over cores
    instructions: int = 0
    events: int = 0


@dataclass
class ScheduleResult:
    latency_cycles: int
    seconds: float
    dram_bytes_read: int
    dram_bytes_written: int
    macs: int
    energy_pj: float
    groups: list[GroupResult]

    @staticmethod
    def from_groups(results: Sequence[GroupResult], hw: HardwareConfig) -> "ScheduleResult":
        """Groups run one after another: every cost of the schedule is the sum of its groups'."""
        cycles = sum(r.latency_cycles for r in results)
        return ScheduleResult(
            latency_cycles=cycles,
            seconds=cycles / (hw.clock_mhz * 1e6),
            dram_bytes_read=sum(r.dram_bytes_read for r in results),
            dram_bytes_written=sum(r.dram_bytes_written for r in results),
            macs=sum(r.macs for r in results),
            energy_pj=sum(r.energy_pj for r in results),
            groups=list(results),
        )

    @property
    def edp(self) -> float:
        """Energy-delay product in pJ * s."""
        return self.energy_pj * self.seconds

    def objective(self, name: str) -> float:
        return objective_value(name, self.latency_cycles, self.energy_pj, self.seconds)
