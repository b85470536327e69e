"""``fusiongym oracle``: human table, JSON, --save, and one-line errors (exit 2)."""

import json

import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.evaluator import evaluate
from fusiongym.accelerator.schedule import Schedule
from fusiongym.accelerator.workloads.zoo import get_network
from fusiongym.experiments.cli import main
from helpers.onnx_models import network_to_onnx, save


def run(capsys, *argv):
    code = main(["oracle", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_on_tiny_chain(capsys):
    code, out, err = run(capsys, "--network", "tiny_chain", "--json")
    assert (code, err) == (0, "")
    s = json.loads(out)
    net = get_network("tiny_chain")
    assert s["network"] == "tiny_chain" and s["hardware"] == "mlu100"
    assert [g["start"] for g in s["groups"]][0] == 0 and s["groups"][-1]["end"] == len(net)
    assert sum(len(g["layers"]) for g in s["groups"]) == len(net)
    assert s["latency_cycles"] == sum(g["latency_cycles"] for g in s["groups"])
    assert s["speedup"] == pytest.approx(s["no_fusion_latency_cycles"] / s["latency_cycles"])
    assert s["speedup"] >= 1.0
    assert s["latency_ms"] == pytest.approx(s["latency_cycles"] / 1e6)  # 1 GHz preset
    assert isinstance(s["sim_calls"], int) and s["wall_seconds"] >= 0


def test_human_output_and_save(tmp_path, capsys):
    out_file = tmp_path / "sub" / "best.json"
    code, out, err = run(capsys, "--network", "tiny_residual", "--max-group-layers", "2",
                         "--save", str(out_file), "--no-progress")
    assert (code, err) == (0, "")
    assert "speedup" in out and "simulator calls" in out and "cores" in out
    assert "stem" in out  # layer names of the groups
    schedule = Schedule.load(out_file)
    net, hw = get_network("tiny_residual"), load_config()
    schedule.validate(net, hw)
    assert max(len(g) for g in schedule.groups) <= 2
    assert f"{evaluate(net, schedule, hw).latency_cycles} cycles" in out


def test_onnx_input(tmp_path, capsys):
    path = save(network_to_onnx(get_network("tiny_chain")), tmp_path / "tiny.onnx")
    code, out, err = run(capsys, "--onnx", str(path), "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["network_hash"] == get_network("tiny_chain").content_hash()


@pytest.mark.parametrize("argv, fragment", [
    (["--network", "no_such_net"], "unknown network 'no_such_net'"),
    (["--network", "tiny_chain", "--hw", "no_such_preset"], "no_such_preset"),
    (["--network", "tiny_chain", "--max-group-layers", "0"], "--max-group-layers"),
    (["--onnx", "/no/such/file.onnx"], "ONNX file not found"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("fusiongym: error:") and fragment in err
