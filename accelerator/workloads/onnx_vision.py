"""ONNX op handlers for the vision graphs after plain CNNs (a mixin of the importer's walk):
activations beyond ReLU, squeeze-and-excitation's broadcasting Mul / Add, Resize / Upsample.

- ``Sigmoid`` (when it is not the graph's last step, which stays the host's), ``HardSigmoid``
  and ``HardSwish`` fold into the layer producing their input (``Layer.activation``: VTA
  applies an activation in the ALU right after the GEMM; its passes are in
  :mod:`accelerator.op_costs`) when that layer has no other reader and no activation yet;
  otherwise they become an ACTIVATION layer of their own. Any ``alpha`` / ``beta`` of a
  ``HardSigmoid`` is accepted: they are the constants of its multiply and add.
- ``act(x) * x`` with ``act`` a ``Sigmoid`` (SiLU / swish: how exporters spell
  ``nn.SiLU``) or a ``HardSigmoid`` (hard swish before opset 14) is one activation,
  ``silu`` or ``hardswish``: the ``Mul`` is part of it.
- ``Mul`` / ``Add`` of an ``[N, C, H, W]`` map and an ``[N, C, 1, 1]`` vector, in either
  order (squeeze-and-excitation's channel-wise scale), are CHANNEL_MUL / CHANNEL_ADD
  layers; every other broadcast is refused with both shapes named.
- ``Resize`` (opset 10+) and ``Upsample`` by integer factors of H and W (from the constant
  ``scales`` or ``sizes``), mode ``nearest`` or ``linear`` (bilinear), are
  RESIZE_NEAREST / RESIZE_BILINEAR layers with ``stride`` = the factors. A nearest resize is
  accepted only where every output pixel reads input pixel ``x // factor`` under the
  node's coordinate transformation and rounding (checked pixel by pixel, so an
  ``align_corners`` export that reads other pixels is refused, not mis-modelled); a
  bilinear one under any of the transformations whose source window the lowering covers
  (``half_pixel``, ``pytorch_half_pixel``, ``asymmetric``, ``align_corners``). Down-sampling,
  ``cubic`` and ``tf_crop_and_resize`` are refused.
"""

from __future__ import annotations

import math
from dataclasses import replace

from fusiongym.accelerator.workloads.network import NETWORK_INPUT, LayerKind
from fusiongym.accelerator.workloads.onnx_proto import attribute_value, tensor_floats, tensor_ints

GATES = {"Sigmoid": "sigmoid", "HardSigmoid": "hardsigmoid", "HardSwish": "hardswish"}
SWISH = {"Sigmoid": "silu", "HardSigmoid": "hardswish"}  # act(x) * x
LINEAR_TRANSFORMS = ("half_pixel", "pytorch_half_pixel", "asymmetric", "align_corners")


