"""Arguments several commands share, defined once so their names, help and defaults agree."""

from __future__ import annotations

import argparse

from fusiongym.accelerator.config import DEFAULT_PRESET


def add_network_source(parser: argparse.ArgumentParser, network_help: str):
    """``--network NAME`` or ``--onnx FILE`` (exactly one); returns the group for more."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--network", metavar="NAME", help=network_help)
    source.add_argument("--onnx", metavar="FILE", help="an ONNX model file")
    return source


def add_hw(parser: argparse.ArgumentParser, what: str = "") -> None:
    """``--hw FILE|PRESET`` (None = the default preset)."""
    parser.add_argument("--hw", metavar="FILE|PRESET", default=None,
                        help=f"hardware preset or YAML/JSON file{what} (default: {DEFAULT_PRESET})")


def add_schedule(parser: argparse.ArgumentParser) -> None:
    """``--schedule no-fusion|FILE.json`` and ``--cores N`` (for no-fusion)."""
    parser.add_argument("--schedule", default="no-fusion", metavar="no-fusion|FILE.json",
                        help="'no-fusion' (every layer its own group) or a saved schedule "
                             "(default: no-fusion)")
    parser.add_argument("--cores", type=int, default=None, metavar="N",
                        help="cores per group for --schedule no-fusion (default: the "
                             "hardware's default_cores)")


def add_image_output(parser: argparse.ArgumentParser, out_help: str) -> None:
    """``--dpi``, ``--out FILE`` and ``--json`` (print the written paths) of a plot."""
    parser.add_argument("--dpi", type=int, default=100, help="PNG resolution (default: 100)")
    parser.add_argument("--out", default=None, metavar="FILE", help=out_help)
    parser.add_argument("--json", action="store_true", help="print the written paths as JSON")
