"""The resource model (accelerator/resources): block RAM mapping, DSP packing, timing, ASIC
area / power, and the cycles a deeper GEMM pipeline costs in the simulator."""

from __future__ import annotations

import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.evaluator import run_group
from fusiongym.accelerator.isa import GEMM
from fusiongym.accelerator.lowering import GroupSpec, lower_group
from fusiongym.accelerator.resources import (ASIC_PROCESSES, FPGA_DEVICES, asic_cost, bram36_for, fmax_mhz,
                                   fpga_cost, stages_for_clock)
from fusiongym.accelerator.workloads.loader import load_network


def test_block_ram_mapping_takes_the_cheapest_aspect_ratio():
    assert bram36_for(72, 512) == 1  # one block in its widest mode
    assert bram36_for(36, 512) == 0.5  # an 18-Kb half
    assert bram36_for(2048, 1024) == 57  # VTA's 256 KiB weight buffer: 2048-bit words
    assert bram36_for(32, 8192) == 8  # the 32 KiB micro-op cache
    assert bram36_for(1, 1) == 0.5


@pytest.mark.parametrize("preset", ["pynq", "ultra96"])
def test_presets_fit_their_boards(preset):
    report = fpga_cost(load_config(preset), FPGA_DEVICES[preset])
    assert report.fits, report.over
    assert 0.3 < report.utilisation["bram36"] < 1.0  # the buffers are most of the design


def test_dsp48e2_packs_two_int8_macs_and_dsp48e1_one():
    hw = load_config("ultra96")
    assert fpga_cost(hw, FPGA_DEVICES["ultra96"]).dsp == 128  # 256 MACs / 2
    pynq = fpga_cost(load_config("pynq"), FPGA_DEVICES["pynq"])
    assert pynq.dsp == 220 and pynq.lut_macs == 256 - 220  # the rest go to LUTs


def test_a_design_too_big_for_the_board_is_over():
    hw = load_config("ultra96").with_(log_block=6)  # 4,096 MACs
    report = fpga_cost(hw, FPGA_DEVICES["ultra96"])
    assert not report.fits and "luts" in report.over


def test_timing_model_reproduces_its_calibration_and_is_monotone():
    assert fmax_mhz(11, 16, "zynqmp") == pytest.approx(250)
    assert fmax_mhz(20, 16, "zynqmp") == pytest.approx(333)
    assert stages_for_clock(300, 16, "zynqmp") == 16
    clocks = [fmax_mhz(n, 16, "zynqmp") for n in range(1, 30)]
    assert clocks == sorted(clocks)
    assert fmax_mhz(16, 32, "zynqmp") < fmax_mhz(16, 16, "zynqmp")  # a deeper adder tree
    assert fmax_mhz(16, 16, "zynq7000") < fmax_mhz(16, 16, "zynqmp")
    hw = load_config("ultra96").with_(gemm_pipeline_stages=11)
    assert any("timing" in o for o in fpga_cost(hw, FPGA_DEVICES["ultra96"]).over)


def test_asic_area_grows_with_macs_and_sram():
    proc = ASIC_PROCESSES["tsmc16"]
    hw = load_config("mlu100")
    base = asic_cost(hw, proc)
    assert asic_cost(hw.with_(log_block=5), proc).mac_mm2 == pytest.approx(base.mac_mm2 / 4)
    assert asic_cost(hw.with_(log_wgt_buff_size=hw.log_wgt_buff_size + 1), proc).sram_mm2 > base.sram_mm2
    assert asic_cost(hw, proc, area_budget_mm2=1.0).over


def test_each_gemm_instruction_pays_the_pipeline_depth():
    net = load_network("tiny_chain")
    spec = GroupSpec.from_network(net, 0, 2)
    hw0 = load_config("ultra96")
    hw20 = hw0.with_(gemm_pipeline_stages=20)
    gemms = sum(1 for prog in lower_group(spec, 1, hw0).programs for i in prog if i.op == GEMM)
    r0, r20 = run_group(spec, 1, hw0)[0], run_group(spec, 1, hw20)[0]
    assert gemms > 0
    assert r0.latency_cycles < r20.latency_cycles <= r0.latency_cycles + 20 * gemms
    assert r20.energy_pj == pytest.approx(r0.energy_pj)  # filling a pipeline reads nothing
