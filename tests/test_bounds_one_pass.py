"""The bounds' one pass over a core's program (``bounds._core_sums``) equals the definitions
it replaces: the relaxed schedule of ``relaxed_end`` (``pipeline_end`` over ``token_deps``)
and the cuts of ``_load_cuts``, on random linked streams, on streams whose tokens are
popped before they are pushed (it must give up and leave them to ``relaxed_end``), and on
every feasible small group of two zoo networks."""

from __future__ import annotations

import random

import pytest

from fusiongym.accelerator.bounds import _core_sums, _load_cuts, relaxed_end
from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.isa import ALU, GEMM, LOAD, MEM_ACC, MEM_INP, MEM_UOP, MEM_WGT, STORE, Insn
from fusiongym.accelerator.lowering import infeasibility, lower_group
from fusiongym.accelerator.lowering.emit import Step, link
from fusiongym.accelerator.workloads.zoo import get_network

PRESETS = {name: load_config(name) for name in ("vta16", "mlu100")}


def _random_program(rng: random.Random, vt: int) -> list[Insn]:
    steps = []
    for s in range(rng.randint(1, 40)):
        step = Step(drain=s > 0 and rng.random() < 0.2)
        step.loads = [Insn(LOAD, rng.choice([MEM_INP, MEM_WGT]),
                           nbytes=rng.choice([0, 16, 4096, 70_000]))
                      for _ in range(rng.randint(1, 3))]
        step.computes = [rng.choice([Insn(GEMM, cycles=rng.randint(1, 5000)),
                                     Insn(ALU, cycles=rng.randint(1, 500)),
                                     Insn(LOAD, MEM_UOP, nbytes=rng.choice([16, 256])),
                                     Insn(LOAD, MEM_ACC, nbytes=rng.choice([0, 2048]))])
                         for _ in range(rng.randint(1, 3))]
        step.stores = [Insn(STORE, "OUT", nbytes=rng.choice([64, 9000]))
                       for _ in range(rng.randint(0, 2))]
        steps.append(step)
    return link(steps, vt)


def _assert_same(program: list[Insn], hw) -> None:
    sums = _core_sums(program, hw, relax=True)
    assert sums.relaxed == relaxed_end(program, hw)
    assert sums.cuts == _load_cuts(program, hw)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_one_pass_equals_the_definitions_on_random_streams(preset):
    rng = random.Random(7)
    for _ in range(150):
        _assert_same(_random_program(rng, rng.choice([1, 2])), PRESETS[preset])


def test_a_pop_before_its_push_is_left_to_relaxed_end():
    hw = PRESETS["mlu100"]
    gemm, load = Insn(GEMM, cycles=1000), Insn(LOAD, MEM_INP, nbytes=4096)
    gemm.pop_prev = load.push_next = True
    program = [gemm, load, Insn("FINISH")]
    assert _core_sums(program, hw, relax=True).relaxed is None  # gave up ...
    assert relaxed_end(program, hw) is not None  # ... where the general path has an answer
    waits = Insn(GEMM, cycles=10)
    waits.pop_prev = True  # never pushed
    assert _core_sums([waits, Insn("FINISH")], hw, relax=True).relaxed is None


@pytest.mark.parametrize("network_name,preset", [("squeezenet1_1", "mlu100"),
                                                 ("tiny_transformer", "vta16")])
def test_one_pass_equals_the_definitions_on_lowered_groups(network_name, preset):
    hw, net = PRESETS[preset], get_network(network_name)
    ev, checked = GroupEvaluator(hw), 0
    for j in range(1, len(net) + 1):
        for i in range(max(0, j - 3), j):
            for cores in (1, 4):
                spec = ev.spec(net, i, j)
                if infeasibility(spec, cores, hw) is not None:
                    continue
                for program in lower_group(spec, cores, hw).programs:
                    if program:
                        _assert_same(program, hw)
                        checked += 1
    assert checked > 50


@pytest.mark.parametrize("network_name,preset", [("resnet18", "mlu100"), ("dcgan", "mlu100"),
                                                 ("mobilenet_v2", "vta16")])
def test_the_shape_only_floor_is_never_above_the_bound(network_name, preset):
    # the oracle orders candidates by the floor first and relies on floor <= bound to
    # simulate exactly the candidates it simulated without it
    from fusiongym.accelerator.bounds import latency_floor, latency_lower_bound

    hw, net = PRESETS[preset], get_network(network_name)
    ev, strict = GroupEvaluator(hw), 0
    for j in range(1, len(net) + 1):
        for i in range(max(0, j - 3), j):
            for cores in (1, 16) if preset == "mlu100" else (1, 4):
                bound = latency_lower_bound(ev, net, i, j, cores)
                floor = latency_floor(ev, net, i, j, cores)
                if bound is not None:
                    assert floor <= bound, (i, j, cores)
                    strict += floor < bound
    assert strict > 0
