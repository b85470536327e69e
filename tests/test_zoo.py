"""The built-in networks against published figures, and the synthetic generator."""

import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusiongym.accelerator.workloads.network import RECIPE_KINDS, RESIZE_KINDS, LayerKind, WorkloadError
from fusiongym.accelerator.workloads.zoo import (SYNTHETIC_KINDS, ZOO, get_network, resnet18, synthetic,
                             zoo_names)
from helpers.published import MAC_TOLERANCE, PUBLISHED_MACS

PUBLISHED_PARAMS = {
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
    "mobilenet_v2": 3_504_872, "vgg16": 138_357_544, "alexnet": 61_100_840,
    "squeezenet1_1": 1_235_496, "googlenet": 6_624_904, "efficientnet_b0": 5_288_548,
    "mobilenet_v3_large": 5_483_032,
    "mobilenet_v1": 4.2e6,  # Howard et al. 2017, Table 8: 4.2 million parameters
}

# FACTS.md: the ResNet-18 convolutions of VTA's benchmarks (H=W of the input, C_in, C_out,
# kernel, pad, stride). C1 keeps its true 3 input channels; padding to 16 is lowering's job.
RESNET18_VTA_CONVS = {
    "C1": (224, 3, 64, 7, 3, 2), "C2": (56, 64, 64, 3, 1, 1), "C3": (56, 64, 64, 1, 0, 1),
    "C4": (56, 64, 128, 3, 1, 2), "C5": (56, 64, 128, 1, 0, 2), "C6": (28, 128, 128, 3, 1, 1),
    "C7": (28, 128, 256, 3, 1, 2), "C8": (28, 128, 256, 1, 0, 2),
    "C9": (14, 256, 256, 3, 1, 1), "C10": (14, 256, 512, 3, 1, 2),
    "C11": (14, 256, 512, 1, 0, 2), "C12": (7, 512, 512, 3, 1, 1),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_MACS))
def test_macs_match_published(name):
    macs = get_network(name).macs
    assert macs == pytest.approx(PUBLISHED_MACS[name], rel=MAC_TOLERANCE)


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_weights_match_published_parameter_counts(name):
    assert get_network(name).weight_bytes(bits=8) == pytest.approx(PUBLISHED_PARAMS[name],
                                                                   rel=0.02)


def _missing_vta_convs(name: str) -> set[str]:
    convs = {(l.h_in, l.c_in, l.c_out, l.kernel[0], l.padding[0], l.stride[0])
             for l in get_network(name).layers if l.kind == LayerKind.CONV2D}
    return {k for k, v in RESNET18_VTA_CONVS.items() if v not in convs}


def test_resnet18_contains_the_vta_benchmark_convolutions():
    assert _missing_vta_convs("resnet18_vta") == set()
    # C3 (a stride-1 64->64 1x1 shortcut) exists only in the MXNet/TVM ResNet-18 that
    # VTA benchmarks, whose every first block is projected; torchvision's has no such conv
    assert _missing_vta_convs("resnet18") == {"C3"}
    extra = get_network("resnet18_vta").layers[get_network("resnet18_vta").index(
        "layer1.0.downsample")]
    assert extra.macs == 56 * 56 * 64 * 64
    assert get_network("resnet18_vta").macs == get_network("resnet18").macs + extra.macs


@pytest.mark.parametrize("name, layers, adds, concats", [
    ("resnet18", 31, 8, 0), ("resnet18_vta", 32, 8, 0), ("resnet34", 55, 16, 0),
    ("resnet50", 72, 16, 0),
    ("mobilenet_v1", 29, 0, 0), ("mobilenet_v2", 64, 10, 0), ("vgg16", 21, 0, 0),
    ("alexnet", 11, 0, 0), ("squeezenet1_1", 38, 0, 8), ("dcgan", 5, 0, 0),
    ("tiny_chain", 5, 0, 0), ("tiny_residual", 6, 1, 0),
    ("googlenet", 81, 0, 9), ("efficientnet_b0", 124, 9, 0), ("mobilenet_v3_large", 91, 10, 0),
])
def test_layer_counts_and_branches(name, layers, adds, concats):
    net = get_network(name)
    kinds = Counter(layer.kind for layer in net.layers)
    assert (len(net), kinds[LayerKind.ADD], kinds[LayerKind.CONCAT]) == (layers, adds, concats)
    for layer in net.layers:
        if layer.kind in (LayerKind.ADD, LayerKind.CONCAT):
            branches = 4 if name == "googlenet" else 2
            assert len(layer.inputs) == branches
            assert len({net.layers[p].name for p in layer.inputs}) == branches
    assert net.output_layers == (len(net) - 1,)  # one output, the last layer


