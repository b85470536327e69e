"""Determinism: the same network + schedule + hardware gives the same numbers everywhere.

- across process boundaries (fresh interpreters, different ``PYTHONHASHSEED``s, so any
  dependence on set / dict order of strings or on ``id()`` would show);
- with cold and warm caches in one process (the lowering memo and the group-result memo);
- the oracle's schedule, in two fresh processes;
- ``fusiongym oracle --network tiny_residual --json``, run twice (wall time ignored).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fusiongym.accelerator import lowering
from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate
from fusiongym.accelerator.schedule import Group, Schedule
from fusiongym.accelerator.workloads.zoo import get_network
from fusiongym.agents.oracle import OracleScheduler

REPO = Path(__file__).resolve().parent.parent
HASH_SEEDS = ("0", "4242")  # one run per seed
WALL_TIME_FIELDS = {"wall_seconds"}

NETWORKS = ("tiny_residual", "tiny_chain", "synthetic:3:8", "synthetic:11:6:residual")
HARDWARE = ("vta16", "pynq")


def _env(hash_seed: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = hash_seed
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _run_in_fresh_processes(argv: list[str], tmp_path: Path) -> list[str]:
    """Run ``argv`` once per hash seed, concurrently, each in its own empty directory."""
    procs = []
    for seed in HASH_SEEDS:
        cwd = tmp_path / f"run-{seed}"
        cwd.mkdir()
        procs.append(subprocess.Popen(argv, cwd=cwd, env=_env(seed), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outputs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, f"{argv[:3]} failed (exit {p.returncode}): {err[-2000:]}"
        outputs.append(out)
    return outputs


# ---- the cases: (network, hardware, schedule) ----------------------------------------------
def _pairs(network, cores: int) -> Schedule:
    """Consecutive layers fused two by two on ``cores`` cores."""
    n = len(network)
    return Schedule(tuple(Group(s, min(n, s + 2), cores) for s in range(0, n, 2)),
                    network.name, network.content_hash())


def _cases() -> list[dict]:
    cases = []
    for hw_name in HARDWARE:
        hw = load_config(hw_name)
        for name in NETWORKS:
            net = get_network(name)
            for schedule in (Schedule.no_fusion(net, hw.default_cores),
                             _pairs(net, max(hw.allowed_core_counts[:3]))):
                try:
                    evaluate(net, schedule, hw)
                except UserInputError:  # a fused pair that cannot be lowered on this hardware
                    continue
                cases.append({"network": name, "hw": hw_name, "schedule": schedule.to_dict()})
    return cases


CASES = _cases()

EVALUATE_SCRIPT = """
import json, sys
from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate
from fusiongym.accelerator.schedule import Schedule
from fusiongym.accelerator.workloads.zoo import get_network

out = []
for case in json.loads(sys.argv[1]):
    hw = load_config(case["hw"])
    r = evaluate(get_network(case["network"]), Schedule.from_dict(case["schedule"]), hw,
                 GroupEvaluator(hw))
    out.append([r.latency_cycles, r.dram_bytes_read, r.dram_bytes_written, r.energy_pj,
                [[g.latency_cycles, g.busy_cycles, g.instructions, g.events] for g in r.groups]])
