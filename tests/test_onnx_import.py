"""ONNX import: small hand-built graphs, zoo round trips, and every way a file can be bad."""

import warnings

import pytest
from onnx import helper

from fusiongym.accelerator.workloads.onnx_import import import_onnx, load_onnx
from fusiongym.accelerator.workloads.network import LayerKind, WorkloadError
from fusiongym.accelerator.workloads.zoo import get_network
from helpers.onnx_models import ints, make_model, network_to_onnx, save, weight


def conv_node(name, x, out, c_out, c_in, k=3, stride=1, pad=1, group=1, inits=None):
    inits.append(weight(f"{name}.w", [c_out, c_in // group, k, k]))
    return helper.make_node("Conv", [x, f"{name}.w"], [out], name=name, kernel_shape=[k, k],
                            strides=[stride, stride], pads=[pad] * 4, group=group)


def bn_node(name, x, out, channels, inits):
    params = [f"{name}.{p}" for p in ("scale", "bias", "mean", "var")]
    inits += [weight(p, [channels]) for p in params]
    return helper.make_node("BatchNormalization", [x, *params], [out], name=name)


def relu(name, x, out):
    return helper.make_node("Relu", [x], [out], name=name)


def load(tmp_path, nodes, input_shape, inits=(), validate=False, **kw):
    return import_onnx(save(make_model(nodes, input_shape, inits, **kw), tmp_path / "m.onnx"),
                       validate=validate)


def error(tmp_path, nodes, input_shape, inits=(), **kw) -> str:
    with pytest.raises(WorkloadError) as info:
        load(tmp_path, nodes, input_shape, inits, **kw)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---- mapping ------------------------------------------------------------------------------
def test_conv_bn_relu_is_one_layer(tmp_path):
    inits = []
    nodes = [conv_node("conv", "x", "c", 32, 16, inits=inits),
             bn_node("bn", "c", "b", 32, inits), relu("relu", "b", "y")]
    result = load(tmp_path, nodes, [1, 16, 28, 28], inits)
    (layer,) = result.network.layers
    assert (layer.name, layer.kind, layer.activation) == ("conv", LayerKind.CONV2D, "relu")
    assert (layer.c_out, layer.h_out, layer.w_out) == (32, 28, 28)
    assert result.network.macs == 28 * 28 * 32 * 16 * 9
    assert result.folded == {"BatchNormalization": 1, "Relu": 1}
    assert result.network.name == "m"


def test_residual_add_with_relu(tmp_path):
    inits = []
    nodes = [conv_node("stem", "x", "s0", 16, 16, inits=inits), relu("r0", "s0", "s"),
             conv_node("a", "s", "a0", 16, 16, inits=inits), relu("r1", "a0", "a"),
             conv_node("b", "a", "b0", 16, 16, inits=inits),
             helper.make_node("Add", ["b0", "s"], ["sum"], name="add"),
             relu("r2", "sum", "y")]
    net = load(tmp_path, nodes, [1, 16, 8, 8], inits).network
    assert [l.name for l in net.layers] == ["stem", "a", "b", "add"]
    add = net.layers[3]
    assert (add.kind, add.inputs, add.activation) == (LayerKind.ADD, (2, 0), "relu")
    assert net.edges == [(0, 1), (1, 2), (2, 3), (0, 3)]
    assert net.macs == 3 * 8 * 8 * 16 * 16 * 9


def test_depthwise_and_grouped_conv(tmp_path):
    inits = []
    nodes = [conv_node("dw", "x", "d", 32, 32, group=32, stride=2, inits=inits),
             conv_node("g", "d", "y", 64, 32, k=1, pad=0, group=4, inits=inits)]
    dw, grouped = load(tmp_path, nodes, [1, 32, 16, 16], inits).network.layers
    assert (dw.kind, dw.groups, dw.h_out, dw.macs) == (LayerKind.DEPTHWISE_CONV2D, 32, 8,
                                                       8 * 8 * 32 * 9)
    assert (grouped.kind, grouped.groups, grouped.macs) == (LayerKind.CONV2D, 4,
                                                            8 * 8 * 64 * 8)


def test_gemm_after_flatten_covers_the_whole_map(tmp_path):
    inits = [weight("fc.w", [10, 64 * 7 * 7]), weight("fc.b", [10])]
    nodes = [helper.make_node("Flatten", ["x"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["y"], name="fc", transB=1),
             helper.make_node("Softmax", ["y"], ["p"], name="softmax")]
    result = load(tmp_path, nodes, [1, 64, 7, 7], inits, output_ranks=[2])
    (fc,) = result.network.layers
    assert (fc.kind, fc.c_in, fc.kernel, fc.c_out, fc.h_out) == (LayerKind.DENSE, 64, (7, 7),
                                                                 10, 1)
    assert fc.macs == 64 * 7 * 7 * 10
    assert result.shape_only == {"Flatten": 1} and result.host_side == {"Softmax": 1}


def test_reshape_matmul_with_bias_add(tmp_path):
    inits = [ints("shape", [1, -1]), weight("w", [512, 100]), weight("b", [100])]
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["g"], name="gap"),
             helper.make_node("Reshape", ["g", "shape"], ["r"], name="reshape"),
             helper.make_node("MatMul", ["r", "w"], ["m"], name="fc"),
             helper.make_node("Add", ["m", "b"], ["y"], name="fc.bias")]
    result = load(tmp_path, nodes, [1, 512, 7, 7], inits, output_ranks=[2])
    gap, fc = result.network.layers
    assert (gap.kind, gap.kernel, fc.kind, fc.c_in, fc.kernel) == (
        LayerKind.GLOBAL_AVG_POOL, (7, 7), LayerKind.DENSE, 512, (1, 1))
    assert result.network.macs == 512 * 100
    assert result.folded == {"Add": 1}


def test_concat_of_two_branches(tmp_path):
    inits = []
    nodes = [conv_node("e1", "x", "a", 64, 16, k=1, pad=0, inits=inits),
             conv_node("e3", "x", "b", 32, 16, inits=inits),
             helper.make_node("Concat", ["a", "b"], ["y"], name="cat", axis=1)]
    net = load(tmp_path, nodes, [1, 16, 13, 13], inits).network
    cat = net.layers[2]
    assert (cat.kind, cat.c_out, cat.h_out, cat.inputs) == (LayerKind.CONCAT, 96, 13, (0, 1))
    assert net.layers[0].inputs == net.layers[1].inputs == ()  # both read the network input


def test_maxpool_ceil_mode_pads_the_end(tmp_path):
    nodes = [helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[3, 3],
                              strides=[2, 2], ceil_mode=1)]
    (pool,) = load(tmp_path, nodes, [1, 8, 56, 56]).network.layers
    assert (pool.h_out, pool.w_out, pool.padding) == (28, 28, (0, 0, 1, 1))


def test_ceil_mode_follows_the_spec_where_shape_inference_does_not(tmp_path):
    # kernel 1, stride 2 over 4 pixels: the spec (and PyTorch) give 2 outputs, onnx's shape
    # inference says 3; later layers must still import
    inits = []
    nodes = [helper.make_node("MaxPool", ["x"], ["p"], name="pool", kernel_shape=[1, 1],
                              strides=[2, 2], ceil_mode=1),
             conv_node("conv", "p", "y", 8, 8, inits=inits)]
    result = load(tmp_path, nodes, [1, 8, 4, 4], inits, validate=True)  # runs inference
    pool, conv = result.network.layers
    assert (pool.h_out, conv.h_in, conv.h_out) == (2, 2, 2)
    assert any("follows the ONNX spec" in note for note in result.notes)


def test_avgpool_auto_pad_and_global_max_pool(tmp_path):
    nodes = [helper.make_node("AveragePool", ["x"], ["a"], name="avg", kernel_shape=[3, 3],
                              strides=[2, 2], auto_pad="SAME_UPPER"),
             helper.make_node("GlobalMaxPool", ["a"], ["y"], name="gmp")]
    avg, gmp = load(tmp_path, nodes, [1, 8, 7, 7]).network.layers
    assert (avg.kind, avg.h_out, avg.padding) == (LayerKind.AVG_POOL, 4, (1, 1, 1, 1))
    assert (gmp.kind, gmp.kernel, gmp.h_out) == (LayerKind.MAX_POOL, (4, 4), 1)


def test_conv_transpose_with_pads_and_output_shape(tmp_path):
    inits = [weight("up1.w", [64, 32, 4, 4]), weight("up2.w", [32, 16, 3, 3])]
    nodes = [helper.make_node("ConvTranspose", ["x", "up1.w"], ["u"], name="up1",
                              kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("ConvTranspose", ["u", "up2.w"], ["y"], name="up2",
                              strides=[2, 2], output_shape=[16, 16])]
    up1, up2 = load(tmp_path, nodes, [1, 64, 4, 4], inits).network.layers
    assert (up1.kind, up1.c_out, up1.h_out) == (LayerKind.CONV_TRANSPOSE2D, 32, 8)
    assert up1.macs == 4 * 4 * 64 * 32 * 16
    assert (up2.c_out, up2.h_out, up2.w_out) == (16, 16, 16)  # (8-1)*2 + 3 - pads 1 = 16
    assert sum(up2.padding) == 2 * 1


def test_static_batch_and_pass_through_nodes(tmp_path):
    inits = []
    nodes = [conv_node("conv", "x", "c", 8, 8, inits=inits),
             helper.make_node("Identity", ["c"], ["i"], name="id"),
             helper.make_node("Dropout", ["i"], ["d"], name="drop"),
             relu("relu", "d", "y")]
    result = load(tmp_path, nodes, [2, 8, 5, 5], inits)
    (layer,) = result.network.layers
    assert (layer.batch, layer.activation) == (2, "relu")  # relu folds through shape-only ops
    assert result.network.macs == 2 * 5 * 5 * 8 * 8 * 9
    assert result.shape_only == {"Identity": 1, "Dropout": 1}


def test_symbolic_batch_becomes_one(tmp_path):
    inits = []
    result = load(tmp_path, [conv_node("conv", "x", "y", 8, 3, inits=inits)],
                  ["N", 3, 10, 10], inits)
    assert result.network.layers[0].batch == 1
    assert result.network.input_shape == (3, 10, 10)
    assert any("symbolic batch dimension 'N' set to 1" in note for note in result.notes)


def test_empty_and_duplicate_node_names_become_unique(tmp_path):
    inits = []
    nodes = [conv_node("first", "x", "a", 8, 8, inits=inits),
             conv_node("c", "a", "b", 8, 8, inits=inits),
             conv_node("c_again", "b", "y", 8, 8, inits=inits)]
    nodes[0].name, nodes[2].name = "", "c"
    net = load(tmp_path, nodes, [1, 8, 6, 6], inits).network
    assert [l.name for l in net.layers] == ["conv_0", "c", "c_2"]


# ---- zoo round trips ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tiny_chain", "tiny_residual", "squeezenet1_1",
                                  "mobilenet_v2", "resnet18", "dcgan", "synthetic:3:30",
                                  "googlenet", "efficientnet_b0", "mobilenet_v3_large",
                                  "synthetic:8:24:residual"])
