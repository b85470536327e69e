"""Host launch and the end-of-group barrier (accelerator.results.group_overhead, the barrier
events in accelerator.sim): magnitudes from knobs, each 0 when its knob is 0."""

from __future__ import annotations

import math

import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.evaluator import run_group
from fusiongym.accelerator.lowering import GroupSpec
from fusiongym.accelerator.results import GroupOverhead, group_latency_cycles, group_overhead
from fusiongym.accelerator.workloads.network import NetworkBuilder
from fusiongym.accelerator.workloads.zoo import get_network

MLU = load_config("mlu100")
NO_OVERHEADS = MLU.without_overheads()


def _conv(rows: int, channels: int = 256) -> GroupSpec:
    builder = NetworkBuilder("one_conv", (channels, rows, 56))
    builder.conv(None, channels, 3, padding=1)
    return GroupSpec.from_network(builder.build(), 0, 1)


def test_barrier_grows_with_log2_of_the_active_cores():
    spec = _conv(rows=64)  # 64 output rows: every core of every count gets work
    hop = MLU.barrier_hop_cycles
    for cores in MLU.allowed_core_counts:
        _, _, sim = run_group(spec, cores, MLU)
        assert sim.active_cores == cores
        assert sim.barrier_cycles == math.ceil(math.log2(cores)) * hop  # the events
        assert sim.barrier_cycles == group_overhead(MLU, cores).barrier_cycles  # closed form
    assert group_overhead(MLU, 16).barrier_cycles == 4 * hop  # a tree, not 16 x something


def test_barrier_counts_active_cores_not_allocated_ones():
    """7 output rows on 16 cores (row split): 7 cores get work, the barrier has 3 rounds."""
    spec = _conv(rows=7, channels=64)
    result, lowered, sim = run_group(spec, 16, MLU)
    assert lowered.split == "rows" and sim.active_cores == 7
    assert sim.barrier_cycles == 3 * MLU.barrier_hop_cycles
    assert result.latency_cycles == group_latency_cycles(sim.cycles, 16, MLU, active_cores=7)


def test_barrier_is_zero_when_its_knob_is():
    for cores in (1, 4, 16):
        result, _, sim = run_group(_conv(rows=64), cores, NO_OVERHEADS)
        assert sim.barrier_cycles == 0
        assert result.latency_cycles == sim.cycles  # and no launch either


def test_legacy_linear_barrier_reproduces_vta16():
    """vta16 keeps the host-polled barrier: sync_cycles_per_core x allocated cores."""
    vta16 = load_config("vta16")
    result, _, sim = run_group(_conv(rows=7, channels=64), 16, vta16)
    assert sim.barrier_cycles == 16 * vta16.sync_cycles_per_core
    assert result.latency_cycles == vta16.launch_overhead_cycles + sim.cycles + sim.barrier_cycles


def test_launch_is_serial_without_a_command_queue():
    hw = MLU.with_(launch_overlap=False)
    result, _, sim = run_group(_conv(rows=64), 4, hw)
    device = sim.cycles + sim.barrier_cycles
    assert result.latency_cycles == hw.launch_dispatch_cycles + hw.launch_overhead_cycles + device


def test_overlapped_launch_shows_only_what_the_run_cannot_cover():
    hw = MLU  # launch_overlap: the driver prepares the next group during this one
    big, _, sim_big = run_group(_conv(rows=64), 1, hw)
    assert sim_big.cycles > hw.launch_overhead_cycles
    assert big.latency_cycles == hw.launch_dispatch_cycles + sim_big.cycles
    # a group shorter than the driver's work: the host is the bottleneck
    tiny = 1000
    assert group_overhead(hw, 1, run_cycles=tiny) == GroupOverhead(
        hw.launch_dispatch_cycles, 0, hw.launch_overhead_cycles - tiny)
    assert group_latency_cycles(tiny, 1, hw) == (hw.launch_dispatch_cycles
                                                 + hw.launch_overhead_cycles)
    # the barrier counts as device time the driver's work hides behind
    assert group_overhead(hw, 16, run_cycles=tiny).host_wait_cycles == (
        hw.launch_overhead_cycles - tiny - 4 * hw.barrier_hop_cycles)


def test_launch_knobs_at_zero_add_nothing():
    for overlap in (False, True):
        hw = NO_OVERHEADS.with_(launch_overlap=overlap)
        assert group_overhead(hw, 16, run_cycles=12345) == GroupOverhead(0, 0, 0)
        assert group_latency_cycles(12345, 16, hw) == 12345


def test_overheads_keep_a_schedule_a_sum_over_groups():
    """The wall time is monotone in the run (the oracle's bounds rely on it) and depends on
    nothing but the group itself."""
    for hw in (MLU, MLU.with_(launch_overlap=False), load_config("vta16")):
        for cores, active in ((1, 1), (16, 7), (16, 16)):
            walls = [group_latency_cycles(d, cores, hw, active) for d in range(0, 20000, 250)]
            assert walls == sorted(walls)


@pytest.mark.parametrize("name", ["resnet18", "squeezenet1_1"])
def test_no_fusion_on_all_cores_pays_the_barrier_per_layer(name):
    """Overheads are per group, so no fusion pays them once per layer."""
    net = get_network(name)
    spec = GroupSpec.from_network(net, 1, 2)
    with_knobs, _, sim = run_group(spec, 16, MLU)
    without, _, _ = run_group(spec, 16, NO_OVERHEADS)
    assert with_knobs.latency_cycles - without.latency_cycles >= sim.barrier_cycles > 0


@pytest.mark.parametrize("name", ["mlu100", "vta16", "pynq"])
def test_without_overheads_zeroes_every_fixed_cost_and_nothing_else(name):
    hw = load_config(name)
    bare = hw.without_overheads()
    assert all(getattr(bare, f) == 0 for f in hw.OVERHEAD_FIELDS)
    changed = {k for k, v in bare.model_dump().items() if v != getattr(hw, k)}
    assert changed <= set(hw.OVERHEAD_FIELDS) | {"name"}
    assert group_latency_cycles(777, 16, bare) == 777
