"""The exact oracle: equal to brute force on small networks, consistent with evaluate()."""

import math

import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate
from fusiongym.accelerator.workloads.network import NetworkBuilder
from fusiongym.accelerator.workloads.zoo import get_network
from fusiongym.agents.brute_force import BruteForceScheduler, compositions
from fusiongym.agents.oracle import OracleScheduler
from helpers.small_networks import (CHEAP_LAUNCH_HW, SMALL_NETWORKS, evaluator_for, small_branchy,
                                    small_chain, small_mobile)

HW = load_config()


def test_compositions_are_complete():
    assert sorted(compositions(4, 8)) == sorted(
        [(4,), (1, 3), (3, 1), (2, 2), (1, 1, 2), (1, 2, 1), (2, 1, 1), (1, 1, 1, 1)])
    assert all(max(p) <= 2 for p in compositions(6, 2))
    assert len(list(compositions(6, 8))) == 2**5


@pytest.mark.parametrize("hw", [HW, CHEAP_LAUNCH_HW], ids=["vta16", "cheap-launch"])
@pytest.mark.parametrize("name", ["small_chain", "small_branchy", "small_mobile",
                                  "tiny_residual"])
def test_oracle_equals_brute_force(name, hw):
    net = SMALL_NETWORKS[name]() if name in SMALL_NETWORKS else get_network(name)
    ev = evaluator_for(hw)
    max_group_layers = 8 if hw is HW else 3
    oracle = OracleScheduler(max_group_layers=max_group_layers, progress=False, evaluator=ev)
    brute = BruteForceScheduler(max_group_layers=max_group_layers, evaluator=ev)
    best = oracle.schedule(net, hw)
    brute.schedule(net, hw)
    assert oracle.last_value == brute.last_value
    assert brute.schedules_examined == sum(
        len(hw.allowed_core_counts) ** len(p) for p in compositions(len(net), max_group_layers))
    result = evaluate(net, best, hw, ev)
    assert result.latency_cycles == oracle.last_value
    assert max(len(g) for g in best.groups) <= max_group_layers


def test_oracle_equals_brute_force_on_energy():
    net, hw = small_mobile(), CHEAP_LAUNCH_HW
    ev = evaluator_for(hw)
    oracle = OracleScheduler(objective="energy", progress=False, evaluator=ev)
    brute = BruteForceScheduler(objective="energy", evaluator=ev)
    schedule = oracle.schedule(net, hw)
    brute.schedule(net, hw)
    assert oracle.last_value == pytest.approx(brute.last_value, rel=1e-12)
    assert evaluate(net, schedule, hw, ev).energy_pj == pytest.approx(oracle.last_value)


def test_single_layer_groups_pick_each_layers_best_core_count():
    net, hw = small_chain(), CHEAP_LAUNCH_HW
    ev = evaluator_for(hw)
    oracle = OracleScheduler(max_group_layers=1, progress=False, evaluator=ev)
    schedule = oracle.schedule(net, hw)
    expected = sum(min(ev.result(net, i, i + 1, c).latency_cycles
                       for c in hw.allowed_core_counts if ev.result(net, i, i + 1, c).feasible)
                   for i in range(len(net)))
    assert oracle.last_value == expected
    assert [len(g) for g in schedule.groups] == [1] * len(net)


def test_oracle_simulates_each_candidate_once():
    net, hw = small_branchy(), CHEAP_LAUNCH_HW
    ev = GroupEvaluator(hw)
    oracle = OracleScheduler(max_group_layers=4, progress=False, evaluator=ev)
    oracle.schedule(net, hw)
    n, L, C = len(net), 4, len(hw.allowed_core_counts)
    candidates = sum(min(L, j) for j in range(1, n + 1)) * C
    assert oracle.candidates == candidates
    assert oracle.last_cost.sim_calls <= candidates
    oracle.schedule(net, hw)  # everything is memoized now
    assert oracle.last_cost.sim_calls == 0


def test_oracle_rejects_objectives_that_are_not_sums():
    with pytest.raises(UserInputError, match="edp"):
        OracleScheduler(objective="edp")


def test_oracle_beats_every_fixed_core_count_without_fusion():
    net, hw = small_mobile(), CHEAP_LAUNCH_HW
    ev = evaluator_for(hw)
    oracle = OracleScheduler(progress=False, evaluator=ev)
    oracle.schedule(net, hw)
    for c in hw.allowed_core_counts:
        total = sum(ev.result(net, i, i + 1, c).latency_cycles for i in range(len(net)))
        assert oracle.last_value <= total
    assert math.isfinite(oracle.last_value)


# ---- pruning: sound lower bounds, same result as the exhaustive DP --------------------
from dataclasses import replace  # noqa: E402

