"""Virtual threads on VTA's own ResNet-18 convolutions (FACTS.md C2..C12), one core.

``python -m fusiongym.benchmarks.vthreads_table [--hw pynq]`` prints a Markdown table: compute-module
utilization (busy cycles / simulated cycles) with 1 and 2 virtual threads, and the gain.
The VTA talk reports that virtual threading raises compute utilization on these layers;
``tests/test_validation.py`` checks that the model agrees, layer by layer.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from fusiongym.accelerator.config import HardwareConfig, load_config
from fusiongym.accelerator.isa import COMPUTE_MODULE
from fusiongym.accelerator.lowering import GroupSpec, lower_group
from fusiongym.accelerator.sim import simulate
from fusiongym.accelerator.workloads.network import Network, NetworkBuilder

# FACTS.md: (name, H=W, IC, OC, kernel, pad, stride)
RESNET18_VTA_CONVS = (
    ("C2", 56, 64, 64, 3, 1, 1),
    ("C3", 56, 64, 64, 1, 0, 1),
    ("C4", 56, 64, 128, 3, 1, 2),
    ("C5", 56, 64, 128, 1, 0, 2),
    ("C6", 28, 128, 128, 3, 1, 1),
    ("C7", 28, 128, 256, 3, 1, 2),
    ("C8", 28, 128, 256, 1, 0, 2),
    ("C9", 14, 256, 256, 3, 1, 1),
    ("C10", 14, 256, 512, 3, 1, 2),
    ("C11", 14, 256, 512, 1, 0, 2),
    ("C12", 7, 512, 512, 3, 1, 1),
)


def conv_layer(name: str, size: int, c_in: int, c_out: int, kernel: int, pad: int,
               stride: int) -> Network:
    """A one-layer network holding one of the FACTS.md convolutions."""
    b = NetworkBuilder(name, (c_in, size, size))
    b.conv(None, c_out, kernel, stride, pad, name=name)
    return b.build()


@dataclass(frozen=True)
class VthreadRow:
    layer: str
    util_1: float  # compute-module utilization with 1 virtual thread
    util_2: float
    cycles_1: int
    cycles_2: int

    @property
    def gain(self) -> float:
        return self.util_2 / self.util_1


def _utilization(network: Network, hw: HardwareConfig) -> tuple[float, int]:
    lowered = lower_group(GroupSpec.from_network(network, 0, 1), 1, hw)
    if not lowered.feasible:
        raise ValueError(f"{network.name} does not fit {hw.name}: {lowered.reason}")
    sim = simulate(lowered.programs, hw)
    return sim.busy_cycles[0][COMPUTE_MODULE] / sim.cycles, sim.cycles


def vthreads_rows(hw: HardwareConfig | None = None) -> list[VthreadRow]:
    """One row per FACTS.md layer C2..C12 on ``hw`` (default: the pynq preset)."""
    hw = hw if hw is not None else load_config("pynq")
    one, two = hw.with_(virtual_threads=1), hw.with_(virtual_threads=2)
    rows = []
    for spec in RESNET18_VTA_CONVS:
        net = conv_layer(*spec)
        u1, c1 = _utilization(net, one)
        u2, c2 = _utilization(net, two)
        rows.append(VthreadRow(spec[0], u1, u2, c1, c2))
    return rows


def markdown(rows: list[VthreadRow]) -> str:
    lines = ["| layer | util 1 vt | util 2 vt | gain |", "|---|---:|---:|---:|"]
    lines += [f"| {r.layer} | {r.util_1:.1%} | {r.util_2:.1%} | {r.gain:.2f}x |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", default="pynq", help="hardware preset or file (default: pynq)")
    args = parser.parse_args(argv)
    print(markdown(vthreads_rows(load_config(args.hw))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