class VisionOps:
    """Handlers mixed into the importer's ``_Importer`` (before ``SequenceOps``)."""

    # -- activations -------------------------------------------------------------------------
    def op_Sigmoid(self, node, index: int) -> None:
        if self.is_terminal(node.output[0]):  # a classifier's last step: the host's
            return super().op_Sigmoid(node, index)
        self.activation_node(node, index)

    def op_HardSigmoid(self, node, index: int) -> None:
        self.activation_node(node, index)

    def op_HardSwish(self, node, index: int) -> None:
        self.activation_node(node, index)

    def swish_mul(self, node):
        """The ``Mul`` of ``act(x) * x`` that reads this node's output, or None."""
        if node.op_type not in SWISH:
            return None
        x, out = node.input[0], node.output[0]
        readers = self.readers.get(out, [])
        if len(readers) != 1 or out in self.graph_outputs:
            return None
        mul = readers[0]
        if mul.op_type != "Mul" or sorted(mul.input) != sorted([x, out]):
            return None
        return mul

    def activation_node(self, node, index: int) -> None:
        value = self.value(node)
        mul = self.swish_mul(node)
        if mul is not None:  # the Mul is this activation's last step, not a node of its own
            activation, output, readers = SWISH[node.op_type], mul.output[0], 2
            self.skipped.add(self.node_position(mul))
            label = f"{node.op_type} x input ({activation})"
        else:
            activation, output, readers = GATES[node.op_type], node.output[0], 1
            label = node.op_type
        handle = value.handle
        layer = None if handle is None else self.layers[handle]
        if (layer is not None and layer.activation == "none"
                and self.uses(self.layer_output[handle]) == readers):
            self.layers[handle] = replace(layer, activation=activation)
            self.layer_output[handle] = output
            self.folded[label] += 1
            self.notes.append(f"folded {label} {node.name!r} into {layer.name!r}")
            self.set_output(node, value, output)
            return
        self.standalone_activation(node, index, value, activation, output)

    def standalone_activation(self, node, index: int, value, activation: str,
                              output: str | None = None) -> None:
        """An ACTIVATION layer (its producer is the network input, has other readers, or
        already applies an activation)."""
        c, h, w = self.shape_of(value)
        self.add_layer(node, index, value.dims, axes=value.axes, kind=LayerKind.ACTIVATION,
                       c_in=c, h_in=h, w_in=w, c_out=c, activation=activation,
                       inputs=self.inputs_of(value), output=output)

    def node_position(self, target) -> int:
        positions = self.__dict__.get("_positions")
        if positions is None:
            positions = {n.output[0]: i for i, n in enumerate(self.graph.node) if n.output}
            self.__dict__["_positions"] = positions
        return positions[target.output[0]]

    # -- squeeze-and-excitation ----------------------------------------------------------------
    def eltwise(self, node, index: int, kind: LayerKind) -> None:
        a, b = self.value(node, 0), self.value(node, 1)
        if kind in (LayerKind.MUL, LayerKind.ADD) and a.dims != b.dims:
            pair = self.map_and_vector(a, b) or self.map_and_vector(b, a)
            if pair is not None:
                x, v = pair
                c, h, w = self.shape_of(x)
                channel = LayerKind.CHANNEL_MUL if kind == LayerKind.MUL else LayerKind.CHANNEL_ADD
                self.add_layer(node, index, x.dims, kind=channel, c_in=c, h_in=h, w_in=w,
                               c_out=c, inputs=(_handle(x), _handle(v)))
                return
        super().eltwise(node, index, kind)

    def map_and_vector(self, x, v):
        """(map, vector) when ``x`` is an NCHW map and ``v`` one value per channel of it."""
        c, h, w = self.shape_of(x)
        if (x.dims == (self.batch, c, h, w) and v.dims == (self.batch, c, 1, 1)
                and self.shape_of(v) == (c, 1, 1)):
            return x, v
        return None

    # -- upsampling ------------------------------------------------------------------------------
    def op_Resize(self, node, index: int) -> None:
        attrs = {a.name: attribute_value(a) for a in node.attribute}
        mode = _text(attrs.get("mode", "nearest"))
        default_transform = "half_pixel" if node.op_type == "Resize" else "asymmetric"
        transform = _text(attrs.get("coordinate_transformation_mode", default_transform))
        rounding = _text(attrs.get("nearest_mode", "round_prefer_floor" if node.op_type ==
                                   "Resize" else "floor"))
        value = self.value(node)
        c, h, w = self.nchw(node, value)
        factors = self.resize_factors(node, attrs, (self.batch, c, h, w))
        if mode == "nearest":
            for size, f in zip((h, w), factors):
                if any(_nearest_source(x, size, size * f, transform, rounding) != x // f
                       for x in range(size * f)):
                    raise self.fail(node, f"nearest with coordinate_transformation_mode "
                                          f"{transform!r} and nearest_mode {rounding!r} does "
                                          f"not read pixel x // {f}; not modelled")
            kind = LayerKind.RESIZE_NEAREST
        elif mode in ("linear", "bilinear"):
            if transform not in LINEAR_TRANSFORMS:
                raise self.fail(node, f"linear with coordinate_transformation_mode "
                                      f"{transform!r} is not supported (only "
                                      f"{', '.join(LINEAR_TRANSFORMS)})")
            kind = LayerKind.RESIZE_BILINEAR
        else:
            raise self.fail(node, f"mode {mode!r} is not supported (nearest or linear)")
        self.add_layer(node, index, kind=kind, c_in=c, h_in=h, w_in=w, c_out=c,
                       stride=factors, inputs=self.inputs_of(value))

    op_Upsample = op_Resize

    def resize_factors(self, node, attrs: dict, dims: tuple[int, ...]) -> tuple[int, int]:
        """Integer (H, W) factors from the constant scales or sizes; N and C unchanged."""
        names = list(node.input) + [""] * 4
        if node.op_type == "Upsample":
            scales_name, sizes_name = names[1], ""
        elif len([n for n in node.input]) == 2:  # opset 10: X, scales
            scales_name, sizes_name = names[1], ""
        else:  # opset 11+: X, roi, scales, sizes
            scales_name, sizes_name = names[2], names[3]
        if scales_name and self.constant_floats(node, scales_name):
            targets = [s * d for s, d in zip(self.constant_floats(node, scales_name), dims)]
            source = "scales"
        elif sizes_name:
            targets = self.constant_ints(node, names.index(sizes_name))
            source = "sizes"
        elif "scales" in attrs:  # Upsample-7
            targets = [s * d for s, d in zip(attrs["scales"], dims)]
            source = "scales"
        else:
            raise self.fail(node, "needs constant scales or sizes")
        axes = attrs.get("axes")
        if axes is not None:  # opset 18: scales / sizes of these axes only
            full = list(dims)
            for axis, t in zip(axes, targets):
                full[axis % len(dims)] = t
            targets = full
        if len(targets) != len(dims) or any(abs(t - d) > 1e-6 for t, d in
                                            zip(targets[:2], dims[:2])):
            raise self.fail(node, f"{source} {list(targets)} must keep the batch and channels "
                                  f"of {list(dims)}")
        factors = []
        for t, d in zip(targets[2:], dims[2:]):
            f = t / d
            if f < 1 or abs(f - round(f)) > 1e-6:
                raise self.fail(node, f"only up-sampling by integer factors is supported, got "
                                      f"{source} {list(targets)} for input {list(dims)}")
            factors.append(round(f))
        return tuple(factors)  # type: ignore[return-value]

    def constant_floats(self, node, name: str) -> list[float]:
        if name not in self.constants:
            raise self.fail(node, f"input {name!r} must be a constant")
        tensor = self.constants[name]
        try:
            return tensor_floats(tensor) if tensor.data_type != 7 else [
                float(v) for v in tensor_ints(tensor)]
        except ValueError as err:
            raise self.fail(node, str(err)) from None


def _nearest_source(x: int, size: int, out: int, transform: str, rounding: str) -> int:
    """Input pixel an output pixel ``x`` reads (the ONNX Resize spec's formulas)."""
    scale = out / size
    if transform in ("half_pixel", "pytorch_half_pixel"):
        src = (x + 0.5) / scale - 0.5 if (out > 1 or transform == "half_pixel") else 0.0
    elif transform == "asymmetric":
        src = x / scale
    elif transform == "align_corners":
        src = 0.0 if out == 1 else x * (size - 1) / (out - 1)
    else:
        return -1  # (tf_crop_and_resize, half_pixel_symmetric: refused by the caller)
    if rounding == "floor":
        i = math.floor(src)
    elif rounding == "ceil":
        i = math.ceil(src)
    elif rounding == "round_prefer_ceil":
        i = math.floor(src + 0.5)
    else:  # round_prefer_floor
        i = math.ceil(src - 0.5)
    return min(max(i, 0), size - 1)


def _handle(value) -> int:
    return NETWORK_INPUT if value.handle is None else value.handle


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