import fusiongym.agents.oracle as oracle_module  # noqa: E402
from fusiongym.accelerator.bounds import _WORK, energy_lower_bound, latency_lower_bound  # noqa: E402

PYNQ = load_config("pynq")
BURST_HW = HW.with_(name="burst", dram_arbitration="burst")
# multicast lets a load join another core's transfer: the bounds must drop what it can skip
MULTICAST_HW = HW.with_(name="multicast", dram_multicast=True)
# a port far below the bus: the per-transfer and per-core port bounds must still hold
NARROW_PORT_HW = HW.with_(name="narrow-port", dram_port_bytes_per_cycle=6.0)
NARROW_PORT_BURST_HW = NARROW_PORT_HW.with_(name="narrow-port-burst", dram_arbitration="burst")
NARROW_PORT_MULTICAST_HW = NARROW_PORT_HW.with_(name="narrow-port-multicast", dram_multicast=True)


def _windows(n, longest):
    return [(i, j) for j in range(1, n + 1) for i in range(max(0, j - longest), j)]


@pytest.mark.parametrize("hw, name", [
    (HW, "tiny_chain"), (HW, "tiny_residual"), (HW, "synthetic:1"), (HW, "alexnet"),
    (PYNQ, "tiny_chain"), (PYNQ, "tiny_residual"),
    (BURST_HW, "tiny_chain"), (BURST_HW, "tiny_residual"),
    (MULTICAST_HW, "tiny_chain"), (MULTICAST_HW, "tiny_residual"), (MULTICAST_HW, "alexnet"),
    (NARROW_PORT_HW, "tiny_residual"), (NARROW_PORT_HW, "synthetic:1"),
    (NARROW_PORT_BURST_HW, "tiny_residual"), (NARROW_PORT_MULTICAST_HW, "tiny_residual"),
    (NARROW_PORT_MULTICAST_HW, "synthetic:1"),
], ids=lambda x: x if isinstance(x, str) else x.name)
def test_bounds_never_exceed_the_simulated_cost(hw, name):
    """Every candidate of at most 4 layers, every core count: latency bound <= simulated
    latency, energy bound <= simulated energy (and equal to it up to the slack), and the
    bound is None exactly when the group is infeasible."""
    net, ev = get_network(name), evaluator_for(hw)
    feasible = 0
    for i, j in _windows(len(net), 4):
        for c in hw.allowed_core_counts:
            r = ev.result(net, i, j, c)
            lb = latency_lower_bound(ev, net, i, j, c)
            eb = energy_lower_bound(ev, net, i, j, c)
            if not r.feasible:
                assert lb is None and eb is None
                continue
            feasible += 1
            assert isinstance(lb, int) and lb <= r.latency_cycles, (i, j, c)
            if r.latency_cycles:  # a zero-copy Concat alone costs nothing, and so does its bound
                assert hw.launch_overhead_cycles < lb  # it sees more than the fixed costs
            else:
                assert lb == 0
            assert eb <= r.energy_pj, (i, j, c)
            if not hw.dram_multicast:  # else a bound only: joined reads may re-read a prefix
                assert eb == pytest.approx(r.energy_pj, rel=1e-8), (i, j, c)
    assert feasible > 0


def test_bounds_are_memoized_per_evaluator_and_group_shape():
    net, ev = get_network("tiny_chain"), GroupEvaluator(HW)
    assert latency_lower_bound(ev, net, 0, 2, 4) == latency_lower_bound(ev, net, 0, 2, 4)
    assert set(_WORK[ev]) == {(ev.spec(net, 0, 2).key, 4)}
    assert ev.sim_calls == 0  # bounds never simulate


def test_relaxed_schedule_follows_the_simulators_token_rules():
    from fusiongym.accelerator import sim
    from fusiongym.accelerator.isa import GEMM, LOAD, MEM_INP, STORE, Insn
    from fusiongym.accelerator.bounds import relaxed_end
    load = Insn(LOAD, MEM_INP, nbytes=4096)
    load.push_next = True
    gemm = Insn(GEMM, cycles=1000)
    gemm.pop_prev = gemm.push_next = True
    store = Insn(STORE, "OUT", nbytes=2048)
    store.pop_prev = True
    program = [load, gemm, store, Insn("FINISH")]
    end = relaxed_end(program, HW)
    assert end <= sim.simulate([program], HW).cycles
    # fetch, then load, compute and store one after another (tokens), each transfer alone
    # at the core's port rate (32 B/cycle on mlu100, below the 102.4 B/cycle bus)
    lat = HW.dram_latency_cycles
    assert HW.dram_port_bytes_per_cycle == 32.0
    assert end == (lat + 2) + (lat + 128) + 1000 + (lat + 64)
    # a token popped earlier in program order than it is pushed (the general path)
    gemm2, load2 = Insn(GEMM, cycles=1000), Insn(LOAD, MEM_INP, nbytes=4096)
    gemm2.pop_prev = load2.push_next = True
    program = [gemm2, load2, Insn("FINISH")]
    end = relaxed_end(program, HW)
    assert end == (lat + 1) + (lat + 128) + 1000 <= sim.simulate([program], HW).cycles
    waits = Insn(GEMM, cycles=10)
    waits.pop_prev = True  # no load ever pushes its token: the simulator deadlocks
    assert relaxed_end([waits, Insn("FINISH")], HW) is None


