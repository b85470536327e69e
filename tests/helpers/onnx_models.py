"""Build ONNX models in tests (no downloads): from a zoo Network, or node by node.

Weights are float16 zeros: the importer only reads their shapes, and half precision keeps
the files small.
"""

from __future__ import annotations

import math
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from fusiongym.accelerator.workloads.network import LayerKind, Network

OPSET = 17
DTYPE = TensorProto.FLOAT16


def weight(name: str, dims) -> onnx.TensorProto:
    dims = list(dims)
    return helper.make_tensor(name, DTYPE, dims, bytes(2 * math.prod(dims)), raw=True)


def ints(name: str, values) -> onnx.TensorProto:
    return helper.make_tensor(name, TensorProto.INT64, [len(values)], list(values))


def make_model(nodes, input_shape, initializers=(), output_names=None, output_ranks=None,
               input_name: str = "x", opset: int = OPSET) -> onnx.ModelProto:
    """A model with one input of ``input_shape`` (ints or symbolic strings); the outputs
    (default: the last node's first output) get unknown dims of the given ranks (default 4)."""
    outputs = output_names or [nodes[-1].output[0]]
    ranks = output_ranks or [4] * len(outputs)
    graph = helper.make_graph(
        list(nodes), "test",
        [helper.make_tensor_value_info(input_name, DTYPE, list(input_shape))],
        [helper.make_tensor_value_info(name, DTYPE, [None] * rank)
         for name, rank in zip(outputs, ranks)],
        initializer=list(initializers),
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def network_to_onnx(network: Network, batch_norm: bool = True) -> onnx.ModelProto:
    """The ONNX graph an exporter would write for ``network``: Conv (+ BatchNormalization)
    + Relu / Clip, Flatten + Gemm for dense layers, explicit (possibly asymmetric) pool pads,
    Add / Concat for the multi-input layers, layer names as node names."""
    nodes, inits = [], []
    outputs: list[str] = []  # tensor holding each layer's (activated) output
    for i, layer in enumerate(network.layers):
        x = ["x" if p < 0 else outputs[p] for p in layer.inputs] or ["x"]
        out = f"t{i}"
        pads = list(layer.padding)
        kind = layer.kind
        if kind in (LayerKind.CONV2D, LayerKind.DEPTHWISE_CONV2D, LayerKind.CONV_TRANSPOSE2D):
            w = f"{layer.name}.weight"
            if kind == LayerKind.CONV_TRANSPOSE2D:
                dims = [layer.c_in, layer.c_out // layer.groups, *layer.kernel]
                extra = {"output_padding": list(layer.output_padding)}
            else:
                dims = [layer.c_out, layer.c_in // layer.groups, *layer.kernel]
                extra = {}
            inits.append(weight(w, dims))
            op = "ConvTranspose" if kind == LayerKind.CONV_TRANSPOSE2D else "Conv"
            nodes.append(helper.make_node(op, [x[0], w], [out], name=layer.name,
                                          kernel_shape=list(layer.kernel),
                                          strides=list(layer.stride), pads=pads,
                                          group=layer.groups, **extra))
            if batch_norm:
                params = [f"{layer.name}.bn.{p}" for p in ("scale", "bias", "mean", "var")]
                inits += [weight(p, [layer.c_out]) for p in params]
                nodes.append(helper.make_node("BatchNormalization", [out, *params],
                                              [out + "_bn"], name=f"{layer.name}.bn"))
                out += "_bn"
        elif kind == LayerKind.DENSE:
            w, b = f"{layer.name}.weight", f"{layer.name}.bias"
            inits += [weight(w, [layer.c_out, layer.c_in * layer.h_in * layer.w_in]),
                      weight(b, [layer.c_out])]
            nodes.append(helper.make_node("Flatten", [x[0]], [out + "_flat"],
                                          name=f"{layer.name}.flatten"))
            nodes.append(helper.make_node("Gemm", [out + "_flat", w, b], [out],
                                          name=layer.name, transB=1))
        elif kind in (LayerKind.MAX_POOL, LayerKind.AVG_POOL):
            op = "MaxPool" if kind == LayerKind.MAX_POOL else "AveragePool"
            nodes.append(helper.make_node(op, [x[0]], [out], name=layer.name,
                                          kernel_shape=list(layer.kernel),
                                          strides=list(layer.stride), pads=pads))
        elif kind == LayerKind.GLOBAL_AVG_POOL:
            nodes.append(helper.make_node("GlobalAveragePool", [x[0]], [out], name=layer.name))
        elif kind == LayerKind.ADD:
            nodes.append(helper.make_node("Add", x, [out], name=layer.name))
        elif kind == LayerKind.CONCAT:
            nodes.append(helper.make_node("Concat", x, [out], name=layer.name, axis=1))
        elif kind == LayerKind.ACTIVATION:
            out = x[0]  # the activation below is the whole layer
        elif kind in (LayerKind.CHANNEL_MUL, LayerKind.CHANNEL_ADD):
            op = "Mul" if kind == LayerKind.CHANNEL_MUL else "Add"
            nodes.append(helper.make_node(op, x[::-1], [out], name=layer.name))  # (as SE does)
        elif kind in (LayerKind.RESIZE_NEAREST, LayerKind.RESIZE_BILINEAR):
            scales = f"{layer.name}.scales"
            inits.append(helper.make_tensor(scales, TensorProto.FLOAT, [4],
                                            [1.0, 1.0, *map(float, layer.stride)]))
            nearest = kind == LayerKind.RESIZE_NEAREST
            nodes.append(helper.make_node(  # as torch exports nn.Upsample
                "Resize", [x[0], "", scales], [out], name=layer.name,
                mode="nearest" if nearest else "linear",
                coordinate_transformation_mode="asymmetric" if nearest else "pytorch_half_pixel",
                nearest_mode="floor"))
        elif kind in SEQUENCE_KINDS:
            second = layer.inputs[1] if len(layer.inputs) > 1 else None
            operand = (network.input_shape if second is None or second < 0
                       else (network.layers[second].c_out,))
            _sequence_layer(layer, x, out, nodes, inits, operand_channels=operand[0])
        else:  # pragma: no cover - every LayerKind is handled above
            raise AssertionError(kind)
        if layer.activation == "relu":
            nodes.append(helper.make_node("Relu", [out], [out + "_relu"],
                                          name=f"{layer.name}.relu"))
            out += "_relu"
        elif layer.activation == "clip":
            lo, hi = f"{layer.name}.clip_min", f"{layer.name}.clip_max"
            inits += [helper.make_tensor(lo, DTYPE, [], bytes(2), raw=True),
                      helper.make_tensor(hi, DTYPE, [], b"\x00\x46", raw=True)]  # 6.0
            nodes.append(helper.make_node("Clip", [out, lo, hi], [out + "_clip"],
                                          name=f"{layer.name}.relu6"))
            out += "_clip"
        elif layer.activation in ("sigmoid", "silu"):  # SiLU as exporters spell it
            nodes.append(helper.make_node("Sigmoid", [out], [out + "_sig"],
                                          name=f"{layer.name}.sigmoid"))
            if layer.activation == "silu":
                nodes.append(helper.make_node("Mul", [out, out + "_sig"], [out + "_silu"],
                                              name=f"{layer.name}.silu"))
                out += "_silu"
            else:
                out += "_sig"
        elif layer.activation == "hardsigmoid":
            nodes.append(helper.make_node("HardSigmoid", [out], [out + "_hsig"],
                                          name=f"{layer.name}.hardsigmoid", alpha=1 / 6))
            out += "_hsig"
        elif layer.activation == "hardswish":
            nodes.append(helper.make_node("HardSwish", [out], [out + "_hswish"],
                                          name=f"{layer.name}.hardswish"))
            out += "_hswish"
        outputs.append(out)
    c, h, w = network.input_shape
    graph_outputs = [outputs[i] for i in network.output_layers]
    batch = network.layers[0].batch
    ranks = [2 if network.layers[i].kind == LayerKind.DENSE else 4
             for i in network.output_layers]
    return make_model(nodes, [batch, c, h, w], inits, graph_outputs, ranks)


SEQUENCE_KINDS = frozenset({LayerKind.MATMUL, LayerKind.LAYERNORM, LayerKind.SOFTMAX,
                            LayerKind.GELU, LayerKind.LRN, LayerKind.MUL, LayerKind.SUB})


def _sequence_layer(layer, x: list[str], out: str, nodes: list, inits: list,
                    operand_channels: int) -> None:
    """A transformer-kind layer between NCHW tensors, spelled as exporters do: per-head
    views by Reshape + Transpose, LayerNormalization over a channels-last view, the exact
    GELU as its Erf chain, a batched MatMul of the two activations."""
    name, kind = layer.name, layer.kind
    c, h = layer.c_in, layer.h_in

    def node(op, inputs, outputs, suffix="", **attrs):
        nodes.append(helper.make_node(op, inputs, outputs, name=name + suffix, **attrs))
        return outputs[0]

    def reshape(tensor, dims, suffix):
        inits.append(ints(f"{name}{suffix}.shape", dims))
        return node("Reshape", [tensor, f"{name}{suffix}.shape"], [f"{out}{suffix}"], suffix)

    if kind == LayerKind.LAYERNORM:
        t = node("Transpose", [x[0]], [out + ".nhwc"], ".to_nhwc", perm=[0, 2, 3, 1])
        inits += [weight(f"{name}.gamma", [c]), weight(f"{name}.beta", [c])]
        t = node("LayerNormalization", [t, f"{name}.gamma", f"{name}.beta"], [out + ".ln"],
                 axis=-1)
        node("Transpose", [t], [out], ".to_nchw", perm=[0, 3, 1, 2])
    elif kind == LayerKind.SOFTMAX:
        g = layer.groups
        t = reshape(x[0], [1, g, c // g, h], ".heads")
        t = node("Transpose", [t], [out + ".t"], ".t", perm=[0, 1, 3, 2])
        t = node("Softmax", [t], [out + ".sm"], axis=-1)
        t = node("Transpose", [t], [out + ".tb"], ".tb", perm=[0, 1, 3, 2])
        node("Reshape", [t, f"{name}.merge.shape"], [out], ".merge")
        inits.append(ints(f"{name}.merge.shape", [1, c, h, 1]))
    elif kind == LayerKind.GELU:
        inits += [weight(f"{name}.{k}", []) for k in ("sqrt2", "one", "half")]
        t = node("Div", [x[0], f"{name}.sqrt2"], [out + ".div"], ".div")
        t = node("Erf", [t], [out + ".erf"])
        t = node("Add", [t, f"{name}.one"], [out + ".plus1"], ".plus1")
        t = node("Mul", [x[0], t], [out + ".times_x"], ".times_x")
        node("Mul", [t, f"{name}.half"], [out], ".half")
    elif kind == LayerKind.MATMUL:
        g = layer.groups
        k_in, n_out = c // g, layer.c_out // g
        a = reshape(x[0], [1, g, k_in, h], ".a_heads")
        a = node("Transpose", [a], [out + ".a"], ".a", perm=[0, 1, 3, 2])
        if operand_channels == g * k_in:  # Q.K^T: the operand's width is contracted
            b = reshape(x[1], [1, g, k_in, n_out], ".b_heads")
        else:  # P.V: its tokens are contracted
            b = reshape(x[1], [1, g, n_out, k_in], ".b_heads")
            b = node("Transpose", [b], [out + ".b"], ".b", perm=[0, 1, 3, 2])
        t = node("MatMul", [a, b], [out + ".mm"])
        t = node("Transpose", [t], [out + ".back"], ".back", perm=[0, 1, 3, 2])
        node("Reshape", [t, f"{name}.merge.shape"], [out], ".merge")
        inits.append(ints(f"{name}.merge.shape", [1, layer.c_out, h, 1]))
    elif kind == LayerKind.LRN:
        node("LRN", [x[0]], [out], size=5, alpha=1e-4, beta=0.75, bias=2.0)
    else:  # MUL / SUB of two tensors
        node("Mul" if kind == LayerKind.MUL else "Sub", x, [out])


def attention_model(width=64, tokens=8, heads=4, seq_dim=8, key_width=None):
    """Q.K^T of one attention head split, built node by node (for the error cases)."""
    e = width // heads if width % heads == 0 else -1
    kw = key_width or width
    nodes = [
        helper.make_node("MatMul", ["x", "wq"], ["q"], name="q_proj"),
        helper.make_node("MatMul", ["x", "wk"], ["k"], name="k_proj"),
        helper.make_node("Reshape", ["q", "q_shape"], ["qh"], name="q_heads"),
        helper.make_node("Transpose", ["qh"], ["qt"], name="q_t", perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["k", "k_shape"], ["kh"], name="k_heads"),
        helper.make_node("Transpose", ["kh"], ["kt"], name="k_t", perm=[0, 2, 3, 1]),
        helper.make_node("MatMul", ["qt", "kt"], ["s"], name="scores"),
    ]
    inits = [weight("wq", [width, width]), weight("wk", [width, kw]),
             ints("q_shape", [1, tokens, heads, e]),
             ints("k_shape", [1, tokens, heads, -1])]
    return make_model(nodes, [1, seq_dim, width], inits, output_ranks=[4])
