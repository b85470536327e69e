"""The boards a design must fit: FPGA device budgets and the ASIC process a chip is drawn in.

FPGA budgets are the vendors' product-table figures (checked against FACTS.md):

- PYNQ-Z1 carries a Zynq-7000 **XC7Z020**: 140 36-Kb block RAMs (4.9 Mb), 220 DSP48E1
  slices, 53,200 LUTs, 106,400 flip-flops (AMD/Xilinx DS190, "Zynq-7000 SoC Data Sheet:
  Overview", Table 3, Z-7020 column).
- Ultra96 (v1/v2) carries a Zynq UltraScale+ **ZU3EG**: 216 36-Kb block RAMs (7.6 Mb),
  360 DSP48E2 slices, 70,560 LUTs, 141,120 flip-flops (AMD/Xilinx DS891, "Zynq UltraScale+
  MPSoC Data Sheet: Overview", Table 3, ZU3EG column). It has no UltraRAM.

The DSP slice decides how many int8 multiply-accumulates one slice does
(:mod:`accelerator.resources.fpga`); the speed grade (both boards ship -1) decides the
timing model's calibration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class FpgaDevice:
    """What one FPGA offers (counts of primitives)."""

    name: str  # the board
    part: str  # the device on it
    family: Literal["zynq7000", "zynqmp"]
    bram36: int  # 36-Kb block RAMs (each splits into two 18-Kb halves)
    dsp: int
    dsp_kind: Literal["DSP48E1", "DSP48E2"]
    luts: int
    ffs: int
    source: str


FPGA_DEVICES: dict[str, FpgaDevice] = {
    "pynq": FpgaDevice("PYNQ-Z1", "XC7Z020-1", "zynq7000", bram36=140, dsp=220,
                       dsp_kind="DSP48E1", luts=53_200, ffs=106_400,
                       source="DS190 Table 3 (Z-7020)"),
    "ultra96": FpgaDevice("Ultra96", "XCZU3EG-1", "zynqmp", bram36=216, dsp=360,
                          dsp_kind="DSP48E2", luts=70_560, ffs=141_120,
                          source="DS891 Table 3 (ZU3EG)"),
}


@dataclass(frozen=True)
class AsicProcess:
    """Area of the two things an accelerator is mostly made of, at one process node.

    ``mac_um2``: one int8 multiply-accumulate with its share of the adder tree and
    pipeline registers. Google's TPU v1 (Jouppi et al., ISCA 2017, "In-datacenter
    performance analysis of a tensor processing unit", 28 nm): the 65,536-MAC matrix unit is
    24 % of a die of at most 331 mm^2, i.e. <= 1,212 um^2 per MAC; scaled to 16 nm by the
    square of the feature size, (16/28)^2 = 0.33 (our arithmetic, ideal scaling, so an
    optimistic area): ~396 um^2.
    ``sram_um2_per_kib``: TSMC's 16 nm FinFET high-density 6T bit cell is 0.07 um^2 (Wu et
    al., IEDM 2013, "A 16nm FinFET CMOS technology for mobile SoC and computing
    applications"); 8,192 bits per KiB at an array efficiency of 0.6 (periphery, sense amps,
    redundancy: our assumption, typical of compiled SRAM macros): ~956 um^2 per KiB.
    ``control_mm2``: fetch / DMA / queues / instruction decode per core, our assumption
    (one small in-order controller), not a publication.
    """

    name: str
    node_nm: int
    mac_um2: float
    sram_um2_per_kib: float
    control_mm2: float
    source: str


ASIC_PROCESSES: dict[str, AsicProcess] = {
    "tsmc16": AsicProcess("TSMC 16 nm FinFET (MLU100's node)", 16,
                          mac_um2=1212.0 * (16 / 28) ** 2,
                          sram_um2_per_kib=8192 * 0.07 / 0.6,
                          control_mm2=0.05,
                          source="TPU v1 (ISCA 2017) scaled 28->16 nm; TSMC 16FF cell (IEDM 2013)"),
}
