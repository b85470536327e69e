"""The schedule export: it validates against the published schema, `simulate --schedule`
replays it to the same cycles, and `--emit-program` writes the streams the simulator runs."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.isa import MEM_INP, MEM_UOP, MEM_WGT
from fusiongym.accelerator.lowering import GroupSpec, lower_group
from fusiongym.accelerator.program_export import read_stream, stream_summary
from fusiongym.accelerator.schedule import Schedule, ScheduleError
from fusiongym.accelerator.schedule_export import load_schedule_file
from fusiongym.accelerator.sim import simulate
from fusiongym.accelerator.workloads.zoo import get_network
from fusiongym.experiments.cli import main
from helpers.onnx_models import network_to_onnx, save

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "docs" / "schema"
                     / "schedule-v1.schema.json").read_text())


def _cli_json(capsys, *argv) -> dict:
    assert main([*argv, "--json"]) == 0
    out, _ = capsys.readouterr()
    return json.loads(out)


def _network_args(kind: str, tmp_path: Path) -> list[str]:
    if kind == "onnx":
        return ["--onnx", str(save(network_to_onnx(get_network("tiny_residual")),
                                   tmp_path / "tiny_residual.onnx"))]
    return ["--network", {"cnn": "resnet18", "transformer": "tiny_transformer"}[kind]]


@pytest.mark.parametrize("kind", ["cnn", "transformer", "onnx"])
def test_oracle_export_validates_and_replays_to_the_same_cycles(kind, tmp_path, capsys):
    net_args = _network_args(kind, tmp_path)
    path = tmp_path / "export.json"
    assert main(["schedule", "--scheduler", "oracle", *net_args, "--save", str(path),
                 "--no-progress"]) == 0
    capsys.readouterr()
    doc = json.loads(path.read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["format"] == "fusiongym-schedule" and doc["version"] == 1
    assert doc["scheduler"] == "oracle" and doc["hardware"]["name"] == "mlu100"
    assert sum(len(g["layers"]) for g in doc["groups"]) == doc["layers"]
    assert sum(g["expected"]["latency_cycles"] for g in doc["groups"]) \
        == doc["expected"]["latency_cycles"]
    replay = _cli_json(capsys, "simulate", *net_args, "--schedule", str(path))
    assert replay["latency_cycles"] == doc["expected"]["latency_cycles"]
    assert replay["dram_bytes_read"] == doc["expected"]["dram_bytes_read"]
    assert [g["latency_cycles"] for g in replay["groups"]] \
        == [g["expected"]["latency_cycles"] for g in doc["groups"]]
    if kind == "onnx":  # every layer names the ONNX node(s) it came from
        assert all(layer["onnx_nodes"] and layer["onnx_nodes"][0] == layer["name"]
                   for g in doc["groups"] for layer in g["layers"])
    for g in doc["groups"]:  # the per-core traffic adds up to the group's DRAM reads
        loaded = sum(sum(c["loaded_bytes"].values()) for c in g["plan"]["per_core"])
        assert loaded == g["expected"]["dram_bytes_read"]


def test_schema_rejects_a_broken_export_and_keeps_groups_extensible(tmp_path, capsys):
    path = tmp_path / "export.json"
    assert main(["schedule", "--scheduler", "heuristic", "--network", "tiny_residual",
                 "--save", str(path)]) == 0
    doc = json.loads(path.read_text())
    doc["groups"][0]["start_cycle"] = 0  # a later placement field: allowed on groups
    jsonschema.validate(doc, SCHEMA)
    broken = dict(doc, groups=[dict(doc["groups"][0], plan={"split": "diagonal"})])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)
    path.write_text(json.dumps(dict(doc, version=99)))
    with pytest.raises(ScheduleError, match="version 99 is not supported"):
        load_schedule_file(path)


def test_plain_schedule_files_still_load_and_mean_what_they_meant(tmp_path, capsys):
    net = get_network("tiny_residual")
    plain = tmp_path / "plain.json"
    Schedule.no_fusion(net, 2).save(plain)
    schedule, made_for = load_schedule_file(plain)
    assert made_for is None and schedule == Schedule.no_fusion(net, 2)
    replay = _cli_json(capsys, "simulate", "--network", "tiny_residual", "--schedule", str(plain))
    direct = _cli_json(capsys, "simulate", "--network", "tiny_residual", "--cores", "2")
    assert replay["latency_cycles"] == direct["latency_cycles"]


def test_replay_on_other_hardware_says_so(tmp_path, capsys):
    path = tmp_path / "export.json"
    assert main(["schedule", "--scheduler", "no-fusion", "--network", "tiny_chain", "--hw",
                 "vta16", "--save", str(path)]) == 0
    capsys.readouterr()
    assert main(["simulate", "--network", "tiny_chain", "--hw", "mlu100", "--schedule",
                 str(path)]) == 0
    assert "was made for hardware" in capsys.readouterr().err


def test_emitted_streams_match_what_the_simulator_ran(tmp_path, capsys):
    """Counts and bytes of one fused group's written streams against the simulator's own
    counters for the same lowering (recomputed from the files, not copied)."""
    out = tmp_path / "prog"
    assert main(["schedule", "--scheduler", "oracle", "--network", "tiny_residual",
                 "--emit-program", str(out), "--no-progress"]) == 0
    manifest = json.loads((out / "program.json").read_text())
    group = max(manifest["groups"], key=lambda g: g["end"] - g["start"])
    assert group["end"] - group["start"] > 1  # a fused group
    hw = load_config()
    lowered = lower_group(GroupSpec.from_network(get_network("tiny_residual"), group["start"],
                                                 group["end"]), group["cores"], hw)
    sim = simulate(lowered.programs, hw)
    records = [r for s in group["streams"] for r in read_stream(out / s["file"])]
    summary = stream_summary(records)
    kinds: dict[str, int] = {}
    for s in group["streams"]:
        assert stream_summary(read_stream(out / s["file"]))["instructions"] == s["instructions"]
        for kind, n in s["by_kind"].items():
            kinds[kind] = kinds.get(kind, 0) + n
    assert sum(sim.instructions.values()) == summary["instructions"]
    assert sim.instructions == kinds  # per kind: LOAD.INP, GEMM, STORE.OUT ...
    assert sim.dram_bytes_written == summary["stored_bytes"]
    assert not hw.dram_multicast  # then every load's bytes cross the bus once
    assert sim.dram_bytes_read - sim.instruction_bytes == summary["loaded_bytes"]
    # dependency flags balance: every token pushed is popped (VTA's queues end empty)
    assert sim.tokens_left == 0
    pushes = sum(r["push_prev"] + r["push_next"] for r in records)
    pops = sum(r["pop_prev"] + r["pop_next"] for r in records)
    assert pushes == pops
    assert {r["mem"] for r in records if r["op"] == "LOAD"} <= {MEM_INP, MEM_WGT, MEM_UOP, "ACC"}
