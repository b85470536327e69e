"""The oracle's shape-only floor (``bounds.latency_floor``): its ALU term counts the ops
the emitter emits, its layers "computed whole" leave out what a strided 1x1 convolution
skips, its DRAM terms count bytes every plan moves; and it is never above the bound on
ResNet-50's candidates (``test_bounds_one_pass.py`` checks three smaller networks)."""

from __future__ import annotations

import pytest

from fusiongym.accelerator.bounds import (_computed_whole, _floor_alu_cycles, _floor_bytes,
                                          latency_floor, latency_lower_bound)
from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.isa import ALU, LOAD, MEM_WGT, STORE
from fusiongym.accelerator.lowering import GroupSpec, lower_group
from fusiongym.accelerator.workloads.network import NetworkBuilder
from fusiongym.accelerator.workloads.zoo import get_network


def _residual():
    b = NetworkBuilder("floor_residual", (64, 28, 28))
    x = b.conv(None, 64, 3, 1, name="a")
    y = b.conv(x, 64, 3, 1, name="b")
    s = b.add(x, y, activation="relu", name="sum")
    b.pool(s, 3, 2, 1, name="pool")
    return b.build()


@pytest.mark.parametrize("preset", ["vta16", "mlu100"])
def test_the_alu_term_is_the_emitted_alu_cycles_of_whole_layers(preset):
    # one core, one row tile per step: the emitted ALU instructions cover each layer's map
    # exactly once, so the floor's ALU cycles are exactly theirs (VTA's requantisation
    # included on vta16); any op the floor counts and the emitter does not would show
    hw, net = load_config(preset), _residual()
    exact = 0
    for start, end in ((0, 4), (2, 3), (3, 4), (0, 2)):
        spec = GroupSpec.from_network(net, start, end)
        lowered = lower_group(spec, 1, hw)
        assert lowered.feasible, (start, end)
        if lowered.meta["line_buffer"] or lowered.tile_cols != spec.layers[-1].w_out:
            continue
        emitted = sum(i.cycles for p in lowered.programs for i in p if i.op == ALU)
        floor = _floor_alu_cycles(spec, hw, _computed_whole(spec))
        assert floor <= emitted
        if len(spec.layers) == 1:
            assert floor == emitted, (start, end)
            exact += 1
    assert exact >= 1


def test_a_layer_read_only_through_a_strided_1x1_conv_is_not_computed_whole():
    b = NetworkBuilder("strided", (64, 28, 28))
    x = b.conv(None, 64, 3, 1, name="x")
    b.conv(x, 128, 1, 2, padding=0, name="down")  # samples every other row and column of x
    b2 = NetworkBuilder("dense", (64, 28, 28))
    y = b2.conv(None, 64, 3, 1, name="x")
    b2.conv(y, 128, 3, 2, name="down3")  # 3x3 stride 2: reads every row and column of x
    assert _computed_whole(GroupSpec.from_network(b.build(), 0, 2)) == {1}
    assert _computed_whole(GroupSpec.from_network(b2.build(), 0, 2)) == {0, 1}


def test_the_floor_bytes_are_moved_by_every_plan():
    hw = load_config("mlu100")
    net = get_network("resnet50")
    ev = GroupEvaluator(hw)
    checked = 0
    for start, end in ((1, 2), (1, 4), (5, 8), (40, 43)):
        spec = ev.spec(net, start, end)
        every_core, shared = _floor_bytes(spec, hw)
        assert every_core + shared > 0
        for cores in (1, 4, 16):
            lowered = lower_group(spec, cores, hw)
            if not lowered.feasible:
                continue
            moved = [sum(i.nbytes for i in p if (i.op == LOAD and i.mem == MEM_WGT)
                         or i.op == STORE) for p in lowered.programs if p]
            assert sum(moved) >= every_core + shared
            assert max(moved) >= every_core + shared / cores
            checked += 1
    assert checked >= 6


def test_the_floor_is_never_above_the_bound_on_resnet50():
    hw, net = load_config("mlu100"), get_network("resnet50")
    ev, strict = GroupEvaluator(hw), 0
    for j in range(1, len(net) + 1, 3):
        for i in range(max(0, j - 4), j):
            for cores in (1, 4, 16):
                bound = latency_lower_bound(ev, net, i, j, cores)
                if bound is not None:
                    floor = latency_floor(ev, net, i, j, cores)
                    assert floor <= bound, (i, j, cores)
                    strict += floor < bound
    assert strict > 0
