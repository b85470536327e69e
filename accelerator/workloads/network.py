"""Layers and networks: shapes, operation counts and tensor sizes.

Every layer is described in the geometry of a 2-D convolution over an NCHW tensor, because
that is how a VTA-style core executes it (a GEMM over 16-wide channel blocks per output
pixel, or an ALU pass over accumulator vectors):

- a dense / matmul layer is a convolution whose kernel covers the whole input map
  (kernel = input H x W, no padding), so ``Flatten -> Gemm`` needs no special case;
- a global pool is a pool whose window covers the whole map;
- a transposed convolution is kept as its own kind; its MACs are the useful ones
  (``H_in * W_in * C_in * C_out/groups * kh * kw``), which is what a sub-pixel
  decomposition into ``stride**2`` stride-1 convolutions executes;
- a sequence of tokens is a (channels = width, H = tokens, W = 1) map, so a dense layer
  applied to every token (a transformer's linear) is a 1x1 convolution over it;
- a matmul of two activations (attention scores Q.K^T and context P.V, batched over
  heads) is a grouped 1x1 convolution with ``groups = heads`` whose weight is the second
  operand (``inputs[1]``): it is loaded through the weight path. For Q.K^T the output
  channels are (head, key token), for P.V (head, per-head width); either way the second
  operand holds ``c_out * c_in / groups`` elements;
- LayerNorm, Softmax (over the ``c / groups`` channels of each head), GELU, LRN and the
  elementwise MUL / SUB of two tensors are ALU layers whose per-element cost is listed in
  :mod:`accelerator.op_costs`;
- an activation (ReLU, ReLU6 = ``clip``, sigmoid, hard sigmoid, hard swish, SiLU) is folded
  into the layer that produces its input (``Layer.activation``: VTA runs it in the ALU
  right after the GEMM, at the per-element cost in :mod:`accelerator.op_costs`); where it
  cannot be folded it is an ACTIVATION layer of its own;
- squeeze-and-excitation's channel-wise scale (and a per-channel add) is CHANNEL_MUL /
  CHANNEL_ADD: ``inputs[0]`` is the (C, H, W) map, ``inputs[1]`` a (C, 1, 1) vector that
  every pixel of its channel is multiplied by (VTA's ALU loop nest broadcasts it with a
  zero source stride over the pixels);
- an upsampling (ONNX Resize / Upsample by an integer factor) is RESIZE_NEAREST or
  RESIZE_BILINEAR with ``stride`` = the scale factor (``h_out = h_in * stride``); it is
  ALU work (see :mod:`accelerator.op_costs` for why not DMA).

A :class:`Network` holds layers in a topological order with explicit producer -> consumer
edges (``Layer.inputs`` are indices of earlier layers; an empty tuple reads the network
input, and so does :data:`NETWORK_INPUT` among several inputs, e.g. a residual sum over the
input), so residual connections are real edges.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from enum import Enum

from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.op_costs import REQUANT_PASSES, activation_passes, alu_passes


class WorkloadError(UserInputError):
    """A layer or network description is inconsistent (shapes, edges, parameters)."""


class LayerKind(str, Enum):
    CONV2D = "conv2d"  # groups == 1, or a grouped convolution when groups > 1
    DEPTHWISE_CONV2D = "depthwise_conv2d"  # groups == c_in
    CONV_TRANSPOSE2D = "conv_transpose2d"
    DENSE = "dense"  # kernel == input H x W
    MAX_POOL = "max_pool"
    AVG_POOL = "avg_pool"
    GLOBAL_AVG_POOL = "global_avg_pool"
    ADD = "add"  # elementwise sum of >= 2 inputs of equal shape
    CONCAT = "concat"  # channel concatenation
    MATMUL = "matmul"  # activation x activation (inputs[1] is the weight operand), per head
    LAYERNORM = "layernorm"  # over the channels of each token
    SOFTMAX = "softmax"  # over the c / groups channels of each head, per token
    GELU = "gelu"
    LRN = "lrn"  # local response normalisation across channels
    MUL = "mul"  # elementwise product of two equal-shape tensors
    SUB = "sub"  # elementwise difference of two equal-shape tensors
    ACTIVATION = "activation"  # Layer.activation applied on its own (it could not be folded)
    CHANNEL_MUL = "channel_mul"  # (C, H, W) map x (C, 1, 1) vector: SE's channel-wise scale
    CHANNEL_ADD = "channel_add"  # (C, H, W) map + (C, 1, 1) vector
    RESIZE_NEAREST = "resize_nearest"  # upsampling by an integer factor (= stride)
    RESIZE_BILINEAR = "resize_bilinear"


GEMM_KINDS = frozenset(
    {LayerKind.CONV2D, LayerKind.DEPTHWISE_CONV2D, LayerKind.CONV_TRANSPOSE2D, LayerKind.DENSE,
     LayerKind.MATMUL}
)
# elementwise layers over several equal-shape inputs (every input is read in full)
ELTWISE_KINDS = frozenset({LayerKind.ADD, LayerKind.MUL, LayerKind.SUB})
# ALU layers whose per-element cost is an op_costs recipe; they keep the shape
RECIPE_KINDS = frozenset({LayerKind.LAYERNORM, LayerKind.SOFTMAX, LayerKind.GELU, LayerKind.LRN,
                          LayerKind.MUL, LayerKind.SUB, LayerKind.CHANNEL_MUL,
                          LayerKind.CHANNEL_ADD})
# a (C, H, W) map and a (C, 1, 1) vector broadcast over its pixels (inputs[1])
CHANNEL_KINDS = frozenset({LayerKind.CHANNEL_MUL, LayerKind.CHANNEL_ADD})
RESIZE_KINDS = frozenset({LayerKind.RESIZE_NEAREST, LayerKind.RESIZE_BILINEAR})
POOL_KINDS = frozenset({LayerKind.MAX_POOL, LayerKind.AVG_POOL, LayerKind.GLOBAL_AVG_POOL})
ACTIVATIONS = ("none", "relu", "clip", "sigmoid", "hardsigmoid", "hardswish", "silu")
NETWORK_INPUT = -1  # in Layer.inputs of a multi-input layer: the network input


@dataclass(frozen=True, slots=True)
class Layer:
    """One operator with full shape information (batch N, NCHW activations).

    ``padding`` is (top, left, bottom, right). ``inputs`` are producer layer indices in the
    owning network (empty = the network input). ``activation`` is a ReLU / clip folded into
    this layer, as VTA applies it in the ALU right after the GEMM.
    """

    name: str
    kind: LayerKind
    c_in: int
    h_in: int
    w_in: int
    c_out: int
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    groups: int = 1
    batch: int = 1
    activation: str = "none"
    inputs: tuple[int, ...] = ()
    output_padding: tuple[int, int] = (0, 0)  # conv-transpose only

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", LayerKind(self.kind))
        for label, value in (
            ("c_in", self.c_in), ("h_in", self.h_in), ("w_in", self.w_in),
            ("c_out", self.c_out), ("groups", self.groups), ("batch", self.batch),
            ("kernel", min(self.kernel)), ("stride", min(self.stride)),
        ):
            if value < 1:
                raise WorkloadError(f"layer {self.name!r}: {label} must be >= 1, got {value}")
        if min(self.padding) < 0:
            raise WorkloadError(f"layer {self.name!r}: padding must be >= 0, got {self.padding}")
        if self.activation not in ACTIVATIONS:
            raise WorkloadError(f"layer {self.name!r}: unknown activation {self.activation!r}")
        if self.c_in % self.groups or self.c_out % self.groups:
            raise WorkloadError(
                f"layer {self.name!r}: groups={self.groups} must divide c_in={self.c_in} "
                f"and c_out={self.c_out}"
            )
        if self.kind == LayerKind.DEPTHWISE_CONV2D and self.groups != self.c_in:
            raise WorkloadError(f"layer {self.name!r}: depthwise conv needs groups == c_in")
        if self.kind == LayerKind.ACTIVATION and self.activation == "none":
            raise WorkloadError(f"layer {self.name!r}: an activation layer needs an activation")
        if self.kind in RESIZE_KINDS and (self.kernel, self.padding) != ((1, 1), (0, 0, 0, 0)):
            raise WorkloadError(f"layer {self.name!r}: {self.kind.value} scales by its stride "
                                "(kernel 1, no padding)")
        if (self.kind in POOL_KINDS | ELTWISE_KINDS | RECIPE_KINDS | RESIZE_KINDS
                | {LayerKind.ACTIVATION}) and self.c_in != self.c_out:
            raise WorkloadError(f"layer {self.name!r}: {self.kind.value} keeps the channel count")
        if self.kind in RECIPE_KINDS | {LayerKind.MATMUL, LayerKind.ACTIVATION} and (
                self.kernel, self.stride, self.padding) != ((1, 1), (1, 1), (0, 0, 0, 0)):
            raise WorkloadError(f"layer {self.name!r}: {self.kind.value} is per position "
                                "(kernel 1, stride 1, no padding)")
        if self.h_out < 1 or self.w_out < 1:
            raise WorkloadError(
                f"layer {self.name!r}: output would be {self.h_out}x{self.w_out} "
                f"(input {self.h_in}x{self.w_in}, kernel {self.kernel}, stride {self.stride})"
            )

    # ---- geometry -------------------------------------------------------------------
    @property
    def h_out(self) -> int:
        kh, sh = self.kernel[0], self.stride[0]
        pad = self.padding[0] + self.padding[2]
        if self.kind == LayerKind.CONV_TRANSPOSE2D:
            return (self.h_in - 1) * sh - pad + kh + self.output_padding[0]
        if self.kind in RESIZE_KINDS:
            return self.h_in * sh
        return (self.h_in + pad - kh) // sh + 1

    @property
    def w_out(self) -> int:
        kw, sw = self.kernel[1], self.stride[1]
        pad = self.padding[1] + self.padding[3]
        if self.kind == LayerKind.CONV_TRANSPOSE2D:
            return (self.w_in - 1) * sw - pad + kw + self.output_padding[1]
        if self.kind in RESIZE_KINDS:
            return self.w_in * sw
        return (self.w_in + pad - kw) // sw + 1

    @property
    def is_gemm(self) -> bool:
        return self.kind in GEMM_KINDS

    @property
    def input_elements(self) -> int:
        """Elements of all inputs together (an add of two tensors reads both)."""
        n_inputs = max(1, len(self.inputs)) if self.kind in ELTWISE_KINDS else 1
        vector = self.c_in if self.kind in CHANNEL_KINDS else 0  # the broadcast operand
        return self.batch * (self.c_in * self.h_in * self.w_in * n_inputs + vector)

    @property
    def output_elements(self) -> int:
        return self.batch * self.c_out * self.h_out * self.w_out

    @property
    def weight_elements(self) -> int:
        if not self.is_gemm:
            return 0
        per_sample = self.c_out * (self.c_in // self.groups) * self.kernel[0] * self.kernel[1]
        # a matmul's second operand is an activation: one per sample, not shared
        return per_sample * (self.batch if self.kind == LayerKind.MATMUL else 1)

    # ---- work -----------------------------------------------------------------------
    @property
    def macs(self) -> int:
        """Multiply-accumulates of a GEMM-kind layer (0 for pool / add / concat)."""
        if not self.is_gemm:
            return 0
        k = self.kernel[0] * self.kernel[1]
        if self.kind == LayerKind.CONV_TRANSPOSE2D:
            # every input pixel scatters a kernel-sized patch into every output channel
            return self.batch * self.h_in * self.w_in * self.c_in * (self.c_out // self.groups) * k
        return self.output_elements * (self.c_in // self.groups) * k

    @property
    def ops(self) -> int:
        """Arithmetic operations: 2 per MAC, one per element compared / added otherwise,
        plus the ALU passes of a folded activation (0 for ReLU / ReLU6: the requantisation's
        clamp is the activation)."""
        return self._base_ops + self.output_elements * activation_passes(self.activation)

    @property
    def _base_ops(self) -> int:
        if self.kind == LayerKind.ACTIVATION:
            return self.output_elements * REQUANT_PASSES
        if self.kind in RESIZE_KINDS:
            return self.output_elements * alu_passes(self.kind.value)
        if self.is_gemm:
            return 2 * self.macs
        if self.kind in POOL_KINDS:
            return self.output_elements * self.kernel[0] * self.kernel[1]
        if self.kind == LayerKind.ADD:
            return self.output_elements * max(1, len(self.inputs) - 1)
        if self.kind in RECIPE_KINDS:
            return self.output_elements * alu_passes(self.kind.value)
        return 0  # concat moves data only

    # ---- bytes ----------------------------------------------------------------------
    def input_bytes(self, bits: int = 8) -> int:
        return self.input_elements * bits // 8

    def weight_bytes(self, bits: int = 8) -> int:
        return self.weight_elements * bits // 8

    def output_bytes(self, bits: int = 8) -> int:
        return self.output_elements * bits // 8

    def shape_key(self) -> tuple:
        """Everything that determines how this layer executes (not its name or edges)."""
        return (self.kind.value, self.c_in, self.h_in, self.w_in, self.c_out, self.kernel,
                self.stride, self.padding, self.groups, self.batch, self.activation,
                self.output_padding, len(self.inputs))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["kind"] = self.kind.value
        return d


@dataclass(frozen=True)
class Network:
    """A DNN as layers in topological order with explicit producer -> consumer edges.

    ``input_shape`` is (C, H, W) of the network input. Construction validates that every
    edge points backwards and that producer output shapes match consumer input shapes.
    """

    name: str
    layers: tuple[Layer, ...]
    input_shape: tuple[int, int, int]
    consumers: tuple[tuple[int, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        layers = tuple(self.layers)
        object.__setattr__(self, "layers", layers)
        if not layers:
            raise WorkloadError(f"network {self.name!r} has no layers")
        names = [layer.name for layer in layers]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise WorkloadError(f"network {self.name!r}: duplicate layer names {dup}")
        consumers: list[list[int]] = [[] for _ in layers]
        for i, layer in enumerate(layers):
            for p in layer.inputs:
                if p == NETWORK_INPUT and len(layer.inputs) > 1:
                    continue
                if not 0 <= p < i:
                    raise WorkloadError(
                        f"network {self.name!r}: layer {i} ({layer.name}) reads layer {p}, "
                        "which is not an earlier layer (layers must be in topological order)"
                    )
                consumers[p].append(i)
            self._check_input_shapes(i, layer)
        object.__setattr__(self, "consumers", tuple(tuple(c) for c in consumers))

    def _check_input_shapes(self, i: int, layer: Layer) -> None:
        if layer.inputs:
            shapes = [tuple(self.input_shape) if p == NETWORK_INPUT else
                      (self.layers[p].c_out, self.layers[p].h_out, self.layers[p].w_out)
                      for p in layer.inputs]
        else:
            shapes = [tuple(self.input_shape)]
        where = f"network {self.name!r}: layer {i} ({layer.name})"
        if layer.kind == LayerKind.CONCAT:
            if any(s[1:] != (layer.h_in, layer.w_in) for s in shapes) or sum(
                s[0] for s in shapes
            ) != layer.c_in:
                raise WorkloadError(f"{where}: concat of {shapes} does not give "
                                    f"{(layer.c_in, layer.h_in, layer.w_in)}")
            return
        if layer.kind in CHANNEL_KINDS:
            expected = [(layer.c_in, layer.h_in, layer.w_in), (layer.c_in, 1, 1)]
            if len(shapes) != 2 or [tuple(s) for s in shapes] != expected:
                raise WorkloadError(f"{where}: {layer.kind.value} takes a map and a per-channel "
                                    f"vector {expected}, got {[tuple(s) for s in shapes]}")
            return
        if layer.kind == LayerKind.ADD and len(shapes) < 2:
            raise WorkloadError(f"{where}: add needs at least two inputs")
        n_inputs = {LayerKind.ADD: len(shapes), LayerKind.MUL: 2, LayerKind.SUB: 2,
                    LayerKind.MATMUL: 2}.get(layer.kind, 1)
        if len(shapes) != n_inputs:
            raise WorkloadError(f"{where}: {layer.kind.value} takes {n_inputs} input(s), "
                                f"got {len(shapes)}")
        if layer.kind == LayerKind.MATMUL:
            operand = shapes.pop()  # the weight operand: any layout with the right size
            per_sample = layer.weight_elements // layer.batch
            if operand[0] * operand[1] * operand[2] != per_sample:
                raise WorkloadError(f"{where}: the second operand {tuple(operand)} does not hold "
                                    f"the {per_sample} elements a {layer.groups}-head matmul "
                                    f"{layer.c_in}->{layer.c_out} needs")
        expected = (layer.c_in, layer.h_in, layer.w_in)
        for s in shapes:
            if tuple(s) != expected:
                raise WorkloadError(f"{where}: input shape {tuple(s)} != expected {expected}")

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def edges(self) -> list[tuple[int, int]]:
        return [(p, i) for i, layer in enumerate(self.layers) for p in layer.inputs if p >= 0]

    @property
    def output_layers(self) -> tuple[int, ...]:
        """Layers whose result leaves the network (no consumer)."""
        return tuple(i for i, c in enumerate(self.consumers) if not c)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def ops(self) -> int:
        return sum(layer.ops for layer in self.layers)

    def weight_bytes(self, bits: int = 8) -> int:
        """Parameter bytes (a matmul's second operand is an activation, not a parameter)."""
        return sum(layer.weight_bytes(bits) for layer in self.layers
                   if layer.kind != LayerKind.MATMUL)

    def content_hash(self) -> str:
        """A stable hash of the shapes and edges (not of the names)."""
        cached = self.__dict__.get("_content_hash")
        if cached is not None:
            return cached
        payload = json.dumps(
            {"input": list(self.input_shape),
             "layers": [[list(_jsonable(x)) if isinstance(x, tuple) else x
                         for x in layer.shape_key()] + [list(layer.inputs)]
                        for layer in self.layers]},
            sort_keys=True, separators=(",", ":"),
        )
        digest = hashlib.sha256(payload.encode()).hexdigest()[:16]
        self.__dict__["_content_hash"] = digest  # immutable network: compute once
        return digest

    def index(self, name: str) -> int:
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        raise KeyError(name)

    def summary(self) -> dict:
        return {"name": self.name, "layers": len(self.layers), "macs": self.macs,
                "weight_bytes": self.weight_bytes(), "hash": self.content_hash()}


def _many(xs) -> tuple[int, ...]:
    """Inputs of a multi-input layer (``None``, the network input, as NETWORK_INPUT)."""
    return tuple(NETWORK_INPUT if x is None else x for x in xs)


def _jsonable(t: tuple) -> tuple:
    return tuple(_jsonable(x) if isinstance(x, tuple) else x for x in t)


def ceil_pool_output(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int) -> int:
    """Output length of a ``ceil_mode`` pool along one axis (PyTorch and the ONNX spec).

    ``ceil((size + pads - kernel) / stride) + 1``, minus the last window when it would start
    inside the end padding (such a window would see padding only). Without that rule a
    kernel-1 stride-2 pool over 4 elements would give 3 outputs instead of 2.
    """
    span = size + pad_begin + pad_end - kernel
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out


class NetworkBuilder:
    """Builds a :class:`Network` layer by layer; each method returns the new layer's index.

    A tensor handle is a layer index, or ``None`` for the network input.
    """

    def __init__(self, name: str, input_shape: tuple[int, int, int], batch: int = 1):
        self.name = name
        self.input_shape = tuple(input_shape)
        self.batch = batch
        self.layers: list[Layer] = []
        self._counts: dict[str, int] = {}

    def shape(self, x: int | None) -> tuple[int, int, int]:
        if x is None:
            return self.input_shape  # type: ignore[return-value]
        layer = self.layers[x]
        return (layer.c_out, layer.h_out, layer.w_out)

    def _name(self, kind: str, name: str | None) -> str:
        if name:
            return name
        self._counts[kind] = self._counts.get(kind, 0) + 1
        return f"{kind}{self._counts[kind]}"

    def _append(self, **kw) -> int:
        self.layers.append(Layer(batch=self.batch, **kw))
        return len(self.layers) - 1

    @staticmethod
    def _inputs(x: int | None) -> tuple[int, ...]:
        return () if x is None else (x,)

    def conv(self, x: int | None, c_out: int, kernel: int | tuple[int, int] = 3, stride: int = 1,
             padding: int | tuple[int, int, int, int] | None = None, groups: int = 1,
             activation: str = "relu", name: str | None = None) -> int:
        c, h, w = self.shape(x)
        k = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
        if padding is None:
            padding = (k[0] // 2, k[1] // 2, k[0] // 2, k[1] // 2)
        elif isinstance(padding, int):
            padding = (padding,) * 4
        kind = LayerKind.DEPTHWISE_CONV2D if groups == c and groups > 1 else LayerKind.CONV2D
        return self._append(name=self._name("conv", name), kind=kind, c_in=c, h_in=h, w_in=w,
                            c_out=c_out, kernel=k, stride=(stride, stride), padding=padding,
                            groups=groups, activation=activation, inputs=self._inputs(x))

    def conv_transpose(self, x: int | None, c_out: int, kernel: int, stride: int, padding: int,
                       output_padding: int = 0, activation: str = "relu",
                       name: str | None = None) -> int:
        c, h, w = self.shape(x)
        return self._append(name=self._name("deconv", name), kind=LayerKind.CONV_TRANSPOSE2D,
                            c_in=c, h_in=h, w_in=w, c_out=c_out, kernel=(kernel, kernel),
                            stride=(stride, stride), padding=(padding,) * 4,
                            output_padding=(output_padding, output_padding),
                            activation=activation, inputs=self._inputs(x))

    def dense(self, x: int | None, c_out: int, activation: str = "relu",
              name: str | None = None) -> int:
        c, h, w = self.shape(x)  # flatten is implicit: the kernel covers the whole map
        return self._append(name=self._name("fc", name), kind=LayerKind.DENSE, c_in=c, h_in=h,
                            w_in=w, c_out=c_out, kernel=(h, w), activation=activation,
                            inputs=self._inputs(x))

    def pool(self, x: int | None, kernel: int, stride: int, padding: int = 0, mode: str = "max",
             ceil_mode: bool = False, name: str | None = None) -> int:
        c, h, w = self.shape(x)
        pad = [padding] * 4
        if ceil_mode:  # extra bottom/right padding reproduces ceil() output sizes
            for axis, size in ((0, h), (1, w)):
                out = ceil_pool_output(size, kernel, stride, padding, padding)
                pad[2 + axis] += max(0, (out - 1) * stride + kernel - (size + 2 * padding))
        kind = LayerKind.MAX_POOL if mode == "max" else LayerKind.AVG_POOL
        return self._append(name=self._name(f"{mode}pool", name), kind=kind, c_in=c, h_in=h,
                            w_in=w, c_out=c, kernel=(kernel, kernel), stride=(stride, stride),
                            padding=tuple(pad), inputs=self._inputs(x))

    def global_pool(self, x: int | None, name: str | None = None) -> int:
        c, h, w = self.shape(x)
        return self._append(name=self._name("gap", name), kind=LayerKind.GLOBAL_AVG_POOL,
                            c_in=c, h_in=h, w_in=w, c_out=c, kernel=(h, w),
                            inputs=self._inputs(x))

    def add(self, *xs: int | None, activation: str = "none", name: str | None = None) -> int:
        c, h, w = self.shape(xs[0])
        return self._append(name=self._name("add", name), kind=LayerKind.ADD, c_in=c, h_in=h,
                            w_in=w, c_out=c, activation=activation, inputs=_many(xs))

    def concat(self, *xs: int, name: str | None = None) -> int:
        shapes = [self.shape(x) for x in xs]
        c = sum(s[0] for s in shapes)
        return self._append(name=self._name("concat", name), kind=LayerKind.CONCAT, c_in=c,
                            h_in=shapes[0][1], w_in=shapes[0][2], c_out=c, inputs=tuple(xs))

    # ---- sequence models: a (width, tokens, 1) map ---------------------------------------
    def linear(self, x: int | None, c_out: int, activation: str = "none",
               name: str | None = None) -> int:
        """A dense layer applied to every token: a 1x1 convolution over the token map."""
        return self.conv(x, c_out, 1, 1, padding=0, activation=activation,
                         name=self._name("linear", name))

    def matmul(self, a: int | None, b: int | None, heads: int, c_out: int,
               name: str | None = None) -> int:
        """``a`` (tokens x heads*k) times the per-head matrices held in ``b``, giving
        ``c_out`` channels per token (heads * key tokens for Q.K^T, heads * width for P.V)."""
        c, h, w = self.shape(a)
        return self._append(name=self._name("matmul", name), kind=LayerKind.MATMUL, c_in=c,
                            h_in=h, w_in=w, c_out=c_out, groups=heads, inputs=_many((a, b)))

    def alu(self, kind: LayerKind, *xs: int, groups: int = 1, name: str | None = None) -> int:
        """A shape-keeping ALU layer (layernorm, softmax over ``groups`` heads, gelu, lrn,
        mul, sub)."""
        c, h, w = self.shape(xs[0])
        inputs = _many(xs) if len(xs) > 1 else self._inputs(xs[0])
        return self._append(name=self._name(LayerKind(kind).value, name), kind=kind, c_in=c,
                            h_in=h, w_in=w, c_out=c, groups=groups, inputs=inputs)

    # ---- squeeze-and-excitation, activations, upsampling ------------------------------------
    def activation(self, x: int | None, activation: str, name: str | None = None) -> int:
        """An activation as a layer of its own (where it cannot fold into its producer)."""
        c, h, w = self.shape(x)
        return self._append(name=self._name(activation, name), kind=LayerKind.ACTIVATION,
                            c_in=c, h_in=h, w_in=w, c_out=c, activation=activation,
                            inputs=self._inputs(x))

    def channel_op(self, kind: LayerKind, x: int | None, vector: int,
                   activation: str = "none", name: str | None = None) -> int:
        """``x`` (C, H, W) times / plus the (C, 1, 1) ``vector`` (CHANNEL_MUL / CHANNEL_ADD)."""
        c, h, w = self.shape(x)
        return self._append(name=self._name(LayerKind(kind).value, name), kind=kind, c_in=c,
                            h_in=h, w_in=w, c_out=c, activation=activation,
                            inputs=_many((x, vector)))

    def squeeze_excite(self, x: int, squeeze: int, activation: str = "relu",
                       gate: str = "sigmoid", prefix: str = "se") -> int:
        """Squeeze-and-excitation (Hu et al. 2018): global pool -> 1x1 -> activation -> 1x1
        -> gate, then the map scaled channel by channel."""
        c = self.shape(x)[0]
        s = self.global_pool(x, name=f"{prefix}.avgpool")
        s = self.conv(s, squeeze, 1, 1, padding=0, activation=activation, name=f"{prefix}.fc1")
        s = self.conv(s, c, 1, 1, padding=0, activation=gate, name=f"{prefix}.fc2")
        return self.channel_op(LayerKind.CHANNEL_MUL, x, s, name=f"{prefix}.scale")

    def resize(self, x: int | None, scale: int, mode: str = "nearest",
               name: str | None = None) -> int:
        """Upsampling by an integer ``scale`` (``mode`` nearest or bilinear)."""
        c, h, w = self.shape(x)
        kind = LayerKind.RESIZE_NEAREST if mode == "nearest" else LayerKind.RESIZE_BILINEAR
        return self._append(name=self._name("upsample", name), kind=kind, c_in=c, h_in=h,
                            w_in=w, c_out=c, stride=(scale, scale), inputs=self._inputs(x))

    def build(self) -> Network:
        return Network(self.name, tuple(self.layers), self.input_shape)  # type: ignore[arg-type]
