"""``fusiongym networks``: tables, JSON, ONNX description, and one-line errors (exit 2)."""

import json

import pytest
from onnx import helper

from fusiongym.accelerator.workloads.zoo import get_network, zoo_names
from fusiongym.experiments.cli import main
from helpers.onnx_models import make_model, network_to_onnx, save
from helpers.published import MAC_TOLERANCE, PUBLISHED_MACS


def run(capsys, *argv):
    code = main(["networks", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_lists_every_zoo_network_with_published_macs(capsys):
    code, out, err = run(capsys, "--json")
    assert (code, err) == (0, "")
    rows = {row["name"]: row for row in json.loads(out)}
    assert list(rows) == zoo_names()
    for name, row in rows.items():
        net = get_network(name)
        assert (row["layers"], row["macs"], row["weight_bytes"], row["hash"]) == (
            len(net), net.macs, net.weight_bytes(), net.content_hash())
        assert "layer_details" not in row  # only with --layers
        if name in PUBLISHED_MACS:
            assert row["macs"] == pytest.approx(PUBLISHED_MACS[name], rel=MAC_TOLERANCE)


def test_json_layers_for_named_networks(capsys):
    code, out, _ = run(capsys, "--json", "--layers", "tiny_residual", "synthetic:4:7")
    assert code == 0
    rows = json.loads(out)
    assert [row["name"] for row in rows] == ["tiny_residual", "synthetic:4:7"]
    details = rows[0]["layer_details"]
    assert len(details) == 6
    assert details[3]["kind"] == "add" and details[3]["inputs"] == [2, 0]
    assert sum(layer["macs"] for layer in details) == rows[0]["macs"]
    assert len(rows[1]["layer_details"]) == 7


def test_table_shows_the_zoo(capsys):
    code, out, _ = run(capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["name", "layers", "GMACs", "weight", "MiB", "hash"]
    assert len(lines) == 2 + len(zoo_names())
    resnet18 = next(line for line in lines if line.startswith("resnet18 "))
    assert resnet18.split()[1:3] == ["31", "1.814"]


def test_onnx_description(tmp_path, capsys):
    path = save(network_to_onnx(get_network("tiny_residual")), tmp_path / "tiny.onnx")
    code, out, err = run(capsys, "--onnx", str(path))
    assert (code, err) == (0, "")
    assert "6 layers" in out and "folded: BatchNormalization x5, Relu x5" in out
    assert "block.add" in out and "add+relu" in out and "2,0" in out
    code, out, _ = run(capsys, "--onnx", str(path), "--json")
    summary = json.loads(out)
    assert summary["macs"] == get_network("tiny_residual").macs
    assert summary["hash"] == get_network("tiny_residual").content_hash()
    assert summary["folded"] == {"BatchNormalization": 5, "Relu": 5}
    assert len(summary["layer_details"]) == 6


def _unsupported_model(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("NonMaxSuppression", ["r", "r"], ["y"], name="nms")]
    return save(make_model(nodes, [1, 4, 8, 8]), tmp_path / "nms.onnx")


@pytest.mark.parametrize("case, fragment", [
    ("missing", "ONNX file not found"),
    ("corrupt", "not a readable ONNX model"),
    ("unsupported", "unsupported ONNX op(s): NonMaxSuppression (node 'nms')"),
])
def test_bad_onnx_files_give_one_line_and_exit_2(tmp_path, capsys, case, fragment):
    path = tmp_path / "missing.onnx"
    if case == "corrupt":
        path = tmp_path / "corrupt.onnx"
        path.write_bytes(bytes((i * 7919) % 251 for i in range(4096)))  # not protobuf
    elif case == "unsupported":
        path = _unsupported_model(tmp_path)
    code, out, err = run(capsys, "--onnx", str(path))
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1 and err.endswith("\n")
    assert err.startswith("fusiongym: error: ") and fragment in err
    assert "Traceback" not in err


def test_unknown_network_name_exits_2(capsys):
    code, out, err = run(capsys, "resnet19")
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1 and "unknown network 'resnet19'" in err


def test_names_and_onnx_together_exit_2(capsys):
    code, out, err = run(capsys, "tiny_chain", "--onnx", "model.onnx")
    assert (code, out) == (2, "")
    assert err == "fusiongym: error: give network names or --onnx FILE, not both\n"
