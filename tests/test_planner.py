"""The fused-group planner: its options are real plans (the instructions show them), its
cost model tracks the simulator, and it picks the faster plan.

- line buffer: a fused conv -> conv keeps the shared rows on chip: no recompute, every
  input row loaded once;
- weight-stationary order: each weight byte loaded once, the input once per chunk;
- a fused channel split: each core stores its own slice of the last layer, all of it once;
- requantise in the GEMM output path: no ALU instruction after a GEMM (pool still has one);
- tile heights: with large buffers a layer runs as several tiles per virtual thread;
- the modelled cycles are within a few percent of the simulated ones on one core, and the
  chosen plan is never much slower (simulated) than any other candidate.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.isa import ALU, GEMM, LOAD, MEM_INP, MEM_WGT, STORE
from fusiongym.accelerator.lowering import GroupSpec, lower_group
from fusiongym.accelerator.lowering.emit import emit_core
from fusiongym.accelerator.lowering.planner import _candidates
from fusiongym.accelerator.lowering.tiling import GroupGeometry
from fusiongym.accelerator.sim import simulate
from fusiongym.accelerator.workloads.zoo import get_network

DLF = load_config("vta16")
PYNQ = load_config("pynq")


def _spec(net: str, start: int, end: int) -> GroupSpec:
    return GroupSpec.from_network(get_network(net), start, end)


def _bytes(lowered, op: str, mem: str | None = None, core: int | None = None) -> int:
    programs = lowered.programs if core is None else [lowered.programs[core]]
    return sum(i.nbytes for p in programs for i in p
               if i.op == op and (mem is None or i.mem == mem))


def test_line_buffer_computes_and_loads_every_row_once():
    spec = _spec("resnet18", 2, 4)  # two 3x3 convs, 56x56x64
    lowered = lower_group(spec, 1, DLF)
    assert lowered.meta["line_buffer"] and lowered.tiles > 1
    assert lowered.meta["gemm_macs_issued"] == sum(layer.macs for layer in spec.layers)
    assert _bytes(lowered, LOAD, MEM_INP) == spec.layers[0].input_bytes()


def test_weight_stationary_order_loads_each_weight_once():
    """C12 (512->512 3x3) on a PYNQ with an 16 KiB input buffer: the input comes in 28
    tiles; re-streaming 2.4 MB of weights per tile loses to loading each weight chunk once
    and re-reading the (small) input once per chunk."""
    hw = PYNQ.with_(log_inp_buff_size=14)
    spec = _spec("resnet18", 23, 24)
    lowered = lower_group(spec, 1, hw)
    assert lowered.meta["weight_outer"] and lowered.tiles > 1
    layer = spec.layers[0]
    assert _bytes(lowered, LOAD, MEM_WGT) == layer.weight_bytes()
    program = lowered.programs[0]
    wgt_at = [k for k, i in enumerate(program) if i.op == LOAD and i.mem == MEM_WGT]
    per_chunk = sum(i.nbytes for i in program[wgt_at[0]:wgt_at[1]] if i.mem == MEM_INP)
    assert per_chunk >= layer.input_bytes()
    assert _bytes(lowered, LOAD, MEM_INP) <= len(wgt_at) * per_chunk + layer.input_bytes()
    g = GroupGeometry(spec, 1, hw)
    others = [p for p in _candidates(g) if not p.weight_outer]
    best_other = min(simulate([emit_core(g, p, 0)[0]], hw).cycles for p in others)
    assert simulate(lowered.programs, hw).cycles < best_other


def test_fused_channel_split_stores_each_output_once():
    spec = _spec("resnet18", 28, 31)
    lowered = lower_group(spec, 4, DLF)
    assert lowered.split == "channels"
    per_core = [_bytes(lowered, STORE, core=c) for c in range(4)]
    assert sum(per_core) == _bytes(lower_group(spec, 1, DLF), STORE)
    assert all(b > 0 for b in per_core)


def _alu_after_gemm(lowered) -> int:
    return sum(1 for p in lowered.programs for a, b in zip(p, p[1:])
               if a.op == GEMM and b.op == ALU)


def test_requantise_in_gemm_removes_the_alu_pass():
    mlu = DLF.with_(requantize_in_gemm=True)
    conv = _spec("resnet18", 5, 6)  # 1x1 stride-2 conv: the ALU pass is long beside the GEMM
    vta, fused = lower_group(conv, 1, DLF), lower_group(conv, 1, mlu)
    assert _alu_after_gemm(vta) > 0
    assert not any(i.op == ALU for p in fused.programs for i in p)
    assert simulate(fused.programs, mlu).cycles < simulate(vta.programs, DLF).cycles
    pool = lower_group(_spec("resnet18", 1, 2), 1, mlu)  # max pool: still on the ALU
    assert any(i.op == ALU for p in pool.programs for i in p)


def test_big_buffers_still_pipeline_tiles():
    """vta16's buffers hold C2 in one tile; the planner takes several per thread so
    that load, compute and store overlap."""
    lowered = lower_group(_spec("resnet18", 2, 3), 1, DLF)
    assert lowered.tiles >= 2 * lowered.vthreads


@pytest.mark.parametrize("start", [0, 2, 5, 9, 16, 23, 30])
def test_modelled_cycles_track_the_simulator_on_one_core(start):
    lowered = lower_group(_spec("resnet18", start, start + 1), 1, DLF)
    sim = simulate(lowered.programs, DLF)
    assert abs(lowered.meta["modelled_cycles"] - sim.cycles) <= 0.08 * sim.cycles
    data = sim.dram_bytes_read - sim.instruction_bytes + sim.dram_bytes_written
    assert lowered.meta["modelled_dram_bytes"] == data


@pytest.mark.parametrize("net,start,end,cores,hw", [
    ("resnet18", 2, 3, 1, DLF), ("resnet18", 23, 24, 1, DLF), ("resnet18", 2, 4, 1, DLF),
    ("resnet18", 2, 4, 4, DLF), ("squeezenet1_1", 3, 6, 1, PYNQ), ("resnet18", 26, 27, 16, DLF)])
def test_chosen_plan_is_near_the_fastest_candidate(net, start, end, cores, hw):
    spec = _spec(net, start, end)
    g = GroupGeometry(spec, cores, hw)
    cycles = []
    for plan in _candidates(g):
        programs = [emit_core(g, plan, c)[0] for c in range(cores)]
        cycles.append(simulate(programs, hw).cycles)
    chosen = simulate(lower_group(spec, cores, hw).programs, hw).cycles
    assert len(cycles) >= 2
    assert chosen <= 1.1 * min(cycles), (chosen, sorted(cycles))


def test_tallest_tile_alone_is_slower_where_buffers_are_large():
    spec = _spec("resnet18", 2, 3)
    g = GroupGeometry(spec, 1, DLF)
    plans = _candidates(g)
    tallest = max(plans, key=lambda p: p.tile_rows)
    one_tile = simulate([emit_core(g, tallest, 0)[0]], DLF).cycles
    chosen = simulate(lower_group(spec, 1, DLF).programs, DLF).cycles
    assert chosen < one_tile
    assert replace(tallest).tile_rows > lower_group(spec, 1, DLF).tile_rows


@pytest.mark.parametrize("net", ["resnet18", "squeezenet1_1"])
def test_a_plan_that_idles_cores_is_never_slower_than_fewer_cores(net):
    """On mlu100 (overheads off) the planner used to pick, on 16 cores, a 2-block channel
    split (2 cores busy) up to 1.6x slower than its own 4-core plan. A core count's plan that
    leaves cores idle now competes with the smaller counts' plans on a subset of its cores:
    never modelled slower than them, and never simulated slower than any count it could use."""
    from fusiongym.accelerator.evaluator import GroupEvaluator
    from fusiongym.accelerator.lowering.planner import Planned, plan_cached

    hw = load_config("mlu100").without_overheads()
    ev = GroupEvaluator(hw)
    network = get_network(net)
    idling = 0
    for i in range(len(network)):
        spec = GroupSpec.from_network(network, i, i + 1)
        counts = hw.allowed_core_counts
        for n in counts:
            lowered = lower_group(spec, n, hw)
            if not lowered.feasible:
                continue
            active = sum(1 for p in lowered.programs if p)
            if active == n:
                continue
            idling += 1
            mine = ev.result(network, i, i + 1, n)
            for k in counts:
                fewer = plan_cached(spec, k, hw)
                if not active <= k < n or not isinstance(fewer, Planned):
                    continue
                assert lowered.meta["modelled_cycles"] <= round(fewer.plan.cost.cycles)
                assert mine.latency_cycles <= ev.result(network, i, i + 1, k).latency_cycles, (
                    network.layers[i].name, n, k)
    assert idling >= 5  # the case is exercised: layers whose rows or channel blocks run out


def test_small_channel_first_conv_runs_im2col_packed_near_its_roofline():
    """ResNet-18's conv1 (3 -> 64 channels, 7x7, stride 2) on 16 mlu100 cores: padded to a
    64-wide block it took 109,026 cycles (95% of its GEMM work on zeros); packed (147 taps ->
    3 blocks) and gathered from the raw 3-channel image it is within 2x of its roofline
    (ideal compute, or its unpadded DRAM bytes at the bus bandwidth) plus its launch."""
    from fusiongym.accelerator.evaluator import run_group
    from fusiongym.accelerator.results import group_overhead

    hw = load_config("mlu100")
    net = get_network("resnet18")
    conv1 = net.layers[0]
    spec = GroupSpec.from_network(net, 0, 1)
    result, lowered, sim = run_group(spec, 16, hw)
    assert lowered.meta["im2col"]
    unpadded = (conv1.c_in * conv1.h_in * conv1.w_in + conv1.c_out * conv1.h_out * conv1.w_out
                + conv1.c_out * conv1.c_in * conv1.kernel[0] * conv1.kernel[1])
    roofline = max(conv1.macs / hw.peak_macs_per_cycle, unpadded / hw.dram_bandwidth_bytes_per_cycle)
    assert 9000 < roofline < 9800  # the issue's ~9,400 cycles
    launch = group_overhead(hw, 16, sim.active_cores, 2 * roofline).total_cycles
    assert result.latency_cycles <= 2 * roofline + launch
    # honest gather: each input row is read about kh / stride = 3.5 times, never block-padded
    image = conv1.c_in * conv1.h_in * conv1.w_in
    loaded = _bytes(lowered, LOAD, MEM_INP)
    assert 3.0 * image < loaded < 4.5 * image
    # chosen by modelled cost: the padded lowering is a candidate and is slower
    g = GroupGeometry(spec, 16, hw)
    padded = [p for p in _candidates(g) if not p.im2col]
    assert padded and min(p.cost.cycles for p in padded) > 3 * lowered.meta["modelled_cycles"]


@pytest.mark.parametrize("net", ["squeezenet1_1", "synthetic:3"])
def test_a_concat_is_zero_copy(net):
    """Producers store straight into their channel slices of the concatenated tensor: a
    Concat group of its own has no instructions, moves 0 DRAM bytes and costs 0 cycles (it
    used to read every input and write the output again); fused with its producers it runs
    no ALU pass (each producer wrote into its slice on chip) and its intermediates never
    touch DRAM."""
    from fusiongym.accelerator.evaluator import GroupEvaluator

    hw = load_config("mlu100")
    ev = GroupEvaluator(hw)
    network = get_network(net)
    concats = [i for i, layer in enumerate(network.layers) if layer.kind.value == "concat"]
    assert concats
    for i in concats:
        alone = ev.result(network, i, i + 1, 4)
        assert alone.feasible and alone.latency_cycles == 0 and alone.instructions == 0
        assert alone.dram_bytes_read == alone.dram_bytes_written == 0
        producers = network.layers[i].inputs
        start = min(producers)
        if i - start > 2:
            continue
        fused = lower_group(GroupSpec.from_network(network, start, i + 1), 1, hw)
        if fused.feasible:
            alu_of_concat = [x for p in fused.programs for x in p if x.op == ALU and x.layer == i - start]
            assert not alu_of_concat
            stored = _bytes(fused, STORE)
            out = network.layers[i]
            assert stored == out.c_out * out.h_out * out.w_out  # only the concat's output
