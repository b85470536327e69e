"""ONNX op handlers for transformer graphs (a mixin of the importer's graph walk).

A sequence ``[N, S, D]`` is the (C = D, H = S, W = 1) map of the layer that produced it,
so every tensor is a *view* of a layer's map: each ONNX dim carries a label naming the
map axis it is (``c`` channels, ``h`` / ``w`` rows / columns = tokens, ``g`` x ``k`` the
channels split head-major into heads x per-head width, ``n`` batch, ``1`` a unit dim,
or a merged label such as ``chw`` after a flatten). Reshape relabels (splitting ``c`` into
``g, k`` or merging them back), Transpose permutes the labels, and the ops that compute
read the labels to know what they compute:

- ``MatMul`` with a constant weight contracts the ``c`` axis: a per-token linear, a 1x1
  convolution. ``MatMul`` of two activations is attention's Q.K^T or P.V: ``A`` must be
  ``(g, h, k)`` (heads, tokens, contracted) and ``B`` ``(g, k, h)`` (K^T) or ``(g, h, k)``
  (V): a MATMUL layer batched over the heads, ``B`` its weight operand.
- Reshape, Transpose, Squeeze, Unsqueeze move no data: the head split and merge of
  attention only change which channels a DMA reads per head (a 2-D strided load of the
  head's channel slice for every token), and a MATMUL writes each head's result into its
  own channel slice of a token-major map, so the transposes around attention are free.
  A consumer that needs a real relayout (a linear over the token axis, a softmax over a
  non-channel axis) is refused with the node named.
- ``Split`` of a linear layer's output along the channels splits that layer into one
  linear per part (the same weights and MACs, no copy): a fused QKV projection becomes
  Q, K and V.
- ``Mul`` / ``Div`` by a constant are scales that fold into the producer's requantisation
  (any layer: every layer ends in one); ``Add`` / ``Sub`` of a constant after a GEMM layer
  are its bias; ``Mul`` / ``Sub`` of two tensors are MUL / SUB layers.
- ``Div -> Erf -> Add 1 -> Mul x -> Mul 0.5`` (how exporters spell the exact GELU) is one
  GELU layer; ``LayerNormalization`` over the channels, ``Softmax`` over a head's channels
  and ``LRN`` are layers of their own (costs: :mod:`accelerator.op_costs`).
"""

from __future__ import annotations

import math
from dataclasses import replace

from fusiongym.accelerator.workloads.network import NETWORK_INPUT, LayerKind
from fusiongym.accelerator.workloads.onnx_proto import attribute_value

Axes = tuple[str, ...]


def relabel(old_dims: tuple[int, ...], old_axes: Axes | None,
            new_dims: tuple[int, ...]) -> Axes | None:
    """Labels of ``new_dims`` after a reshape of a tensor labelled ``old_axes``, or None
    when the reshape is not a split of ``c`` into heads, a merge, or a unit-dim change."""
    if old_axes is None:
        return None
    old = [(a, d) for a, d in zip(old_axes, old_dims) if d != 1]
    new = [d for d in new_dims if d != 1]
    labels: list[str] = []
    i = j = 0
    while i < len(old) and j < len(new):
        group, parts = [old[i][0]], [new[j]]
        size_old, size_new = old[i][1], new[j]
        i, j = i + 1, j + 1
        while size_old != size_new:
            if size_old < size_new and i < len(old):
                group.append(old[i][0])
                size_old *= old[i][1]
                i += 1
            elif size_new < size_old and j < len(new):
                parts.append(new[j])
                size_new *= new[j]
                j += 1
            else:
                return None
        if len(parts) == 1:
            labels.append("c" if group == ["g", "k"] else "".join(group))
        elif group == ["c"] and len(parts) == 2:
            labels += ["g", "k"]  # heads first: the head split is head-major
        else:
            return None
    if i < len(old) or j < len(new):
        return None
    it = iter(labels)
    return tuple("1" if d == 1 else next(it) for d in new_dims)


def core(axes: Axes, dims: tuple[int, ...]) -> list[tuple[str, int]]:
    """The labelled dims that are not unit or batch dims."""
    return [(a, d) for a, d in zip(axes, dims) if d != 1 and a != "n"]


def _handle(value) -> int:
    return NETWORK_INPUT if value.handle is None else value.handle


