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

from experiments.cli import main
from helpers.catalogue import CATALOGUE, materialise as _materialise, snapshot as _snapshot


def test_catalogue_is_big_enough():
    assert len(CATALOGUE) >= 20
    assert len({c["name"] for c in CATALOGUE}) == len(CATALOGUE)
    commands = {c["argv"][0] for c in CATALOGUE}
    assert {"oracle", "networks", "plot", "evaluate", "train"} <= commands


@pytest.mark.parametrize("case", CATALOGUE, ids=[c["name"] for c in CATALOGUE])
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


def test_a_bad_input_in_a_fresh_process_has_no_traceback(tmp_path):
    """The console script path (not just main()) turns errors into one line + exit 2."""
    proc = subprocess.run([sys.executable, "-m", "experiments.cli", "oracle", "--network",
                           "resnet19"], capture_output=True, text=True,
                          cwd=Path(__file__).parent.parent, env={**os.environ})
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "resnet19" in proc.stderr
    assert proc.stdout == ""
