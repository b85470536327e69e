"""What a group and a schedule cost, and the formulas that turn a run into that cost.

Everything here works on plain numbers (cycles, bytes, MACs), not on simulator or lowering
objects, so the evaluator (:mod:`accelerator.evaluator`, which simulates) and the oracle's
lower bounds (:mod:`accelerator.bounds`, which only sum the instruction streams) call the very
same formulas. This module imports nothing of the evaluator, the store or the schedule.

- :func:`group_overhead`: the fixed costs around a group's run (host launch before the
  cores start, end-of-group barrier after, and any wait for the host's next launch). The one
  place that defines them.
- :func:`group_latency_cycles`: launch + the cores' run + barrier (+ host wait).
- :func:`group_energy_pj`: issued MACs, SRAM and DRAM traffic at the config's energies.

Overheads
---------
Each is a hardware knob with a cited magnitude (``presets/mlu100.yaml``) that a file can set
to 0 (``HardwareConfig.without_overheads``), so no trade-off has to hinge on them.

**Barrier.** When a group's cores finish they synchronise before the next group may start:
a dissemination (butterfly) barrier over the *active* cores, the ones that got work. In
round ``r`` core ``i`` signals core ``(i + 2^r) mod n`` and waits for the signal of core
``(i - 2^r) mod n``; each signal takes ``barrier_hop_cycles``. :mod:`accelerator.sim` runs it
as SimPy events; every chain of signals from the last core to finish has at most
``ceil(log2(n))`` hops and one has exactly that many, so it ends ``ceil(log2(n)) x
barrier_hop_cycles`` after the last core finishes: the closed form here (a test checks the
two agree). The legacy host-polled barrier (``sync_cycles_per_core`` x allocated cores, kept
so the ``vta16`` preset reproduces) comes after it.

**Launch.** Each group costs ``launch_overhead_cycles`` of host driver/runtime work plus
``launch_dispatch_cycles`` of doorbell and command fetch (the instruction stream itself is
fetched from DRAM by each core, inside the simulation). Without a command queue both are
serial with the run. With one (``launch_overlap``) the host prepares the next group's
launch while this group runs, so a group costs ``dispatch + max(device, driver)`` with
``device`` = run + barrier: the host wait is charged to the group whose run failed to cover
it. That keeps a schedule's latency a *sum over groups*, so the DP oracle stays exact for
this cost model; against a two-stage (host, device) pipeline it omits the first group's
unhidden driver time (a per-schedule constant, which moves no argmin) and is pessimistic
where the host could run ahead across a long group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.objectives import objective_value


class GroupOverhead(NamedTuple):
    """Cycles a group costs besides its cores' run: before it (launch) and after (barrier,
    then any wait for the host to have the next launch ready)."""

    launch_cycles: int  # host launch: the group's cores start this long after it begins
    barrier_cycles: int  # end-of-group synchronisation, after the last core finishes
    host_wait_cycles: int = 0  # overlapped launch: driver work the device time did not cover

    @property
    def total_cycles(self) -> int:
        return self.launch_cycles + self.barrier_cycles + self.host_wait_cycles


def barrier_rounds(active_cores: int) -> int:
    """Rounds of a dissemination barrier over ``active_cores`` cores (0 for one core)."""
    return math.ceil(math.log2(active_cores)) if active_cores > 1 else 0


def group_overhead(hw: HardwareConfig, cores: int, active_cores: int | None = None,
                   run_cycles: float = 0) -> GroupOverhead:
    """The launch, barrier and host wait of a group on ``cores`` allocated cores of which
    ``active_cores`` (default: all) got work, whose cores ran ``run_cycles``. Every part is
    monotone in ``run_cycles``, and so is the total with it: a lower bound of the run gives a
    lower bound of the latency."""
    active = cores if active_cores is None else active_cores
    if active == 0:  # no instructions (a zero-copy Concat): nothing is launched or awaited
        return GroupOverhead(0, 0)
    barrier = barrier_rounds(active) * hw.barrier_hop_cycles
    if cores > 1:
        barrier += hw.sync_cycles_per_core * cores
    if hw.launch_overlap:
        wait = max(0, hw.launch_overhead_cycles - (run_cycles + barrier))
        return GroupOverhead(hw.launch_dispatch_cycles, barrier, wait)
    return GroupOverhead(hw.launch_dispatch_cycles + hw.launch_overhead_cycles, barrier)


def group_latency_cycles(run_cycles: int, cores: int, hw: HardwareConfig,
                         active_cores: int | None = None) -> int:
    """A group's wall time: host launch + the cores' run (``run_cycles``) + the barrier (+ the
    host wait of an overlapped launch)."""
    return run_cycles + group_overhead(hw, cores, active_cores, run_cycles).total_cycles


def group_energy_pj(hw: HardwareConfig, *, macs_issued: int, gemm_cycles: int,
                    alu_cycles: int, dram_bytes_read: int, dram_bytes_written: int) -> float:
    """Energy of one group run, from quantities its instruction streams fix.

    ``macs_issued`` counts padding lanes (what the GEMM unit really does);
    ``gemm_cycles`` / ``alu_cycles`` are summed instruction times (micro-ops x initiation
    interval); ``dram_bytes_read`` includes instruction fetch. SRAM traffic is the DRAM
    bytes landing in / leaving the buffers plus, per GEMM micro-op, one input vector, one
    weight block and an accumulator read + write, and per ALU op an accumulator read + write.
    """
    # micro-ops from the MACs they issued, not from gemm_cycles: the cycles a GEMM spends
    # filling its pipeline (``gemm_pipeline_stages``) read no operands
    uop_cycles = macs_issued // (hw.batch * hw.block_in * hw.block_out)
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
