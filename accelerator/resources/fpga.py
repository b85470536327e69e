"""What a VTA-style design costs on a Xilinx FPGA: block RAMs, DSP slices, LUTs, FFs, clock.

Every per-unit figure is either a vendor fact (cited) or our arithmetic (said so):

- **Block RAM** (UG473 "7 Series FPGAs Memory Resources", UG573 "UltraScale Architecture
  Memory Resources"): a 36-Kb block in simple-dual-port mode is 32Kx1, 16Kx2, 8Kx4, 4Kx9,
  2Kx18, 1Kx36 or 512x72 (the 9/18/36/72-bit widths use the parity bits as data); it splits
  into two 18-Kb halves (16Kx1 .. 512x36). A buffer read one whole word per cycle — VTA
  reads a full input vector, weight block or accumulator vector each GEMM cycle — of width
  ``W`` bits and depth ``D`` words takes ``ceil(W / w) * ceil(D / d)`` blocks of the best
  aspect ratio ``d x w``; we take the cheapest mapping, counting an 18-Kb half as 0.5.
- **DSP slices**: a DSP48E2 (UltraScale+) does **two** int8 multiply-accumulates that share
  one operand, by packing both 8-bit operands into its 27-bit pre-adder port (AMD/Xilinx
  WP486, "Deep Learning with INT8 Optimization on Xilinx Devices", 2017); VTA's GEMM shares
  each input element across ``BLOCK_OUT`` weights, so every MAC pairs. A DSP48E1 (Zynq-7000)
  does **one**: its multiplier port is 25 bits, and the packing needs 8 + 18 = 26 (our
  arithmetic from WP486's layout). MACs beyond the DSP budget go to LUTs.
- **LUTs** (our arithmetic, not a vendor table): an int8 x int8 multiplier in fabric is 64
  partial-product bits compressed on carry chains, ~1 LUT6 each, plus ~16 LUTs of its
  share of the accumulation adder: ``80`` per LUT MAC. A tensor-ALU lane (32-bit add,
  min/max compare + select, shift, opcode select) ~``200``. Per core, fetch + three DMA
  engines with their AXI masters + instruction decode + the queues: ``6,000`` (an
  assumption to calibrate against a place-and-route report, not a measurement).
- **FFs** (our arithmetic): each GEMM pipeline stage registers the in-flight accumulator
  vector (``BATCH x BLOCK_OUT x 32`` bits) and every MAC its 16-bit product once.
- **Timing** (Hartstein & Puzak, "The optimum pipeline depth for a microprocessor", ISCA
  2002: a stage's period is ``t_logic / N + t_seq``, the logic divided over ``N`` stages plus
  a fixed sequencing overhead — clock-to-Q, setup, skew): the GEMM closes at
  ``f_max(N) = 1 / (t_logic / N + t_seq)``. Calibration (ours): on Zynq UltraScale+ -1 we
  set the two constants so that 11 stages close 250 MHz and 20 stages 333 MHz, the two ends
  of the VTA talk's sweep for a 16-wide block: ``t_logic = 24.44 ns``, ``t_seq = 1.78 ns``
  (then 300 MHz needs 16 stages). The adder tree grows by one level per doubling of
  ``BLOCK_IN``: ``t_logic`` scales as ``(2 + log2 BLOCK_IN) / 6`` (the multiplier counted
  as two adder levels). Zynq-7000 -1 is slower by the DSP's -1 Fmax ratio as we read the
  data sheets (DS187 vs DS925: 464 vs 645 MHz, a factor 1.39). The **cycles** the stages
  cost are simulated, not estimated here: every GEMM instruction pays
  ``gemm_pipeline_stages`` cycles to fill and drain the pipeline
  (:class:`~accelerator.config.HardwareConfig`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.resources.devices import FpgaDevice

# (depth, width) of one block RAM in simple-dual-port mode, with its cost in 36-Kb blocks
_BRAM_SHAPES = ([(32768 >> k, w, 1.0) for k, w in enumerate((1, 2, 4, 9, 18, 36, 72))]
                + [(16384 >> k, w, 0.5) for k, w in enumerate((1, 2, 4, 9, 18, 36))])
MACS_PER_DSP = {"DSP48E1": 1, "DSP48E2": 2}
LUTS_PER_LUT_MAC = 80
LUTS_PER_ALU_LANE = 200
LUTS_CONTROL_PER_CORE = 6000
UOP_BITS = 32  # VTA micro-ops are 32-bit
# timing calibration (module docstring), ns, for BLOCK_IN = 16 on Zynq UltraScale+ -1
_T_LOGIC_NS = (1e3 / 250 - 1e3 / 333) / (1 / 11 - 1 / 20)
_T_SEQ_NS = 1e3 / 333 - _T_LOGIC_NS / 20
_FAMILY_SLOWDOWN = {"zynqmp": 1.0, "zynq7000": 645 / 464}


def bram36_for(width_bits: int, depth_words: int) -> float:
    """36-Kb block RAMs (18-Kb halves count 0.5) for one ``width x depth`` buffer."""
    if width_bits <= 0 or depth_words <= 0:
        return 0.0
    return min(math.ceil(width_bits / w) * math.ceil(depth_words / d) * cost
               for d, w, cost in _BRAM_SHAPES)


def buffer_shapes(hw: HardwareConfig) -> dict[str, tuple[int, int]]:
    """``name -> (word width in bits, depth in words)`` of each on-chip buffer of one core:
    the word is what the datapath reads per cycle (VTA's hw_spec.h layout)."""
    widths = {
        "inp": hw.batch * hw.block_in * hw.inp_bits,
        "wgt": hw.block_out * hw.block_in * hw.wgt_bits,
        "acc": hw.batch * hw.block_out * hw.acc_bits,
        "out": hw.batch * hw.block_out * hw.inp_bits,
        "uop": UOP_BITS,
    }
    sizes = {"inp": hw.inp_buff_bytes, "wgt": hw.wgt_buff_bytes, "acc": hw.acc_buff_bytes,
             "out": hw.out_buff_bytes, "uop": hw.uop_buff_bytes}
    return {k: (widths[k], max(1, sizes[k] * 8 // widths[k])) for k in widths}


def fmax_mhz(stages: int, block_in: int, family: str) -> float:
    """The clock a GEMM pipeline of ``stages`` stages closes at (module docstring)."""
    if stages < 1:
        raise ValueError(f"a GEMM pipeline has at least 1 stage, got {stages}")
    t_logic = _T_LOGIC_NS * (2 + math.log2(block_in)) / 6
    period_ns = (t_logic / stages + _T_SEQ_NS) * _FAMILY_SLOWDOWN[family]
    return 1e3 / period_ns


def stages_for_clock(clock_mhz: float, block_in: int, family: str, max_stages: int = 64) -> int | None:
    """The fewest stages that close ``clock_mhz`` (None: no depth up to ``max_stages`` does)."""
    for n in range(1, max_stages + 1):
        if fmax_mhz(n, block_in, family) >= clock_mhz:
            return n
    return None


@dataclass(frozen=True)
class FpgaReport:
    """One design's FPGA cost, against one device."""

    device: str
    bram36_per_buffer: dict[str, float]  # one core
    bram36: float  # all cores
    dsp: int
    macs_per_dsp: int
    lut_macs: int  # MACs that did not fit the DSPs
    luts: int
    ffs: int
    gemm_stages: int
    fmax_mhz: float
    clock_mhz: float
    utilisation: dict[str, float]  # resource -> used / available
    over: tuple[str, ...] = field(default=())  # what does not fit (empty: it fits)

    @property
    def fits(self) -> bool:
        return not self.over

    @property
    def max_utilisation(self) -> float:
        return max(self.utilisation.values())


def fpga_cost(hw: HardwareConfig, device: FpgaDevice, alu_lanes: int | None = None,
              gemm_stages: int | None = None) -> FpgaReport:
    """Resources of ``hw`` (all its cores) on ``device``.

    ``alu_lanes``: tensor-ALU lanes per core (default: one per accumulator-vector element,
    VTA's full-width ALU). ``gemm_stages``: GEMM pipeline depth (default:
    ``hw.gemm_pipeline_stages``, or, where that is 0, the fewest stages that close
    ``hw.clock_mhz``).
    """
    cores = hw.num_cores
    lanes = alu_lanes if alu_lanes is not None else hw.batch * hw.block_out
    per_buffer = {k: bram36_for(w, d) for k, (w, d) in buffer_shapes(hw).items()}
    bram = cores * sum(per_buffer.values())
    macs = cores * hw.batch * hw.block_in * hw.block_out
    per_dsp = MACS_PER_DSP[device.dsp_kind]
    dsp = min(device.dsp, math.ceil(macs / per_dsp))
    lut_macs = max(0, macs - dsp * per_dsp)
    luts = (lut_macs * LUTS_PER_LUT_MAC + cores * lanes * LUTS_PER_ALU_LANE
            + cores * LUTS_CONTROL_PER_CORE)
    stages = gemm_stages if gemm_stages is not None else hw.gemm_pipeline_stages
    if stages == 0:
        stages = stages_for_clock(hw.clock_mhz, hw.block_in, device.family) or 64
    ffs = cores * stages * hw.batch * hw.block_out * hw.acc_bits + macs * 16
    f_max = fmax_mhz(stages, hw.block_in, device.family)
    use = {"bram36": bram / device.bram36, "dsp": dsp / device.dsp,
           "luts": luts / device.luts, "ffs": ffs / device.ffs}
    over = tuple(k for k, v in use.items() if v > 1.0)
    if hw.clock_mhz > f_max * (1 + 1e-9):
        over += (f"timing ({hw.clock_mhz:g} MHz > f_max {f_max:.0f} MHz at {stages} stages)",)
    return FpgaReport(device=device.name, bram36_per_buffer=per_buffer, bram36=bram, dsp=dsp,
                      macs_per_dsp=per_dsp, lut_macs=lut_macs, luts=luts, ffs=ffs,
                      gemm_stages=stages, fmax_mhz=f_max, clock_mhz=hw.clock_mhz,
                      utilisation=use, over=over)
