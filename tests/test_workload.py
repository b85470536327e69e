"""Layer / Network arithmetic, checked against hand-computed numbers."""

import pytest

from fusiongym.accelerator.workloads.network import (Layer, LayerKind, Network, NetworkBuilder, WorkloadError,
                                  ceil_pool_output)


def conv(name="c", **kw) -> Layer:
    fields = dict(kind=LayerKind.CONV2D, c_in=16, h_in=8, w_in=8, c_out=32, kernel=(3, 3),
                  padding=(1, 1, 1, 1))
    fields.update(kw)
    return Layer(name=name, **fields)


# ---- MACs and sizes by hand ---------------------------------------------------------------
def test_conv_macs_bytes_by_hand():
    layer = conv()
    assert (layer.h_out, layer.w_out) == (8, 8)
    assert layer.macs == 8 * 8 * 32 * 16 * 3 * 3 == 294_912
    assert layer.ops == 2 * 294_912
    assert layer.weight_elements == 32 * 16 * 9
    assert layer.input_bytes() == 16 * 8 * 8
    assert layer.output_bytes() == 32 * 8 * 8
    assert layer.output_bytes(bits=32) == 4 * 32 * 8 * 8  # int32 accumulators
    assert layer.weight_bytes(bits=4) == 32 * 16 * 9 // 2


def test_strided_conv_output_size_and_macs():
    layer = conv(h_in=224, w_in=224, c_in=3, c_out=64, kernel=(7, 7), stride=(2, 2),
                 padding=(3, 3, 3, 3))  # ResNet conv1
    assert (layer.h_out, layer.w_out) == (112, 112)
    assert layer.macs == 112 * 112 * 64 * 3 * 49 == 118_013_952


