"""Shared test set-up.

Helpers that several test modules need live in the ``tests/helpers/`` package (ONNX model
builders, small networks and a shared evaluator, published MAC counts, fake run
directories); test modules import them as ``helpers.<module>`` and never import each other
(``tests/test_suite_layout.py`` enforces that). This file makes ``helpers`` importable
whatever pytest's import mode, and holds the fixtures that several modules share.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))


@pytest.fixture
def onnx_file(tmp_path):
    """Write a zoo network as an ONNX model: ``onnx_file("tiny_chain", "m.onnx") -> Path``."""
    from fusiongym.accelerator.workloads.zoo import get_network
    from helpers.onnx_models import network_to_onnx, save

    def write(network_name: str, file_name: str = "model.onnx") -> Path:
        return save(network_to_onnx(get_network(network_name)), tmp_path / file_name)

    return write
