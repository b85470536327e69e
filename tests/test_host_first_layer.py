"""``first_layer_on: host`` (accelerator/host.py): the first convolution on the host CPU, as
VTA's deployment runs it. The default moves nothing; with "host" the first group costs the
host's formula, holds no core, is never fused, and every search, mask, export and placement
respects it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import pytest
from gymnasium.utils.env_checker import check_env

from fusiongym.accelerator.bounds import energy_lower_bound, latency_lower_bound
from fusiongym.accelerator.config import load_config, preset_names
from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate
from fusiongym.accelerator.host import host_layers
from fusiongym.accelerator.schedule import Group, Schedule, ScheduleError
from fusiongym.accelerator.schedule_export import export_schedule
from fusiongym.accelerator.spatial.placement import Placement, PlacementError, PlacedGroup
from fusiongym.accelerator.spatial.bounds import makespan_lower_bound
from fusiongym.accelerator.spatial.simulate import simulate_placement
from fusiongym.accelerator.spatial.timeline import host_flags, replay
from fusiongym.accelerator.spatial.workload import Workload
from fusiongym.accelerator.workloads.zoo import get_network
from fusiongym.agents.bound_dp import BoundDPScheduler
from fusiongym.agents.heuristic import HeuristicScheduler
from fusiongym.agents.oracle import OracleScheduler
from fusiongym.envs.fusion_env import FusionEnv

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "docs" / "schema"
                     / "schedule-v1.schema.json").read_text())
MLU_HOST = load_config("mlu100").with_(first_layer_on="host")


def test_every_preset_keeps_the_first_layer_on_the_accelerator():
    for name in preset_names():
        hw = load_config(name)
        assert hw.first_layer_on == "accelerator", name
        # the host knobs cannot move a number then: same memo / store / export key
        other = hw.with_(host_clock_mhz=1.0, host_int8_macs_per_cycle=1.0,
                         host_call_overhead_cycles=7, host_transfer_bytes_per_cycle=1.0)
        assert other.key == hw.key, name
        assert hw.with_(first_layer_on="host").key != hw.key, name


def test_the_default_leaves_the_oracle_unchanged():
    """The knob at "accelerator" with any host knobs gives the oracle's very schedule and
    value, and the first layer is then a plain accelerator group."""
    net = get_network("tiny_residual")
    hw = load_config("mlu100")
    assert host_layers(net, hw) == 0
    base = OracleScheduler(progress=False, evaluator=GroupEvaluator(hw))
    s0 = base.schedule(net, hw)
    odd = hw.with_(first_layer_on="accelerator", host_int8_macs_per_cycle=1e6,
                   host_call_overhead_cycles=0)
    other = OracleScheduler(progress=False, evaluator=GroupEvaluator(odd))
    assert other.schedule(net, odd) == s0 and other.last_value == base.last_value
    # on the accelerator the first layer may be fused
    ev = GroupEvaluator(hw)
    assert any(ev.infeasible_reason(net, 0, 2, c) is None for c in hw.allowed_core_counts)


def test_resnet18_first_group_costs_the_host_formula_exactly():
    net = get_network("resnet18")
    conv1 = net.layers[0]
    assert (conv1.name, conv1.c_in, conv1.kernel, conv1.macs) == ("conv1", 3, (7, 7), 118_013_952)
    ev = GroupEvaluator(MLU_HOST)
    # mlu100's host (presets/mlu100.yaml): 512 MACs per 2 GHz cycle = 1,024 per 1 GHz
    # accelerator cycle; 150,528 B image + 9,408 B weights in, 802,816 B out over PCIe at
    # 15.75 B/cycle; 10,000 cycles per call
    expected = 10_000 + math.ceil(118_013_952 / 1024) + math.ceil(962_752 / 15.75)
    for cores in MLU_HOST.allowed_core_counts:  # holds no core: every count costs the same
        r = ev.result(net, 0, 1, cores)
        assert r.feasible and r.latency_cycles == expected
        assert (r.dram_bytes_read, r.dram_bytes_written) == (159_936, 802_816)
        assert r.busy_cycles == {} and r.instructions == 0
        # the bounds are exact on it (sound, and the oracle prunes against them)
        assert latency_lower_bound(ev, net, 0, 1, cores) == expected
        assert energy_lower_bound(ev, net, 0, 1, cores) <= r.energy_pj
    assert ev.sim_calls == 0  # a formula, not a simulation
    # the same shape elsewhere would run on the accelerator: keyed apart
    assert ev.key(net, 0, 1, 1) != (ev.spec(net, 0, 1).key, 1)
    # pynq's host (the config defaults): a 650 MHz Cortex-A9 pair at 8 MACs per cycle
    pynq = load_config("pynq").with_(first_layer_on="host")
    r = GroupEvaluator(pynq).result(net, 0, 1, 1)
    assert r.latency_cycles == 1000 + math.ceil(118_013_952 / (8 * 6.5)) + math.ceil(962_752 / 8)


def test_the_host_layer_is_never_fused():
    net = get_network("tiny_residual")
    ev = GroupEvaluator(MLU_HOST)
    for end in range(2, len(net) + 1):
        reason = ev.infeasible_reason(net, 0, end, 1)
        assert reason and "runs on the host" in reason and "cannot be fused" in reason
        assert not ev.result(net, 0, end, 4).feasible
        assert latency_lower_bound(ev, net, 0, end, 4) is None
    with pytest.raises(ScheduleError, match="runs on the host"):
        evaluate(net, Schedule((Group(0, 2, 1), Group(2, len(net), 1))), MLU_HOST, ev)
    for scheduler in (OracleScheduler(progress=False, evaluator=GroupEvaluator(MLU_HOST)),
                      OracleScheduler(progress=False, prune=False,
                                      evaluator=GroupEvaluator(MLU_HOST)),
                      BoundDPScheduler(evaluator=GroupEvaluator(MLU_HOST)),
                      HeuristicScheduler(evaluator=GroupEvaluator(MLU_HOST))):
        s = scheduler.schedule(net, MLU_HOST)
        assert s.groups[0] == Group(0, 1, s.groups[0].cores), scheduler.name
    # the oracle is exact over the schedules that respect it: no worse than the best
    # schedule that keeps the accelerator's own optimum after the host layer
    oracle = OracleScheduler(progress=False, evaluator=GroupEvaluator(MLU_HOST))
    best = oracle.schedule(net, MLU_HOST)
    assert oracle.last_value == evaluate(net, best, MLU_HOST).latency_cycles


def test_env_masks_fuse_after_the_host_layer_and_never_dead_end():
    env = FusionEnv(["tiny_chain", "tiny_residual"], hw=MLU_HOST)
    check_env(env, skip_render_check=True)
    for seed in range(4):
        env.reset(seed=seed)
        layer, done = 0, False
        while not done:
            mask = env.action_masks()
            assert mask.any(), "a masked walk dead-ended"
            if layer == 1:
                assert not mask[0], "FUSE after the host-run first layer must be masked"
            action = int(mask.nonzero()[0][seed % int(mask.sum())])
            _, _, done, truncated, info = env.step(action)
            done = done or truncated
            layer += 1
        first = info["schedule"].groups[0]
        assert (first.start, first.end) == (0, 1)
        assert info["latency_cycles"] == evaluate(env.network, info["schedule"], MLU_HOST,
                                                  env.evaluator).latency_cycles


def test_schedule_export_marks_the_host_group_and_validates():
    net = get_network("tiny_chain")
    ev = GroupEvaluator(MLU_HOST)
    s = OracleScheduler(progress=False, evaluator=ev).schedule(net, MLU_HOST)
    doc = export_schedule(net, s, MLU_HOST, ev)
    jsonschema.validate(doc, SCHEMA)
    first, rest = doc["groups"][0], doc["groups"][1:]
    assert first["runs_on"] == "host" and "plan" not in first
    host = first["host"]
    assert (host["overhead_cycles"] + host["compute_cycles"] + host["transfer_cycles"]
            == first["expected"]["latency_cycles"])
    assert all(g["runs_on"] == "accelerator" and "plan" in g for g in rest)
    broken = json.loads(json.dumps(doc))
    del broken["groups"][0]["host"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_a_placement_with_host_groups_holds_no_core_and_replays():
    w = Workload.parse(["tiny_chainx3"])
    ev = GroupEvaluator(MLU_HOST)
    schedules = [OracleScheduler(progress=False, evaluator=ev).schedule(r.network, MLU_HOST)
                 for r in w.requests]
    placement = Placement.side_by_side(w, schedules)
    result = simulate_placement(w, placement, MLU_HOST, ev)
    flags = host_flags(w, placement.groups, MLU_HOST)
    assert sum(flags) == 3
    hosted = [rec for rec, f in zip(result.groups, flags) if f]
    host_cycles = ev.result(w.requests[0].network, 0, 1, 1).latency_cycles
    for rec in hosted:
        assert rec.core_ids == () and rec.end_cycles - rec.launch_cycles == host_cycles
    # one host computation at a time: the three requests' first layers queue on the host
    spans = sorted((rec.launch_cycles, rec.end_cycles) for rec in hosted)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    assert spans[-1][0] >= 2 * host_cycles
    # the makespan bound stays sound and sees the host's queue
    bound = makespan_lower_bound(w, MLU_HOST, ev)
    assert bound.host_cycles == 3 * host_cycles
    assert bound.makespan_cycles <= result.makespan_cycles
    # the timeline replays the same launch rule over the simulated durations
    deps = placement.validate(w, MLU_HOST)
    durations = [rec.end_cycles - rec.launch_cycles for rec in result.groups]
    arrivals = [w.requests[g.request].arrival_cycles for g in placement.groups]
    line = replay(placement.groups, deps, arrivals, durations, MLU_HOST.num_cores, flags)
    assert [line.start_cycles[k] for k, f in enumerate(flags) if f] == \
        [rec.launch_cycles for rec in hosted]
    assert all(line.core_ids[k] == () for k, f in enumerate(flags) if f)
    # a saved (pinned) placement replays exactly
    pinned = result.pinned(placement)
    again = simulate_placement(w, Placement.from_dict(pinned.to_dict()), MLU_HOST, ev)
    assert again.makespan_cycles == result.makespan_cycles
    # a sequential placement costs what the sequential evaluation says
    one = Workload.parse(["tiny_chain"])
    seq = simulate_placement(one, Placement.sequential(one, schedules[:1]), MLU_HOST, ev)
    assert seq.makespan_cycles == evaluate(one.requests[0].network, schedules[0], MLU_HOST,
                                           ev).latency_cycles


def test_a_placement_fusing_the_host_layer_is_refused():
    w = Workload.parse(["tiny_chain"])
    bad = Placement((PlacedGroup(0, 0, 2, 1), PlacedGroup(0, 2, 5, 1, after=(0,))))
    with pytest.raises(PlacementError, match="runs on the host"):
        simulate_placement(w, bad, MLU_HOST, GroupEvaluator(MLU_HOST))


def test_the_benchmark_row_compares_both_places(capsys):
    from fusiongym.benchmarks import host_first_layer

    row = host_first_layer.measure("tiny_chain", "mlu100")
    hw = MLU_HOST
    net = get_network("tiny_chain")
    assert row.host_first_layer_cycles == GroupEvaluator(hw).result(net, 0, 1, 1).latency_cycles
    assert row.faster in ("host", "accelerator")
    assert (row.faster == "host") == (row.host_oracle_cycles < row.accel_oracle_cycles)
    # a network whose layer 0 is not an image convolution: one line, exit 2
    assert host_first_layer.main(["--hw", "mlu100", "--networks", "bert_base"]) == 2
    assert "layer 0 is not a convolution" in capsys.readouterr().err


def test_the_placement_env_never_fuses_the_host_layer_and_never_dead_ends():
    from fusiongym.envs.placement_env import PlacementEnv

    env = PlacementEnv(["tiny_chainx2"], MLU_HOST)
    check_env(env, skip_render_check=True)
    for seed in range(3):
        env.reset(seed=seed)
        done, info = False, {}
        while not done:
            mask = env.action_masks()
            assert mask.any(), "a masked walk dead-ended"
            action = int(mask.nonzero()[0][seed % int(mask.sum())])
            _, _, done, truncated, info = env.step(action)
            done = done or truncated
        placement = info["placement"]
        placement.validate(env.workload, MLU_HOST)
        firsts = [g for g in placement.groups if g.start == 0]
        assert len(firsts) == 2 and all(g.end == 1 for g in firsts)


def test_program_and_trace_exports_skip_the_host_group(tmp_path):
    from fusiongym.accelerator.program_export import emit_program
    from fusiongym.accelerator.trace_export import simulate_schedule_trace

    net = get_network("tiny_chain")
    ev = GroupEvaluator(MLU_HOST)
    s = OracleScheduler(progress=False, evaluator=ev).schedule(net, MLU_HOST)
    manifest = emit_program(net, s, MLU_HOST, tmp_path)
    assert manifest["groups"][0]["runs_on"] == "host" and manifest["groups"][0]["streams"] == []
    assert all(g["streams"] for g in manifest["groups"][1:])
    traces = simulate_schedule_trace(net, s, MLU_HOST)
    assert len(traces) == len(s.groups)
    assert traces[0].sim.cycles == 0 and not traces[0].sim.trace  # no accelerator events
    host_cycles = ev.result(net, 0, 1, 1).latency_cycles
    assert traces[0].result.latency_cycles == host_cycles
    assert traces[1].offset_cycles >= host_cycles  # the accelerator starts after the host
    with pytest.raises(ScheduleError, match="runs on the host"):
        emit_program(net, Schedule((Group(0, 2, 1), Group(2, 5, 1))), MLU_HOST, tmp_path / "x")


def test_a_placement_pinning_the_host_group_to_cores_is_refused():
    w = Workload.parse(["tiny_chain"])
    bad = Placement((PlacedGroup(0, 0, 1, 1, core_ids=(0,)), PlacedGroup(0, 1, 5, 1, after=(0,))))
    with pytest.raises(PlacementError, match="holds no core"):
        bad.validate(w, MLU_HOST)
    bad.validate(w, load_config("mlu100"))  # on the accelerator the pin is fine


@pytest.mark.parametrize("name", ["list", "cpsat", "partition", "sequential", "search"])
def test_placement_schedulers_put_the_host_layer_on_no_core(name):
    from fusiongym.agents.placement.registry import make_placement_scheduler

    w = Workload.parse(["tiny_chainx3"])
    ev = GroupEvaluator(MLU_HOST)
    options = {"time_limit_s": 5.0, "work_limit": 2.0} if name == "cpsat" else {}
    scheduler = make_placement_scheduler(name, **options)
    placement = scheduler.place(w, MLU_HOST, ev)
    flags = host_flags(w, placement.groups, MLU_HOST)
    assert sum(flags) == 3
    assert all(g.core_ids is None for g, f in zip(placement.groups, flags) if f)
    result = simulate_placement(w, placement, MLU_HOST, ev)
    assert all(r.core_ids == () for r, f in zip(result.groups, flags) if f)
    assert makespan_lower_bound(w, MLU_HOST, ev).makespan_cycles <= result.makespan_cycles
    if name == "list":  # its plan, pinned, replays no later than it planned
        deps = placement.validate(w, MLU_HOST)
        durations = [ev.result(w.requests[g.request].network, g.start, g.end,
                               g.cores).latency_cycles for g in placement.groups]
        arrivals = [w.requests[g.request].arrival_cycles for g in placement.groups]
        line = replay(placement.groups, deps, arrivals, durations, MLU_HOST.num_cores, flags)
        assert line.makespan_cycles <= scheduler.info["estimate_cycles"]


def test_the_shape_only_floor_respects_the_host_layer():
    """The oracle orders candidates by `latency_floor` before bounding them: the host-run
    group's floor is its exact cost (never above the bound), and a group fusing it is
    infeasible (floor 0)."""
    from fusiongym.accelerator.bounds import latency_floor
    net = get_network("resnet18")
    for hw in (MLU_HOST, load_config("pynq").with_(first_layer_on="host")):
        ev = GroupEvaluator(hw)
        for cores in hw.allowed_core_counts:
            exact = ev.result(net, 0, 1, cores).latency_cycles
            assert latency_floor(ev, net, 0, 1, cores) == exact
            assert latency_lower_bound(ev, net, 0, 1, cores) == exact
            assert latency_floor(ev, net, 0, 2, cores) == 0
            assert latency_lower_bound(ev, net, 0, 2, cores) is None
