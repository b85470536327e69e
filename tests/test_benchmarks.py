"""The benchmark code runs and reports the right structure (nothing here is timed or compared)."""

from __future__ import annotations

import json
import math

import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.lowering import GroupSpec, lower_group
from fusiongym.accelerator.workloads.zoo import get_network
from fusiongym.benchmarks.bare import from_programs, run_bare, synthetic_stream
from fusiongym.benchmarks.common import cold_reset, machine_info, summary
from fusiongym.benchmarks.suite import b1_event_rate, parse_only, render, run_suite, tables

HW = load_config(None)


def test_bare_pipeline_synthetic_runs_and_counts_events():
    for cores in (1, 4):
        streams = [synthetic_stream(20) for _ in range(cores)]
        events, seconds, end = run_bare(streams, HW.cmd_queue_depth, HW.token_queue_depth,
                                        per_burst=16, latency=10)
        assert events > 20 * 3 * cores and seconds > 0 and end > 0
        # deterministic: the same work schedules the same events
        assert run_bare(streams, HW.cmd_queue_depth, HW.token_queue_depth, 16, 10)[0] == events


def test_bare_pipeline_replays_lowered_programs():
    net = get_network("tiny_residual")
    # a fused pair (0..1 is launch-bound on this preset: its fusion does not pay)
    lowered = lower_group(GroupSpec.from_network(net, 1, 3), 2, HW)
    assert lowered.feasible
    streams = from_programs(lowered.programs, HW.dram_bandwidth_bytes_per_cycle)
    assert [len(s) for s in streams] == [len(p) for p in lowered.programs]
    events, _, end = run_bare(streams, HW.cmd_queue_depth, HW.token_queue_depth, 256,
                              HW.dram_latency_cycles)
    assert events > 0 and end > 0  # balanced tokens: no process left blocked


def test_b1_structure_on_tiny_networks():
    result = b1_event_rate(HW, ["tiny_chain", "tiny_residual"],
                           ["nofusion@1", "nofusion@16", "oracle", "oracle@16"], repeats=1,
                           bare_cores=[1, 16], bare_instructions=200, max_group_layers=3)
    json.loads(json.dumps(result))  # JSON-serialisable as is
    assert [b["cores"] for b in result["bare"]] == [1, 16]
    for b in result["bare"]:
        assert b["events"] > 0 and b["events_per_s"] > 0 and b["seconds"]["n"] == 1
    assert len(result["model"]) == 8
    done = [r for r in result["model"] if "skipped" not in r]
    assert done
    for r in done:
        assert r["events"] > 0 and r["distinct_groups"] >= 1
        assert r["sim_calls"] == r["distinct_groups"]  # a cold evaluator simulates each once
        assert r["events_per_s"] > 0 and r["e2e_events_per_s"] > 0
        assert r["bare_replay_events"] > 0 and r["ratio_replay"] > 0
        for k in ("sim_seconds", "e2e_seconds", "bare_replay_seconds"):
            assert set(r[k]) == {"median", "min", "max", "n", "samples"}
    for k in ("ratio", "ratio_replay", "model_events_per_s", "bare_events_per_s"):
        assert isinstance(result[k], float) and result[k] > 0 and math.isfinite(result[k])
    assert result["meets_target"] == (result["ratio"] >= result["target_ratio"])


def test_run_suite_document_and_rendering():
    doc = run_suite(["B1"], quick=True, settings={
        "b1_networks": ["tiny_chain"], "b1_configs": ["nofusion@1", "nofusion@16"],
        "b1_repeats": 1, "bare_cores": [1], "bare_instructions": 150})
    json.loads(json.dumps(doc))
    assert doc["schema"] == 1 and list(doc["benchmarks"]) == ["B1"]
    m = doc["machine"]
    assert m["python"] and m["simpy"] and m["cpu_count"] >= 1 and "git_head" in m
    assert doc["method"]["B1.sim"] and doc["total_seconds"] > 0
    md = render(doc, markdown=True)
    assert "| run |" in md and "tiny_chain nofusion@16" in md and "ratio model/bare" in md
    assert "tiny_chain nofusion@1" in render(doc, markdown=False)


def test_tables_render_other_benchmarks_and_errors():
    doc = {"benchmarks": {
        "B2": {"repeats": 1, "rows": [{"network": "n", "schedule": "oracle", "groups": 2,
                                       "sim_calls": 2, "seconds": summary([0.5]),
                                       "latency_cycles": 10}, {"network": "m", "error": "boom"}]},
        "B3": {"max_group_layers": 8, "rows": [
            {"network": "n", "layers": 3, "candidates": 9, "cold_sim_calls": 5,
             "cold_seconds": 1.0, "warm_seconds": summary([0.01]), "warm_sim_calls": 0},
            {"network": "m", "error": "timed out after 10 s"}]},
        "B4": {"error": "no env"},
        "B5": {"rows": [{"benchmark": "B3", "network": "n", "rss_after_imports_mib": 30.0,
                         "peak_rss_mib": 50.0}]}}}
    titles = [t for t, _, _ in tables(doc)]
    assert [t.split()[0] for t in titles] == ["B2", "B3", "B4", "B5"]


