"""Where should the first convolution run: the accelerator (im2col) or the host CPU?

``python -m fusiongym.benchmarks.host_first_layer [--hw mlu100 pynq] [--networks resnet18 ...]
[--json]`` runs the oracle with ``first_layer_on`` at each value (``accelerator/host.py``)
and prints one Markdown row per (hardware, network): the oracle's latency either way, the
first layer's own cost either way (on the accelerator: the oracle's group holding layer 0,
which may also hold the layers fused with it; on the host: the host formula's total and its
compute part) and which is faster. A fresh evaluator per run; no timing is reported.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate
from fusiongym.accelerator.host import host_cost, host_layers
from fusiongym.accelerator.workloads.zoo import get_network
from fusiongym.agents.oracle import OracleScheduler

NETWORKS = ("resnet18", "mobilenet_v1", "vgg16")
HARDWARE = ("mlu100", "pynq")


@dataclass(frozen=True)
class HostRow:
    hardware: str
    network: str
    first_layer: str  # name, shape
    accel_oracle_cycles: int
    host_oracle_cycles: int
    accel_first_group: str  # the oracle's group holding layer 0 on the accelerator
    accel_first_group_cycles: int
    host_first_layer_cycles: int
    host_compute_cycles: int
    host_transfer_cycles: int

    @property
    def faster(self) -> str:
        return "host" if self.host_oracle_cycles < self.accel_oracle_cycles else "accelerator"


def measure(network_name: str, hw_name: str) -> HostRow:
    net = get_network(network_name)
    base = load_config(hw_name)
    accel, host = base.with_(first_layer_on="accelerator"), base.with_(first_layer_on="host")
    if not host_layers(net, host):
        raise UserInputError(f"{network_name}: layer 0 is not a convolution of the network "
                             "input, so first_layer_on: host changes nothing")
    out = {}
    for hw in (accel, host):
        ev = GroupEvaluator(hw)
        oracle = OracleScheduler(progress=False, evaluator=ev)
        schedule = oracle.schedule(net, hw)
        out[hw.first_layer_on] = (schedule, evaluate(net, schedule, hw, ev))
    schedule, result = out["accelerator"]
    g0, r0 = schedule.groups[0], result.groups[0]
    names = [layer.name for layer in net.layers[g0.start:g0.end]]
    cost = host_cost(net, host)
    layer = net.layers[0]
    return HostRow(
        hardware=hw_name, network=network_name,
        first_layer=f"{layer.name} {layer.c_in}->{layer.c_out} {layer.kernel[0]}x{layer.kernel[1]}"
                    f"/{layer.stride[0]} ({layer.macs / 1e6:.0f} M MACs)",
        accel_oracle_cycles=result.latency_cycles,
        host_oracle_cycles=out["host"][1].latency_cycles,
        accel_first_group=f"{' + '.join(names)} x{g0.cores}",
        accel_first_group_cycles=r0.latency_cycles,
        host_first_layer_cycles=cost.latency_cycles,
        host_compute_cycles=cost.compute_cycles, host_transfer_cycles=cost.transfer_cycles)


def markdown(rows: list[HostRow]) -> str:
    lines = ["| hw | network | first layer | oracle, accelerator | oracle, host | host / accel "
             "| first group on the accelerator | first layer on the host (compute + transfer) "
             "| faster |", "|---|---|---|---:|---:|---:|---|---:|---|"]
    for r in rows:
        lines.append(
            f"| {r.hardware} | {r.network} | {r.first_layer} | {r.accel_oracle_cycles:,} | "
            f"{r.host_oracle_cycles:,} | {r.host_oracle_cycles / r.accel_oracle_cycles:.2f} | "
            f"{r.accel_first_group}: {r.accel_first_group_cycles:,} | "
            f"{r.host_first_layer_cycles:,} ({r.host_compute_cycles:,} + "
            f"{r.host_transfer_cycles:,}) | {r.faster} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", nargs="+", default=list(HARDWARE))
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        rows = [measure(n, h) for h in args.hw for n in args.networks]
    except UserInputError as err:
        print(f"host_first_layer: error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([asdict(r) | {"faster": r.faster} for r in rows], indent=1))
    else:
        print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
