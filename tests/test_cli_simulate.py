"""``fusiongym simulate``: JSON fields, the Perfetto trace, one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.evaluator import evaluate
from fusiongym.accelerator.schedule import Schedule
from fusiongym.accelerator.results import group_overhead
from fusiongym.accelerator.trace_export import schedule_trace
from fusiongym.accelerator.workloads.zoo import get_network
from fusiongym.experiments.cli import main

MODULES = ("load", "compute", "store")


def _run(capsys, *argv):
    code = main(["simulate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys, *argv):
    code, out, err = _run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_json_fields_match_evaluate(capsys):
    s = _json(capsys, "--network", "tiny_residual", "--hw", "pynq")
    hw = load_config("pynq")
    net = get_network("tiny_residual")
    ref = evaluate(net, Schedule.no_fusion(net, 1), hw)
    for key in ("network", "hardware", "latency_cycles", "latency_ms", "dram_bytes_read",
                "dram_bytes_written", "energy_uj", "utilization", "utilization_per_core",
                "busy_cycles", "groups", "schedule", "trace"):
        assert key in s, key
    assert s["network"] == "tiny_residual" and s["hardware"] == "pynq"
    assert s["latency_cycles"] == ref.latency_cycles
    assert s["latency_ms"] == pytest.approx(ref.latency_cycles / (hw.clock_mhz * 1e3))
    assert s["dram_bytes_read"] == ref.dram_bytes_read
    assert s["dram_bytes_written"] == ref.dram_bytes_written
    assert s["energy_uj"] == pytest.approx(ref.energy_pj / 1e6)
    assert len(s["groups"]) == len(net) and s["schedule"] == "no-fusion"
    assert sum(g["latency_cycles"] for g in s["groups"]) == s["latency_cycles"]
    for m in MODULES:
        busy = sum(r.busy_cycles[m] for r in ref.groups)
        assert s["busy_cycles"][m] == busy
        assert s["utilization"][m] == pytest.approx(busy / ref.latency_cycles)
        assert 0 <= s["utilization_per_core"][m] <= 1
    assert s["groups"][0]["layers"] == ["stem"] and s["groups"][0]["cores"] == 1


def test_cores_applies_to_no_fusion(capsys):
    s = _json(capsys, "--network", "tiny_chain", "--cores", "4")
    assert {g["cores"] for g in s["groups"]} == {4}
    default = _json(capsys, "--network", "tiny_chain")
    assert {g["cores"] for g in default["groups"]} == {load_config(None).default_cores}


def test_saved_schedule_replays(capsys, tmp_path):
    net = get_network("tiny_chain")
    sched = Schedule.from_boundaries(net, [2, 5], [4, 2])
    path = tmp_path / "s.json"
    sched.save(path)
    s = _json(capsys, "--network", "tiny_chain", "--schedule", str(path))
    assert [(g["start"], g["end"], g["cores"]) for g in s["groups"]] == [(0, 2, 4), (2, 5, 2)]
    assert s["latency_cycles"] == evaluate(net, sched, load_config(None)).latency_cycles
    assert s["groups"][0]["layers"] == ["conv1", "conv2"]


def test_human_output(capsys):
    code, out, _ = _run(capsys, "--network", "tiny_chain", "--hw", "ultra96")
    assert code == 0
    assert "latency" in out and "ms" in out and "uJ" in out and "conv5" in out
    assert "compute" in out and "DRAM" in out


def _check_tef(trace: dict) -> list[dict]:
    assert isinstance(trace["traceEvents"], list)
    complete = []
    for e in trace["traceEvents"]:
        assert e["ph"] in ("X", "M", "C"), e
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int)
        assert isinstance(e["name"], str)
        if e["ph"] == "X":
            assert e["ts"] >= 0 and e["dur"] >= 0
            complete.append(e)
        elif e["ph"] == "C":
            assert e["ts"] >= 0 and all(isinstance(v, (int, float)) for v in e["args"].values())
        else:
            assert e["name"] in ("process_name", "thread_name", "process_sort_index",
                                 "thread_sort_index")
    return complete


def test_trace_is_valid_tef_with_busy_totals_equal_to_the_simulator(capsys, tmp_path):
    out = tmp_path / "trace.json"
    s = _json(capsys, "--network", "tiny_residual", "--cores", "4", "--trace", str(out))
    assert s["trace"] == str(out)
    trace = json.loads(out.read_text())
    complete = _check_tef(trace)
    hw = load_config(None)
    # per module, summed over cores and groups: exact cycles, and durations at the clock
    for tid, m in enumerate(MODULES):
        insns = [e for e in complete if e["cat"] == m]
        assert all(e["tid"] == tid and 0 <= e["pid"] < 4 for e in insns)
        assert sum(e["args"]["cycles"] for e in insns) == s["busy_cycles"][m]
        assert sum(e["dur"] for e in insns) * hw.clock_mhz == pytest.approx(
            s["busy_cycles"][m], rel=1e-9)
    # one pid per core, named; one tid per module, named
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in trace["traceEvents"]
             if e["ph"] == "M" and e["name"] == "thread_name"}
    assert names[(0, 0)] == "load" and names[(3, 1)] == "compute" and names[(2, 2)] == "store"
    procs = {e["pid"]: e["args"]["name"] for e in trace["traceEvents"]
             if e["ph"] == "M" and e["name"] == "process_name"}
    assert [procs[c] for c in range(4)] == [f"core {c}" for c in range(4)]
    # groups back to back, each instruction inside its group's span after the launch
    groups = sorted((e for e in complete if e["cat"] == "group"), key=lambda e: e["ts"])
    assert len(groups) == len(s["groups"])
    t = 0.0
    for g, summary in zip(groups, s["groups"]):
        assert g["ts"] == pytest.approx(t)
        assert g["dur"] * hw.clock_mhz == pytest.approx(summary["latency_cycles"])
        t += g["dur"]
        inside = [e for e in complete if e["cat"] in MODULES and e["args"]["group"] == g["args"]["group"]]
        assert inside
        launch = group_overhead(hw, 1).launch_cycles / hw.clock_mhz  # before the cores start
        assert min(e["ts"] for e in inside) >= g["ts"] + launch - 1e-9
        assert max(e["ts"] + e["dur"] for e in inside) <= g["ts"] + g["dur"] + 1e-9
        assert {e["args"]["layer"] for e in inside} <= set(summary["layers"])
    assert t * hw.clock_mhz == pytest.approx(s["latency_cycles"])
    kinds = {e["name"] for e in complete if e["cat"] in MODULES}
    assert {"LOAD.INP", "GEMM", "ALU", "STORE.OUT"} <= kinds
    assert any(e["ph"] == "C" for e in trace["traceEvents"])  # DRAM in flight


def test_schedule_trace_api_matches_evaluate():
    net = get_network("tiny_chain")
    hw = load_config("pynq")
    sched = Schedule.from_boundaries(net, [3, 5], [1, 1])
    trace = schedule_trace(net, sched, hw)
    ref = evaluate(net, sched, hw)
    assert trace["otherData"]["latency_cycles"] == ref.latency_cycles
    for m in MODULES:
        assert trace["otherData"]["busy_cycles"][m] == sum(r.busy_cycles[m] for r in ref.groups)


@pytest.mark.parametrize("argv, fragment", [
    (["--network", "no_such_net"], "unknown network"),
    (["--network", "tiny_chain", "--hw", "no_such_board"], "not found"),
    (["--network", "tiny_chain", "--cores", "3"], "--cores 3"),
    (["--network", "tiny_chain", "--schedule", "missing.json"], "not found"),
    (["--onnx", "missing.onnx"], "missing.onnx"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, fragment):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("fusiongym: error:") and fragment in err


def test_bad_hw_file_is_one_line(capsys, tmp_path):
    hw = tmp_path / "hw.yaml"
    hw.write_text("num_cores: 4\ndram_burst_bytes: 1000\n")
    code, _, err = _run(capsys, "--network", "tiny_chain", "--hw", str(hw))
    assert code == 2 and err.count("\n") == 1 and "dram_burst_bytes" in err
    hw.write_text("num_cores: [4\n")
    code, _, err = _run(capsys, "--network", "tiny_chain", "--hw", str(hw))
    assert code == 2 and err.count("\n") == 1 and "YAML" in err


def test_schedule_skipping_a_layer_is_one_line_and_writes_no_trace(capsys, tmp_path):
    net = get_network("tiny_chain")
    bad = {"network": net.name, "network_hash": net.content_hash(),
           "groups": [{"start": 0, "end": 2, "cores": 1}, {"start": 3, "end": 5, "cores": 1}]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    trace = tmp_path / "t.json"
    code, out, err = _run(capsys, "--network", "tiny_chain", "--schedule", str(path),
                          "--trace", str(trace))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "skips" in err and "layer 2" in err
    assert not trace.exists()


def test_schedule_for_another_network_and_cores_with_a_file(capsys, tmp_path):
    path = tmp_path / "s.json"
    Schedule.no_fusion(get_network("tiny_residual"), 1).save(path)
    code, _, err = _run(capsys, "--network", "tiny_chain", "--schedule", str(path))
    assert code == 2 and err.count("\n") == 1 and "tiny_residual" in err
    code, _, err = _run(capsys, "--network", "tiny_residual", "--schedule", str(path),
                        "--cores", "2")
    assert code == 2 and "--cores" in err


def test_console_script_exit_code():
    proc = subprocess.run([sys.executable, "-m", "fusiongym.experiments.cli", "simulate", "--network",
                           "nope"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0 and "nope" in proc.stderr
