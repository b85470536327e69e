"""fusiongym.accelerator.workloads.loader.load_network: the one way every entry point names a network."""

from __future__ import annotations

import pytest

from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.workloads.loader import as_network, load_network
from fusiongym.accelerator.workloads.zoo import get_network, zoo_names


@pytest.mark.parametrize("spelling", ["tiny_residual", "TINY_RESIDUAL", "Tiny_Residual",
                                      "  tiny_residual "])
def test_zoo_names_are_case_insensitive(spelling):
    assert load_network(spelling) is get_network("tiny_residual")


@pytest.mark.parametrize("spelling, name", [
    ("synthetic:5", "synthetic:5:12"),
    ("Synthetic:5:9", "synthetic:5:9"),
    ("SYNTHETIC:5:9:Chain", "synthetic:5:9:chain"),
])
def test_synthetic_specs(spelling, name):
    net = load_network(spelling)
    assert net.name == name
    assert net.content_hash() == get_network(name).content_hash()


@pytest.mark.parametrize("suffix", [".onnx", ".ONNX", ".Onnx"])
def test_onnx_path_by_suffix_any_case(onnx_file, suffix):
    ref = get_network("tiny_chain")
    path = onnx_file("tiny_chain", f"tiny{suffix}")
    net = load_network(str(path))
    assert [layer.kind for layer in net.layers] == [layer.kind for layer in ref.layers]
    assert net.macs == ref.macs


def test_onnx_flag_reads_any_suffix(onnx_file):
    path = onnx_file("tiny_chain", "model.bin")
    with pytest.raises(UserInputError, match="unknown network"):
        load_network(str(path))  # without the flag, a name: not a zoo network
    assert load_network(str(path), onnx=True).macs == get_network("tiny_chain").macs


def test_unknown_name_is_one_line_listing_the_valid_ones():
    with pytest.raises(UserInputError) as err:
        load_network("ResNet19")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("unknown network 'ResNet19'; valid: ")
    for name in zoo_names():
        assert name in message
    assert "synthetic:SEED[:NLAYERS[:KIND]]" in message


def test_missing_onnx_file_says_so(tmp_path):
    missing = tmp_path / "nothere.ONNX"
    with pytest.raises(UserInputError, match="^ONNX file not found: .*nothere.ONNX$"):
        load_network(str(missing))


def test_bad_synthetic_spec_is_one_line():
    with pytest.raises(UserInputError, match="^bad synthetic network name"):
        load_network("synthetic:x")


def test_as_network_passes_networks_through():
    net = get_network("tiny_chain")
    assert as_network(net) is net
    assert as_network("TINY_CHAIN") is net