def test_zoo_network_round_trips_through_onnx(tmp_path, name):
    net = get_network(name)
    imported = load_onnx(save(network_to_onnx(net), tmp_path / "net.onnx"))
    assert len(imported) == len(net)
    assert imported.macs == net.macs
    assert imported.content_hash() == net.content_hash()  # same shapes, edges, activations
    assert [l.name for l in imported.layers] == [l.name for l in net.layers]


def test_torch_export_imports(tmp_path):
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Small(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 16, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(16)
            self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
            self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
            self.pw = nn.Conv2d(16, 16, 1)
            self.fc = nn.Linear(16 * 8 * 8, 10)

        def forward(self, x):
            y = self.pool(torch.relu(self.bn(self.conv(x))))
            z = self.pw(nn.functional.relu6(self.dw(y)))
            y = torch.relu(y + z)
            return torch.softmax(self.fc(y.flatten(1)), dim=1)

    path = tmp_path / "small.onnx"
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated, still shipped
        warnings.simplefilter("ignore")
        torch.onnx.export(Small().eval(), (torch.zeros(1, 3, 17, 17),), str(path),
                          dynamo=False, input_names=["image"],
                          dynamic_axes={"image": {0: "batch"}})
    net = load_onnx(path)
    assert [l.kind for l in net.layers] == [
        LayerKind.CONV2D, LayerKind.MAX_POOL, LayerKind.DEPTHWISE_CONV2D, LayerKind.CONV2D,
        LayerKind.ADD, LayerKind.DENSE]
    assert [l.activation for l in net.layers] == ["relu", "none", "clip", "none", "relu",
                                                  "none"]
    assert net.macs == 17 * 17 * 16 * 27 + 8 * 8 * 16 * 9 + 8 * 8 * 16 * 16 + 16 * 64 * 10


# ---- errors -------------------------------------------------------------------------------
def test_unsupported_ops_are_named(tmp_path):
    inits = [weight("W", [1, 32, 8]), weight("R", [1, 32, 8])]
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["seq"], name="to_seq"),
             helper.make_node("LSTM", ["seq", "W", "R"], ["y"], name="lstm1", hidden_size=8),
             helper.make_node("NonMaxSuppression", ["y", "y"], ["z"], name="nms")]
    message = error(tmp_path, nodes, [1, 8, 4, 4], inits + [ints("shape", [16, 1, 8])])
    assert "unsupported ONNX op(s): LSTM (node 'lstm1'); NonMaxSuppression (node 'nms')" in \
        message


