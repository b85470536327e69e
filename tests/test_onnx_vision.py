"""ONNX import of vision graphs: squeeze-and-excitation, sigmoid / hard-sigmoid / hard-swish /
SiLU activations, Resize / Upsample; PyTorch exports and hand-built graphs, and every
refusal named in one line."""

import warnings

import pytest
from onnx import TensorProto, helper

from fusiongym.accelerator.workloads.network import LayerKind, WorkloadError
from fusiongym.accelerator.workloads.onnx_import import import_onnx, load_onnx
from helpers.onnx_models import ints, make_model, save, weight

torch = pytest.importorskip("torch")
nn = torch.nn


def export(module, shape, path, opset=17):
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated, still shipped
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.zeros(*shape),), str(path), dynamo=False,
                          opset_version=opset)
    return path


class SEBlock(nn.Module):
    """EfficientNet's MBConv tail and MobileNetV3's activations on a 12x12 map."""

    def __init__(self, c_in=16, c=32, squeeze=8):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)
        self.act = nn.SiLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, c, 1)
        self.project = nn.Conv2d(c, c_in, 1)
        self.hswish = nn.Hardswish()
        self.hsigmoid = nn.Hardsigmoid()

    def forward(self, x):
        y = self.act(self.bn(self.conv(x)))
        s = torch.sigmoid(self.fc2(self.act(self.fc1(self.pool(y)))))
        y = self.hswish(self.project(y * s))  # torchvision's SE: scale * input
        return y + self.hsigmoid(y)  # a hard sigmoid whose producer has two readers


SE_KINDS = [(LayerKind.CONV2D, "silu"), (LayerKind.GLOBAL_AVG_POOL, "none"),
            (LayerKind.CONV2D, "silu"), (LayerKind.CONV2D, "sigmoid"),
            (LayerKind.CHANNEL_MUL, "none"), (LayerKind.CONV2D, "hardswish"),
            (LayerKind.ACTIVATION, "hardsigmoid"), (LayerKind.ADD, "none")]


def test_torch_squeeze_excitation_block(tmp_path):
    imported = import_onnx(export(SEBlock(), (1, 16, 12, 12), tmp_path / "se.onnx"),
                           validate=True)
    net = imported.network
    assert [(l.kind, l.activation) for l in net.layers] == SE_KINDS
    assert net.macs == 12 * 12 * 32 * 16 * 9 + 32 * 8 + 8 * 32 + 12 * 12 * 16 * 32
    scale = net.layers[4]
    assert scale.inputs == (0, 3) and net.layers[3].h_out == 1  # (map, per-channel vector)
    assert scale.input_elements == 32 * 12 * 12 + 32
    assert imported.folded["Sigmoid x input (silu)"] == 2  # nn.SiLU is Sigmoid + Mul
    assert imported.folded["HardSwish"] == 1 and imported.folded["Sigmoid"] == 1


def test_hard_swish_before_opset_14_is_the_same_network(tmp_path):
    """Before opset 14 torch spells nn.Hardswish as x * HardSigmoid(x)."""
    new = load_onnx(export(SEBlock(), (1, 16, 12, 12), tmp_path / "se17.onnx", opset=17))
    old = import_onnx(export(SEBlock(), (1, 16, 12, 12), tmp_path / "se13.onnx", opset=13))
    assert old.folded["HardSigmoid x input (hardswish)"] == 1
    assert old.network.content_hash() == new.content_hash()