PRUNE_NETWORKS = ["tiny_chain", "tiny_residual", "synthetic:1", "synthetic:2", "synthetic:3",
                  "alexnet", "squeezenet1_1"]


@pytest.mark.parametrize("name", PRUNE_NETWORKS)
def test_pruned_oracle_equals_exhaustive_oracle(name):
    net = get_network(name)
    pruned = OracleScheduler(progress=False, evaluator=GroupEvaluator(HW))
    full = OracleScheduler(progress=False, evaluator=GroupEvaluator(HW), prune=False)
    assert pruned.prune and not full.prune
    schedule = pruned.schedule(net, HW)
    assert schedule == full.schedule(net, HW)  # same groups, same core counts
    assert pruned.last_value == full.last_value
    assert pruned.candidates == full.candidates
    assert pruned.last_cost.sim_calls < full.last_cost.sim_calls
    assert pruned.pruned > 0 and full.pruned == 0
    assert evaluate(net, schedule, HW, GroupEvaluator(HW)).latency_cycles == pruned.last_value


@pytest.mark.parametrize("hw", [HW, CHEAP_LAUNCH_HW, PYNQ], ids=lambda hw: hw.name)
@pytest.mark.parametrize("name", ["tiny_residual", "small_mobile", "synthetic:1"])
def test_pruned_oracle_equals_exhaustive_oracle_on_energy(name, hw):
    net = SMALL_NETWORKS[name]() if name in SMALL_NETWORKS else get_network(name)
    pruned = OracleScheduler(objective="energy", progress=False, evaluator=GroupEvaluator(hw))
    full = OracleScheduler(objective="energy", progress=False, evaluator=GroupEvaluator(hw),
                           prune=False)
    assert pruned.schedule(net, hw) == full.schedule(net, hw)
    assert pruned.last_value == full.last_value
    assert pruned.last_cost.sim_calls < full.last_cost.sim_calls


class _QuantizedEvaluator(GroupEvaluator):
    """Latencies rounded up to a multiple of ``quantum``: many candidates tie exactly."""

    def __init__(self, hw, quantum):
        super().__init__(hw)
        self.quantum = quantum

    def result(self, network, start, end, cores):
        r = super().result(network, start, end, cores)
        if not r.feasible:
            return r
        return replace(r, latency_cycles=-(-r.latency_cycles // self.quantum) * self.quantum)


@pytest.mark.parametrize("quantum", [1, 4000, 20000, 100000])
@pytest.mark.parametrize("name", ["small_chain", "small_branchy", "tiny_residual"])
def test_pruned_oracle_breaks_ties_like_the_exhaustive_one(name, quantum, monkeypatch):
    """Exact ties between candidates (forced by rounding every latency up to a quantum,
    and the bound with it, which keeps it sound): the pruned DP still picks the earliest
    boundary, then the fewest cores, exactly as the exhaustive one."""
    net, hw = (SMALL_NETWORKS[name]() if name in SMALL_NETWORKS else get_network(name),
               CHEAP_LAUNCH_HW)

    def rounded_bound(ev, network, start, end, cores):
        lb = latency_lower_bound(ev, network, start, end, cores)
        return None if lb is None else -(-lb // quantum) * quantum

    monkeypatch.setattr(oracle_module, "latency_lower_bound", rounded_bound)
    full_ev = _QuantizedEvaluator(hw, quantum)
    full = OracleScheduler(max_group_layers=4, progress=False, evaluator=full_ev, prune=False)
    pruned = OracleScheduler(max_group_layers=4, progress=False,
                             evaluator=_QuantizedEvaluator(hw, quantum))
    assert pruned.schedule(net, hw) == full.schedule(net, hw)
    assert pruned.last_value == full.last_value
    if quantum >= 20000:  # the rounding does create ties for the best group at some end
        ties = 0
        for j in range(1, len(net) + 1):
            values = [full_ev.result(net, i, j, c).latency_cycles
                      for i in range(max(0, j - 4), j) for c in hw.allowed_core_counts
                      if full_ev.result(net, i, j, c).feasible]
            ties += values.count(min(values)) > 1
        assert ties > 0
