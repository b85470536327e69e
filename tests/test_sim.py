"""The SimPy model: fsim-style counters, pipelining, determinism, deadlocks, DRAM contention.

Counters are recomputed here from the instruction fields (``iter_out * iter_in * uops * II``,
``nbytes``), never from the simulator's own ``Insn.cycles``, so a simulator that charged
the wrong time or lost a transfer fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.errors import DeadlockError
from fusiongym.accelerator.evaluator import run_group
from fusiongym.accelerator.isa import (ALU, COMPUTE_MODULE, FINISH, GEMM, LOAD, LOAD_MODULE, MEM_INP,
                             MEM_WGT, STORE, STORE_MODULE, Insn)
from fusiongym.accelerator.lowering import GroupSpec, lower_group
from fusiongym.accelerator.sim import simulate
from fusiongym.accelerator.workloads.zoo import get_network

PYNQ = load_config("pynq")
DLF = load_config("vta16")

# (hardware, network, first layer, end layer, cores): single layers of every kind, fused
# groups with halos and residual adds, multi-core row and channel splits, 1 and 2 threads
CASES = [
    (PYNQ, "resnet18", 0, 1, 1),  # 7x7 stride-2 stem, 3 channels padded to 16
    (PYNQ, "resnet18", 2, 3, 1),  # C2
    (PYNQ, "resnet18", 23, 24, 1),  # C12: streamed weights, output-channel threads
    (PYNQ.with_(virtual_threads=1), "resnet18", 23, 24, 1),
    (PYNQ, "resnet18", 29, 31, 1),  # global pool + dense
    (PYNQ, "mobilenet_v1", 1, 3, 1),  # depthwise + pointwise fused
    (DLF, "resnet18", 2, 5, 1),  # conv, conv, add fused (halo recompute)
    (DLF, "resnet18", 2, 5, 4),
    (DLF, "resnet18", 16, 17, 16),
    (DLF, "resnet18", 26, 27, 16),  # 7x7 map on 16 cores: channel split
    (DLF, "resnet18", 30, 31, 8),  # dense on 8 cores
    (DLF, "dcgan", 2, 4, 2),  # transposed convolutions fused
    (DLF, "resnet18", 2, 4, 2),  # conv, conv fused with a line buffer
    (DLF, "resnet18", 23, 24, 1),  # streamed weights, weight-chunk loop outermost
    (DLF, "resnet18", 28, 31, 4),  # fused group split by the last layer's output channels
    (DLF.with_(requantize_in_gemm=True), "resnet18", 2, 5, 4),  # no requantise ALU pass
    (DLF, "squeezenet1_1", 3, 7, 4),  # fire module with concat
    (DLF.with_(virtual_threads=1), "tiny_residual", 0, 6, 2),
]


def _ids(case):
    hw, net, a, b, c = case
    return f"{hw.name}-vt{hw.virtual_threads}-{net}-{a}:{b}-x{c}"


def _lowered(hw, net_name, start, end, cores):
    net = get_network(net_name)
    spec = GroupSpec.from_network(net, start, end)
    lowered = lower_group(spec, cores, hw)
    assert lowered.feasible, lowered.reason
    return lowered


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_fsim_counters(case):
    hw = case[0]
    lowered = _lowered(*case)
    sim = simulate(lowered.programs, hw)
    insns = [insn for program in lowered.programs for insn in program]
    gemm = sum(i.iter_out * i.iter_in * i.uops * hw.gemm_ii for i in insns if i.op == GEMM)
    alu = sum(i.iter_out * i.iter_in * i.alu_ops * hw.alu_ii for i in insns if i.op == ALU)
    loaded = sum(i.nbytes for i in insns if i.op == LOAD)
    stored = sum(i.nbytes for i in insns if i.op == STORE)
    assert sim.gemm_cycles == gemm > 0 or gemm == 0 == sim.gemm_cycles
    assert sim.alu_cycles == alu > 0
    assert sim.instruction_bytes == len(insns) * hw.instruction_bytes
    assert sim.dram_bytes_read - sim.instruction_bytes == loaded
    assert sim.dram_bytes_written == stored > 0
    assert sim.tokens_left == 0
    kinds: dict[str, int] = {}
    for i in insns:
        kinds[i.kind] = kinds.get(i.kind, 0) + 1
    assert sim.instructions == kinds
    # per core: the compute module executes every GEMM and ALU (plus UOP / ACC loads)
    for core, program in enumerate(lowered.programs):
        core_gemm_alu = sum(i.iter_out * i.iter_in * (i.uops * hw.gemm_ii if i.op == GEMM
                                                      else i.alu_ops * hw.alu_ii)
                            for i in program if i.op in (GEMM, ALU))
        assert sim.busy_cycles[core][COMPUTE_MODULE] >= core_gemm_alu
        for module in range(3):
            assert 0 <= sim.busy_cycles[core][module] <= sim.cycles
    # a module cannot finish sooner than the bus takes to move its bytes
    bw = hw.dram_bandwidth_bytes_per_cycle
    assert sim.cycles >= (sim.dram_bytes_read + sim.dram_bytes_written) / bw
    # every MAC the GEMMs issue is one the micro-op loop nest accounts for
    assert lowered.meta["gemm_macs_issued"] == gemm // hw.gemm_ii * hw.macs_per_cycle * hw.gemm_ii


def test_instruction_routing_follows_vta_fetch():
    assert Insn(LOAD, MEM_INP).module == Insn(LOAD, MEM_WGT).module == LOAD_MODULE
    assert Insn(LOAD, "UOP").module == Insn(LOAD, "ACC").module == COMPUTE_MODULE
    assert Insn(GEMM).module == Insn(ALU).module == Insn(FINISH).module == COMPUTE_MODULE
    assert Insn(STORE, "OUT").module == STORE_MODULE


@pytest.mark.parametrize("case", CASES[:8] + CASES[11:13], ids=[_ids(c) for c in CASES[:8] + CASES[11:13]])
def test_forced_serial_is_sum_of_busy_and_pipelining_at_most_3x(case):
    hw = case[0]
    serial_hw = hw.with_(forced_serial=True)
    piped = simulate(_lowered(*case).programs, hw)
    serial = simulate(_lowered(serial_hw, *case[1:]).programs, serial_hw)
    for core_busy in serial.busy_cycles:
        total = sum(core_busy)
        if case[4] == 1:  # one core: nothing else runs, so latency = load + compute + store
            assert total <= serial.cycles <= 1.01 * total + 2 * hw.dram_latency_cycles
    speedup = serial.cycles / piped.cycles
    assert piped.cycles < serial.cycles, "decoupled modules overlap nothing"
    assert speedup <= 3.0 + 1e-9, f"pipelining cannot beat load + compute + store by {speedup:.2f}x"
    # and the pipelined run is bounded below by its busiest module
    assert piped.cycles >= max(max(b) for b in piped.busy_cycles)


def test_pipelining_hides_load_behind_compute():
    """A compute-bound stream with double-buffered loads: latency ~ compute alone."""
    hw = PYNQ
    steps = 16
    program = []
    for s in range(steps):
        load = Insn(LOAD, MEM_INP, nbytes=8 * 1000)  # 1000 cycles of bus at 8 B/cycle
        load.pop_next = s >= 2
        load.push_next = True
        gemm = Insn(GEMM, iter_out=100, iter_in=1, uops=30, cycles=3000)
        gemm.pop_prev = True
        gemm.push_prev = s + 2 < steps
        program += [load, gemm]
    program.append(Insn(FINISH))
    piped = simulate([program], hw)
    serial = simulate([program], hw.with_(forced_serial=True))
    assert piped.cycles < 3000 * steps + 2 * 1000 + 1000  # loads hidden except the first
    assert serial.cycles >= (3000 + 1000) * steps


def _group_cycles(net_name, start, end, cores, hw_name):
    hw = load_config(hw_name)
    spec = GroupSpec.from_network(get_network(net_name), start, end)
    result, _, sim = run_group(spec, cores, hw)
    return [result.latency_cycles, sim.cycles, result.dram_bytes_read,
            result.dram_bytes_written, sim.busy_cycles, sim.events]


DETERMINISM_CASES = [("resnet18", 2, 5, 4, "vta16"), ("mobilenet_v2", 3, 7, 16, "vta16"),
                     ("resnet18", 23, 24, 1, "pynq")]


def test_deterministic_in_process_and_across_processes():
    first = [_group_cycles(*c) for c in DETERMINISM_CASES]
    again = [_group_cycles(*c) for c in DETERMINISM_CASES]
    assert first == again
    code = ("import json, sys; sys.path.insert(0, 'tests'); import test_sim as t; "
            "print(json.dumps([t._group_cycles(*c) for c in t.DETERMINISM_CASES]))")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert json.loads(out.stdout.strip().splitlines()[-1]) == json.loads(json.dumps(first))


def test_deadlock_pop_without_push_is_reported_quickly():
    load = Insn(LOAD, MEM_INP, nbytes=64)  # pushes nothing: the GEMM's token never comes
    gemm = Insn(GEMM, iter_out=1, iter_in=1, uops=1, cycles=1)
    gemm.pop_prev = True
    program = [load, gemm, Insn(FINISH)]
    t0 = time.perf_counter()
    with pytest.raises(DeadlockError) as err:
        simulate([program], PYNQ)
    assert time.perf_counter() - t0 < 2.0
    msg = str(err.value)
    assert "core 0" in msg and "compute" in msg and "GEMM" in msg and "LD->CMP" in msg
    assert "instruction 1" in msg and "\n" not in msg


def test_deadlock_names_the_right_core_and_module():
    ok = [Insn(LOAD, MEM_INP, nbytes=64), Insn(FINISH)]
    store = Insn(STORE, "OUT", nbytes=64)
    store.pop_prev = True  # CMP->ST token that the compute module never pushes
    bad = [Insn(GEMM, iter_out=1, iter_in=1, uops=1, cycles=1), store, Insn(FINISH)]
    with pytest.raises(DeadlockError) as err:
        simulate([ok, bad], DLF)
    msg = str(err.value)
    assert "core 1" in msg and "store" in msg and "STORE" in msg and "CMP->ST" in msg


def test_deadlock_on_a_full_token_queue():
    """More pushes than the queue holds, nobody pops: the pusher blocks forever."""
    program = []
    for _ in range(PYNQ.token_queue_depth + 1):
        load = Insn(LOAD, MEM_INP, nbytes=16)
        load.push_next = True
        program.append(load)
    program.append(Insn(FINISH))
    with pytest.raises(DeadlockError, match=r"core 0 load module.*LD->CMP"):
        simulate([program], PYNQ)


def test_balanced_hand_made_stream_runs():
    load = Insn(LOAD, MEM_INP, nbytes=64)
    load.push_next = True
    gemm = Insn(GEMM, iter_out=2, iter_in=1, uops=3, cycles=6)
    gemm.pop_prev = True
    gemm.push_next = True
    store = Insn(STORE, "OUT", nbytes=32)
    store.pop_prev = True
    sim = simulate([[load, gemm, store, Insn(FINISH)]], PYNQ)
    assert sim.tokens_left == 0 and sim.gemm_cycles == 6
    assert sim.dram_bytes_written == 32 and sim.dram_bytes_read == 64 + 4 * 16


def _loads(count, nbytes):
    return [Insn(LOAD, MEM_INP, nbytes=nbytes) for _ in range(count)] + [Insn(FINISH)]


def test_two_cores_loading_share_the_bus():
    hw = DLF
    nbytes, count = 1 << 20, 8
    alone = simulate([_loads(count, nbytes)], hw)
    both = simulate([_loads(count, nbytes), _loads(count, nbytes)], hw)
    one_of_two = simulate([_loads(count, nbytes), []], hw)
    assert one_of_two.cycles == alone.cycles  # an idle core costs nothing
    assert both.cycles > 1.8 * alone.cycles  # same bytes per core, half the bandwidth each
    # the bus is the bottleneck: total time ~ all bytes / bandwidth (+ latency, fetch)
    ideal = 2 * count * nbytes / hw.dram_bandwidth_bytes_per_cycle
    assert ideal <= both.cycles <= 1.02 * ideal + 4 * hw.dram_latency_cycles
    ideal_one = count * nbytes / hw.dram_bandwidth_bytes_per_cycle
    assert ideal_one <= alone.cycles <= 1.02 * ideal_one + 4 * hw.dram_latency_cycles
    # both cores progress together (bursts interleave), neither waits for the other's end
    assert both.busy_cycles[0][LOAD_MODULE] > 0.9 * both.cycles
    assert both.busy_cycles[1][LOAD_MODULE] > 0.9 * both.cycles


@pytest.mark.parametrize("arbitration", ["fair_share", "burst"])
def test_unequal_loads_share_the_bus(arbitration):
    """Core 0 moves 1 MiB while core 1 moves 4 MiB, both from cycle 0: the bus is never
    idle and never faster than its bandwidth, so the last byte lands at 5 MiB / bandwidth;
    core 0, sharing the bus all along, finishes near 2 MiB / bandwidth."""
    hw = DLF.with_(dram_arbitration=arbitration)
    mib = 1 << 20
    sim = simulate([_loads(1, mib), _loads(1, 4 * mib)], hw)
    bw = hw.dram_bandwidth_bytes_per_cycle
    slack = 4 * hw.dram_latency_cycles + 2 * hw.dram_burst_bytes / bw
    assert 5 * mib / bw <= sim.cycles <= 5 * mib / bw + slack
    small = sim.busy_cycles[0][LOAD_MODULE]
    assert 2 * mib / bw - slack <= small <= 2 * mib / bw + slack
    alone = simulate([_loads(1, mib)], hw).busy_cycles[0][LOAD_MODULE]
    assert small > 1.8 * alone


def test_contention_in_a_real_group():
    """A DRAM-bound layer on 8 cores is not 8x faster: the cores share one bus."""
    net = get_network("vgg16")
    fc = net.index("fc6")
    spec = GroupSpec.from_network(net, fc, fc + 1)
    one = simulate(lower_group(spec, 1, DLF).programs, DLF)
    eight = simulate(lower_group(spec, 8, DLF).programs, DLF)
    bound = net.layers[fc].weight_bytes() / DLF.dram_bandwidth_bytes_per_cycle
    assert one.cycles >= bound and eight.cycles >= bound
    assert one.cycles / eight.cycles < 1.5
