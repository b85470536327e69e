"""Lowering: balanced token streams, exact work and traffic, infeasibility with a reason."""

from __future__ import annotations

import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.isa import ALU, GEMM, LOAD, MEM_WGT, STORE
from fusiongym.accelerator.lowering import GroupSpec, lower_group
from fusiongym.accelerator.workloads.network import LayerKind, NetworkBuilder
from fusiongym.accelerator.workloads.zoo import get_network

PYNQ = load_config("pynq")
DLF = load_config("vta16")
# every network in the zoo except the big ones, for sweeps that must stay fast
SWEEP_NETWORKS = ["resnet18", "mobilenet_v1", "mobilenet_v2", "squeezenet1_1", "dcgan",
                  "tiny_chain", "tiny_residual", "synthetic:3", "synthetic:11:16:residual"]


def _token_balance(program):
    """(pushes, pops) per token queue, from the flags alone (VTA's table in FACTS.md)."""
    push = {"LD->CMP": 0, "CMP->LD": 0, "CMP->ST": 0, "ST->CMP": 0}
    pop = dict(push)
    for insn in program:
        if insn.op == STORE:
            prev_q, next_q = "CMP->ST", None
            push_prev_q, push_next_q = "ST->CMP", None
        elif insn.op == LOAD and insn.mem in ("INP", MEM_WGT):
            prev_q, next_q, push_prev_q, push_next_q = None, "CMP->LD", None, "LD->CMP"
        else:
            prev_q, next_q, push_prev_q, push_next_q = "LD->CMP", "ST->CMP", "CMP->LD", "CMP->ST"
        for flag, q, table in ((insn.pop_prev, prev_q, pop), (insn.pop_next, next_q, pop),
                               (insn.push_prev, push_prev_q, push),
                               (insn.push_next, push_next_q, push)):
            if flag:
                assert q is not None, f"{insn!r} uses a dependency flag its module lacks"
                table[q] += 1
    return push, pop


def _groups(network, max_len=3, cores=(1, 4, 16)):
    for start in range(len(network)):
        for end in range(start + 1, min(len(network), start + max_len) + 1):
            for c in cores:
                yield start, end, c


@pytest.mark.parametrize("hw", [PYNQ, DLF], ids=["pynq", "vta16"])
def test_streams_are_balanced_and_prefix_safe(hw):
    """Every pop has a push: pushes == pops per queue; a module never pops more tokens
    than the other module has pushed before the matching point in program order."""
    checked = 0
    for name in ("resnet18", "squeezenet1_1", "tiny_residual"):
        net = get_network(name)
        cores = (1,) if hw.num_cores == 1 else (1, 4, 16)
        for start, end, c in _groups(net, 2, cores):
            lowered = lower_group(GroupSpec.from_network(net, start, end), c, hw)
            if not lowered.feasible:
                continue
            for program in lowered.programs:
                if not program:
                    continue
                push, pop = _token_balance(program)
                assert push == pop, (name, start, end, c, push, pop)
                assert program[-1].op == "FINISH"
                checked += 1
    assert checked > 50


def _single(layer_builder):
    b = NetworkBuilder("single", layer_builder[0])
    layer_builder[1](b)
    return b.build()


def test_single_layer_work_is_exact_when_channels_are_whole_blocks():
    """GEMM micro-ops x 256 == the layer's MACs, STORE bytes == its output bytes, on every
    core count: tiles and core bands cover the output exactly once, no recompute."""
    checked = 0
    for name in SWEEP_NETWORKS:
        net = get_network(name)
        for i, layer in enumerate(net.layers):
            if layer.kind != LayerKind.CONV2D or layer.c_in % 16 or layer.c_out % 16:
                continue
            spec = GroupSpec.from_network(net, i, i + 1)
            for c in (1, 4, 16):
                lowered = lower_group(spec, c, DLF)
                assert lowered.feasible, lowered.reason
                insns = [x for p in lowered.programs for x in p]
                issued = sum(x.iter_out * x.iter_in * x.uops for x in insns if x.op == GEMM)
                assert issued * DLF.macs_per_cycle == layer.macs, (name, layer.name, c)
                stored = sum(x.nbytes for x in insns if x.op == STORE)
                assert stored == layer.output_bytes(), (name, layer.name, c)
                checked += 1
    assert checked > 100