def test_squeeze_excitation_blocks():
    """torchvision's SE: squeeze = a quarter of the block input (EfficientNet) or of the
    expanded width rounded to 8 (MobileNetV3); a sigmoid / hard-sigmoid gate on fc2; the
    CHANNEL_MUL scales the depthwise output by it."""
    eff = get_network("efficientnet_b0")
    scales = [l for l in eff.layers if l.kind == LayerKind.CHANNEL_MUL]
    assert len(scales) == 16
    fc1 = eff.layers[eff.index("features.2.0.se.fc1")]
    fc2 = eff.layers[eff.index("features.2.0.se.fc2")]
    assert (fc1.c_in, fc1.c_out, fc1.activation) == (96, 4, "silu")  # 16 // 4
    assert (fc2.c_out, fc2.activation, fc2.h_in) == (96, "sigmoid", 1)
    scale = eff.layers[eff.index("features.2.0.se.scale")]
    assert [eff.layers[p].name for p in scale.inputs] == ["features.2.0.dw",
                                                          "features.2.0.se.fc2"]
    v3 = get_network("mobilenet_v3_large")
    assert sum(l.kind == LayerKind.CHANNEL_MUL for l in v3.layers) == 8
    assert v3.layers[v3.index("features.4.se.fc1")].c_out == 24  # 72 // 4 = 18 -> 24
    assert v3.layers[v3.index("features.4.se.fc2")].activation == "hardsigmoid"
    assert {l.activation for l in v3.layers} == {"none", "relu", "hardswish", "hardsigmoid"}


def test_residual_edges_skip_over_the_block():
    net = get_network("resnet18")
    add = net.layers[net.index("layer1.0.add")]
    assert add.activation == "relu"  # the ReLU after the sum is folded into the add
    assert sorted(net.layers[p].name for p in add.inputs) == ["layer1.0.conv2", "maxpool"]
    add = net.layers[net.index("layer2.0.add")]
    assert sorted(net.layers[p].name for p in add.inputs) == ["layer2.0.conv2",
                                                              "layer2.0.downsample"]
    assert net.layers[net.index("layer2.0.conv2")].activation == "none"


def test_reference_shapes():
    r50 = get_network("resnet50")
    # v1.5: the stride sits in the 3x3 conv of the first block of a stage
    assert r50.layers[r50.index("layer2.0.conv1")].stride == (1, 1)
    assert r50.layers[r50.index("layer2.0.conv2")].stride == (2, 2)
    assert r50.layers[r50.index("fc")].c_in == 2048
    v2 = get_network("mobilenet_v2")
    last = v2.layers[v2.index("features.18")]
    assert (last.c_in, last.c_out, last.h_in, last.activation) == (320, 1280, 7, "clip")
    assert v2.layers[v2.index("features.3.add")].activation == "none"  # linear bottleneck
    vgg = get_network("vgg16")
    assert (vgg.layers[vgg.index("fc6")].c_in, vgg.layers[vgg.index("fc6")].kernel) == (512,
                                                                                        (7, 7))
    alex = get_network("alexnet")
    assert [alex.layers[alex.index(n)].h_out for n in ("conv1", "pool1", "pool2", "pool5")] == [
        55, 27, 13, 6]
    sq = get_network("squeezenet1_1")
    assert [sq.layers[sq.index(f"features.{i}")].h_out for i in (2, 5, 8)] == [55, 27, 13]
    assert sq.layers[sq.index("features.12.concat")].c_out == 512


