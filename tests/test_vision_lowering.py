"""Lowering and simulation of the vision ops: activations' ALU passes, the SE channel scale
with its vector loaded, nearest / bilinear resize, a global pool summed in bands, a fused
squeeze-and-excitation block. Counts are recomputed from the instruction fields."""

from __future__ import annotations

import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.evaluator import run_group
from fusiongym.accelerator.isa import ALU, LOAD, MEM_ACC, STORE
from fusiongym.accelerator.lowering import GroupSpec, lower_group
from fusiongym.accelerator.lowering.emit import REQUANT_ALU_OPS
from fusiongym.accelerator.op_costs import ACTIVATION_RECIPES, activation_passes, alu_passes
from fusiongym.accelerator.workloads.network import LayerKind, NetworkBuilder

VTA = load_config("vta16")  # requantises on the ALU
MLU = load_config("mlu100")  # requantises in the GEMM's output stage


def _net():
    b = NetworkBuilder("vision", (64, 14, 14))
    x = b.conv(None, 64, 1, padding=0, activation="silu", name="conv")  # 0
    x = b.conv(x, 64, 3, groups=64, activation="hardswish", name="dw")  # 1
    s = b.global_pool(x, name="se.avgpool")  # 2
    s = b.conv(s, 16, 1, padding=0, activation="relu", name="se.fc1")  # 3
    s = b.conv(s, 64, 1, padding=0, activation="hardsigmoid", name="se.fc2")  # 4
    x = b.channel_op(LayerKind.CHANNEL_MUL, x, s, name="se.scale")  # 5
    x = b.channel_op(LayerKind.CHANNEL_ADD, x, s, name="bias")  # 6
    x = b.activation(x, "sigmoid", name="gate")  # 7
    b.resize(x, 2, "nearest", name="up_nearest")  # 8
    b.resize(x, 2, "bilinear", name="up_bilinear")  # 9
    return b.build()


NET = _net()


def alone(i: int, cores: int = 1, hw=VTA):
    lowered = lower_group(GroupSpec.from_network(NET, i, i + 1), cores, hw)
    assert lowered.feasible, lowered.reason
    return [insn for prog in lowered.programs for insn in prog], lowered


def alu_vector_ops(insns) -> int:
    """ALU passes times vectors, from the instruction fields."""
    return sum(i.iter_out * i.iter_in * i.alu_ops for i in insns if i.op == ALU)


def test_activation_recipes_are_cited_pass_lists():
    assert activation_passes("relu") == activation_passes("clip") == 0
    assert activation_passes("sigmoid") == 12  # PLAN as a sum of three clamps
    assert activation_passes("silu") == 13 and activation_passes("hardswish") == 5
    assert activation_passes("hardsigmoid") == 4
    assert set(ACTIVATION_RECIPES) >= {"none", "relu", "clip", "sigmoid", "hardsigmoid",
                                       "hardswish", "silu"}


