"""``fusiongym hardware``: the resolved config, loadable back with --hw, and its balance."""

from __future__ import annotations

import json

import pytest
import yaml

from fusiongym.accelerator.config import load_config, preset_names
from fusiongym.experiments.cli import main


def run(capsys, *argv):
    code = main(["hardware", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", preset_names())
def test_yaml_output_loads_back_as_the_same_config(name, capsys, tmp_path):
    code, out, err = run(capsys, name)
    assert (code, err) == (0, "")
    path = tmp_path / "hw.yaml"
    path.write_text(out)
    again = load_config(path)
    assert again == load_config(name)
    # every key is there, so an edit is one line
    assert set(yaml.safe_load(out)) == set(load_config(name).model_dump())


@pytest.mark.parametrize("name", preset_names())
def test_json_config_loads_back_and_edits_take_effect(name, capsys, tmp_path):
    code, out, err = run(capsys, name, "--json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    doc["config"]["dram_multicast"] = True
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc["config"]))
    assert load_config(path) == load_config(name).with_(dram_multicast=True)
    code, out, _ = run(capsys, str(path), "--json")
    assert code == 0 and json.loads(out)["config"]["dram_multicast"] is True


def test_default_is_mlu100_with_its_balance(capsys):
    code, out, _ = run(capsys, "--json")
    derived = json.loads(out)["derived"]
    assert code == 0 and json.loads(out)["config"]["name"] == "mlu100"
    assert derived["peak_macs_per_cycle"] == 16 * 64 * 64
    assert derived["dram_bandwidth_gb_per_s"] == pytest.approx(102.4)
    assert derived["machine_balance_ops_per_byte"] == pytest.approx(1280)
    code, text, _ = run(capsys)
    assert "1,280 int8 ops per DRAM byte" in text


def test_vta_json_keys_resolve_to_ours(capsys, tmp_path):
    path = tmp_path / "vta_config.json"
    path.write_text(json.dumps({"TARGET": "pynq", "LOG_BLOCK": 4, "LOG_BUS_WIDTH": 6}))
    code, out, _ = run(capsys, str(path), "--json")
    config = json.loads(out)["config"]
    assert code == 0 and config["log_block"] == 4 and config["dram_bandwidth_bytes_per_cycle"] == 8
    assert "LOG_BLOCK" not in config
