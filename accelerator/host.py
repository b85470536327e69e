"""Where the first layer runs: the accelerator, or the host CPU as VTA's deployment does.

VTA's own deployment flow (TVM's ``deploy_classification`` / ``tune_relay_vta`` tutorials)
starts offloading to the FPGA at ResNet-18's first max-pool (``start_pack =
"nn.max_pool2d"``): the 3-channel 7x7 first convolution runs on the board's ARM CPU,
because 3 input channels would fill 3 of 16 GEMM lanes. ``HardwareConfig.first_layer_on``
selects that deployment (``"host"``) or keeps every layer on the accelerator
(``"accelerator"``, the default on every preset, so no number moves unless asked).

Which layer
-----------
With ``"host"``, the **host layer** is layer 0 of the network's topological order when it
is a convolution (``CONV2D``, not depthwise / transposed) that reads only the network
input: the image convolution VTA's flow leaves on the CPU. A network that does not start
with one (the transformers, whose first layer is a projection of token embeddings) runs
entirely on the accelerator. Only that one layer moves; the max-pool after it stays on the
accelerator, as in VTA's flow.

What it costs (:func:`host_cost`)
---------------------------------
The host layer is a group of its own, ``[0, 1)``. It holds no accelerator core, pays no
accelerator launch or barrier, and cannot be fused with accelerator layers (a group
``[0, j)`` with ``j > 1`` is infeasible with a reason). It reads its input and weights and
writes its output through the DRAM the accelerator shares (those bytes are counted, and the
next group reads the output from DRAM), and takes, in accelerator cycles,

    host_call_overhead_cycles
    + ceil(MACs / host_int8_macs_per_cycle x clock_mhz / host_clock_mhz)     (compute)
    + ceil((input + weight + output bytes) / transfer bandwidth)             (transfer)

where the transfer bandwidth is ``host_transfer_bytes_per_cycle`` (a PCIe link for a
card-attached accelerator) or, at 0, the shared DRAM's bandwidth (a SoC like the Zynq, whose
ARM cores and FPGA use the same DDR). Compute and transfer are added, not overlapped: the
host's copy to and from the accelerator's memory is assumed serial with the conv (on the
presets the transfer is a few per cent of the compute on the Zynq and about a third on
``mlu100``'s PCIe). Energy is the same formula as an accelerator group's
(:func:`accelerator.results.group_energy_pj`) over the host's MACs and bytes with no GEMM /
ALU cycles: a lower estimate, since a CPU spends more per MAC than a GEMM array.

In a placement the host is one more resource: one host computation at a time
(:mod:`accelerator.spatial.simulate` models it as a SimPy resource of capacity 1,
:mod:`accelerator.spatial.timeline` as one more "core" that only host groups use). The
host's DRAM traffic is not put on the simulated bus (it is a delay on the host), so in a
placement it does not contend with co-running accelerator groups.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.results import GroupResult, group_energy_pj
from fusiongym.accelerator.workloads.network import NETWORK_INPUT, LayerKind, Network

HOST = "host"
ACCELERATOR = "accelerator"


def host_layers(network: Network, hw: HardwareConfig) -> int:
    """How many leading layers run on the host: 1 or 0 (see the module docstring)."""
    if hw.first_layer_on != HOST or not len(network):
        return 0
    first = network.layers[0]
    reads_input_only = all(p == NETWORK_INPUT for p in first.inputs)
    return 1 if first.kind == LayerKind.CONV2D and reads_input_only else 0


def runs_on_host(network: Network, start: int, end: int, hw: HardwareConfig) -> bool:
    """Whether the group ``[start, end)`` is the host group (the host layer alone)."""
    return start == 0 and end == 1 and host_layers(network, hw) == 1


def host_refusal(network: Network, start: int, end: int, hw: HardwareConfig) -> str | None:
    """Why ``[start, end)`` cannot run because of the host layer (None if that is not why):
    the host layer fused with accelerator layers."""
    if start == 0 and end > 1 and host_layers(network, hw) == 1:
        return (f"layer 0 ({network.layers[0].name}) runs on the host (first_layer_on: host) "
                f"and cannot be fused with accelerator layers 1..{end - 1}")
    return None


@dataclass(frozen=True)
class HostCost:
    """The host layer's cost in accelerator cycles and its DRAM bytes."""

    overhead_cycles: int
    compute_cycles: int
    transfer_cycles: int
    dram_bytes_read: int  # its input and weights
    dram_bytes_written: int  # its output
    macs: int

    @property
    def latency_cycles(self) -> int:
        return self.overhead_cycles + self.compute_cycles + self.transfer_cycles


def host_cost(network: Network, hw: HardwareConfig) -> HostCost:
    """What the host layer (layer 0) costs on ``hw``'s host (the module docstring's formula)."""
    layer = network.layers[0]
    bits = hw.inp_bits
    read = layer.input_bytes(bits) + layer.weight_bytes(hw.wgt_bits)
    written = layer.output_bytes(bits)
    host_macs_per_accel_cycle = hw.host_int8_macs_per_cycle * hw.host_clock_mhz / hw.clock_mhz
    bw = hw.host_transfer_bytes_per_cycle or hw.dram_bandwidth_bytes_per_cycle
    return HostCost(
        overhead_cycles=hw.host_call_overhead_cycles,
        compute_cycles=math.ceil(layer.macs / host_macs_per_accel_cycle),
        transfer_cycles=math.ceil((read + written) / bw),
        dram_bytes_read=read, dram_bytes_written=written, macs=layer.macs)


def host_energy_pj(cost: HostCost, hw: HardwareConfig) -> float:
    """The host layer's energy: its MACs and DRAM bytes at the config's energies."""
    return group_energy_pj(hw, macs_issued=cost.macs, gemm_cycles=0, alu_cycles=0,
                           dram_bytes_read=cost.dram_bytes_read,
                           dram_bytes_written=cost.dram_bytes_written)


def host_result(network: Network, start: int, end: int, cores: int,
                hw: HardwareConfig) -> GroupResult | None:
    """The group's result if the host decides it (the host group, or a group refused for
    fusing the host layer), else None: an accelerator group, for the lowering to cost."""
    refusal = host_refusal(network, start, end, hw)
    if refusal is not None:
        return GroupResult(start, end, cores, feasible=False, reason=refusal,
                           macs=sum(layer.macs for layer in network.layers[start:end]))
    if not runs_on_host(network, start, end, hw):
        return None
    cost = host_cost(network, hw)
    return GroupResult(start, end, cores, latency_cycles=cost.latency_cycles,
                       dram_bytes_read=cost.dram_bytes_read,
                       dram_bytes_written=cost.dram_bytes_written, macs=cost.macs,
                       energy_pj=host_energy_pj(cost, hw))  # no accelerator module is busy
