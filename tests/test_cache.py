"""GroupEvaluator: memo by group shape, planning-only feasibility, the on-disk store."""

from __future__ import annotations

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate
from fusiongym.accelerator.lowering import GroupSpec, Refusal, RefusalKind, infeasibility, lower_group
from fusiongym.accelerator.schedule import Schedule
from fusiongym.accelerator.workloads.zoo import get_network


def test_identical_blocks_are_simulated_once():
    hw = load_config()
    net = get_network("resnet34")  # many identical basic blocks
    ev = GroupEvaluator(hw)
    evaluate(net, Schedule.no_fusion(net, 4), hw, ev)
    assert ev.sim_calls < len(net) and ev.hits == len(net) - ev.sim_calls


def test_feasibility_without_emission_agrees_with_lowering():
    hw = load_config().with_(log_inp_buff_size=12, log_acc_buff_size=12, log_wgt_buff_size=14)
    net = get_network("resnet18")
    seen = {True: 0, False: 0}
    for start in range(0, len(net) - 3, 3):
        for end in (start + 1, start + 3):
            for cores in (1, 16):
                spec = GroupSpec.from_network(net, start, end)
                reason = infeasibility(spec, cores, hw)
                lowered = lower_group(spec, cores, hw)
                assert (reason is None) == lowered.feasible
                assert reason == lowered.refusal
                seen[lowered.feasible] += 1
    assert seen[True] and seen[False]  # both outcomes exercised


def test_a_refusal_is_a_typed_value_and_a_refused_fusion_is_inherited():
    """Lowering outcomes are values: a plan or a Refusal with its kind and one-line reason;
    a group whose first layers are refused as a fusion is refused with the same kind
    (schedules grow a group one layer at a time), a buffer overflow is NO_TILE_FITS."""
    tiny = load_config().with_(log_inp_buff_size=12, log_acc_buff_size=12, log_wgt_buff_size=14)
    net = get_network("resnet18")
    kinds = set()
    for start in range(0, len(net) - 3):
        for end in (start + 2, start + 3):
            spec = GroupSpec.from_network(net, start, end)
            for hw in (tiny, load_config("mlu100")):
                refusal = infeasibility(spec, 4, hw)
                if refusal is None:
                    continue
                assert isinstance(refusal, Refusal) and refusal.reason and "\n" not in refusal.reason
                kinds.add(refusal.kind)
                longer = infeasibility(GroupSpec.from_network(net, start, end + 1), 4, hw)
                if refusal.kind is RefusalKind.FUSION_DOES_NOT_PAY and end - start >= 2:
                    assert longer is not None and longer.kind is RefusalKind.FUSION_DOES_NOT_PAY
    assert kinds == {RefusalKind.NO_TILE_FITS, RefusalKind.FUSION_DOES_NOT_PAY}


def test_store_answers_a_second_evaluator_without_simulating(tmp_path):
    hw = load_config()
    net = get_network("tiny_residual")
    store = tmp_path / "memo.sqlite"
    first = GroupEvaluator(hw, store_path=store)
    a = evaluate(net, Schedule.no_fusion(net, 2), hw, first)
    second = GroupEvaluator(hw, store_path=store)
    b = evaluate(net, Schedule.no_fusion(net, 2), hw, second)
    assert first.sim_calls == len(net) and second.sim_calls == 0
    assert second.store_hits == len(net)
    assert a.latency_cycles == b.latency_cycles and a.energy_pj == b.energy_pj
    assert [g.busy_cycles for g in a.groups] == [g.busy_cycles for g in b.groups]
