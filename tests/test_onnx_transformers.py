"""Transformers and AlexNet-with-LRN from ONNX: the zoo's transformers round-trip, real
PyTorch exports import with hand-counted MACs, and malformed attention graphs fail with one
line naming the node."""

import math
import warnings

import pytest
from onnx import TensorProto, helper

from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate
from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.workloads.network import LayerKind, WorkloadError
from fusiongym.accelerator.workloads.onnx_import import import_onnx, load_onnx
from fusiongym.accelerator.workloads.zoo import get_network
from fusiongym.agents import make_scheduler
from helpers.onnx_models import attention_model, make_model, network_to_onnx, save, weight

HW = load_config()


def without_weight_data(model):
    """The importer reads only weight shapes: mark every big initializer as external data in a
    file that does not exist (keeps the 170 MB of a BERT's zeros off the disk)."""
    for tensor in model.graph.initializer:
        if math.prod(tensor.dims) > 64:
            tensor.ClearField("raw_data")
            tensor.data_location = TensorProto.EXTERNAL
            del tensor.external_data[:]
            tensor.external_data.add(key="location", value="absent.bin")
    return model


@pytest.mark.parametrize("name", ["tiny_transformer", "vit_b16", "bert_base", "gpt2_prefill"])
def test_zoo_transformer_round_trips_through_onnx(tmp_path, name):
    net = get_network(name)
    model = without_weight_data(network_to_onnx(net))
    imported = import_onnx(save(model, tmp_path / "net.onnx"))
    assert imported.network.macs == net.macs
    assert imported.network.content_hash() == net.content_hash()
    assert [l.name for l in imported.network.layers] == [l.name for l in net.layers]
    assert imported.folded.get("Erf (GELU)", 0) == sum(
        l.kind == LayerKind.GELU for l in net.layers)


# ---- real PyTorch exports ----------------------------------------------------------------------
def _export(torch, module, example, path):
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated, still shipped
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (example,), str(path), dynamo=False, opset_version=17,
                          input_names=["x"])
    return path


