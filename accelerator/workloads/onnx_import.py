"""Real models from ``.onnx`` files, as a :class:`~accelerator.workloads.network.Network`.

What becomes a layer, and what does not (nothing is dropped silently: every node is either
a layer, folded into one, or listed in :attr:`OnnxImport.notes`):

- ``Conv`` (``group`` > 1 is a grouped conv, ``group == C_in`` a depthwise conv),
  ``ConvTranspose``, ``Gemm`` / ``MatMul`` with a constant weight (a dense layer whose
  kernel covers the whole map it reads, so ``Flatten -> Gemm`` needs no flatten layer),
  ``MaxPool`` / ``AveragePool`` (``ceil_mode`` becomes extra end padding),
  ``GlobalAveragePool``, ``GlobalMaxPool`` (a max pool over the whole map), ``Add`` of two
  equal-shape tensors and ``Concat`` along channels are layers.
- Folded into the layer that produces their input, which must have no other reader:
  ``BatchNormalization`` (into a conv / dense: inference BN is a per-channel affine map the
  weights absorb), ``Relu`` / ``Clip`` (VTA applies them in the ALU after the GEMM; any
  ``Clip`` bounds become ``activation="clip"``), and an ``Add`` of a constant after a
  conv / dense (its bias).
- Shape-only, no data moves on the accelerator: ``Flatten``, ``Reshape``, ``Squeeze``,
  ``Unsqueeze``, ``Identity``, ``Dropout`` (inference), ``Constant``. A later layer accepts
  the reshaped tensor only where the geometry allows it (a conv needs the NCHW map, a dense
  layer a flattened one).
- Host-side, only at the very end of the graph: ``Softmax``, ``LogSoftmax``, ``Sigmoid``,
  ``Tanh`` (a classifier's or generator's last step; the host computes them). A
  ``Softmax`` inside the graph (attention) is a layer; a ``Sigmoid`` inside it is an
  activation (below).
- Vision graphs (``Sigmoid`` / ``HardSigmoid`` / ``HardSwish`` activations, SiLU spelled
  ``Sigmoid`` x input, squeeze-and-excitation's broadcasting ``Mul`` / ``Add``, ``Resize`` /
  ``Upsample``): see :mod:`accelerator.workloads.onnx_vision`.
- Transformer graphs (``MatMul`` of two activations, ``LayerNormalization``, the GELU
  ``Erf`` chain, ``Split``, ``Transpose``, ``Mul`` / ``Div`` / ``Sub``, ``LRN``): see
  :mod:`accelerator.workloads.onnx_sequence`, which says what each becomes and which of
  them move data.

Shapes: the single graph input must be NCHW, [N, S, D] (a token sequence) or [N, F] (a
plain MLP) with fixed sizes; a symbolic batch dimension is set to 1, any other symbolic
dimension (a dynamic sequence length, say) is an error. Every
layer's output shape is computed here and checked against ONNX shape inference.
Anything else raises :class:`~accelerator.workloads.network.WorkloadError` with a one-line message.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from fusiongym.accelerator.workloads.network import (GEMM_KINDS, Layer, LayerKind, Network, WorkloadError,
                                  ceil_pool_output)
from fusiongym.accelerator.workloads.onnx_proto import attribute_value, parse_model, tensor_ints
from fusiongym.accelerator.workloads.onnx_sequence import Axes, SequenceOps, relabel
from fusiongym.accelerator.workloads.onnx_vision import VisionOps

LAYER_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul", "MaxPool", "AveragePool",
                       "GlobalAveragePool", "GlobalMaxPool", "Add", "Concat",
                       "LayerNormalization", "LRN", "Mul", "Sub", "Resize", "Upsample"})
FOLDED_OPS = frozenset({"BatchNormalization", "Relu", "Clip", "Div", "Erf", "Split",
                        "HardSigmoid", "HardSwish"})
SHAPE_OPS = frozenset({"Flatten", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Dropout",
                       "Transpose"})
HOST_OPS = frozenset({"Softmax", "LogSoftmax", "Sigmoid", "Tanh"})
SUPPORTED_OPS = LAYER_OPS | FOLDED_OPS | SHAPE_OPS | HOST_OPS | {"Constant"}


@dataclass(frozen=True)
class OnnxImport:
    """An imported network plus what happened to the nodes that did not become layers."""

    network: Network
    notes: tuple[str, ...]  # one line per folded / shape-only / host-side node
    folded: dict[str, int]  # op type -> nodes folded into a layer
    shape_only: dict[str, int]  # op type -> shape-only pass-through nodes
    host_side: dict[str, int]  # op type -> final nodes left to the host
    opset: int
    producer: str
    # layer name -> the ONNX nodes it came from (its own node first, then those folded into
    # it); '' for a node the file left unnamed. For exports a compiler maps back to its graph.
    layer_nodes: dict[str, tuple[str, ...]] = field(default_factory=dict)


def load_onnx(path: str | Path, validate: bool = False) -> Network:
    """The network in an ONNX file (see the module docstring for the mapping)."""
    return import_onnx(path, validate).network


def import_onnx(path: str | Path, validate: bool = False) -> OnnxImport:
    """Like :func:`load_onnx`, and also reports the folded and pass-through nodes.

    The importer computes every shape itself, so by default it reads the file with the
    protobuf classes alone (:mod:`accelerator.workloads.onnx_proto`, no ``import onnx``).
    ``validate=True``, and any failure of that quick path, run the full check: the ONNX
    checker, ONNX shape inference compared with every computed shape, then the walk,
    so an error is always the most specific one-line message we have.
    """
    path = Path(path)
    model = _load(path)
    _check_ops(path, model.graph)
    if not validate:
        input_name, dims, notes = _graph_input(path, model.graph)
        try:
            importer = _Importer(path, model.graph, input_name, dims, {}, notes)
            return _result(model, importer, importer.run())
        except Exception:  # noqa: BLE001 - the validated path below explains what is wrong
            pass
    return _import_validated(path, model)


def _import_validated(path: Path, model) -> OnnxImport:
    skeleton = _skeleton(model)
    try:
        _onnx().checker.check_model(skeleton)
    except Exception as err:  # checker raises ValidationError, sometimes others
        raise WorkloadError(f"{path}: invalid ONNX model: {_one_line(err)}") from None
    input_name, dims, notes = _graph_input(path, model.graph)
    try:
        inferred = _infer_shapes(path, skeleton, input_name, dims)
    except WorkloadError:
        # our own walk usually says more about the same node (e.g. which reshape cannot
        # split the width into heads); without inferred shapes it checks only its own
        _Importer(path, model.graph, input_name, dims, {}, list(notes)).run()
        raise
    importer = _Importer(path, model.graph, input_name, dims, inferred, notes)
    return _result(model, importer, importer.run())


def _result(model, importer: "_Importer", network: Network) -> OnnxImport:
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                default=0)
    return OnnxImport(network=network, notes=tuple(importer.notes),
                      folded=dict(importer.folded), shape_only=dict(importer.shape_only),
                      host_side=dict(importer.host_side), opset=opset,
                      producer=f"{model.producer_name} {model.producer_version}".strip(),
                      layer_nodes={layer.name: tuple(nodes) for layer, nodes
                                   in zip(importer.layers, importer.layer_nodes)})


# ---- loading and checking ------------------------------------------------------------------
def _onnx():
    import onnx  # imported here so that importing this module stays cheap

    return onnx


def _one_line(err: object, limit: int = 240) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    text = lines[0] if lines else type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _load(path: Path):
    if not path.exists():
        raise WorkloadError(f"ONNX file not found: {path}")
    if not path.is_file():
        raise WorkloadError(f"not a file: {path}")
    try:
        # weights are not needed (only their shapes, which the proto carries), so external
        # data files are neither read nor required
        model = parse_model(path.read_bytes())
    except Exception as err:  # protobuf DecodeError, RuntimeError, ... for non-ONNX bytes
        raise WorkloadError(f"{path}: not a readable ONNX model ({_one_line(err)})") from None
    if not model.graph.node:
        raise WorkloadError(f"{path}: the ONNX graph has no nodes (is this an ONNX model?)")
    return model


def _check_ops(path: Path, graph) -> None:
    unsupported: dict[str, list[str]] = {}
    for i, node in enumerate(graph.node):
        standard = node.domain in ("", "ai.onnx")
        if not standard or node.op_type not in SUPPORTED_OPS:
            op = node.op_type if standard else f"{node.domain}.{node.op_type}"
            unsupported.setdefault(op, []).append(node.name or f"#{i}")
    if unsupported:
        parts = []
        for op, names in sorted(unsupported.items()):
            shown = ", ".join(repr(n) for n in names[:3])
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            parts.append(f"{op} (node {shown}{more})")
        raise WorkloadError(f"{path}: unsupported ONNX op(s): {'; '.join(parts)}")


def _skeleton(model):
    """The model without its big weight tensors: each becomes a typed graph input instead.

    Only weight shapes matter here, and the checker and shape inference both serialise the
    whole model, so this makes them take milliseconds instead of seconds on VGG-sized files.
    Small tensors (reshape targets, clip bounds) stay, because inference reads their values.
    """
    onnx = _onnx()
    skeleton = onnx.ModelProto()
    skeleton.ir_version = model.ir_version
    skeleton.opset_import.extend(model.opset_import)
    graph = skeleton.graph
    graph.name = model.graph.name
    graph.node.extend(model.graph.node)
    graph.input.extend(model.graph.input)
    graph.output.extend(model.graph.output)
    graph.sparse_initializer.extend(model.graph.sparse_initializer)
    declared = {v.name for v in model.graph.input}
    for tensor in model.graph.initializer:
        if math.prod(tensor.dims) <= _SMALL_TENSOR_ELEMENTS:
            graph.initializer.append(tensor)
        elif tensor.name not in declared:
            graph.input.append(onnx.helper.make_tensor_value_info(
                tensor.name, tensor.data_type, list(tensor.dims)))
    return skeleton


_SMALL_TENSOR_ELEMENTS = 64


def _graph_input(path: Path, graph) -> tuple[str, list[int], list[str]]:
    initializers = {t.name for t in graph.initializer}
    inputs = [v for v in graph.input if v.name not in initializers]
    if len(inputs) != 1:
        names = ", ".join(repr(v.name) for v in inputs) or "none"
        raise WorkloadError(f"{path}: expected one graph input, found {len(inputs)} ({names})")
    value = inputs[0]
    if not value.type.HasField("tensor_type") or not value.type.tensor_type.HasField("shape"):
        raise WorkloadError(f"{path}: input {value.name!r} has no shape")
    notes: list[str] = []
    dims: list[int] = []
    for axis, dim in enumerate(value.type.tensor_type.shape.dim):
        if dim.HasField("dim_value") and dim.dim_value > 0:
            dims.append(dim.dim_value)
        elif axis == 0:
            dims.append(1)
            label = dim.dim_param or "?"
            notes.append(f"input {value.name!r}: symbolic batch dimension {label!r} set to 1")
        else:
            label = f"symbolic ({dim.dim_param!r})" if dim.dim_param else "unknown"
            raise WorkloadError(f"{path}: input {value.name!r} dim {axis} is {label}; export "
                                "the model with a fixed input size")
    if len(dims) not in (2, 3, 4):
        raise WorkloadError(f"{path}: input {value.name!r} has shape {dims}; expected NCHW "
                            "(4-D), [N, tokens, width] (3-D) or [N, features] (2-D)")
    return value.name, dims, notes


def _infer_shapes(path: Path, skeleton, input_name: str, dims: list[int]) -> dict[str, tuple]:
    """Tensor name -> static shape, from ONNX shape inference with the batch fixed
    (``skeleton`` is ours to modify, and has no value_info with symbolic batch dims)."""
    onnx = _onnx()
    fixed = skeleton
    for value in fixed.graph.input:
        if value.name == input_name:
            for dim, size in zip(value.type.tensor_type.shape.dim, dims):
                dim.Clear()
                dim.dim_value = size
    try:
        inferred = onnx.shape_inference.infer_shapes(fixed, strict_mode=True, data_prop=True)
    except Exception as err:
        raise WorkloadError(f"{path}: ONNX shape inference failed: {_one_line(err)}") from None
    shapes: dict[str, tuple] = {}
    graph = inferred.graph
    for value in list(graph.value_info) + list(graph.output) + list(graph.input):
        tensor_type = value.type.tensor_type
        if tensor_type.HasField("shape") and all(d.HasField("dim_value")
                                                 for d in tensor_type.shape.dim):
            shapes[value.name] = tuple(d.dim_value for d in tensor_type.shape.dim)
    return shapes


# ---- the graph walk ------------------------------------------------------------------------
@dataclass(frozen=True)
class _Value:
    """An activation tensor: the layer that produced its data (None = network input) and
    its ONNX shape, which shape-only ops may have changed (e.g. [N, C*H*W] after Flatten)."""

    handle: int | None
    dims: tuple[int, ...]
    axes: Axes | None = None  # what each dim is (see onnx_sequence); None: the NCHW default


class _Importer(VisionOps, SequenceOps):
    def __init__(self, path: Path, graph, input_name: str, dims: list[int],
                 inferred: dict[str, tuple], notes: list[str]):
        self.path = path
        self.graph = graph
        self.inferred = inferred
        self.notes = list(notes)
        self.batch = dims[0]
        if len(dims) == 3:  # tokens are the rows of a (width, tokens, 1) map
            self.input_shape = (dims[2], dims[1], 1)
            self.values: dict[str, _Value] = {
                input_name: _Value(None, tuple(dims), ("n", "h", "c"))}
        else:
            self.input_shape = (dims[1], dims[2], dims[3]) if len(dims) == 4 else (dims[1], 1, 1)
            self.values = {input_name: _Value(None, tuple(dims))}
        self.constants: dict[str, object] = {t.name: t for t in graph.initializer}
        self.layers: list[Layer] = []
        self.layer_nodes: list[list[str]] = []  # per layer: its ONNX node names
        self.layer_output: list[str] = []  # tensor whose readers decide whether we may fold
        self.names: set[str] = set()
        self.folded: Counter[str] = Counter()
        self.shape_only: Counter[str] = Counter()
        self.host_side: Counter[str] = Counter()
        self.trust_inference = True
        self.readers: dict[str, list] = {}
        for node in graph.node:
            for name in node.input:
                if name:
                    self.readers.setdefault(name, []).append(node)
        self.graph_outputs = {v.name for v in graph.output}
        self.skipped: set[int] = set()  # nodes folded into a later node's layer (GELU)
        self.gelu_at: dict[int, tuple] = {}

    # -- helpers ---------------------------------------------------------------------------
    def fail(self, node, message: str) -> WorkloadError:
        return WorkloadError(f"{self.path}: {node.op_type} node {node.name or '(unnamed)'!r}: "
                             f"{message}")

    def uses(self, tensor: str) -> int:
        """Real readers of a tensor: shape-only nodes are looked through, a graph output
        and a host-side op count as one reader each."""
        count = 1 if tensor in self.graph_outputs else 0
        for node in self.readers.get(tensor, ()):
            if node.op_type in SHAPE_OPS and node.input[0] == tensor:
                count += self.uses(node.output[0])
            else:
                count += 1
        return count

    def is_terminal(self, tensor: str) -> bool:
        """True when the tensor only flows (through shape-only / host ops) to graph outputs."""
        for node in self.readers.get(tensor, ()):
            if node.op_type not in SHAPE_OPS | HOST_OPS or node.input[0] != tensor:
                return False
            if not all(self.is_terminal(out) for out in node.output if out):
                return False
        return True

    def value(self, node, index: int = 0) -> _Value:
        name = node.input[index] if index < len(node.input) else ""
        if name in self.values:
            return self.values[name]
        if name in self.constants:
            raise self.fail(node, f"input {name!r} is a constant; expected an activation")
        raise self.fail(node, f"input {name!r} is not produced by any supported node")

    def constant_shape(self, node, index: int) -> tuple[int, ...]:
        name = node.input[index] if index < len(node.input) else ""
        tensor = self.constants.get(name)
        if tensor is None:
            raise self.fail(node, f"input {index} ({name!r}) must be a constant (initializer)")
        return tuple(tensor.dims)

    def constant_ints(self, node, index: int) -> list[int] | None:
        name = node.input[index] if index < len(node.input) else ""
        if not name:
            return None
        if name not in self.constants:
            raise self.fail(node, f"input {name!r} must be a constant")
        try:
            return tensor_ints(self.constants[name])
        except ValueError as err:
            raise self.fail(node, str(err)) from None

    def shape_of(self, value: _Value) -> tuple[int, int, int]:
        if value.handle is None:
            return self.input_shape
        layer = self.layers[value.handle]
        return (layer.c_out, layer.h_out, layer.w_out)

    def nchw(self, node, value: _Value) -> tuple[int, int, int]:
        """The (C, H, W) of an input that must still be the producer's NCHW map."""
        c, h, w = self.shape_of(value)
        if value.dims != (self.batch, c, h, w):
            raise self.fail(node, f"needs an NCHW input, got a tensor reshaped to "
                                  f"{list(value.dims)}")
        return c, h, w

    def flat(self, node, value: _Value) -> tuple[int, int, int]:
        """The (C, H, W) of an input that is the producer's map flattened to [N, C*H*W]."""
        c, h, w = self.shape_of(value)
        squeeze = lambda dims: [d for d in dims if d != 1]  # noqa: E731
        if squeeze(value.dims) != squeeze((self.batch, c * h * w)):
            raise self.fail(node, f"input of shape {list(value.dims)} is not a flattened "
                                  f"{[self.batch, c, h, w]} map")
        return c, h, w

    def unique_name(self, node, index: int) -> str:
        return self.unique_name_of(node.name or f"{node.op_type.lower()}_{index}")

    def unique_name_of(self, base: str) -> str:
        name, k = base, 1
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        return name

    def add_layer(self, node, index: int, dims: tuple[int, ...] | None = None,
                  axes: Axes | None = None, output: str | None = None, **fields) -> None:
        """Appends a layer; ``dims`` is its ONNX output shape (default: the NCHW map),
        ``axes`` their labels, ``output`` the tensor it writes (default: the node's)."""
        layer = Layer(name=self.unique_name(node, index), batch=self.batch, **fields)
        self.layers.append(layer)
        self.layer_nodes.append([node.name])
        self.layer_output.append(output or node.output[0])
        if dims is None:
            dims = (self.batch, layer.c_out, layer.h_out, layer.w_out)
        self.set_output(node, _Value(len(self.layers) - 1, tuple(dims), axes), output)

    @staticmethod
    def make_value(handle: int | None, dims: tuple[int, ...], axes: Axes | None) -> _Value:
        return _Value(handle, dims, axes)

    @staticmethod
    def inputs_of(value: _Value) -> tuple[int, ...]:
        return _inputs(value)

    def set_output(self, node, value: _Value, tensor: str | None = None) -> None:
        """Records ``value`` as the node's first output (or ``tensor``), checked against
        ONNX shape inference when it ran."""
        out = tensor or node.output[0]
        expected = self.inferred.get(out)
        if self.trust_inference and expected is not None and tuple(expected) != value.dims:
            raise self.fail(node, f"computed output shape {list(value.dims)} but ONNX shape "
                                  f"inference says {list(expected)}")
        self.values[out] = value

    def foldable_into(self, node, value: _Value) -> int:
        """The layer a BN / activation / bias node may fold into, or a clear error."""
        if value.handle is None:
            raise self.fail(node, "reads the network input directly; there is no layer to "
                                  "fold it into")
        readers = self.uses(self.layer_output[value.handle])
        if readers != 1:
            producer = self.layers[value.handle].name
            raise self.fail(node, f"cannot be folded into {producer!r}: that layer's output "
                                  f"has {readers} readers, and they would see different values")
        return value.handle

    def fold(self, node, handle: int, layer: Layer, value: _Value) -> None:
        self.layers[handle] = layer
        self.layer_nodes[handle].append(node.name)
        self.layer_output[handle] = node.output[0]
        self.folded[node.op_type] += 1
        self.notes.append(f"folded {node.op_type} {node.name!r} into {layer.name!r}")
        self.set_output(node, value)

    # -- the walk --------------------------------------------------------------------------
    def run(self) -> Network:
        self.find_gelu_chains()
        for index, node in enumerate(self.graph.node):
            if index in self.gelu_at:
                self.emit_gelu(node, index)
            elif index not in self.skipped:
                getattr(self, f"op_{node.op_type}")(node, index)
        return Network(self.path.stem, tuple(self.layers), self.input_shape)

    def op_Constant(self, node, index: int) -> None:
        attrs = {a.name: a for a in node.attribute}
        if "value" not in attrs:
            raise self.fail(node, "only tensor-valued Constant nodes are supported")
        self.constants[node.output[0]] = attribute_value(attrs["value"])

    def op_Conv(self, node, index: int, transpose: bool = False) -> None:
        attrs = _attrs(node)
        value = self.value(node)
        c_in, h, w = self.nchw(node, value)
        weight = self.constant_shape(node, 1)
        if len(weight) != 4:
            raise self.fail(node, f"only 2-D convolutions are supported (weight {list(weight)})")
        if any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise self.fail(node, f"dilations {attrs['dilations']} are not supported")
        groups = int(attrs.get("group", 1))
        kernel = (weight[2], weight[3])
        if tuple(attrs.get("kernel_shape", kernel)) != kernel:
            raise self.fail(node, f"kernel_shape {attrs['kernel_shape']} != weight {list(weight)}")
        stride = tuple(attrs.get("strides", [1, 1]))
        if transpose:
            c_out, expected_c_in = weight[1] * groups, weight[0]
        else:
            c_out, expected_c_in = weight[0], weight[1] * groups
        if expected_c_in != c_in:
            raise self.fail(node, f"weight {list(weight)} with group={groups} expects "
                                  f"{expected_c_in} input channels, the input has {c_in}")
        if transpose:
            out_pad = tuple(attrs.get("output_padding", [0, 0]))
            pads = self.transpose_pads(node, attrs, (h, w), kernel, stride, out_pad)
            kind = LayerKind.CONV_TRANSPOSE2D
            extra = {"output_padding": out_pad}
        else:
            pads = _pads(attrs, (h, w), kernel, stride)
            kind = (LayerKind.DEPTHWISE_CONV2D if groups == c_in and groups > 1
                    else LayerKind.CONV2D)
            extra = {}
        self.add_layer(node, index, kind=kind, c_in=c_in, h_in=h, w_in=w, c_out=c_out,
                       kernel=kernel, stride=stride, padding=pads, groups=groups,
                       inputs=_inputs(value), **extra)

    def op_ConvTranspose(self, node, index: int) -> None:
        self.op_Conv(node, index, transpose=True)

    def transpose_pads(self, node, attrs, hw, kernel, stride, out_pad) -> tuple:
        auto_pad = _str(attrs.get("auto_pad", "NOTSET"))
        output_shape = attrs.get("output_shape")
        if output_shape is None and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            output_shape = [size * s for size, s in zip(hw, stride)]
        if output_shape is None:
            return tuple(attrs.get("pads", [0, 0, 0, 0]))
        begin, end = [], []
        for size, k, s, op, target in zip(hw, kernel, stride, out_pad, output_shape[-2:]):
            total = s * (size - 1) + op + k - target
            if total < 0:
                raise self.fail(node, f"output_shape {list(output_shape)} is not reachable")
            # the ONNX spec puts the odd padding element at the end unless SAME_UPPER
            first = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            begin.append(first)
            end.append(total - first)
        return (begin[0], begin[1], end[0], end[1])

    def op_Gemm(self, node, index: int) -> None:
        attrs = _attrs(node)
        if attrs.get("transA", 0):
            raise self.fail(node, "transA=1 is not supported (the activation must be A)")
        weight = self.constant_shape(node, 1)
        if len(weight) != 2:
            raise self.fail(node, f"weight of shape {list(weight)} is not a matrix")
        k_in, c_out = (weight[1], weight[0]) if attrs.get("transB", 0) else weight
        self.dense(node, index, k_in, c_out)

    def op_MatMul(self, node, index: int) -> None:
        if node.input[1] not in self.constants:
            return self.matmul_activations(node, index)
        weight = self.constant_shape(node, 1)
        if len(weight) != 2:
            raise self.fail(node, f"a constant operand of shape {list(weight)} is not a matrix")
        if len(self.value(node).dims) == 2:
            return self.dense(node, index, weight[0], weight[1])
        self.token_linear(node, index, weight[0], weight[1])

    def dense(self, node, index: int, k_in: int, c_out: int) -> None:
        value = self.value(node)
        c, h, w = self.flat(node, value)
        if c * h * w != k_in:
            raise self.fail(node, f"weight expects {k_in} inputs, the input has {c * h * w}")
        self.add_layer(node, index, (self.batch, c_out), kind=LayerKind.DENSE, c_in=c, h_in=h,
                       w_in=w, c_out=c_out, kernel=(h, w), inputs=_inputs(value))

    def op_MaxPool(self, node, index: int, kind: LayerKind = LayerKind.MAX_POOL) -> None:
        attrs = _attrs(node)
        if len(node.output) > 1 and node.output[1] and self.uses(node.output[1]):
            raise self.fail(node, "the Indices output is not supported")
        if any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise self.fail(node, f"dilations {attrs['dilations']} are not supported")
        value = self.value(node)
        c, h, w = self.nchw(node, value)
        kernel = tuple(attrs["kernel_shape"])
        if len(kernel) != 2:
            raise self.fail(node, f"only 2-D pooling is supported (kernel {list(kernel)})")
        stride = tuple(attrs.get("strides", [1, 1]))
        pads = list(_pads(attrs, (h, w), kernel, stride))
        if attrs.get("ceil_mode", 0):
            for axis, size in ((0, h), (1, w)):
                begin, end = pads[axis], pads[axis + 2]
                out = ceil_pool_output(size, kernel[axis], stride[axis], begin, end)
                pads[axis + 2] += max(0, (out - 1) * stride[axis] + kernel[axis]
                                      - (size + begin + end))
        dims = (self.batch, c, (h + pads[0] + pads[2] - kernel[0]) // stride[0] + 1,
                (w + pads[1] + pads[3] - kernel[1]) // stride[1] + 1)
        expected = self.inferred.get(node.output[0])
        if attrs.get("ceil_mode", 0) and expected is not None and tuple(expected) != dims:
            # onnx's shape inference predates the spec's "windows that would start in the
            # end padding are ignored" rule; we follow the spec (= PyTorch), and later
            # inferred shapes inherit the difference, so stop comparing against them
            self.trust_inference = False
            self.notes.append(f"{node.op_type} {node.name!r}: ceil_mode output {list(dims)} "
                              f"follows the ONNX spec; shape inference said {list(expected)}")
        self.add_layer(node, index, dims, kind=kind, c_in=c, h_in=h, w_in=w, c_out=c,
                       kernel=kernel, stride=stride, padding=tuple(pads),
                       inputs=_inputs(value))

    def op_AveragePool(self, node, index: int) -> None:
        self.op_MaxPool(node, index, LayerKind.AVG_POOL)

    def op_GlobalAveragePool(self, node, index: int, kind=LayerKind.GLOBAL_AVG_POOL) -> None:
        value = self.value(node)
        c, h, w = self.nchw(node, value)
        self.add_layer(node, index, kind=kind, c_in=c, h_in=h, w_in=w,
                       c_out=c, kernel=(h, w), inputs=_inputs(value))

    def op_GlobalMaxPool(self, node, index: int) -> None:
        self.op_GlobalAveragePool(node, index, LayerKind.MAX_POOL)

    def op_Add(self, node, index: int) -> None:
        names = [n for n in node.input if n]
        constant = [n for n in names if n in self.constants]
        if len(names) == 2 and len(constant) == 1:
            return self.fold_bias(node, names[1 - names.index(constant[0])])
        self.eltwise(node, index, LayerKind.ADD)

    def fold_bias(self, node, activation_input: str) -> None:
        value = self.values.get(activation_input)
        if value is None:
            raise self.fail(node, "both operands are constants")
        handle = self.foldable_into(node, value)
        layer = self.layers[handle]
        if layer.kind not in GEMM_KINDS or layer.activation != "none":
            raise self.fail(node, f"adding a constant is only supported as the bias of a "
                                  f"conv / dense layer, not after {layer.name!r}")
        self.fold(node, handle, layer, value)

    def op_Concat(self, node, index: int) -> None:
        axis = _attrs(node).get("axis", 1)
        values = [self.value(node, i) for i in range(len(node.input))]
        if any(v.handle is None for v in values):
            raise self.fail(node, "a Concat that reads the network input cannot be represented")
        shapes = [self.shape_of(v) for v in values]
        rank = len(values[0].dims)
        if axis % rank != 1 or any(len(v.dims) != rank for v in values) or (
                rank != 4 and any(s[1:] != (1, 1) for s in shapes)):
            raise self.fail(node, f"only channel concatenation (axis 1 of NCHW) is supported, "
                                  f"got axis {axis} of {[list(v.dims) for v in values]}")
        for v in values:
            if rank == 4:
                self.nchw(node, v)
            else:
                self.flat(node, v)
        c = sum(s[0] for s in shapes)
        h, w = shapes[0][1:]
        dims = (self.batch, c, h, w) if rank == 4 else (self.batch, c)
        self.add_layer(node, index, dims, kind=LayerKind.CONCAT, c_in=c, h_in=h, w_in=w,
                       c_out=c, inputs=tuple(v.handle for v in values))

    def op_BatchNormalization(self, node, index: int) -> None:
        if any(out and self.uses(out) for out in node.output[1:]):
            raise self.fail(node, "training-mode outputs (running mean / var) are not supported")
        value = self.value(node)
        handle = self.foldable_into(node, value)
        layer = self.layers[handle]
        if layer.kind not in GEMM_KINDS or layer.activation != "none":
            after = f"{layer.kind.value} {layer.name!r}" + (
                f" with a folded {layer.activation}" if layer.activation != "none" else "")
            raise self.fail(node, f"follows {after}; only a BatchNormalization right after a "
                                  "conv / dense layer can be folded")
        self.fold(node, handle, layer, value)

    def op_Relu(self, node, index: int, activation: str = "relu") -> None:
        value = self.value(node)
        handle = self.foldable_into(node, value)
        layer = self.layers[handle]
        if layer.activation not in ("none", "relu", "clip"):  # after a sigmoid, say
            return self.standalone_activation(node, index, value, activation)
        # relu(clip(x)) == clip(x) and clip(relu(x)) == clip(x) for the usual lower bound 0
        merged = "clip" if "clip" in (layer.activation, activation) else "relu"
        self.fold(node, handle, replace(layer, activation=merged), value)

    def op_Clip(self, node, index: int) -> None:
        self.op_Relu(node, index, "clip")

    def pass_through(self, node, dims: tuple[int, ...] | None = None) -> None:
        value = self.value(node)
        if dims is not None and math.prod(dims) != math.prod(value.dims):
            raise self.fail(node, f"cannot reshape {list(value.dims)} to {list(dims)}")
        self.shape_only[node.op_type] += 1
        self.notes.append(f"shape-only {node.op_type} {node.name!r}")
        axes = value.axes if dims is None else relabel(value.dims, self.axes_of(value), dims)
        self.set_output(node, _Value(value.handle, value.dims if dims is None else dims, axes))

    def op_Identity(self, node, index: int) -> None:
        if node.input[0] in self.constants:  # exporters alias shared initializers this way
            self.constants[node.output[0]] = self.constants[node.input[0]]
            return
        self.pass_through(node)

    def op_Dropout(self, node, index: int) -> None:
        if len(node.output) > 1 and node.output[1] and self.uses(node.output[1]):
            raise self.fail(node, "the mask output is not supported")
        self.pass_through(node)

    def op_Flatten(self, node, index: int) -> None:
        dims = self.value(node).dims
        axis = _attrs(node).get("axis", 1) % len(dims)
        self.pass_through(node, (math.prod(dims[:axis]), math.prod(dims[axis:])))

    def op_Reshape(self, node, index: int) -> None:
        dims = self.value(node).dims
        target = self.constant_ints(node, 1)
        allow_zero = _attrs(node).get("allowzero", 0)
        target = [dims[i] if t == 0 and not allow_zero else t for i, t in enumerate(target)]
        if target.count(-1) == 1:
            known = math.prod(t for t in target if t != -1)
            if math.prod(dims) % max(1, known):
                raise self.fail(node, f"cannot reshape {list(dims)} to {target}: {known} does "
                                      f"not divide {math.prod(dims)} elements (a head count "
                                      "that does not divide the width?)")
            target[target.index(-1)] = math.prod(dims) // max(1, known)
        self.pass_through(node, tuple(target))

    def op_Squeeze(self, node, index: int) -> None:
        dims = self.value(node).dims
        axes = _attrs(node).get("axes") or self.constant_ints(node, 1)
        if axes is None:
            out = tuple(d for d in dims if d != 1)
        else:
            drop = {a % len(dims) for a in axes}
            out = tuple(d for i, d in enumerate(dims) if i not in drop)
        self.pass_through(node, out)

    def op_Unsqueeze(self, node, index: int) -> None:
        dims = list(self.value(node).dims)
        axes = _attrs(node).get("axes") or self.constant_ints(node, 1) or []
        rank = len(dims) + len(axes)
        for axis in sorted(a % rank for a in axes):
            dims.insert(axis, 1)
        self.pass_through(node, tuple(dims))



def _attrs(node) -> dict:
    return {a.name: attribute_value(a) for a in node.attribute}


def _str(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _inputs(value: _Value) -> tuple[int, ...]:
    return () if value.handle is None else (value.handle,)


def _pads(attrs: dict, hw: tuple[int, int], kernel, stride) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) from ``pads`` or the deprecated ``auto_pad``."""
    auto_pad = _str(attrs.get("auto_pad", "NOTSET"))
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for size, k, s in zip(hw, kernel, stride):
            out = -(-size // s)
            total = max(0, (out - 1) * s + k - size)
            first = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            begin.append(first)
            end.append(total - first)
        return (begin[0], begin[1], end[0], end[1])
    if auto_pad == "VALID":
        return (0, 0, 0, 0)
    return tuple(attrs.get("pads", [0, 0, 0, 0]))  # ONNX order: h_begin, w_begin, h_end, w_end