@pytest.mark.parametrize("hw, requant", [(VTA, REQUANT_ALU_OPS), (MLU, 0)])
def test_folded_activation_adds_its_passes_to_the_epilogue(hw, requant):
    insns, _ = alone(0, hw=hw)
    vectors = 14 * 14 * -(-64 // hw.block_out)
    assert alu_vector_ops(insns) == vectors * (requant + activation_passes("silu"))


@pytest.mark.parametrize("i, passes", [
    (5, alu_passes("channel_mul")), (6, alu_passes("channel_add")),
    (7, 2 + activation_passes("sigmoid")),  # a standalone activation requantises too
    (8, alu_passes("resize_nearest")), (9, alu_passes("resize_bilinear")),
])
def test_alu_layers_cost_their_recipe_per_output_vector(i, passes):
    insns, _ = alone(i)
    layer = NET.layers[i]
    assert alu_vector_ops(insns) == layer.h_out * layer.w_out * (64 // 16) * passes


def test_channel_scale_loads_its_vector_once_per_tile():
    insns, lowered = alone(5)
    acc_loads = sum(i.nbytes for i in insns if i.op == LOAD and i.mem == MEM_ACC)
    assert acc_loads == 14 * 14 * 64 + lowered.tiles * 64  # the map, and 64 B per tile
    assert sum(i.nbytes for i in insns if i.op == STORE) == 14 * 14 * 64


@pytest.mark.parametrize("i", [8, 9])
def test_resize_reads_the_small_map_and_writes_the_big_one(i):
    insns, _ = alone(i)
    acc_loads = sum(i.nbytes for i in insns if i.op == LOAD and i.mem == MEM_ACC)
    assert sum(i.nbytes for i in insns if i.op == STORE) == 28 * 28 * 64
    assert 14 * 14 * 64 <= acc_loads < 28 * 28 * 64  # (tile halos only add input rows)


def test_a_big_global_pool_sums_in_bands():
    b = NetworkBuilder("squeeze", (32, 112, 112))
    b.global_pool(None)
    spec = GroupSpec.from_network(b.build(), 0, 1)
    lowered = lower_group(spec, 1, VTA)
    assert lowered.feasible, lowered.reason
    insns = lowered.programs[0]
    acc = [i for i in insns if i.op == LOAD and i.mem == MEM_ACC]
    assert len(acc) > 1 and sum(i.nbytes for i in acc) == 112 * 112 * 32
    assert alu_vector_ops(insns) == (112 * 112 + 3) * 2  # the same passes as loaded whole
    small, _ = alone(2)  # 14x14 fits whole: one load, as before
    assert len([i for i in small if i.op == LOAD and i.mem == MEM_ACC]) == 1


def test_fused_squeeze_excitation_keeps_the_vector_on_chip():
    """dw -> pool -> fc1 -> fc2 -> scale in one group: the map is read once, only the
    scaled map (and the vector, which the next group's channel add reads) is written;
    every tile needs the whole vector, so no line buffer."""
    spec = GroupSpec.from_network(NET, 1, 6)
    result, lowered, sim = run_group(spec, 1, VTA)
    assert result.feasible, result.reason
    assert not lowered.meta["line_buffer"]
    assert sim.dram_bytes_written == 14 * 14 * 64 + 64
    loads = {}
    for insn in lowered.programs[0]:
        if insn.op == LOAD and insn.mem != "UOP":
            loads[insn.mem] = loads.get(insn.mem, 0) + insn.nbytes
    # weights in VTA's block layout: a depthwise 3x3 is a diagonal 16x16 block per tap
    assert loads == {"INP": 14 * 14 * 64, "WGT": 9 * 4 * 256 + 2 * 4 * 256}
    apart = [run_group(GroupSpec.from_network(NET, i, i + 1), 1, VTA)[0] for i in range(1, 6)]
    assert result.dram_bytes_read + result.dram_bytes_written < sum(
        r.dram_bytes_read + r.dram_bytes_written for r in apart)


@pytest.mark.parametrize("hw", [VTA, MLU, load_config("pynq")])
@pytest.mark.parametrize("cores", [1, 4, 16])
def test_every_vision_layer_simulates(hw, cores):
    for i in range(len(NET)):
        result, _, sim = run_group(GroupSpec.from_network(NET, i, i + 1), cores, hw)
        assert result.feasible, (NET.layers[i].name, result.reason)
        assert sim.cycles > 0 and sim.dram_bytes_written >= NET.layers[i].output_bytes()


def test_oracle_beats_no_fusion_on_a_squeeze_excitation_network():
    """Three blocks shaped like MobileNetV3-Large's first SE stage (expand, 5x5 depthwise,
    SE with a hard-sigmoid gate, project, residual add) at 56x56."""
    from fusiongym.accelerator.evaluator import evaluate
    from fusiongym.agents import make_scheduler

    b = NetworkBuilder("se_stage", (24, 56, 56))
    x = None
    for n in range(3):
        y = b.conv(x, 72, 1, padding=0, activation="relu", name=f"b{n}.expand")
        y = b.conv(y, 72, 5, 2 if n == 0 else 1, groups=72, activation="relu", name=f"b{n}.dw")
        y = b.squeeze_excite(y, 24, activation="relu", gate="hardsigmoid", prefix=f"b{n}.se")
        y = b.conv(y, 40, 1, padding=0, activation="none", name=f"b{n}.project")
        x = b.add(x, y, name=f"b{n}.add") if n > 0 else y
    net = b.build()
    latency = {name: evaluate(net, make_scheduler(name).schedule(net, MLU), MLU).latency_cycles
               for name in ("no-fusion", "oracle")}
    assert latency["oracle"] < latency["no-fusion"] / 2  # measured: 115,392 vs 352,827
