"""The README's zoo tables (benchmarks.nontriviality, benchmarks.zoo_table) on small networks:
the oracle is never beaten, the columns are what the README says, bad names exit 2."""

from __future__ import annotations

import json

import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.workloads.zoo import get_network
from fusiongym.benchmarks import nontriviality, zoo_table


def test_no_simple_policy_beats_the_oracle():
    hw = load_config("mlu100")
    for machine in (hw, hw.without_overheads()):
        row = nontriviality.measure(get_network("tiny_residual"), machine)
        assert set(row["ratios"]) == set(nontriviality.POLICIES)
        for policy, ratio in row["ratios"].items():
            assert ratio >= 1.0, (machine.name, policy, ratio)
        # per-layer best cores can only improve on any fixed core count
        cycles = row["cycles"]
        assert cycles["no-fusion best cores"] <= cycles["no-fusion 1 core"]
        assert cycles["no-fusion best cores"] <= cycles["no-fusion all cores"]


def test_zoo_table_row_and_markdown(capsys):
    assert zoo_table.main(["--networks", "tiny_chain", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    oracle = row["oracle"]["cycles"]
    assert all(row[s]["cycles"] >= oracle for s in zoo_table.SEARCHES)
    assert row["no-fusion"]["sim_calls"] == row["layers"]  # every layer alone, each simulated
    text = zoo_table.markdown([row])
    assert text.splitlines()[0].startswith("| network | layers | no-fusion | heuristic")
    assert "| tiny_chain | 5 |" in text


@pytest.mark.parametrize("module", [nontriviality, zoo_table])
def test_bad_names_exit_2_in_one_line(module, capsys):
    with pytest.raises(SystemExit) as exc:
        module.main(["--networks", "no_such_net"])
    assert exc.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