def test_depthwise_and_grouped_macs():
    dw = conv(kind=LayerKind.DEPTHWISE_CONV2D, c_in=32, c_out=32, groups=32)
    assert dw.macs == 8 * 8 * 32 * 1 * 9
    assert dw.weight_elements == 32 * 9
    grouped = conv(c_in=16, c_out=32, groups=4)
    assert grouped.macs == 8 * 8 * 32 * (16 // 4) * 9
    assert grouped.weight_elements == 32 * 4 * 9


def test_batch_scales_macs_and_bytes():
    one, four = conv(), conv(batch=4)
    assert four.macs == 4 * one.macs
    assert four.input_bytes() == 4 * one.input_bytes()
    assert four.weight_bytes() == one.weight_bytes()  # weights are shared across the batch


def test_dense_is_a_conv_over_the_whole_map():
    b = NetworkBuilder("fc", (512, 7, 7))
    fc = b.layers[b.dense(None, 1000, activation="none")]
    assert fc.kernel == (7, 7) and fc.padding == (0, 0, 0, 0)
    assert (fc.c_out, fc.h_out, fc.w_out) == (1000, 1, 1)
    assert fc.macs == 512 * 7 * 7 * 1000 == 25_088_000
    assert fc.weight_elements == fc.macs  # every weight is used exactly once at batch 1


def test_conv_transpose_output_size_and_macs():
    b = NetworkBuilder("g", (512, 4, 4))
    up = b.layers[b.conv_transpose(None, 256, kernel=4, stride=2, padding=1)]
    assert (up.h_out, up.w_out) == (8, 8)  # (4 - 1) * 2 - 2 + 4
    assert up.macs == 4 * 4 * 512 * 256 * 16  # per input pixel: a 4x4 patch per channel pair
    assert up.weight_elements == 256 * 512 * 16
    b2 = NetworkBuilder("g2", (64, 7, 7))
    odd = b2.layers[b2.conv_transpose(None, 32, kernel=3, stride=2, padding=1,
                                      output_padding=1)]
    assert (odd.h_out, odd.w_out) == (14, 14)  # (7 - 1) * 2 - 2 + 3 + 1


def test_pool_add_concat_ops():
    b = NetworkBuilder("p", (16, 8, 8))
    x = b.conv(None, 16, 3)
    pool = b.layers[b.pool(x, kernel=2, stride=2)]
    assert (pool.h_out, pool.macs, pool.ops) == (4, 0, 16 * 4 * 4 * 4)
    y = b.conv(x, 16, 1)
    add = b.layers[b.add(x, y)]
    assert add.ops == 16 * 8 * 8 and add.input_elements == 2 * 16 * 8 * 8
    cat = b.layers[b.concat(x, y)]
    assert (cat.c_out, cat.ops) == (32, 0)
    gap = b.layers[b.global_pool(x)]
    assert (gap.kernel, gap.h_out, gap.ops) == ((8, 8), 1, 16 * 64)


# ---- pool ceil_mode -----------------------------------------------------------------------
@pytest.mark.parametrize("size, kernel, stride, pad, expected", [
    (111, 3, 2, 0, 55),  # SqueezeNet 1.1 after conv1: exact
    (56, 3, 2, 0, 28),  # floor would give 27
    (4, 1, 2, 0, 2),  # the window at 4 would start past the input: dropped (3 without the rule)
    (5, 2, 2, 1, 3),  # the window at 6 would start in the end padding: dropped
    (6, 3, 2, 1, 4),  # last window starts inside the input: kept
])
def test_ceil_pool_output(size, kernel, stride, pad, expected):
    assert ceil_pool_output(size, kernel, stride, pad, pad) == expected
    b = NetworkBuilder("p", (8, size, size))
    pool = b.layers[b.pool(None, kernel, stride, pad, ceil_mode=True)]
    assert (pool.h_out, pool.w_out) == (expected, expected)
    assert pool.padding[:2] == (pad, pad)  # ceil mode only ever adds end padding


# ---- validation ---------------------------------------------------------------------------
@pytest.mark.parametrize("fields, message", [
    (dict(c_in=0), "c_in must be >= 1"),
    (dict(stride=(0, 1)), "stride must be >= 1"),
    (dict(padding=(-1, 0, 0, 0)), "padding must be >= 0"),
    (dict(activation="gelu"), "unknown activation"),
    (dict(groups=3), "groups=3 must divide"),
    (dict(kind=LayerKind.DEPTHWISE_CONV2D, groups=8), "depthwise conv needs groups == c_in"),
    (dict(kind=LayerKind.ADD, c_out=8), "keeps the channel count"),
    (dict(kernel=(11, 11), padding=(0, 0, 0, 0)), "output would be -2x-2"),
])
def test_layer_validation(fields, message):
    with pytest.raises(WorkloadError, match=message):
        conv(**fields)


def test_network_validation():
    a = conv("a")
    with pytest.raises(WorkloadError, match="duplicate layer names"):
        Network("n", (a, conv("a", c_in=32, inputs=(0,))), (16, 8, 8))
    with pytest.raises(WorkloadError, match="not an earlier layer"):
        Network("n", (a, conv("b", c_in=32, inputs=(1,))), (16, 8, 8))
    with pytest.raises(WorkloadError, match=r"input shape \(32, 8, 8\) != expected"):
        Network("n", (a, conv("b", inputs=(0,))), (16, 8, 8))
    with pytest.raises(WorkloadError, match="add needs at least two inputs"):
        Network("n", (a, Layer("s", LayerKind.ADD, 32, 8, 8, 32, inputs=(0,))), (16, 8, 8))
    with pytest.raises(WorkloadError, match="concat of"):
        Network("n", (a, Layer("k", LayerKind.CONCAT, 48, 8, 8, 48, inputs=(0,))), (16, 8, 8))
    with pytest.raises(WorkloadError, match="has no layers"):
        Network("n", (), (16, 8, 8))


def test_network_edges_consumers_outputs():
    b = NetworkBuilder("res", (16, 8, 8))
    x = b.conv(None, 16)
    y = b.conv(x, 16, activation="none")
    b.add(y, x, activation="relu")
    net = b.build()
    assert net.edges == [(0, 1), (1, 2), (0, 2)]
    assert net.consumers == ((1, 2), (2,), ())
    assert net.output_layers == (2,)
    assert net.macs == 2 * 8 * 8 * 16 * 16 * 9
    assert net.summary()["layers"] == 3


# ---- content hash -------------------------------------------------------------------------
def _chain(name: str, stride: int = 1, names: str = "ab") -> Network:
    b = NetworkBuilder(name, (16, 8, 8))
    x = b.conv(None, 16, name=names[0])
    b.conv(x, 32, stride=stride, name=names[1])
    return b.build()


def test_content_hash_ignores_names_but_not_shapes():
    base = _chain("one")
    assert len(base.content_hash()) == 16
    assert _chain("two", names="xy").content_hash() == base.content_hash()
    assert _chain("one", stride=2).content_hash() != base.content_hash()
    assert base.content_hash() == base.content_hash()
