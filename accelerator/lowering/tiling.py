"""A group's geometry (which rows / columns every layer computes for a tile of the last
layer, buffer footprints) and the Plan record that says how a group is tiled and split."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import NamedTuple

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.lowering.spec import GroupSpec, need, pad
from fusiongym.accelerator.workloads.network import CHANNEL_KINDS, Layer, LayerKind

UOP_BYTES = 4  # VTA micro-ops are 32-bit

Ranges = list[tuple[int, int, int, int]]  # per layer: (row_lo, row_hi, col_lo, col_hi)


class Tile(NamedTuple):
    """A tile of the last layer's output: rows [r0, r1) x columns [c0, c1) (a named tuple:
    made and hashed for every tile of every plan tried)."""

    r0: int
    r1: int
    c0: int
    c1: int


@dataclass
class Plan:
    """How one (group, cores, hardware) runs. See the package docstring for the options."""

    split: str  # "rows" (bands of the last layer's rows) or "channels" (of its output channels)
    vthreads: int
    tile_rows: int
    tile_cols: int
    cout_chunk: list[int]  # per layer: output channels per chunk
    cin_chunk: int
    resident: bool  # every weight of the group loaded once per core
    core_rows: list[tuple[int, int]]  # per core: band of last-layer rows
    core_couts: list[tuple[int, int]]  # per core: slice of the last layer's output channels
    line_buffer: bool = False  # keep the rows shared with the previous row tile on chip
    weight_outer: bool = False  # streamed weights: chunk loop outside the tile loop
    im2col: bool = False  # a small-channel conv with its kernel taps packed into channels
    cost: "object | None" = field(default=None, compare=False)  # cost.PlanCost, set by the planner


class GroupGeometry:
    """Shapes, producer/consumer edges and buffer footprints of one (group, cores, hw)."""

    def __init__(self, spec: GroupSpec, cores: int, hw: HardwareConfig):
        self.spec = spec
        self.hw = hw
        self.cores = cores
        self.n = len(spec.layers)
        self.last = spec.layers[-1]
        self.consumers: list[list[int]] = [[] for _ in range(self.n)]
        for i, srcs in enumerate(spec.sources):
            for s in srcs:
                if s >= 0:
                    self.consumers[s].append(i)
        # in-group users (and the last of them) of every external tensor
        self.ext_last: dict[int, int] = {}
        self.ext_users: dict[int, list[int]] = {}
        for i, srcs in enumerate(spec.sources):
            for s in srcs:
                if s < 0:
                    self.ext_last[s] = i
                    self.ext_users.setdefault(s, []).append(i)
        self.bi, self.bo = hw.block_in, hw.block_out
        # A matmul's second operand goes through the weight path: from DRAM with the
        # weight loads when it comes from outside the group (never an INP load), or left
        # in the weight buffer by its in-group producer (then nothing is loaded).
        weight_reads = {s for i, srcs in enumerate(spec.sources)
                        if spec.layers[i].kind == LayerKind.MATMUL for s in srcs[1:2]}
        act_reads = {s for i, srcs in enumerate(spec.sources) for k, s in enumerate(srcs)
                     if not (k == 1 and spec.layers[i].kind == LayerKind.MATMUL)}
        self.weight_ext = {s for s in weight_reads - act_reads if s < 0}
        self.weight_producers = {s for s in weight_reads - act_reads if s >= 0}
        self.onchip_weight = {i for i, srcs in enumerate(spec.sources)
                              if spec.layers[i].kind == LayerKind.MATMUL and srcs[1] >= 0}
        # channel ops whose (C, 1, 1) vector is computed in the group (a fused SE block):
        # every tile needs the whole vector, so its producers compute their whole maps
        self.onchip_broadcast = {i for i, srcs in enumerate(spec.sources)
                                 if spec.layers[i].kind in CHANNEL_KINDS and srcs[1] >= 0}
        # Neither a tile's ranges nor a layer's instructions depend on the core count, and
        # the planner's fit checks, its cost samples and the emitter ask for the same tiles
        # again and again, for every core count: both memos are per (group, hardware).
        self._ranges, self.emit_memo, self.fit_memo = _shared_memos(spec, hw)
        self._out_hw = [(layer.h_out, layer.w_out) for layer in spec.layers]
        # per layer and axis, what need() reads: (passthrough, transposed, k, s, pad, size_in)
        self._need = [tuple(_need_params(layer, axis) for axis in (0, 1)) for layer in spec.layers]
        # whether layer i feeds consumer j an operand every output row reads whole (a matmul's
        # weight operand, a channel op's vector)
        self._weight_feeds = [[self.feeds_weight(i, j) or self.feeds_broadcast(i, j)
                               for j in self.consumers[i]] for i in range(self.n)]
        # intermediates kept in the input buffer, with their last consumer (a matmul's
        # in-group second operand lives in the weight buffer instead)
        self.inter_last = {i: max(self.consumers[i]) for i in range(self.n)
                           if self.consumers[i] and i not in self.weight_producers}
        # hardware sizes the hot paths read (HardwareConfig derives them on every access)
        self._batch, self._inp_bits, self._acc_bits = hw.batch, hw.inp_bits, hw.acc_bits
        self._reads_inp = {ext: ext not in self.weight_ext
                           and any(spec.layers[u].is_gemm for u in users)
                           for ext, users in self.ext_users.items()}

    def feeds_weight(self, i: int, j: int) -> bool:
        """True when layer i is the weight operand of in-group matmul j."""
        return self.spec.layers[j].kind == LayerKind.MATMUL and self.spec.sources[j][1] == i

    def feeds_broadcast(self, i: int, j: int) -> bool:
        """True when layer i is the per-channel vector of in-group channel op j."""
        return self.spec.layers[j].kind in CHANNEL_KINDS and self.spec.sources[j][1] == i

    # ---- geometry ------------------------------------------------------------------
    def ranges(self, tile: Tile) -> Ranges:
        """Output (row_lo, row_hi, col_lo, col_hi) each layer computes for a last-layer tile
        (memoized per tile: treat the result as read-only)."""
        got = self._ranges.get(tile)
        if got is None:
            got = self._ranges[tile] = self._compute_ranges(tile)
        return got

    def _compute_ranges(self, tile: Tile) -> Ranges:
        out: list[tuple[int, int, int, int] | None] = [None] * self.n
        out[-1] = (tile.r0, tile.r1, tile.c0, tile.c1)
        H, W = self._out_hw[-1]
        for i in range(self.n - 2, -1, -1):
            rlo, rhi, clo, chi = 1 << 30, -1, 1 << 30, -1
            for j, weight in zip(self.consumers[i], self._weight_feeds[i]):
                cr0, cr1, cc0, cc1 = out[j]  # type: ignore[misc]
                if cr1 <= cr0 or cc1 <= cc0:
                    continue
                if weight:  # every output row reads the whole operand
                    a, b, c, d = 0, self._out_hw[i][0], 0, self._out_hw[i][1]
                else:
                    rows, cols = self._need[j]
                    a, b = _need(rows, cr0, cr1)
                    c, d = _need(cols, cc0, cc1)
                if a < rlo:
                    rlo = a
                if b > rhi:
                    rhi = b
                if c < clo:
                    clo = c
                if d > chi:
                    chi = d
            if self.spec.stores[i] or not self.consumers[i]:
                # its own share of the output, proportional to the tile, so that the
                # stores of all tiles cover the tensor exactly once
                h, w = self._out_hw[i]
                a, b = tile.r0 * h // H, tile.r1 * h // H
                c, d = tile.c0 * w // W, tile.c1 * w // W
                if b > a and d > c:
                    rlo, rhi, clo, chi = min(rlo, a), max(rhi, b), min(clo, c), max(chi, d)
            if rhi < 0:
                rlo, rhi, clo, chi = 0, 0, 0, 0
            out[i] = (rlo, rhi, clo, chi)
        return out  # type: ignore[return-value]

    def share(self, i: int, x: int, axis: int) -> int:
        return x * self._out_hw[i][axis] // self._out_hw[-1][axis]

    def store_share(self, i: int, tile: Tile) -> tuple[int, int]:
        """Rows and columns of layer i's own share of the output for ``tile`` (as share())."""
        (h, w), (H, W) = self._out_hw[i], self._out_hw[-1]
        return (tile.r1 * h // H - tile.r0 * h // H, tile.c1 * w // W - tile.c0 * w // W)

    def ext_window(self, ext: int, rng: Ranges) -> tuple[int, int, int, int]:
        """Rows and columns of external tensor ``ext`` that its users read for ``rng``."""
        users = self.ext_users[ext]
        if len(users) == 1:  # (the usual case)
            u = users[0]
            (a, b), (c, d) = (_need(self._need[u][0], rng[u][0], rng[u][1]),
                              _need(self._need[u][1], rng[u][2], rng[u][3]))
            return a, b, c, d
        rows = [_need(self._need[u][0], rng[u][0], rng[u][1]) for u in users]
        cols = [_need(self._need[u][1], rng[u][2], rng[u][3]) for u in users]
        return (min(a for a, _ in rows), max(b for _, b in rows),
                min(a for a, _ in cols), max(b for _, b in cols))

    def reads_into_inp(self, ext: int) -> bool:
        """A GEMM reads it (input buffer); ALU-only users read it into the accumulator, and
        a matmul's second operand comes into the weight buffer (with the weight loads)."""
        return self._reads_inp[ext]

    def reduction_band_rows(self, plan: Plan, i: int, chunk: int) -> int | None:
        """Input rows per band of a global pool that reads its input from DRAM into the
        accumulator (squeeze-and-excitation's squeeze of a 112x112 map does not fit it
        whole): the pool sums the map band by band into its running 1x1 result, so only
        one band and the result need to fit. None for every other layer."""
        layer = self.spec.layers[i]
        src = self.spec.sources[i][0]
        if layer.kind != LayerKind.GLOBAL_AVG_POOL or src >= 0 or self.reads_into_inp(src):
            return None
        free = (self.hw.acc_buff_bytes // plan.vthreads
                - self.acc_bytes(1, 1, chunk, layer.batch))
        row = self.acc_bytes(1, layer.w_in, chunk, layer.batch)
        return max(1, min(layer.h_in, free // row))

    def cout(self, plan: Plan, i: int) -> int:
        """Output channels layer i computes on one core (the last layer's slice under a
        channel split; every upstream layer is computed whole on every core)."""
        if plan.split == "channels" and i == self.n - 1:
            return max(b - a for a, b in plan.core_couts)
        return self.spec.layers[i].c_out

    def cin_chunk(self, plan: Plan, layer: Layer) -> int:
        """Input channels per GEMM pass (only a single-layer group chunks them)."""
        return plan.cin_chunk if self.n == 1 else layer.c_in

    def packs_taps(self, layer: Layer) -> bool:
        """Whether ``layer`` may run im2col-packed: a single-layer group's dense convolution
        whose input channels fill less than one block (ResNet's 3-channel conv1), with a
        kernel larger than 1x1. Its kh x kw x c_in taps become the GEMM's input channels
        (3 x 7 x 7 = 147 -> 3 blocks of 64 on mlu100 instead of 49 micro-ops on a block that
        is 95% zeros), as compilers lower small-channel layers (im2col / space-to-depth)."""
        return (self.n == 1 and layer.kind == LayerKind.CONV2D and layer.groups == 1
                and layer.c_in < self.bi and layer.kernel != (1, 1))

    @staticmethod
    def packed_channels(layer: Layer) -> int:
        """Input channels of the packed (im2col) GEMM: one per kernel tap and channel."""
        return layer.kernel[0] * layer.kernel[1] * layer.c_in

    # ---- per-layer work of a tile -------------------------------------------------
    def gemm_shape(self, layer: Layer, rows: int, cols: int, cout: int, cin: int,
                   packed: bool = False) -> tuple[int, int, int]:
        """(iter_out, iter_in, uops) of a GEMM producing rows x cols x cout outputs
        (``packed``: im2col, one micro-op per block of packed taps)."""
        iter_out = rows * cols * layer.batch // self._batch or 1
        iter_in = -(-cout // self.bo)
        if packed:
            return iter_out, iter_in, -(-self.packed_channels(layer) // self.bi)
        kind = layer.kind
        if kind == LayerKind.DEPTHWISE_CONV2D:
            cin_blocks = 1  # one diagonal weight block per output block
        else:
            cin_blocks = -(-min(cin, layer.c_in // layer.groups) // self.bi)
        kh, kw = layer.kernel
        if kind == LayerKind.CONV_TRANSPOSE2D:
            kh, kw = -(-kh // layer.stride[0]), -(-kw // layer.stride[1])
        return iter_out, iter_in, kh * kw * cin_blocks

    def weight_sram_bytes(self, layer: Layer, cout: int, cin: int, packed: bool = False) -> int:
        _, iter_in, uops = self.gemm_shape(layer, 1, 1, cout, cin, packed)
        if layer.kind == LayerKind.CONV_TRANSPOSE2D:
            # one GEMM runs one output phase's ceil(k/s)^2 sub-kernel, but the stride^2
            # phases of a tile together use every kernel position: all must be on chip
            (kh, kw), (sh, sw) = layer.kernel, layer.stride
            uops = uops // (-(-kh // sh) * -(-kw // sw)) * kh * kw
        return iter_in * uops * self.bi * self.bo * self.hw.wgt_bits // 8

    def act_bytes(self, rows: int, cols: int, channels: int, batch: int) -> int:
        bi = self.bi
        return rows * cols * (-(-channels // bi) * bi) * batch * self._inp_bits // 8

    def acc_bytes(self, rows: int, cols: int, channels: int, batch: int) -> int:
        bo = self.bo
        return rows * cols * (-(-channels // bo) * bo) * batch * self._acc_bits // 8


_GENERIC_NEED = (LayerKind.RESIZE_NEAREST, LayerKind.RESIZE_BILINEAR)


def _need_params(layer: Layer, axis: int) -> tuple:
    """What :func:`_need` reads of ``layer`` along ``axis``; kinds with their own window rule
    (resize) keep the layer and go through :func:`accelerator.lowering.spec.need` itself."""
    if layer.kind in _GENERIC_NEED:
        return (None, layer, axis)
    passthrough = layer.kind in (LayerKind.ADD, LayerKind.CONCAT) or layer.kind in CHANNEL_KINDS
    return (passthrough, layer.kind == LayerKind.CONV_TRANSPOSE2D, layer.kernel[axis],
            layer.stride[axis], layer.padding[axis], layer.h_in if axis == 0 else layer.w_in)


def _need(params: tuple, lo: int, hi: int) -> tuple[int, int]:
    """:func:`accelerator.lowering.spec.need` on precomputed parameters (the hot path)."""
    if params[0] is None:
        return need(params[1], lo, hi, params[2])
    passthrough, transposed, k, s, pad_, size_in = params
    if passthrough:
        return lo, hi
    if transposed:
        a = -((-(lo + pad_ - k + 1)) // s)
        b = (hi - 1 + pad_) // s + 1
    else:
        a = lo * s - pad_
        b = (hi - 1) * s - pad_ + k
    return (a if a > 0 else 0), (b if b < size_in else size_in)


MEMO_GROUPS = 64  # groups whose memos are kept (the oracle asks for each on every core count in a row)
_MEMOS: "OrderedDict[tuple, tuple[dict, dict, dict]]" = OrderedDict()


def _shared_memos(spec: GroupSpec, hw: HardwareConfig) -> tuple[dict, dict, dict]:
    """(tile -> ranges, plan fields -> layer key -> emitted instructions, fit-check key ->
    (chunks, reason)) of one group on one hardware, shared by its geometries on every core
    count (see emit.Emitter.layer and planner._try).
    Least recently used first out, emptied as it goes: the planner's cache keeps geometries
    (and so their memos) alive, and an emptied memo only means recomputing."""
    key = (spec, hw)
    memos = _MEMOS.get(key)
    if memos is None:
        memos = _MEMOS[key] = ({}, {}, {})
        if len(_MEMOS) > MEMO_GROUPS:
            for old in _MEMOS.popitem(last=False)[1]:
                old.clear()
    else:
        _MEMOS.move_to_end(key)
    return memos


def _clear_memos() -> None:
    while _MEMOS:
        for old in _MEMOS.popitem()[1]:
            old.clear()


_shared_memos.cache_clear = _clear_memos  # type: ignore[attr-defined]  # benchmarks' cold_reset