def test_parse_only():
    assert parse_only(None) == ["B1", "B2", "B3", "B4", "B5"]
    assert parse_only("b3, B1") == ["B1", "B3"]
    with pytest.raises(UserInputError, match="B9"):
        parse_only("B1,B9")


def test_cold_reset_clears_the_lowering_memo():
    net = get_network("tiny_chain")
    lower_group(GroupSpec.from_network(net, 0, 1), 1, HW)
    cleared = cold_reset()
    assert any("lowering" in name for name in cleared)


def test_machine_info_fields():
    info = machine_info()
    assert {"cpu_model", "cpu_count", "python", "simpy", "git_head", "git_uncommitted"} <= set(info)


def test_bench_command_is_registered_and_rejects_bad_input(capsys):
    from fusiongym.experiments.cli import build_parser, main

    args = build_parser().parse_args(["bench", "--quick", "--only", "B1", "--no-save"])
    assert args.quick and args.only == "B1" and args.no_save
    assert main(["bench", "--only", "B7", "--no-save"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "B7" in err


def test_tuner_table_reads_every_evaluation_of_a_run(tmp_path, capsys):
    from fusiongym.benchmarks.tuner_table import main as tuner_table

    def evaluation(hw, ratio):
        rows = [{"network": "net", "scheduler": s, "ratio_to_oracle": r}
                for s, r in (("ppo", ratio), ("bound-dp", 1.01), ("oracle", 1.0))]
        summary = [{"scheduler": s, "geomean_ratio_to_oracle": r, "total_sim_calls": c}
                   for s, r, c in (("ppo", ratio, 0), ("oracle", 1.0, 42))]
        return {"hardware": hw, "networks": ["net"], "results": rows, "summary": summary}

    (tmp_path / "eval.json").write_text(json.dumps(evaluation("base", 1.25)))
    (tmp_path / "eval-other.json").write_text(json.dumps(evaluation("other", 1.5)))
    assert tuner_table([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| scheduler | base | calls | other | calls |" in out
    assert "| ppo | 1.250 | 0 | 1.500 | 0 |" in out and "| oracle | 1.000 | 42 | 1.000 | 42 |" in out
    assert "| net | 1.250 / 1.010 / - / - | 1.500 / 1.010 / - / - |" in out
    assert tuner_table([str(tmp_path / "missing")]) == 2
    assert "no eval.json" in capsys.readouterr().err


def test_published_eval_markdown_reads_back_as_an_evaluation(tmp_path):
    """The README's quality-vs-cost pictures are redrawn from the published tables."""
    from pathlib import Path

    from fusiongym.benchmarks.eval_markdown import main as eval_markdown, parse
    from fusiongym.experiments.plots.training import load_eval

    page = Path(__file__).resolve().parent.parent / "docs" / "results" / "quick_eval_mlu100.md"
    evaluation = parse(page.read_text())
    assert evaluation["hardware"] == "mlu100" and evaluation["networks"] == ["mobilenet_v2", "alexnet"]
    rows = {(r["network"], r["scheduler"]): r for r in evaluation["results"]}
    assert rows[("alexnet", "oracle")]["latency_cycles"] == 690035
    assert rows[("mobilenet_v2", "ppo")]["ratio_to_oracle"] == 1.0111
    assert eval_markdown([str(page), str(tmp_path / "run")]) == 0
    assert len(load_eval(tmp_path / "run")["results"]) == len(evaluation["results"])
    (tmp_path / "bad.md").write_text("# something else\n")
    assert eval_markdown([str(tmp_path / "bad.md"), str(tmp_path / "x")]) == 2


@pytest.mark.parametrize("name", ["tiny_residual", "squeezenet1_1"])
def test_the_exhaustive_count_is_what_the_exhaustive_oracle_simulates(name):
    # the README puts the pruned oracle's calls against this count on networks too big to
    # run the exhaustive DP for: it must be exactly the unpruned oracle's simulator calls
    from fusiongym.accelerator.config import load_config
    from fusiongym.accelerator.evaluator import GroupEvaluator
    from fusiongym.accelerator.workloads.zoo import get_network
    from fusiongym.agents.oracle import OracleScheduler
    from fusiongym.benchmarks.exhaustive_count import exhaustive_candidates

    hw, net = load_config("mlu100"), get_network(name)
    full = OracleScheduler(progress=False, evaluator=GroupEvaluator(hw), prune=False)
    full.schedule(net, hw)
    assert exhaustive_candidates(hw, [net]) == full.last_cost.sim_calls