print(json.dumps(out))
"""


def _signature(result) -> list:
    return [result.latency_cycles, result.dram_bytes_read, result.dram_bytes_written,
            result.energy_pj,
            [[g.latency_cycles, g.busy_cycles, g.instructions, g.events] for g in result.groups]]


def test_cases_cover_fused_and_unfused_schedules_on_both_configs():
    assert {c["hw"] for c in CASES} == set(HARDWARE)
    assert any(any(g["end"] - g["start"] > 1 for g in c["schedule"]["groups"]) for c in CASES)
    assert len(CASES) >= 10


def test_same_cycles_across_process_boundaries(tmp_path):
    in_process = []
    for case in CASES:
        hw = load_config(case["hw"])
        result = evaluate(get_network(case["network"]), Schedule.from_dict(case["schedule"]),
                          hw, GroupEvaluator(hw))
        in_process.append(json.loads(json.dumps(_signature(result))))
    outputs = _run_in_fresh_processes(
        [sys.executable, "-c", EVALUATE_SCRIPT, json.dumps(CASES)], tmp_path)
    for out in outputs:
        assert json.loads(out) == in_process


def test_cold_and_warm_caches_give_identical_results():
    for case in CASES:
        hw, net = load_config(case["hw"]), get_network(case["network"])
        schedule = Schedule.from_dict(case["schedule"])
        lowering._lower_cached.cache_clear()  # cold lowering memo (no public switch)
        evaluator = GroupEvaluator(hw)
        cold = evaluate(net, schedule, hw, evaluator)
        assert evaluator.sim_calls > 0
        hits = evaluator.hits
        warm = evaluate(net, schedule, hw, evaluator)  # every group from the memo
        assert evaluator.hits - hits == len(schedule.groups)
        shared = evaluate(net, schedule, hw)  # the process-wide evaluator
        relowered = evaluate(net, schedule, hw, GroupEvaluator(hw))  # warm lowering, cold memo
        assert cold == warm == shared == relowered


# ---- the oracle ----------------------------------------------------------------------------
ORACLE_CASES = [("tiny_residual", "vta16", 8), ("synthetic:5:8", "vta16", 4),
                ("tiny_chain", "pynq", 8)]

ORACLE_SCRIPT = """
import json, sys
from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.workloads.zoo import get_network
from fusiongym.agents.oracle import OracleScheduler

out = []
for name, hw_name, max_group_layers in json.loads(sys.argv[1]):
    hw = load_config(hw_name)
    oracle = OracleScheduler(max_group_layers=max_group_layers, progress=False,
                             evaluator=GroupEvaluator(hw))
    schedule = oracle.schedule(get_network(name), hw)
    out.append({"schedule": schedule.to_dict(), "value": oracle.last_value,
                "candidates": oracle.candidates, "sim_calls": oracle.last_cost.sim_calls})
print(json.dumps(out))
"""


def test_oracle_gives_the_same_schedule_in_two_fresh_processes(tmp_path):
    first, second = (json.loads(out) for out in _run_in_fresh_processes(
        [sys.executable, "-c", ORACLE_SCRIPT, json.dumps(ORACLE_CASES)], tmp_path))
    assert first == second
    # and the same as here, in a process whose memos are warm from other tests
    for (name, hw_name, max_group_layers), theirs in zip(ORACLE_CASES, first):
        hw = load_config(hw_name)
        oracle = OracleScheduler(max_group_layers=max_group_layers, progress=False)
        assert oracle.schedule(get_network(name), hw).to_dict() == theirs["schedule"]
        assert oracle.last_value == theirs["value"]


def _fusiongym() -> list[str]:
    exe = shutil.which("fusiongym", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "fusiongym.experiments.cli"]


def test_cli_oracle_json_is_identical_across_runs(tmp_path):
    outputs = _run_in_fresh_processes(
        _fusiongym() + ["oracle", "--network", "tiny_residual", "--json"], tmp_path)
    runs = [json.loads(out) for out in outputs]
    for run in runs:
        assert WALL_TIME_FIELDS <= run.keys()
        for field in WALL_TIME_FIELDS:
            del run[field]
    assert runs[0] == runs[1]
    assert runs[0]["network"] == "tiny_residual" and runs[0]["groups"]


@pytest.mark.parametrize("case", CASES[:3], ids=lambda c: f"{c['network']}@{c['hw']}")
def test_simulating_a_group_twice_in_one_process_is_identical(case):
    from fusiongym.accelerator.evaluator import run_group
    from fusiongym.accelerator.lowering import GroupSpec

    hw, net = load_config(case["hw"]), get_network(case["network"])
    for g in Schedule.from_dict(case["schedule"]).groups:
        spec = GroupSpec.from_network(net, g.start, g.end)
        first, _, sim1 = run_group(spec, g.cores, hw, g.start)
        second, _, sim2 = run_group(spec, g.cores, hw, g.start)
        assert first == second
        assert (sim1.cycles, sim1.busy_cycles, sim1.events) == (sim2.cycles, sim2.busy_cycles,
                                                                sim2.events)
