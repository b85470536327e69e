"""The fair-share DRAM (default, fast) against the burst-by-burst bus (reference)."""

from __future__ import annotations

import pytest

from accelerator.config import load_config
from accelerator.evaluator import run_group
from accelerator.isa import LOAD, MEM_INP, Insn
from accelerator.lowering import GroupSpec
from accelerator.sim import simulate
from accelerator.workloads.zoo import get_network


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_fair_share_matches_burst_bus_within_seven_percent(name):
    hw = load_config()
    burst = hw.with_(dram_arbitration="burst")
    net = get_network(name)
    compared = 0
    for start in range(0, len(net) - 2, 4):
        for end in (start + 1, start + 2):
            spec = GroupSpec.from_network(net, start, end)
            for cores in (1, 4, 16):
                fair, _, _ = run_group(spec, cores, hw, start)
                ref, _, _ = run_group(spec, cores, burst, start)
                assert fair.feasible == ref.feasible
                if not fair.feasible:
                    continue
                compared += 1
                # 4% held for the largest-tile plans; the cost-based planner's smaller tiles
                # on 16 cores (resnet18's add, 2-row tiles) differ by 6%: fair share ends all
                # cores' first transfers at one moment, the burst bus staggers them
                assert fair.latency_cycles == pytest.approx(ref.latency_cycles, rel=0.07)
                assert fair.dram_bytes_read == ref.dram_bytes_read
                assert fair.dram_bytes_written == ref.dram_bytes_written
    assert compared > 20


def _loads(nbytes: int, n: int) -> list[Insn]:
    prog = []
    for _ in range(n):
        insn = Insn(LOAD, MEM_INP, nbytes=nbytes)
        prog.append(insn)
    return prog


@pytest.mark.parametrize("arbitration", ["fair_share", "burst"])
def test_cores_loading_together_share_the_bandwidth(arbitration):
    # program: loads only (no tokens); the fetch reads the stream first
    hw = load_config().with_(dram_arbitration=arbitration, dram_latency_cycles=0)
    alone = simulate([_loads(1 << 20, 4)], hw)
    together = simulate([_loads(1 << 20, 4), _loads(1 << 20, 4)], hw)
    bytes_one = 4 << 20
    bound_one = bytes_one / hw.dram_bandwidth_bytes_per_cycle
    assert bound_one <= alone.cycles <= 1.02 * bound_one
    # two cores move twice the bytes over the same bus: about twice the time, never less
    assert 2 * bound_one <= together.cycles <= 1.02 * 2 * bound_one
