"""The fair-share DRAM (default, fast) against the burst-by-burst bus (reference)."""

from __future__ import annotations

import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.evaluator import run_group
from fusiongym.accelerator.isa import LOAD, LOAD_MODULE, MEM_INP, MEM_WGT, Insn
from fusiongym.accelerator.lowering import GroupSpec
from fusiongym.accelerator.sim import simulate
from fusiongym.accelerator.workloads.zoo import get_network


VTA16 = load_config("vta16")
# a 16 B/cycle port per core: one core alone gets a sixth of the bus, 16 cores share it
PORTED = VTA16.with_(name="vta16-ports", dram_port_bytes_per_cycle=16.0)


@pytest.mark.parametrize("hw", [VTA16, PORTED], ids=["vta16", "ports"])
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_fair_share_matches_burst_bus_within_seven_percent(name, hw):
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
    hw = VTA16.with_(dram_arbitration=arbitration, dram_latency_cycles=0)
    alone = simulate([_loads(1 << 20, 4)], hw)
    together = simulate([_loads(1 << 20, 4), _loads(1 << 20, 4)], hw)
    bytes_one = 4 << 20
    bound_one = bytes_one / hw.dram_bandwidth_bytes_per_cycle
    assert bound_one <= alone.cycles <= 1.02 * bound_one
    # two cores move twice the bytes over the same bus: about twice the time, never less
    assert 2 * bound_one <= together.cycles <= 1.02 * 2 * bound_one


# ---- per-core ports ------------------------------------------------------------------------
@pytest.mark.parametrize("arbitration", ["fair_share", "burst"])
def test_one_core_alone_cannot_exceed_its_port(arbitration):
    hw = PORTED.with_(dram_arbitration=arbitration, dram_latency_cycles=0)
    alone = simulate([_loads(1 << 20, 4)], hw)
    bound = (4 << 20) / hw.dram_port_bytes_per_cycle  # the bus alone would allow 6.4x faster
    assert bound <= alone.cycles <= 1.02 * bound


@pytest.mark.parametrize("arbitration", ["fair_share", "burst"])
def test_cores_share_the_bus_fairly_under_their_ports(arbitration):
    # two 64 B/cycle ports on a 102.4 B/cycle bus: the bus binds, each core gets half of it
    hw = VTA16.with_(dram_arbitration=arbitration, dram_latency_cycles=0,
                     dram_port_bytes_per_cycle=64.0)
    two = simulate([_loads(1 << 20, 4), _loads(1 << 20, 4)], hw, trace=True)
    both = 2 * (4 << 20) / hw.dram_bandwidth_bytes_per_cycle
    assert both <= two.cycles <= 1.02 * both
    ends = [max(e for c, m, _k, _s, e, *_ in two.trace if c == core and m == LOAD_MODULE)
            for core in (0, 1)]
    assert abs(ends[0] - ends[1]) <= 0.02 * two.cycles  # neither core was starved
    # six 16 B/cycle ports want 96 of the 102.4 B/cycle: every port binds, not the bus
    six = simulate([_loads(1 << 20, 2) for _ in range(6)], hw.with_(dram_port_bytes_per_cycle=16.0))
    port_bound = (2 << 20) / 16.0
    assert port_bound <= six.cycles <= 1.02 * port_bound


def test_max_min_share_gives_the_unported_rest_to_the_others():
    """Max-min fairness: a core with two transfers in flight (fetch + load) is capped by its
    port; the bandwidth it cannot use goes to the other core, not lost."""
    from fusiongym.accelerator.dram import FairShareDram
    import simpy

    env = simpy.Environment()
    dram = FairShareDram(env, VTA16.with_(dram_latency_cycles=0, dram_port_bytes_per_cycle=40.0),
                         2, trace=False)
    for core in (0, 0, 1):  # core 0: two flows; core 1: one
        env.process(dram.transfer(core, 1 << 20, False))
    env.run(until=1)
    rates = sorted(round(flow.rate, 6) for flow in dram.active)
    assert rates == [20.0, 20.0, 40.0]  # core 0's port splits 40; core 1 takes its full port


# ---- multicast ------------------------------------------------------------------------------
def _keyed(nbytes: int, key, delay_bytes: int = 0) -> list[Insn]:
    prog = [Insn(LOAD, MEM_INP, nbytes=delay_bytes)] if delay_bytes else []
    return prog + [Insn(LOAD, MEM_WGT, nbytes=nbytes, share_key=key)]


@pytest.mark.parametrize("arbitration", ["fair_share", "burst"])
def test_multicast_serves_cores_that_ask_together_once(arbitration):
    hw = VTA16.with_(dram_arbitration=arbitration, dram_multicast=True)
    programs = [_keyed(1 << 20, "w") for _ in range(4)]
    together = simulate(programs, hw)
    apart = simulate(programs, hw.with_(dram_multicast=False))
    data = lambda r: r.dram_bytes_read - r.instruction_bytes  # noqa: E731
    assert data(together) == 1 << 20 and data(apart) == 4 << 20
    assert together.cycles < apart.cycles / 3


@pytest.mark.parametrize("arbitration", ["fair_share", "burst"])
def test_multicast_late_joiner_reads_the_prefix_it_missed(arbitration):
    """Core 1 first loads 200 KB of its own, then asks for the key core 0 is reading: it gets
    the rest by multicast and reads the part already gone past itself."""
    hw = VTA16.with_(dram_arbitration=arbitration, dram_multicast=True)
    nbytes, own = 1 << 20, 200_000
    programs = [_keyed(nbytes, "w"), _keyed(nbytes, "w", delay_bytes=own)]
    late = simulate(programs, hw)
    alone = simulate(programs, hw.with_(dram_multicast=False))
    missed = late.dram_bytes_read - late.instruction_bytes - nbytes - own
    assert 0 < missed < nbytes / 2
    assert late.cycles <= alone.cycles
    # asked after the transfer ended: read again in full (the data went to core 0 only)
    after = simulate([_keyed(nbytes, "w"), _keyed(nbytes, "w", delay_bytes=8 << 20)], hw)
    assert after.dram_bytes_read - after.instruction_bytes == 2 * nbytes + (8 << 20)


# whichever split the planner picks shares something: a row split the weights, a channel
# split the input windows (the planner, not this test, decides which)
@pytest.mark.parametrize("network, first, last, cores", [
    ("resnet18", "maxpool", "layer1.0.conv1", 16),
    ("resnet18", "layer3.0.conv1", "layer3.0.conv1", 16),
    ("resnet18", "fc", "fc", 16),
    ("mobilenet_v2", "features.1.dw", "features.2.expand", 8)])
def test_multicast_reads_fewer_bytes_and_is_no_slower_on_real_groups(network, first, last,
                                                                      cores):
    hw = load_config("mlu100")
    net = get_network(network)
    names = [layer.name for layer in net.layers]
    start, end = names.index(first), names.index(last) + 1
    spec = GroupSpec.from_network(net, start, end)
    unicast, lowered, _ = run_group(spec, cores, hw, start)
    multicast, _, _ = run_group(spec, cores, hw.with_(dram_multicast=True), start)
    assert lowered.feasible
    assert multicast.dram_bytes_read < unicast.dram_bytes_read
    assert multicast.dram_bytes_written == unicast.dram_bytes_written
    assert multicast.latency_cycles <= unicast.latency_cycles
