"""``fusiongym plot``: the files it writes hold the right content; bad input -> one line, exit 2.

SVG output with ``svg.fonttype = none`` keeps text as text, so the tests can read the row
labels, group labels and titles that the command drew.
"""

from __future__ import annotations

import json
import re

import matplotlib
import pytest

from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.schedule import Group, Schedule
from fusiongym.accelerator.workloads.zoo import get_network
from fusiongym.experiments.cli import main
from helpers.run_dirs import NETWORKS, SCHEDULERS, make_run_dir

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def svg_text(monkeypatch):
    monkeypatch.setitem(matplotlib.rcParams, "svg.fonttype", "none")


@pytest.fixture(scope="module")
def hw_file(tmp_path_factory):
    """A 4-core variant of the default preset, as a hardware file the CLI can read."""
    path = tmp_path_factory.mktemp("hw") / "quad.yaml"
    path.write_text("name: quad\nnum_cores: 4\ncore_counts: [1, 2, 4]\n"
                    "dram_bandwidth_bytes_per_cycle: 32.0\n")
    return str(path)


def run(capsys, *argv):
    code = main(["plot", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def svg_text_of(path):
    return re.sub(r"\s+", " ", path.read_text())


def test_utilization_writes_gantt_and_summary(tmp_path, capsys, hw_file):
    out = tmp_path / "g.svg"
    code, stdout, err = run(capsys, "utilization", "--network", "tiny_chain", "--hw", hw_file,
                            "--cores", "2", "--out", str(out))
    assert (code, err) == (0, "")
    summary = tmp_path / "g_summary.svg"
    assert stdout.split() == [str(out), str(summary)]
    text = svg_text_of(out)
    for c in (0, 1):
        for m in ("load", "compute", "store"):
            assert f"c{c} {m}" in text
    assert "c2 load" not in text  # two cores per group: no rows for idle cores
    assert "DRAM bus" in text and "time (cycles)" in text and "GEMM" in text
    assert "tiny_chain on quad: 5 groups" in text
    for k, layer in enumerate(get_network("tiny_chain").layers):
        assert f"g{k}: {layer.name} (2 cores)" in text
    summary_text = svg_text_of(summary)
    assert "DRAM bytes / cycle" in summary_text and "peak 32 B/cycle" in summary_text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.svg", "g_summary.svg"]


def test_utilization_group_zoom_png_and_json(tmp_path, capsys, hw_file, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, stdout, err = run(capsys, "utilization", "--network", "tiny_residual", "--hw", hw_file,
                            "--group", "1", "--json")
    assert (code, err) == (0, "")
    files = json.loads(stdout)["files"]
    assert files == ["tiny_residual_quad_pipeline.png", "tiny_residual_quad_pipeline_summary.png"]
    for f in files:
        assert (tmp_path / f).read_bytes()[:8] == PNG


def test_utilization_window_and_binning_on_the_default_hardware(tmp_path, capsys):
    out = tmp_path / "w.svg"
    code, _, err = run(capsys, "utilization", "--network", "tiny_chain", "--cores", "16",
                       "--window", "0:20000", "--max-bars", "1", "--bins", "50",
                       "--out", str(out))
    assert (code, err) == (0, "")
    text = svg_text_of(out)
    assert f"tiny_chain on {load_config().name}" in text
    assert "window 0..20,000 cycles" in text and "binned: 50 bins" in text


def test_utilization_with_a_saved_schedule(tmp_path, capsys, hw_file):
    net = get_network("tiny_chain")
    sched = tmp_path / "s.json"
    Schedule((Group(0, 3, 4), Group(3, 5, 1)), net.name, net.content_hash()).save(sched)
    out = tmp_path / "s.svg"
    code, _, err = run(capsys, "utilization", "--network", "tiny_chain", "--hw", hw_file,
                       "--schedule", str(sched), "--out", str(out))
    assert (code, err) == (0, "")
    text = svg_text_of(out)
    assert "2 groups" in text and "g0: conv1 +2 (4 cores)" in text
    assert "g1: conv4 +1 (1 core)" in text


def test_schedule_diagram_rows_and_labels(tmp_path, capsys, hw_file):
    net = get_network("tiny_chain")
    a, b = tmp_path / "ppo.json", tmp_path / "oracle.json"
    Schedule((Group(0, 2, 2), Group(2, 5, 4)), net.name, net.content_hash()).save(a)
    Schedule((Group(0, 5, 4),), net.name, net.content_hash()).save(b)
    out = tmp_path / "cmp.svg"
    code, stdout, err = run(capsys, "schedule", "--network", "tiny_chain", "--hw", hw_file,
                            "--schedule", str(a), "--schedule", str(b), "--label", "PPO",
                            "--label", "oracle", "--out", str(out))
    assert (code, err) == (0, "")
    assert stdout.strip() == str(out)
    text = svg_text_of(out)
    assert "PPO" in text and "oracle" in text and "2 groups" in text and "1 group" in text
    assert text.count(" cycles (") == 2  # a latency in each row label
    assert "0 conv1" in text and "4 conv5" in text


def test_schedule_diagram_default_labels_and_no_fusion(tmp_path, capsys, hw_file, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, stdout, err = run(capsys, "schedule", "--network", "tiny_residual", "--hw", hw_file,
                            "--schedule", "no-fusion", "--cores", "4")
    assert (code, err) == (0, "")
    assert stdout.strip() == "tiny_residual_schedules.png"
    assert (tmp_path / "tiny_residual_schedules.png").read_bytes()[:8] == PNG


def test_plot_run_writes_into_run_dir(tmp_path, capsys):
    run_dir = make_run_dir(tmp_path / "myrun")
    code, stdout, err = run(capsys, "run", str(run_dir))
    assert (code, err) == (0, "")
    paths = stdout.split()
    assert paths == [str(run_dir / "plots" / n)
                     for n in ("learning_curve.png", "speedup.png", "quality_vs_cost.png")]
    for p in paths:
        assert open(p, "rb").read(8) == PNG
    assert len(NETWORKS) * len(SCHEDULERS) == 12  # the synthetic eval.json has a full grid


def test_plot_run_notes_a_missing_curve(tmp_path, capsys):
    run_dir = make_run_dir(tmp_path / "evalonly", curve=False)
    code, stdout, err = run(capsys, "run", str(run_dir), "--json")
    assert code == 0
    assert [p.rsplit("/", 1)[-1] for p in json.loads(stdout)["files"]] == [
        "speedup.png", "quality_vs_cost.png"]
    assert "curve.csv not found" in err


def _bad(tmp_path, hw_file):
    net = get_network("tiny_chain")
    other = get_network("tiny_residual")
    wrong = tmp_path / "wrong.json"
    Schedule.no_fusion(other, 1).save(wrong)
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{nope")
    empty_run = tmp_path / "emptyrun"
    empty_run.mkdir()
    bad_csv = tmp_path / "badcsv"
    bad_csv.mkdir()
    (bad_csv / "curve.csv").write_text("steps,return\n1,2\n")
    ok = tmp_path / "ok.json"
    Schedule.no_fusion(net, 1).save(ok)
    u = ["utilization", "--network", "tiny_chain", "--hw", hw_file]
    return [
        (["utilization", "--network", "no_such_net"], "unknown network 'no_such_net'"),
        (u + ["--hw", "no_such_hw"], "hardware config 'no_such_hw' not found"),
        (u + ["--schedule", str(tmp_path / "missing.json")], "not found"),
        (u + ["--schedule", str(garbage)], "not valid JSON"),
        (u + ["--schedule", str(wrong)], "was made for network"),
        (u + ["--window", "abc"], "expected T0:T1"),
        (u + ["--window", "1:2:3"], "expected T0:T1"),
        (u + ["--window", "5:2"], "0 <= T0 < T1"),
        (u + ["--window", "x:5"], "must be numbers"),
        (u + ["--window", "1e12:2e12"], "after the schedule ends"),
        (u + ["--group", "5"], "groups 0..4"),
        (u + ["--group", "0", "--window", "0:10"], "not both"),
        (u + ["--cores", "3"], "not allowed"),
        (u + ["--schedule", str(ok), "--cores", "2"], "only applies"),
        (u + ["--max-bars", "0"], "--max-bars must be >= 1"),
        (u + ["--out", str(tmp_path / "x.gif")], "unsupported image format"),
        (["schedule", "--network", "tiny_chain", "--schedule", str(ok), "--label", "a",
          "--label", "b"], "one label per schedule"),
        (["schedule", "--network", "tiny_chain"] + ["--schedule", str(ok)] * 4, "at most 3"),
        (["schedule", "--network", "tiny_chain", "--schedule", str(wrong)], "was made for network"),
        (["run", str(tmp_path / "no_run")], "not found"),
        (["run", str(empty_run)], "neither curve.csv nor eval.json"),
        (["run", str(bad_csv)], "missing column(s) timesteps, mean_return"),
    ]


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, hw_file):
    for argv, message in _bad(tmp_path, hw_file):
        code, out, err = run(capsys, *argv)
        assert code == 2, (argv, out, err)
        assert err.count("\n") == 1 and err.startswith("fusiongym: error: "), (argv, err)
        assert message in err, (argv, err)
    # nothing half-written was left behind by the failures
    assert not [p for p in tmp_path.rglob("*") if p.suffix in (".png", ".tmp", ".svg")]


def test_help_lists_the_plot_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["plot", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "utilization" in out and "schedule" in out and "run" in out
