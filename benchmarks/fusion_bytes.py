"""Fused windows vs the same layers apart: how many move more DRAM bytes, and how many of
those are also not faster (the planner's invariant says: none).

Windows: every 2..3-layer window of the validation networks (tests/test_validation.py's
FUSION_NETWORKS) on 1 and 4 cores, the set the README's "543 of 1,760" was counted on.

    python -m fusiongym.benchmarks.fusion_bytes [--hw PRESET|FILE] [--max-len 3]
"""

from __future__ import annotations

import argparse

from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.workloads.zoo import get_network

SYNTHETIC = ([f"synthetic:{s}" for s in range(20)] + [f"synthetic:{s}:14:chain" for s in range(20, 26)]
             + [f"synthetic:{s}:14:residual" for s in range(26, 34)])
NETWORKS = ["resnet18", "mobilenet_v2", "squeezenet1_1", "tiny_chain", "tiny_residual", *SYNTHETIC]


def fusion_windows(max_len: int = 3):
    """(network, start, end, cores) for every window of 2..max_len layers (deterministic)."""
    for name in NETWORKS:
        net = get_network(name)
        if name.startswith("synthetic:") and net.macs > 2e9:
            continue
        for start in range(len(net) - 1):
            for end in range(start + 2, min(len(net), start + max_len) + 1):
                for cores in (1, 4):
                    yield net, start, end, cores


def count(hw, max_len: int = 3) -> dict:
    ev = GroupEvaluator(hw)
    windows = more_bytes = more_bytes_and_slower = 0
    worst = 1.0
    for net, start, end, cores in fusion_windows(max_len):
        fused = ev.result(net, start, end, cores)
        apart = [ev.result(net, k, k + 1, cores) for k in range(start, end)]
        if not fused.feasible or not all(a.feasible for a in apart):
            continue
        windows += 1
        fused_bytes = fused.dram_bytes_read + fused.dram_bytes_written
        apart_bytes = sum(a.dram_bytes_read + a.dram_bytes_written for a in apart)
        if fused_bytes > apart_bytes:
            more_bytes += 1
            worst = max(worst, fused_bytes / apart_bytes)
            if fused.latency_cycles >= sum(a.latency_cycles for a in apart):
                more_bytes_and_slower += 1
    return {"windows": windows, "more_bytes": more_bytes,
            "more_bytes_and_slower": more_bytes_and_slower, "worst_ratio": round(worst, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", default=None)
    parser.add_argument("--max-len", type=int, default=3)
    args = parser.parse_args()
    print(count(load_config(args.hw), args.max_len))


if __name__ == "__main__":
    main()