class SequenceOps:
    """Handlers for the ops of transformer graphs; mixed into the importer's ``_Importer``."""

    # -- views -----------------------------------------------------------------------------
    def axes_of(self, value) -> Axes | None:
        if value.axes is not None:
            return value.axes
        c, h, w = self.shape_of(value)
        if value.dims == (self.batch, c, h, w):
            return ("n", "c", "h", "w")
        if value.dims == (self.batch, c) and h * w == 1:
            return ("n", "c")
        return None

    def channel_last(self, node, value) -> tuple[int, int, int]:
        """(C, H, W) of a token map whose last dim is all of its producer's channels."""
        axes, (c, h, w) = self.axes_of(value), self.shape_of(value)
        if axes is None or axes[-1] != "c" or value.dims[-1] != c:
            raise self.fail(node, f"needs the channels as the last axis of a token map, got "
                                  f"{list(value.dims)} (axes {_show(axes)}); a relayout of "
                                  "tokens and channels is not modelled")
        return c, h, w

    def set_view(self, node, handle: int, dims, axes: Axes | None, output: int = 0) -> None:
        self.set_output(node, self.make_value(handle, tuple(dims), axes), node.output[output])

    # -- compute ops -----------------------------------------------------------------------
    def token_linear(self, node, index: int, k_in: int, c_out: int) -> None:
        value = self.value(node)
        c, h, w = self.channel_last(node, value)
        if k_in != c:
            raise self.fail(node, f"weight expects {k_in} inputs, the tokens have {c} channels")
        self.add_layer(node, index, value.dims[:-1] + (c_out,), axes=self.axes_of(value),
                       kind=LayerKind.CONV2D, c_in=c, h_in=h, w_in=w, c_out=c_out,
                       kernel=(1, 1), inputs=self.inputs_of(value))

    def matmul_activations(self, node, index: int) -> None:
        a, b = self.value(node, 0), self.value(node, 1)
        a_axes, b_axes = self.axes_of(a), self.axes_of(b)
        form = f"{list(a.dims)} (axes {_show(a_axes)}) x {list(b.dims)} (axes {_show(b_axes)})"
        if a_axes is None or b_axes is None:
            raise self.fail(node, f"cannot map the operands {form} onto token maps")
        a_core, b_core = core(a_axes, a.dims), core(b_axes, b.dims)
        heads = dict(a_core).get("g", 1)
        a_labels = [x for x, _ in a_core]
        if a_labels not in (["g", "h", "k"], ["h", "c"]):
            raise self.fail(node, f"the first operand must be (heads, tokens, width) or "
                                  f"(tokens, channels): {form}")
        contracted = a_core[-1][1]
        b_rest = [(x, d) for x, d in b_core if x != "g"]
        if dict(b_core).get("g", 1) != heads or len(b_rest) != 2:
            raise self.fail(node, f"operands do not have the same {heads} heads: {form}")
        if b_rest[0][1] != contracted:
            raise self.fail(node, f"incompatible shapes: contracting {contracted} with "
                                  f"{b_rest[0][1]}: {form}")
        c, h, w = self.shape_of(a)
        if c != heads * contracted:
            raise self.fail(node, f"the first operand is a view of {c} channels, not "
                                  f"{heads} heads x {contracted}: {form}")
        per_head_out = b_rest[1][1]
        self.add_layer(node, index, a.dims[:-1] + (per_head_out,), axes=a_axes,
                       kind=LayerKind.MATMUL, c_in=c, h_in=h, w_in=w,
                       c_out=heads * per_head_out, groups=heads,
                       inputs=(_handle(a), _handle(b)))

    def op_Softmax(self, node, index: int) -> None:
        if self.is_terminal(node.output[0]):  # a classifier's last step: the host's
            value = self.value(node)
            self.host_side[node.op_type] += 1
            self.notes.append(f"host-side {node.op_type} {node.name!r}")
            self.values[node.output[0]] = value
            return
        if node.op_type != "Softmax":
            raise self.fail(node, "only a final (host-side) op is supported; this one feeds "
                                  "other nodes")
        value = self.value(node)
        axes, rank = self.axes_of(value), len(value.dims)
        axis = _attr(node, "axis", -1) % rank
        labels = dict(core(axes, value.dims)) if axes else {}
        if axes is None or axis != rank - 1 or axes[-1] not in ("c", "k"):
            raise self.fail(node, f"softmax over axis {axis} of {list(value.dims)} (axes "
                                  f"{_show(axes)}); only over the channels of a token map "
                                  "(per head) is supported")
        heads = labels.get("g", 1) if axes[-1] == "k" else 1
        self.alu_layer(node, index, LayerKind.SOFTMAX, value, groups=heads)

    op_LogSoftmax = op_Sigmoid = op_Tanh = op_Softmax

    def op_LayerNormalization(self, node, index: int) -> None:
        if any(out and self.uses(out) for out in node.output[1:]):
            raise self.fail(node, "the Mean / InvStdDev outputs are not supported")
        value = self.value(node)
        axis = _attr(node, "axis", -1) % len(value.dims)
        if axis != len(value.dims) - 1:
            raise self.fail(node, f"normalises axes {axis}.. of {list(value.dims)}; only the "
                                  "last (channel) axis is supported")
        self.channel_last(node, value)
        self.alu_layer(node, index, LayerKind.LAYERNORM, value)

    def op_LRN(self, node, index: int) -> None:
        value = self.value(node)
        self.nchw(node, value)
        self.alu_layer(node, index, LayerKind.LRN, value)

    def alu_layer(self, node, index: int, kind: LayerKind, value, groups: int = 1,
                  inputs: tuple[int, ...] | None = None, name_node=None) -> None:
        c, h, w = self.shape_of(value)
        self.add_layer(name_node or node, index, value.dims, axes=value.axes, kind=kind,
                       c_in=c, h_in=h, w_in=w, c_out=c, groups=groups,
                       inputs=self.inputs_of(value) if inputs is None else inputs,
                       output=node.output[0] if name_node is not None else None)

    def eltwise(self, node, index: int, kind: LayerKind) -> None:
        """ADD / MUL / SUB of two equal-shape tensors (no broadcasting)."""
        a, b = self.value(node, 0), self.value(node, 1)
        if a.dims != b.dims or self.shape_of(a) != self.shape_of(b):
            raise self.fail(node, f"only equal shapes are supported (no broadcasting): "
                                  f"{list(a.dims)} and {list(b.dims)}")
        if a.handle is None and b.handle is None:
            raise self.fail(node, "both operands are the network input")
        self.alu_layer(node, index, kind, a, inputs=(_handle(a), _handle(b)))

    # -- elementwise ops with constants ------------------------------------------------------
    def constant_operand(self, node) -> tuple[str | None, str | None]:
        """(activation input, constant input) of a binary node; constant None if none."""
        names = [n for n in node.input if n]
        constant = [n for n in names if n in self.constants]
        if len(names) == 2 and len(constant) == 1:
            return names[1 - names.index(constant[0])], constant[0]
        if len(names) == 2 and len(constant) == 2:
            raise self.fail(node, "both operands are constants")
        return None, None

    def fold_scale(self, node, activation: str, constant: str) -> None:
        value = self.values.get(activation)
        if value is None:
            raise self.fail(node, f"input {activation!r} is not produced by any supported node")
        elements = math.prod(self.constants[constant].dims)
        c = self.shape_of(value)[0]
        if elements not in (1, c):
            raise self.fail(node, f"a constant of {elements} elements is neither a scalar nor "
                                  f"one per channel; it cannot fold into a requantisation")
        handle = self.foldable_into(node, value)
        self.fold(node, handle, self.layers[handle], value)

    def op_Mul(self, node, index: int) -> None:
        activation, constant = self.constant_operand(node)
        if constant is not None:
            return self.fold_scale(node, activation, constant)
        self.eltwise(node, index, LayerKind.MUL)

    def op_Div(self, node, index: int) -> None:
        activation, constant = self.constant_operand(node)
        if constant is None or node.input[1] != constant:
            raise self.fail(node, "only division by a constant (a scale) is supported")
        self.fold_scale(node, activation, constant)

    def op_Sub(self, node, index: int) -> None:
        activation, constant = self.constant_operand(node)
        if constant is not None:
            return self.fold_bias(node, activation)
        self.eltwise(node, index, LayerKind.SUB)

    def op_Erf(self, node, index: int) -> None:
        raise self.fail(node, "Erf outside the GELU pattern x * 0.5 * (1 + erf(x / sqrt(2))) "
                              "is not supported")

    # -- data movement -----------------------------------------------------------------------
    def op_Transpose(self, node, index: int) -> None:
        value = self.value(node)
        perm = _attr(node, "perm", None) or list(range(len(value.dims)))[::-1]
        axes = self.axes_of(value)
        self.shape_only[node.op_type] += 1
        self.notes.append(f"shape-only {node.op_type} {node.name!r} (a strided DMA)")
        self.set_view(node, value.handle, tuple(value.dims[p] for p in perm),
                      None if axes is None else tuple(axes[p] for p in perm))

    def op_Split(self, node, index: int) -> None:
        value = self.value(node)
        axes, rank = self.axes_of(value), len(value.dims)
        axis = _attr(node, "axis", 0) % rank
        sizes = self.constant_ints(node, 1) if len(node.input) > 1 else None
        if sizes is None:
            parts = len(node.output)
            sizes = [-(-value.dims[axis] // parts)] * parts
            sizes[-1] = value.dims[axis] - sum(sizes[:-1])
        if axes is None or axes[axis] != "c" or value.dims[axis] != self.shape_of(value)[0]:
            raise self.fail(node, f"splits axis {axis} of {list(value.dims)} (axes "
                                  f"{_show(axes)}); only the channels of a linear layer's "
                                  "output can be split")
        handle = self.foldable_into(node, value)
        layer = self.layers[handle]
        if layer.kind not in (LayerKind.CONV2D, LayerKind.DENSE) or layer.groups != 1:
            # (a conv or linear splits by output channels: each part keeps its weights)
            raise self.fail(node, f"splits the output of {layer.kind.value} {layer.name!r}; "
                                  "only a linear / convolution layer's output can be split")
        self.folded[node.op_type] += 1
        self.notes.append(f"Split {node.name!r}: {layer.name!r} became {len(sizes)} layers")
        self.names.discard(layer.name)
        for i, (size, out) in enumerate(zip(sizes, node.output)):
            part = replace(layer, c_out=size, name=self.unique_name_of(f"{layer.name}.{i}"))
            if i == 0:
                self.layers[handle] = part
                self.layer_output[handle] = out
                part_handle = handle
            else:
                self.layers.append(part)
                self.layer_output.append(out)
                self.layer_nodes.append(list(self.layer_nodes[handle]) + [node.name])
                part_handle = len(self.layers) - 1
            dims = value.dims[:axis] + (size,) + value.dims[axis + 1:]
            self.set_view(node, part_handle, dims, axes, output=i)

    # -- GELU -------------------------------------------------------------------------------
    def find_gelu_chains(self) -> None:
        """Marks ``x / sqrt2 -> Erf -> + 1 -> * x [-> * 0.5]`` chains: their inner nodes are
        skipped and the last one becomes a GELU layer of ``x``."""
        nodes = list(self.graph.node)
        producer = {out: i for i, n in enumerate(nodes) for out in n.output if out}

        def is_constant(name: str) -> bool:
            return name in self.constants or (
                name in producer and nodes[producer[name]].op_type == "Constant")

        def sole_reader(tensor: str):
            readers = self.readers.get(tensor, [])
            if len(readers) != 1 or tensor in self.graph_outputs:
                return None
            return readers[0]

        def other(n, name: str) -> str:
            return n.input[1] if n.input[0] == name else n.input[0]

        position = {id(n): i for i, n in enumerate(nodes)}
        for erf in nodes:
            if erf.op_type != "Erf" or erf.input[0] not in producer:
                continue
            scale = nodes[producer[erf.input[0]]]
            if scale.op_type not in ("Div", "Mul") or sole_reader(erf.input[0]) is not erf:
                continue
            x = next((n for n in scale.input if not is_constant(n)), None)
            plus_one = sole_reader(erf.output[0])
            if x is None or plus_one is None or plus_one.op_type != "Add" or not is_constant(
                    other(plus_one, erf.output[0])):
                continue
            times_x = sole_reader(plus_one.output[0])
            if times_x is None or times_x.op_type != "Mul" or other(
                    times_x, plus_one.output[0]) != x:
                continue
            chain, last = [scale, erf, plus_one], times_x
            half = sole_reader(times_x.output[0])
            if half is not None and half.op_type == "Mul" and is_constant(
                    other(half, times_x.output[0])):
                chain, last = chain + [times_x], half
            self.skipped.update(position[id(n)] for n in chain)
            self.gelu_at[position[id(last)]] = (x, erf)

    def emit_gelu(self, node, index: int) -> None:
        x, erf = self.gelu_at[index]
        value = self.values.get(x)
        if value is None:
            raise self.fail(erf, f"input {x!r} is not produced by any supported node")
        self.folded["Erf (GELU)"] += 1
        self.notes.append(f"GELU: Erf {erf.name!r} and its Div / Add / Mul nodes are one layer")
        self.alu_layer(node, index, LayerKind.GELU, value, name_node=erf)


def _attr(node, name: str, default):
    for a in node.attribute:
        if a.name == name:
            return attribute_value(a)
    return default


def _show(axes: Axes | None) -> str:
    return "unknown" if axes is None else ",".join(axes)
