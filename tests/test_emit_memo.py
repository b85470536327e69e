"""The emitter's memo never replays one plan's instructions for another.

A layer's chunk instructions are recorded once per key and replayed for every later tile,
core, core count and plan with the same key (accelerator/lowering/emit.py). A global pool
reading a map from DRAM sums it in bands sized by the accumulator's share per virtual
thread, so two plans that differ only in ``vthreads`` must not share its instructions.
"""

from __future__ import annotations

import dataclasses

import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.isa import Insn
from fusiongym.accelerator.lowering.emit import emit_core
from fusiongym.accelerator.lowering.planner import plan_cached
from fusiongym.accelerator.lowering.tiling import GroupGeometry
from fusiongym.accelerator.workloads.zoo import get_network


def _fields(program: list[Insn]) -> list[tuple]:
    return [tuple(getattr(insn, slot, None) for slot in Insn.__slots__) for insn in program]


@pytest.mark.parametrize("preset", ["mlu100", "vta16"])
def test_a_pool_in_bands_is_not_replayed_across_thread_counts(preset):
    hw = load_config(preset)
    net = get_network("efficientnet_b0")  # layer 2: the first SE squeeze, 112 x 112 x 32
    spec = GroupEvaluator(hw).spec(net, 2, 3)
    plan = plan_cached(spec, 1, hw).plan
    other = dataclasses.replace(plan, vthreads=3 - plan.vthreads)
    g = GroupGeometry(spec, 1, hw)
    assert g.reduction_band_rows(plan, 0, 16) != g.reduction_band_rows(other, 0, 16)
    g.emit_memo.clear()
    fresh = _fields(emit_core(g, other, 0)[0])
    g.emit_memo.clear()
    emit_core(g, plan, 0)  # fills the memo with the other thread count's bands
    assert _fields(emit_core(g, other, 0)[0]) == fresh