def _encoder(torch, width=64, heads=4, hidden=256, blocks=2):
    """A pre-LN encoder as people write it: fused QKV + split, heads by reshape/transpose,
    explicit Q.K^T / sqrt(d) -> softmax -> .V, exact GELU (exported as its Erf chain)."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
            self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
            self.fc1, self.fc2 = nn.Linear(width, hidden), nn.Linear(hidden, width)
            self.act, self.drop = nn.GELU(), nn.Dropout(0.1)

        def forward(self, x):
            n, t, d = x.shape
            e = d // heads
            q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
            q, k, v = (y.reshape(n, t, heads, e).transpose(1, 2) for y in (q, k, v))
            att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(e), dim=-1)
            x = x + self.proj((self.drop(att) @ v).transpose(1, 2).reshape(n, t, d))
            return x + self.fc2(self.act(self.fc1(self.ln2(x))))

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.Sequential(*[Block() for _ in range(blocks)])
            self.norm = nn.LayerNorm(width)

        def forward(self, x):
            return self.norm(self.blocks(x))

    return Encoder()


def test_pytorch_transformer_encoder_imports_with_exact_macs(tmp_path):
    torch = pytest.importorskip("torch")
    tokens, width, heads, hidden = 32, 64, 4, 256
    path = _export(torch, _encoder(torch), torch.zeros(1, tokens, width), tmp_path / "enc.onnx")
    result = import_onnx(path)
    net = result.network
    # ONNX's checker and shape inference agree with every shape the quick path computed
    assert import_onnx(path, validate=True).network.content_hash() == net.content_hash()
    # by hand, per block: QKV 32x64x192, Q.K^T and P.V 4 heads x 32 x 32 x 16 each,
    # output projection 32x64x64, MLP 32x64x256 twice
    per_block = (tokens * width * 3 * width + 2 * heads * tokens * tokens * (width // heads)
                 + tokens * width * width + 2 * tokens * width * hidden)
    assert net.macs == 2 * per_block == 3_407_872
    kinds = [l.kind for l in net.layers[:14]]
    assert kinds == [LayerKind.LAYERNORM, *[LayerKind.CONV2D] * 3, LayerKind.MATMUL,
                     LayerKind.SOFTMAX, LayerKind.MATMUL, LayerKind.CONV2D, LayerKind.ADD,
                     LayerKind.LAYERNORM, LayerKind.CONV2D, LayerKind.GELU, LayerKind.CONV2D,
                     LayerKind.ADD]
    assert net.layers[8].inputs == (-1, 7)  # the first residual reads the network input
    scores = net.layers[4]
    assert (scores.groups, scores.c_out, scores.inputs) == (heads, heads * tokens, (1, 2))
    assert result.folded == {"Add": 8, "Split": 2, "Div": 2, "Erf (GELU)": 2}
    assert result.shape_only == {"Reshape": 8, "Transpose": 8}

    evaluator = GroupEvaluator(HW)
    no_fusion = make_scheduler("no-fusion", evaluator=evaluator).schedule(net, HW)
    oracle = make_scheduler("oracle", evaluator=evaluator).schedule(net, HW)
    assert evaluate(net, oracle, HW, evaluator).latency_cycles < \
        evaluate(net, no_fusion, HW, evaluator).latency_cycles


def test_alexnet_with_lrn_imports_with_exact_macs(tmp_path):
    """The original AlexNet (Krizhevsky et al. 2012, as Caffe's bvlc_alexnet: 227x227 input,
    LRN after conv1 and conv2, two-group conv2/4/5), exported with an ONNX LRN node."""
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class _LRN(torch.autograd.Function):  # exported as the ONNX LRN op, as real models carry
        @staticmethod
        def forward(ctx, x):
            return nn.functional.local_response_norm(x, 5, 1e-4, 0.75, 2.0)

        @staticmethod
        def symbolic(g, x):
            return g.op("LRN", x, size_i=5, alpha_f=1e-4, beta_f=0.75, bias_f=2.0)

    class LRN(nn.Module):
        def forward(self, x):
            return _LRN.apply(x)

    features = nn.Sequential(
        nn.Conv2d(3, 96, 11, 4), nn.ReLU(), LRN(), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(), LRN(), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Flatten(), nn.Dropout(), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(), nn.Dropout(),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 1000), nn.Softmax(dim=1))
    path = _export(torch, features, torch.zeros(1, 3, 227, 227), tmp_path / "alexnet.onnx")
    result = import_onnx(path)
    net = result.network
    assert import_onnx(path, validate=True).network.content_hash() == net.content_hash()
    macs = (55 * 55 * 96 * 3 * 121 + 27 * 27 * 256 * 48 * 25 + 13 * 13 * 384 * 256 * 9
            + 13 * 13 * 384 * 192 * 9 + 13 * 13 * 256 * 192 * 9
            + 9216 * 4096 + 4096 * 4096 + 4096 * 1000)
    assert net.macs == macs == 724_406_816  # bvlc_alexnet's well-known ~724 M
    lrn = [l for l in net.layers if l.kind == LayerKind.LRN]
    assert [(l.c_in, l.h_in) for l in lrn] == [(96, 55), (256, 27)]
    assert result.host_side == {"Softmax": 1}


# ---- bad input: one line naming the node ---------------------------------------------------------
@pytest.mark.parametrize("kwargs, fragment", [
    ({}, None),
    ({"seq_dim": "S"}, "input 'x' dim 1 is symbolic ('S')"),
    ({"key_width": 48}, "MatMul node 'scores': incompatible shapes: contracting 16 with 12"),
    ({"heads": 5}, "Reshape node 'q_heads': cannot reshape [1, 8, 64] to [1, 8, 5, -1]"),
])
def test_malformed_attention_is_one_line_naming_the_node(tmp_path, kwargs, fragment):
    path = save(attention_model(**kwargs), tmp_path / "attention.onnx")
    if fragment is None:
        net = load_onnx(path)
        assert [l.kind for l in net.layers] == [LayerKind.CONV2D, LayerKind.CONV2D,
                                                LayerKind.MATMUL]
        assert net.macs == 2 * 8 * 64 * 64 + 4 * 8 * 8 * 16
        return
    with pytest.raises(WorkloadError) as err:
        load_onnx(path)
    message = str(err.value)
    assert fragment in message and "\n" not in message


def test_token_channel_relayout_is_refused(tmp_path):
    """A linear over the token axis (MLP-Mixer style) needs a real transpose: refused."""
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], name="to_tokens", perm=[0, 2, 1]),
             helper.make_node("MatMul", ["xt", "w"], ["y"], name="token_mix")]
    path = save(make_model(nodes, [1, 8, 16], [weight("w", [8, 8])], output_ranks=[3]),
                tmp_path / "mixer.onnx")
    with pytest.raises(WorkloadError, match="MatMul node 'token_mix': needs the channels as "
                                            "the last axis"):
        load_onnx(path)


# ---- start-up: the quick path reads the file without `import onnx` -----------------------------
def test_quick_and_validated_imports_agree(tmp_path):
    for name in ("tiny_transformer", "resnet18", "squeezenet1_1"):
        path = save(without_weight_data(network_to_onnx(get_network(name))), tmp_path / "n.onnx")
        quick, checked = import_onnx(path), import_onnx(path, validate=True)
        assert quick.network.content_hash() == checked.network.content_hash()
        assert quick.folded == checked.folded and quick.shape_only == checked.shape_only


def test_quick_import_does_not_import_onnx(tmp_path):
    import subprocess
    import sys

    path = save(network_to_onnx(get_network("tiny_transformer")), tmp_path / "t.onnx")
    code = ("import sys; from accelerator.workloads.onnx_import import load_onnx; "
            f"net = load_onnx({str(path)!r}); print(len(net), 'onnx' in sys.modules); "
            "import onnx; from accelerator.workloads.onnx_proto import model_proto_class; "
            "print(model_proto_class() is onnx.ModelProto)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["29", "False", "True"]
