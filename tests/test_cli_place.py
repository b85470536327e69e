"""``fusiongym place`` and ``simulate --schedule PLACEMENT.json`` through the real CLI."""

from __future__ import annotations

import json

from fusiongym.experiments.cli import main


def _run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def test_place_json_has_the_promised_fields_and_replays_exactly(tmp_path, capsys):
    saved = tmp_path / "p.json"
    trace = tmp_path / "t.json"
    plot = tmp_path / "p.png"
    data = json.loads(_run(["place", "--networks", "tiny_residualx2", "tiny_chain", "--hw",
                            "vta16", "--scheduler", "sequential", "--json", "--save", str(saved),
                            "--trace", str(trace), "--plot", str(plot)], capsys))
    for key in ("makespan_cycles", "lower_bound_cycles", "sim_calls", "stp", "antt"):
        assert key in data
    assert [r["name"] for r in data["requests"]] == ["tiny_residual#0", "tiny_residual#1",
                                                     "tiny_chain"]
    assert all(r["latency_cycles"] > 0 for r in data["requests"])
    assert data["lower_bound_cycles"] <= data["makespan_cycles"]
    # sequential: requests one after another, so each is as fast as alone only for the first
    assert data["requests"][0]["latency_cycles"] == data["requests"][0]["alone_latency_cycles"]
    assert trace.exists() and plot.exists()
    replay = json.loads(_run(["simulate", "--networks", "tiny_residualx2", "tiny_chain", "--hw",
                              "vta16", "--schedule", str(saved), "--json"], capsys))
    assert replay["makespan_cycles"] == data["makespan_cycles"]
    assert [g["core_ids"] for g in replay["groups"]] == [g["core_ids"] for g in data["groups"]]


def test_place_table_names_requests_and_the_bound(capsys):
    out = _run(["place", "--networks", "tiny_chainx2", "--hw", "vta16", "--scheduler",
                "sequential"], capsys)
    assert "tiny_chain#1" in out and "lower bound" in out and "STP" in out


def test_old_schedule_files_still_replay_sequentially(tmp_path, capsys):
    saved = tmp_path / "s.json"
    _run(["oracle", "--network", "tiny_chain", "--hw", "vta16", "--save", str(saved),
          "--no-progress"], capsys)
    a = json.loads(_run(["simulate", "--network", "tiny_chain", "--hw", "vta16", "--schedule",
                         str(saved), "--json"], capsys))
    assert a["latency_cycles"] > 0 and "makespan_cycles" not in a
