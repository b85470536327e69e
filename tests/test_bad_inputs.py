"""Walk the bad-input catalogue (tests/data/bad_inputs.yaml) through the real CLI.

Each case must end with exit code 2 and exactly one line on stderr that names the
problem, no traceback, and no file written besides the case's own inputs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fusiongym.experiments.cli import main
from helpers.catalogue import CATALOGUE, ERRORS, NOTES, materialise as _materialise, snapshot as _snapshot


def test_catalogue_is_big_enough():
    assert len(CATALOGUE) >= 20
    assert len({c["name"] for c in CATALOGUE}) == len(CATALOGUE)
    commands = {c["argv"][0] for c in CATALOGUE}
    assert {"oracle", "networks", "plot", "evaluate", "train"} <= commands


@pytest.mark.parametrize("case", ERRORS, ids=[c["name"] for c in ERRORS])
def test_bad_input_gives_one_line_and_exit_2(case, tmp_path, capsys):
    _materialise(case, tmp_path)
    before = _snapshot(tmp_path)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in case["argv"]]
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("fusiongym: error: ")
    assert case["expect"] in lines[0]
    assert "Traceback" not in err
    assert _snapshot(tmp_path) == before, "a bad input left files behind"


@pytest.mark.parametrize("case", NOTES, ids=[c["name"] for c in NOTES])
def test_a_message_of_a_successful_run_is_where_the_user_looks(case, tmp_path, capsys):
    _materialise(case, tmp_path)
    before = _snapshot(tmp_path)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in case["argv"]]
    assert main(argv) == case["exit"]
    out, err = capsys.readouterr()
    text = out if case["stream"] == "stdout" else err
    assert case["expect"] in text, text
    assert "Traceback" not in err
    if case.get("one_key_per_line"):
        keys = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
        assert len(keys) > 20 and all(ln.split("#")[0].count(": ") == 1 for ln in keys), text
    assert _snapshot(tmp_path) == before, "the run left files behind"


@pytest.mark.parametrize("preset", ["mlu100", "pynq", "ultra96", "vta16"])
def test_every_preset_prints_one_key_per_line_and_reads_back(preset, tmp_path, capsys):
    from fusiongym.accelerator.config import load_config

    assert main(["hardware", preset]) == 0
    text = capsys.readouterr().out
    keys = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert all(ln.split("  #")[0].count(": ") == 1 for ln in keys), text
    (tmp_path / "back.yaml").write_text(text)
    assert load_config(str(tmp_path / "back.yaml")).key == load_config(preset).key


def test_a_bad_input_in_a_fresh_process_has_no_traceback(tmp_path):
    """The console script path (not just main()) turns errors into one line + exit 2."""
    proc = subprocess.run([sys.executable, "-m", "fusiongym.experiments.cli", "oracle", "--network",
                           "resnet19"], capture_output=True, text=True,
                          cwd=Path(__file__).parent.parent, env={**os.environ})
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "resnet19" in proc.stderr
    assert proc.stdout == ""
