"""How many simulations the exhaustive DP would run (on demand, not a test).

    python -m fusiongym.benchmarks.exhaustive_count HW NETWORK... [--max-group-layers 8]

The exhaustive (unpruned) oracle simulates every distinct candidate group once: the distinct
memo keys ``(GroupSpec.key, cores)`` of the groups of at most ``max_group_layers`` layers,
over every core count the chip allows, that lower. This counts them from planning alone
(``lowering.infeasibility``: no emission, no simulation), so the pruned oracle's calls can be
put against it for networks where running the exhaustive DP would take minutes.
"""
from __future__ import annotations

import argparse

from fusiongym.accelerator.config import HardwareConfig, load_config
from fusiongym.accelerator.evaluator import GroupEvaluator, memo_key
from fusiongym.accelerator.lowering import infeasibility
from fusiongym.accelerator.workloads.loader import load_network
from fusiongym.accelerator.workloads.network import Network


def exhaustive_candidates(hw: HardwareConfig, networks: list[Network],
                          max_group_layers: int = 8) -> int:
    """Distinct feasible (group shape, cores) over ``networks``: the exhaustive DP's calls."""
    ev, keys = GroupEvaluator(hw), set()
    for net in networks:
        for j in range(1, len(net) + 1):
            for i in range(max(0, j - max_group_layers), j):
                spec = ev.spec(net, i, j)
                for cores in hw.allowed_core_counts:
                    key = memo_key(spec, cores)
                    if key not in keys and infeasibility(spec, cores, hw) is None:
                        keys.add(key)
    return len(keys)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("hw", help="preset name or hardware YAML")
    parser.add_argument("networks", nargs="+")
    parser.add_argument("--max-group-layers", type=int, default=8)
    args = parser.parse_args(argv)
    nets = [load_network(n) for n in args.networks]
    count = exhaustive_candidates(load_config(args.hw), nets, args.max_group_layers)
    print(f"{args.hw} {' + '.join(args.networks)}: {count} distinct feasible candidates "
          f"(groups of <= {args.max_group_layers} layers)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