def test_dcgan_generator():
    net = get_network("dcgan")
    assert net.input_shape == (100, 1, 1)
    assert all(layer.kind == LayerKind.CONV_TRANSPOSE2D for layer in net.layers)
    assert [(l.c_out, l.h_out) for l in net.layers] == [(1024, 4), (512, 8), (256, 16),
                                                         (128, 32), (3, 64)]
    # 100*1024*16 + 3 * (4*4*1024*512*16 = 8*8*512*256*16 = ...) + 32*32*128*3*16
    assert net.macs == 1_638_400 + 3 * 134_217_728 + 6_291_456


def test_content_hashes_are_distinct_and_stable_across_processes():
    hashes = {name: get_network(name).content_hash() for name in zoo_names()}
    assert len(set(hashes.values())) == len(hashes)
    assert resnet18().content_hash() == hashes["resnet18"]  # an independent rebuild
    script = ("from accelerator.workloads.zoo import get_network as g; "
              "print(g('resnet18').content_hash(), g('synthetic:3').content_hash())")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "123"}).stdout.split()
    assert out == [hashes["resnet18"], get_network("synthetic:3").content_hash()]


def test_registry_and_lookup():
    assert zoo_names() == list(ZOO)
    for name in zoo_names():
        assert get_network(name).name == name
        assert get_network(name) is get_network(name)  # cached: networks are immutable
    assert get_network("synthetic:5").name == "synthetic:5:12"
    assert get_network("synthetic:5:9").name == "synthetic:5:9"
    assert get_network("synthetic:5:9:chain").name == "synthetic:5:9:chain"
    assert len(get_network("synthetic:5:9:residual")) == 9


@pytest.mark.parametrize("bad", ["resnet19", "", "synthetic:", "synthetic:x",
                                 "synthetic:1:0", "synthetic:1:5:tree", "synthetic:1:2:3:4"])
def test_unknown_names_raise_one_line(bad):
    with pytest.raises(WorkloadError) as info:
        get_network(bad)
    message = str(info.value)
    assert "\n" not in message
    assert repr(bad) in message
    if not bad.startswith("synthetic:"):
        assert "resnet18" in message and "synthetic:SEED" in message


# ---- synthetic networks -------------------------------------------------------------------
def test_synthetic_is_deterministic_per_seed():
    assert synthetic(11).content_hash() == synthetic.__wrapped__(11).content_hash()
    hashes = {synthetic(seed).content_hash() for seed in range(50)}
    assert len(hashes) == 50


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(-2**31, 2**31), n_layers=st.integers(1, 60),
       kind=st.sampled_from(SYNTHETIC_KINDS))
def test_synthetic_networks_are_valid(seed, n_layers, kind):
    net = synthetic(seed, n_layers, kind)  # Network() itself validates shapes and edges
    assert len(net) == n_layers
    assert 16 <= net.input_shape[0] <= 512 and 14 <= net.input_shape[1] <= 112
    for layer in net.layers:
        if layer.kind == LayerKind.DENSE:
            continue
        assert 16 <= layer.c_out <= 512
        assert layer.h_out >= (1 if layer.kind == LayerKind.GLOBAL_AVG_POOL else 7)
    if kind == "chain":
        assert not {LayerKind.ADD, LayerKind.CONCAT} & {layer.kind for layer in net.layers}


def test_synthetic_covers_every_block_type():
    kinds = {kind: Counter() for kind in SYNTHETIC_KINDS}
    for kind in SYNTHETIC_KINDS:
        for seed in range(40):
            kinds[kind].update(layer.kind for layer in synthetic(seed, 20, kind).layers)
    seen = set().union(*kinds.values())
    # the synthetic generator builds CNNs: no transposed convs, no transformer kinds, no
    # squeeze-and-excitation, standalone activations or upsampling
    assert seen == (set(LayerKind) - {LayerKind.CONV_TRANSPOSE2D, LayerKind.MATMUL,
                                      LayerKind.ACTIVATION} - RECIPE_KINDS - RESIZE_KINDS)
    assert kinds["residual"][LayerKind.ADD] > kinds["mixed"][LayerKind.ADD] > 0
    assert kinds["mixed"][LayerKind.CONCAT] > 0
