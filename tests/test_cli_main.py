"""The `fusiongym` entry point: every command module is loaded, none skipped in silence."""

from __future__ import annotations

from pathlib import Path

import pytest

import fusiongym.experiments.cli as cli

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_command_is_registered():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert tuple(sub.choices) == cli.COMMANDS


def test_a_command_module_that_fails_to_import_is_an_error(monkeypatch):
    monkeypatch.setattr(cli, "COMMANDS", cli.COMMANDS + ("not_a_command",))
    with pytest.raises(ModuleNotFoundError, match="not_a_command"):
        cli.build_parser()


def test_readme_has_no_placeholder():
    assert "PLACEHOLDER" not in README.read_text()
