"""What a hardware design costs: FPGA resources and timing (:mod:`.fpga`), ASIC area and
power (:mod:`.asic`), against the boards and processes of :mod:`.devices`.

A fact about hardware, so it lives beside the model; the design-space search
(``experiments/explore``) asks it whether a candidate fits.
"""

from fusiongym.accelerator.resources.asic import AsicReport, asic_cost, average_power_w, peak_power_w
from fusiongym.accelerator.resources.devices import ASIC_PROCESSES, FPGA_DEVICES, AsicProcess, FpgaDevice
from fusiongym.accelerator.resources.fpga import FpgaReport, bram36_for, fmax_mhz, fpga_cost, stages_for_clock

__all__ = ["ASIC_PROCESSES", "FPGA_DEVICES", "AsicProcess", "AsicReport", "FpgaDevice",
           "FpgaReport", "asic_cost", "average_power_w", "bram36_for", "fmax_mhz",
           "fpga_cost", "peak_power_w", "stages_for_clock"]
