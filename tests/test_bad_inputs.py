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
import yaml

from experiments.cli import main
import helpers.onnx_models as oh

CATALOGUE = yaml.safe_load((Path(__file__).parent / "data" / "bad_inputs.yaml").read_text())


def _onnx_model(kind: str):
    from onnx import helper
    if kind == "unsupported":
        nodes = [helper.make_node("Reshape", ["x", "shape"], ["seq"], name="to_seq"),
                 helper.make_node("LSTM", ["seq", "W", "R"], ["y"], name="lstm1", hidden_size=8)]
        inits = [oh.weight("W", [1, 32, 8]), oh.weight("R", [1, 32, 8]),
                 oh.ints("shape", [16, 1, 8])]
        return oh.make_model(nodes, [1, 8, 4, 4], inits, output_ranks=[4])
    if kind == "dynamic":
        nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="c", kernel_shape=[3, 3],
                                  pads=[1, 1, 1, 1])]
        return oh.make_model(nodes, ["N", 3, "H", "W"], [oh.weight("w", [8, 3, 3, 3])])
    if kind == "attention_dynamic_sequence":
        return oh.attention_model(seq_dim="S")
    if kind == "attention_matmul_mismatch":
        return oh.attention_model(key_width=48)
    if kind == "attention_heads_mismatch":
        return oh.attention_model(heads=5)
    raise ValueError(kind)


def _materialise(case: dict, tmp: Path) -> None:
    rng = __import__("random").Random(0)
    for rel, content in (case.get("files") or {}).items():
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content.startswith("random:"):
            path.write_bytes(bytes(rng.randrange(256) for _ in range(int(content[7:]))))
        elif content.startswith("onnx:"):
            oh.save(_onnx_model(content[5:]), path)
        else:
            path.write_text(content)


def _snapshot(tmp: Path) -> set[Path]:
    return {p for p in tmp.rglob("*")}


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