@pytest.mark.parametrize("shape, fragment", [
    (["N", 3, "H", "W"], "input 'x' dim 2 is symbolic ('H')"),
    ([1, 3, None, 32], "input 'x' dim 2 is unknown"),
])
def test_dynamic_spatial_dims_are_rejected(tmp_path, shape, fragment):
    inits = []
    assert fragment in error(tmp_path, [conv_node("c", "x", "y", 8, 3, inits=inits)], shape,
                             inits)


def test_missing_corrupt_and_directory_paths(tmp_path):
    with pytest.raises(WorkloadError, match="ONNX file not found"):
        load_onnx(tmp_path / "nope.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(WorkloadError, match="not a readable ONNX model"):
        load_onnx(corrupt)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(WorkloadError, match="no nodes"):
        load_onnx(empty)
    with pytest.raises(WorkloadError, match="not a file"):
        load_onnx(tmp_path)


def test_relu_with_a_shared_producer_cannot_fold(tmp_path):
    inits = []
    nodes = [conv_node("conv", "x", "c", 8, 8, inits=inits), relu("relu", "c", "r"),
             conv_node("other", "c", "o", 8, 8, inits=inits),
             helper.make_node("Add", ["r", "o"], ["y"], name="add")]
    message = error(tmp_path, nodes, [1, 8, 6, 6], inits)
    assert "Relu node 'relu'" in message and "'conv'" in message and "2 readers" in message


@pytest.mark.parametrize("nodes, fragment", [
    ([relu("relu", "x", "y")], "Relu node 'relu': reads the network input"),
    ([helper.make_node("MaxPool", ["x"], ["p"], name="pool", kernel_shape=[2, 2]),
      bn_node("bn", "p", "y", 8, [])], "follows max_pool 'pool'"),
    ([helper.make_node("Softmax", ["x"], ["s"], name="sm", axis=1),
      helper.make_node("MaxPool", ["s"], ["y"], name="pool", kernel_shape=[2, 2])],
     "Softmax node 'sm': softmax over axis 1 of [1, 8, 6, 6]"),
    ([helper.make_node("Add", ["x", "x"], ["y"], name="add")],
     "Add node 'add': both operands are the network input"),
    ([helper.make_node("Conv", ["x", "w"], ["y"], name="dil", dilations=[2, 2])],
     "dilations [2, 2] are not supported"),
    ([helper.make_node("MaxPool", ["x"], ["p"], name="pool", kernel_shape=[2, 2]),
      helper.make_node("Add", ["p", "bias"], ["y"], name="shift")],
     "Add node 'shift': adding a constant is only supported as the bias"),
    ([helper.make_node("MaxPool", ["x"], ["p"], name="pool", kernel_shape=[1, 1]),
      helper.make_node("MaxPool", ["x"], ["q"], name="pool2", kernel_shape=[1, 1]),
      helper.make_node("Concat", ["p", "q"], ["y"], name="cat", axis=2)],
     "only channel concatenation"),
])
def test_unrepresentable_graphs_name_the_node(tmp_path, nodes, fragment):
    activations = {"x"} | {out for node in nodes for out in node.output}
    dims = {"w": [8, 8, 1, 1], "bias": [8, 1, 1]}
    inits = [weight(name, dims.get(name, [8]))
             for node in nodes for name in node.input[1:] if name not in activations]
    assert fragment in error(tmp_path, nodes, [1, 8, 6, 6], inits)