def test_padding_and_recompute_only_add_work():
    """Channels padded to 16 and halos of fused groups add MACs and bytes, never remove."""
    for name in SWEEP_NETWORKS:
        net = get_network(name)
        for start, end, c in _groups(net, 3, (1, 4)):
            lowered = lower_group(GroupSpec.from_network(net, start, end), c, DLF)
            if not lowered.feasible:
                continue
            layers = net.layers[start:end]
            insns = [x for p in lowered.programs for x in p]
            issued = sum(x.iter_out * x.iter_in * x.uops for x in insns if x.op == GEMM)
            assert issued * DLF.macs_per_cycle >= sum(la.macs for la in layers)
            assert lowered.macs == sum(la.macs for la in layers)
            # every layer's weights reach the chip at least once
            for k, layer in enumerate(layers):
                wgt = sum(x.nbytes for x in insns if x.op == LOAD and x.mem == MEM_WGT
                          and x.layer == k)
                assert wgt >= layer.weight_bytes(), (name, layer.name, c, wgt)
            # outputs needed outside the group are stored, whole
            spec = GroupSpec.from_network(net, start, end)
            for k, layer in enumerate(layers):
                out = sum(x.nbytes for x in insns if x.op == STORE and x.layer == k)
                if spec.stores[k] and layer.kind == LayerKind.CONCAT:
                    # zero-copy: only the slices computed in the group are stored
                    inside = sum(layers[p].c_out for p in spec.sources[k] if p >= 0)
                    assert out >= layer.output_bytes() * inside // layer.c_in, (name, layer.name)
                elif spec.stores[k]:
                    assert out >= layer.output_bytes(), (name, layer.name, c)
                else:
                    assert out == 0, "a fused intermediate went to DRAM"
            # every layer is computed (GEMM or an ALU pass), but a Concat: its producers
            # wrote their slices in place (zero-copy)
            for k, layer in enumerate(layers):
                if layer.kind == LayerKind.CONCAT:
                    continue
                assert any(x.layer == k and x.op in (GEMM, ALU) for x in insns)


def test_transposed_conv_loads_its_whole_kernel():
    """Regression: a 4x4 stride-2 transposed conv used to load a quarter of its weights."""
    net = get_network("dcgan")
    for i, layer in enumerate(net.layers):
        lowered = lower_group(GroupSpec.from_network(net, i, i + 1), 1, PYNQ)
        wgt = sum(x.nbytes for x in lowered.programs[0] if x.op == LOAD and x.mem == MEM_WGT)
        assert wgt >= layer.weight_bytes(), layer.name


def test_fused_intermediate_stays_on_chip():
    net = get_network("tiny_chain")
    fused = lower_group(GroupSpec.from_network(net, 0, 3), 1, DLF)
    stored_layers = {x.layer for x in fused.programs[0] if x.op == STORE}
    assert stored_layers == {2}


def test_core_split_covers_every_core_or_says_why():
    net = get_network("resnet18")
    spec = GroupSpec.from_network(net, 2, 3)  # 56 rows over 16 cores: 4-row bands
    lowered = lower_group(spec, 16, DLF)
    assert lowered.split == "rows" and len(lowered.programs) == 16
    active = sum(1 for p in lowered.programs if p)
    assert active == 14  # ceil(56 / 16) = 4 rows per band -> 14 bands
    # 7x7 map, 512 channels, 16 cores: channel split keeps all 16 busy
    spec = GroupSpec.from_network(net, 26, 27)
    lowered = lower_group(spec, 16, DLF)
    assert lowered.split == "channels" and all(lowered.programs)


def test_sixteen_channel_layer_is_split_by_rows():
    """Regression: one 16-channel block split by channels left 15 of 16 cores idle."""
    b = NetworkBuilder("narrow", (32, 112, 112))
    b.conv(None, 16, 1, 1)
    lowered = lower_group(GroupSpec.from_network(b.build(), 0, 1), 16, DLF)
    assert lowered.split == "rows" and all(lowered.programs)


def test_virtual_threads_halve_buffers():
    net = get_network("resnet18")
    spec = GroupSpec.from_network(net, 2, 3)
    one = lower_group(spec, 1, PYNQ.with_(virtual_threads=1))
    two = lower_group(spec, 1, PYNQ)
    assert one.vthreads == 1 and two.vthreads == 2
    assert two.tiles > one.tiles  # half the input buffer per thread: smaller tiles


# the smallest buffers a config allows: 256 B each (16 input vectors, one weight block)
TINY = load_config("pynq").with_(log_inp_buff_size=8, log_wgt_buff_size=8,
                                  log_acc_buff_size=8, log_uop_buff_size=8)


def test_infeasible_group_has_a_reason():
    net = get_network("resnet18")
    # a 3x3 kernel over one 16-channel block is 9 weight blocks (2304 B) > 256 B
    single = lower_group(GroupSpec.from_network(net, 2, 3), 1, TINY)
    assert not single.feasible and single.programs == []
    assert "layer1.0.conv1" in single.reason and "weight" in single.reason
    assert "2304" in single.reason and "\n" not in single.reason
    # fused: even a 1x1 output tile's inputs and intermediates overflow the input buffer
    fused = lower_group(GroupSpec.from_network(net, 3, 5), 1, TINY)
    assert not fused.feasible and "input buffer" in fused.reason
    # a 1x1 conv (one weight block) still runs on these buffers
    assert lower_group(GroupSpec.from_network(get_network("tiny_chain"), 3, 4), 1, TINY).feasible


def test_infeasible_group_in_schedule_is_a_one_line_error():
    from fusiongym.accelerator.evaluator import evaluate
    from fusiongym.accelerator.schedule import Schedule, ScheduleError

    net = get_network("tiny_chain")
    with pytest.raises(ScheduleError) as err:
        evaluate(net, Schedule.no_fusion(net, 1), TINY)
    assert "infeasible" in str(err.value) and "\n" not in str(err.value)


def test_infeasible_only_when_too_big():
    """The same group fits on the default buffers."""
    net = get_network("resnet18")
    assert lower_group(GroupSpec.from_network(net, 2, 3), 1, PYNQ).feasible