class UNet(nn.Module):
    """Two levels, a nearest and a bilinear up-sampling, skip concatenations."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Conv2d(3, 16, 3, padding=1)
        self.down = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.bottom = nn.Conv2d(32, 32, 3, padding=1)
        self.up_nearest = nn.Upsample(scale_factor=2, mode="nearest")
        self.up_bilinear = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.dec = nn.Conv2d(48, 16, 3, padding=1)
        self.head = nn.Conv2d(48, 2, 1)

    def forward(self, x):
        a = torch.relu(self.enc(x))
        b = torch.relu(self.bottom(torch.relu(self.down(a))))
        d = torch.relu(self.dec(torch.cat([self.up_nearest(b), a], 1)))
        return self.head(torch.cat([d, self.up_bilinear(b)], 1))


def test_torch_unet_with_resize(tmp_path):
    net = load_onnx(export(UNet(), (1, 3, 32, 32), tmp_path / "unet.onnx"), validate=True)
    kinds = [l.kind for l in net.layers]
    assert kinds == [LayerKind.CONV2D, LayerKind.CONV2D, LayerKind.CONV2D,
                     LayerKind.RESIZE_NEAREST, LayerKind.CONCAT, LayerKind.CONV2D,
                     LayerKind.RESIZE_BILINEAR, LayerKind.CONCAT, LayerKind.CONV2D]
    for i in (3, 6):
        up = net.layers[i]
        assert (up.c_in, up.h_in, up.h_out, up.w_out, up.stride) == (32, 16, 32, 32, (2, 2))
        assert up.macs == 0 and up.inputs == (2,)
    assert net.macs == (32 * 32 * 16 * 27 + 16 * 16 * 32 * 16 * 9 + 16 * 16 * 32 * 32 * 9
                        + 32 * 32 * 16 * 48 * 9 + 32 * 32 * 2 * 48)
    # ALU work per output element: one copy (nearest), the separable 2-tap filter (bilinear)
    assert net.layers[3].ops == 32 * 32 * 32 * 1 and net.layers[6].ops == 32 * 32 * 32 * 8


def conv(name, x, out, c_out, c_in, inits):
    inits.append(weight(f"{name}.w", [c_out, c_in, 1, 1]))
    return helper.make_node("Conv", [x, f"{name}.w"], [out], name=name, kernel_shape=[1, 1])


def floats(name, values):
    return helper.make_tensor(name, TensorProto.FLOAT, [len(values)], list(values))


def resize_model(tmp_path, op="Resize", opset=17, scales=(1, 1, 2, 3), sizes=None, **attrs):
    inits = []
    nodes = [conv("c", "x", "y", 16, 8, inits)]
    if op == "Upsample":
        inits.append(floats("scales", scales))
        nodes.append(helper.make_node("Upsample", ["y", "scales"], ["z"], name="up", **attrs))
    elif sizes is not None:
        inits.append(ints("sizes", sizes))
        nodes.append(helper.make_node("Resize", ["y", "", "", "sizes"], ["z"], name="up",
                                      **attrs))
    else:
        inits.append(floats("scales", scales))
        nodes.append(helper.make_node("Resize", ["y", "", "scales"], ["z"], name="up",
                                      **attrs))
    return save(make_model(nodes, [1, 8, 6, 5], inits, opset=opset), tmp_path / "r.onnx")


@pytest.mark.parametrize("kw", [
    {"op": "Upsample", "opset": 9, "mode": "nearest"},
    {"sizes": [1, 16, 12, 15], "mode": "linear", "coordinate_transformation_mode": "align_corners"},
    {"mode": "nearest", "coordinate_transformation_mode": "half_pixel"},  # round_prefer_floor
    {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
])
def test_resize_spellings(tmp_path, kw):
    for validate in (False, True):
        net = load_onnx(resize_model(tmp_path, **kw), validate=validate)
        up = net.layers[1]
        assert (up.h_out, up.w_out, up.stride) == (12, 15, (2, 3))
        assert up.kind == (LayerKind.RESIZE_BILINEAR if kw["mode"] == "linear"
                           else LayerKind.RESIZE_NEAREST)


def error(path) -> str:
    with pytest.raises(WorkloadError) as info:
        load_onnx(path)
    message = str(info.value)
    assert "\n" not in message and "'up'" in message
    return message


@pytest.mark.parametrize("kw, fragment", [
    ({"scales": (1, 1, 1.5, 2)}, "integer factors"),
    ({"scales": (1, 1, 0.5, 0.5)}, "integer factors"),
    ({"scales": (1, 2, 2, 2)}, "must keep the batch and channels"),
    ({"mode": "cubic"}, "mode 'cubic' is not supported"),
    ({"mode": "nearest", "coordinate_transformation_mode": "align_corners"},
     "does not read pixel x // 3"),  # (along H, x 2, it happens to: checked per pixel)
    ({"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
      "nearest_mode": "round_prefer_ceil"}, "does not read pixel"),
    ({"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize"},
     "tf_crop_and_resize"),
])
def test_resize_refusals_name_the_node(tmp_path, kw, fragment):
    assert fragment in error(resize_model(tmp_path, **kw))


def test_broadcasts_other_than_per_channel_are_refused(tmp_path):
    inits = []  # a spatial attention map ([N, 1, H, W], CBAM-style) is not a channel scale
    nodes = [conv("a", "x", "ya", 16, 8, inits), conv("b", "x", "yb", 1, 8, inits),
             helper.make_node("Mul", ["ya", "yb"], ["z"], name="up")]
    message = error(save(make_model(nodes, [1, 8, 6, 6], inits), tmp_path / "b.onnx"))
    assert "[1, 16, 6, 6] and [1, 1, 6, 6]" in message


def test_where_a_sigmoid_cannot_fold(tmp_path):
    """A final sigmoid stays the host's; one whose producer has another reader, or that
    reads the network input, is a layer; a ReLU after a folded sigmoid is one too."""
    inits = []
    nodes = [helper.make_node("Sigmoid", ["x"], ["s0"], name="gate_input"),
             conv("c", "s0", "y", 16, 8, inits),
             helper.make_node("Sigmoid", ["y"], ["s"], name="gate"),
             helper.make_node("Relu", ["s"], ["r"], name="relu_after"),
             helper.make_node("Add", ["y", "r"], ["z"], name="sum"),
             helper.make_node("Sigmoid", ["z"], ["out"], name="final")]
    imported = import_onnx(save(make_model(nodes, [1, 8, 4, 4], inits), tmp_path / "s.onnx"))
    net = imported.network
    assert [(l.kind, l.activation) for l in net.layers] == [
        (LayerKind.ACTIVATION, "sigmoid"), (LayerKind.CONV2D, "none"),
        (LayerKind.ACTIVATION, "sigmoid"), (LayerKind.ACTIVATION, "relu"),
        (LayerKind.ADD, "none")]
    assert imported.host_side == {"Sigmoid": 1}
