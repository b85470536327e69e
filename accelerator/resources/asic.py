"""What a design costs as a chip (MLU100-class): silicon area at a named node, and power.

Area per int8 MAC and per KiB of SRAM come from :data:`~accelerator.resources.devices.ASIC_PROCESSES`
(cited there). Power comes from the energy model already in
:class:`~accelerator.config.HardwareConfig` (Horowitz, ISSCC 2014: pJ per MAC, per SRAM byte,
per DRAM byte), so the chip's power and the simulated energy of a schedule are one model:

- **peak power**: every MAC busy each cycle, each micro-op reading one input vector and one
  weight block and reading + writing one accumulator vector (what
  :func:`accelerator.results.group_energy_pj` charges per micro-op), and DRAM streaming at
  its full bandwidth;
- a schedule's **average power** is its simulated energy over its simulated latency
  (:func:`average_power_w`).

Leakage and clock-tree power are not modelled (the energy model has none): these are
dynamic-power figures, lower bounds on a real chip's draw.
"""

from __future__ import annotations

from dataclasses import dataclass

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.resources.devices import AsicProcess

# one tensor-ALU lane (32-bit add / compare / shift): as much area as two int8 MACs (our
# assumption: a 32-bit adder + comparator is about twice an 8x8 multiplier's cells)
ALU_LANE_MACS = 2.0


@dataclass(frozen=True)
class AsicReport:
    process: str
    mac_mm2: float
    sram_mm2: float
    alu_mm2: float
    control_mm2: float
    area_mm2: float
    peak_power_w: float
    over: tuple[str, ...] = ()

    @property
    def fits(self) -> bool:
        return not self.over


def sram_kib(hw: HardwareConfig) -> float:
    """On-chip SRAM of one core: input, weight, accumulator, output and micro-op buffers."""
    return (hw.inp_buff_bytes + hw.wgt_buff_bytes + hw.acc_buff_bytes + hw.out_buff_bytes
            + hw.uop_buff_bytes) / 1024


def peak_power_w(hw: HardwareConfig) -> float:
    """Dynamic power with every MAC and the whole DRAM bandwidth busy (module docstring)."""
    per_uop_sram_bytes = (hw.batch * hw.block_in * hw.inp_bytes
                          + hw.block_in * hw.block_out * hw.wgt_bits / 8
                          + 2 * hw.batch * hw.block_out * hw.acc_bytes)
    pj_per_cycle = (hw.num_cores * (hw.macs_per_cycle * hw.energy_pj_per_mac
                                    + per_uop_sram_bytes / hw.gemm_ii * hw.energy_pj_per_sram_byte)
                    + hw.dram_bandwidth_bytes_per_cycle * hw.energy_pj_per_dram_byte)
    return pj_per_cycle * hw.clock_mhz * 1e6 * 1e-12


def average_power_w(energy_pj: float, latency_cycles: int, clock_mhz: float) -> float:
    """A run's dynamic power: its energy over its wall time."""
    return energy_pj * 1e-12 / (latency_cycles / (clock_mhz * 1e6)) if latency_cycles else 0.0


def asic_cost(hw: HardwareConfig, process: AsicProcess, alu_lanes: int | None = None,
              area_budget_mm2: float | None = None,
              power_budget_w: float | None = None) -> AsicReport:
    """Area and peak power of ``hw`` (all cores) at ``process``; ``over`` names a budget
    it exceeds."""
    lanes = alu_lanes if alu_lanes is not None else hw.batch * hw.block_out
    macs = hw.batch * hw.block_in * hw.block_out
    mac = hw.num_cores * macs * process.mac_um2 * 1e-6
    sram = hw.num_cores * sram_kib(hw) * process.sram_um2_per_kib * 1e-6
    alu = hw.num_cores * lanes * ALU_LANE_MACS * process.mac_um2 * 1e-6
    control = hw.num_cores * process.control_mm2
    area = mac + sram + alu + control
    power = peak_power_w(hw)
    over: tuple[str, ...] = ()
    if area_budget_mm2 is not None and area > area_budget_mm2:
        over += (f"area {area:.1f} mm^2 > {area_budget_mm2:g}",)
    if power_budget_w is not None and power > power_budget_w:
        over += (f"peak power {power:.1f} W > {power_budget_w:g}",)
    return AsicReport(process.name, mac, sram, alu, control, area, power, over)
