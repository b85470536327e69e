"""Lowering: (fused group of layers, core count, hardware) -> per-core VTA-like instruction streams.

How a group is executed
-----------------------
- **Split across cores.** A group is split over output *rows* of its last layer (each core
  gets a contiguous band and computes everything upstream that band needs, halo included),
  or, for a single-layer group only, over *output channels* (each core reads the whole
  input and its slice of the weights). Multi-layer groups and 1 core use rows. For one
  layer, the split with the smaller estimated *time* wins, ``max(compute / active cores,
  DRAM bytes / bandwidth)`` (row split: every active core re-reads the weights; channel
  split: every active core re-reads the input, except a depthwise layer, whose cores read
  only their own channels); on a tie the one with fewer DRAM bytes. Bytes alone would
  always favour the split with fewer active cores. A dense layer, or a map with fewer rows
  than cores, takes the split with more active cores (rows on a tie); a map with fewer
  rows than cores leaves cores idle under a row split.
- **Tiles.** Each core walks its band in spatial tiles (rows x cols of the last layer's
  output). Tile ranges of every layer are back-propagated through the group, so fused
  layers compute the halo their consumers need; overlapping halos are recomputed, and
  the recompute is in the emitted GEMMs. The largest tile that fits is chosen.
- **Buffers.** Activations live in the input buffer as int8 with channels padded to
  BLOCK_IN (VTA's packed layout), accumulators in the accumulator buffer (int32). With
  2 virtual threads each thread owns half of the input and accumulator buffers (VTA's
  ``h_nthread``); when a single layer's weights are streamed, the threads instead alternate
  over output-channel chunks of one tile (``oc_nthread``): they share the whole input
  buffer, each owns half of the weight and accumulator buffers, and the next tile's input
  load waits for every compute of the previous tile. A fused intermediate stays in the input
  buffer: the compute module writes it there (one ALU pass per vector; our extension of
  VTA, which only has a DRAM path) and nothing goes through DRAM.
- **Weights** of the whole group stay resident if they fit the weight buffer (loaded once
  per core); otherwise they are re-streamed, chunk by chunk, for every tile (counted).
  A matmul of two activations (attention) takes its second operand through this weight
  path: loaded with the weights when it comes from DRAM, or left in the weight buffer by
  its producer inside the group (which must then be resident). Every output row reads
  that operand whole, so an in-group producer computes all of it for every tile, like a
  halo that covers the whole map.
- **ALU layers** (pools, sums, and the transformer kinds whose per-element pass counts
  are listed in :mod:`accelerator.op_costs`) run one ALU pass per vector per step.
- **Chunks.** Output channels are chunked to fit the accumulator buffer; input channels
  are chunked (partial sums kept in the accumulator) only in single-layer groups.
- **Steps and tokens.** A core's stream is a sequence of steps (loads, computes, stores).
  Dependency tokens implement VTA's virtual-thread double buffering: a step's loads wait
  (CMP->LD) for the compute of the step ``vthreads`` earlier, its compute waits (LD->CMP)
  for its loads and (ST->CMP) for the store of the step ``vthreads`` earlier, its stores
  wait (CMP->ST) for its compute. Pushes are emitted only where a pop will consume them,
  so every stream is balanced.

A group that cannot be tiled at all is *infeasible* and carries a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from math import ceil

from accelerator.config import HardwareConfig
from accelerator.isa import ALU, FINISH, GEMM, LOAD, MEM_ACC, MEM_INP, MEM_UOP, MEM_WGT, STORE, Insn
from accelerator.op_costs import alu_passes, has_recipe
from accelerator.workloads.network import Layer, LayerKind, Network

UOP_BYTES = 4  # VTA micro-ops are 32-bit
# Requantisation after a GEMM: add bias, shift right, then clamp with MAX and MIN (a
# folded ReLU is the MAX against zero instead of the int8 floor).
REQUANT_ALU_OPS = 4


@dataclass(frozen=True)
class GroupSpec:
    """A fused group, reduced to what decides its execution (the memo-cache key).

    ``sources[i]`` lists layer i's inputs: ``j >= 0`` is the group's j-th layer,
    ``-(k + 1)`` the k-th tensor coming from outside the group (DRAM).
    ``stores[i]`` says whether layer i's output is needed outside the group.
    """

    layers: tuple[Layer, ...]
    sources: tuple[tuple[int, ...], ...]
    stores: tuple[bool, ...]

    @staticmethod
    def from_network(network: Network, start: int, end: int) -> "GroupSpec":
        external: dict[int, int] = {}
        sources = []
        for i in range(start, end):
            srcs = []
            for p in network.layers[i].inputs or (-1,):  # -1: the network input
                if p >= start:
                    srcs.append(p - start)
                else:
                    srcs.append(-(external.setdefault(p, len(external)) + 1))
            sources.append(tuple(srcs))
        stores = tuple(not network.consumers[i] or max(network.consumers[i]) >= end
                       for i in range(start, end))
        return GroupSpec(tuple(network.layers[start:end]), tuple(sources), stores)

    @property
    def key(self) -> tuple:
        return tuple((layer.shape_key(), s, st)
                     for layer, s, st in zip(self.layers, self.sources, self.stores))

    @property
    def n_external(self) -> int:
        return -min((s for srcs in self.sources for s in srcs), default=0)


@dataclass
class LoweredGroup:
    """Per-core instruction streams plus what the plan decided (for reports and tests)."""

    programs: list[list[Insn]]  # one per core (an idle core has an empty list)
    cores: int
    split: str
    vthreads: int
    tile_rows: int
    tile_cols: int
    tiles: int
    weights_resident: bool
    macs: int  # useful MACs of the group's layers (recompute and padding not included)
    recompute_macs: int  # extra MACs computed for halos
    feasible: bool = True
    reason: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def macs_issued(self) -> int:
        """MACs the GEMM unit performs, padding lanes and halo recompute included."""
        return self.meta.get("gemm_macs_issued", self.macs)


class _Infeasible(Exception):
    pass


def _pad(c: int, block: int) -> int:
    return -(-c // block) * block


def _need(layer: Layer, lo: int, hi: int, axis: int) -> tuple[int, int]:
    """Input range [lo, hi) along ``axis`` (0 rows, 1 cols) needed for outputs [lo, hi)."""
    size_in = layer.h_in if axis == 0 else layer.w_in
    kind = layer.kind
    if kind in (LayerKind.ADD, LayerKind.CONCAT):
        return lo, hi
    k, s, pad = layer.kernel[axis], layer.stride[axis], layer.padding[axis]
    if kind == LayerKind.CONV_TRANSPOSE2D:
        a = -((-(lo + pad - k + 1)) // s)
        b = (hi - 1 + pad) // s + 1
    else:
        a = lo * s - pad
        b = (hi - 1) * s - pad + k
    return max(0, a), min(size_in, b)


def _out_size(layer: Layer, axis: int) -> int:
    return layer.h_out if axis == 0 else layer.w_out


class _Planner:
    """Tile-size search and instruction emission for one (group, cores, hardware)."""

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
        # last in-group consumer of every external tensor / intermediate
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

    def feeds_weight(self, i: int, j: int) -> bool:
        """True when layer i is the weight operand of in-group matmul j."""
        return self.spec.layers[j].kind == LayerKind.MATMUL and self.spec.sources[j][1] == i

    # ---- geometry ------------------------------------------------------------------
    def ranges(self, r0: int, r1: int, c0: int, c1: int) -> list[tuple[int, int, int, int]]:
        """Output (row_lo, row_hi, col_lo, col_hi) each layer computes for a last-layer tile."""
        H, W = self.last.h_out, self.last.w_out
        out: list[tuple[int, int, int, int] | None] = [None] * self.n
        out[-1] = (r0, r1, c0, c1)
        for i in range(self.n - 2, -1, -1):
            layer = self.spec.layers[i]
            rlo, rhi, clo, chi = 1 << 30, -1, 1 << 30, -1
            for j in self.consumers[i]:
                cr0, cr1, cc0, cc1 = out[j]  # type: ignore[misc]
                if cr1 <= cr0 or cc1 <= cc0:
                    continue
                if self.feeds_weight(i, j):  # every output row reads the whole operand
                    a, b, c, d = 0, layer.h_out, 0, layer.w_out
                else:
                    a, b = _need(self.spec.layers[j], cr0, cr1, 0)
                    c, d = _need(self.spec.layers[j], cc0, cc1, 1)
                rlo, rhi, clo, chi = min(rlo, a), max(rhi, b), min(clo, c), max(chi, d)
            if self.spec.stores[i] or not self.consumers[i]:
                # its own share of the output, proportional to the tile, so that the
                # stores of all tiles cover the tensor exactly once
                a, b = self.share(i, r0, r1, H, 0), self.share(i, r1, r1, H, 0)
                c, d = self.share(i, c0, c0, W, 1), self.share(i, c1, c1, W, 1)
                if b > a and d > c:
                    rlo, rhi, clo, chi = min(rlo, a), max(rhi, b), min(clo, c), max(chi, d)
            if rhi < 0:
                rlo, rhi, clo, chi = 0, 0, 0, 0
            out[i] = (rlo, rhi, clo, chi)
        return out  # type: ignore[return-value]

    def share(self, i: int, x: int, _unused: int, total: int, axis: int) -> int:
        size = _out_size(self.spec.layers[i], axis)
        return x * size // total

    def store_share(self, i: int, r0: int, r1: int, c0: int, c1: int) -> tuple[int, int]:
        H, W = self.last.h_out, self.last.w_out
        layer = self.spec.layers[i]
        rows = r1 * layer.h_out // H - r0 * layer.h_out // H
        cols = c1 * layer.w_out // W - c0 * layer.w_out // W
        return rows, cols

    # ---- per-layer work of a tile -------------------------------------------------
    def gemm_shape(self, layer: Layer, rows: int, cols: int, cout: int, cin: int
                   ) -> tuple[int, int, int]:
        """(iter_out, iter_in, uops) of a GEMM producing rows x cols x cout outputs."""
        hw = self.hw
        iter_out = rows * cols * layer.batch // hw.batch or 1
        iter_in = -(-cout // self.bo)
        cin_blocks = -(-min(cin, layer.c_in // layer.groups) // self.bi)
        if layer.kind == LayerKind.DEPTHWISE_CONV2D:
            cin_blocks = 1  # one diagonal weight block per output block
        kh, kw = layer.kernel
        if layer.kind == LayerKind.CONV_TRANSPOSE2D:
            kh, kw = -(-kh // layer.stride[0]), -(-kw // layer.stride[1])
        return iter_out, iter_in, kh * kw * cin_blocks

    def weight_sram_bytes(self, layer: Layer, cout: int, cin: int) -> int:
        _, iter_in, uops = self.gemm_shape(layer, 1, 1, cout, cin)
        if layer.kind == LayerKind.CONV_TRANSPOSE2D:
            # one GEMM runs one output phase's ceil(k/s)^2 sub-kernel, but the stride^2
            # phases of a tile together use every kernel position: all must be on chip
            (kh, kw), (sh, sw) = layer.kernel, layer.stride
            uops = uops // (-(-kh // sh) * -(-kw // sw)) * kh * kw
        return iter_in * uops * self.bi * self.bo * self.hw.wgt_bits // 8

    def act_bytes(self, rows: int, cols: int, channels: int, batch: int) -> int:
        return rows * cols * _pad(channels, self.bi) * batch * self.hw.inp_bits // 8

    def acc_bytes(self, rows: int, cols: int, channels: int, batch: int) -> int:
        return rows * cols * _pad(channels, self.bo) * batch * self.hw.acc_bits // 8


@dataclass
class _Plan:
    split: str
    vthreads: int
    tile_rows: int
    tile_cols: int
    cout_chunk: list[int]
    cin_chunk: int
    resident: bool
    core_rows: list[tuple[int, int]]  # per core: band of last-layer rows
    core_couts: list[tuple[int, int]]  # per core: output-channel slice (channel split)


def _choose_split(p: _Planner) -> str:
    spec, cores, last = p.spec, p.cores, p.last
    if cores == 1 or p.n > 1:
        return "rows"
    layer = spec.layers[0]
    rows_active = min(cores, last.h_out)
    blocks = -(-last.c_out // p.bo)
    chan_active = min(cores, blocks)
    if layer.kind == LayerKind.DENSE or last.h_out < cores:
        return "channels" if chan_active > rows_active else "rows"
    in_bytes, w_bytes = layer.input_bytes(), layer.weight_bytes()
    rows_cost = in_bytes + w_bytes * rows_active
    chan_cost = in_bytes * chan_active + w_bytes
    if layer.kind == LayerKind.DEPTHWISE_CONV2D:
        chan_cost = in_bytes + w_bytes  # each core reads only its own channels
    # compare estimated time, not bytes alone: bytes always favour the split with fewer
    # active cores (a 16-channel layer split by channels runs on one core of 16)
    hw = p.hw
    work = layer.macs / hw.macs_per_cycle + layer.output_elements * hw.alu_ii / hw.block_out
    bw = hw.dram_bandwidth_bytes_per_cycle
    rows_time = max(work / rows_active, rows_cost / bw)
    chan_time = max(work / chan_active, chan_cost / bw)
    if rows_time != chan_time:
        return "channels" if chan_time < rows_time else "rows"
    return "channels" if chan_cost < rows_cost else "rows"


def _bands(total: int, parts: int, granule: int = 1) -> list[tuple[int, int]]:
    units = -(-total // granule)
    per = -(-units // parts)
    out = []
    for c in range(parts):
        a, b = min(total, c * per * granule), min(total, (c + 1) * per * granule)
        out.append((a, b))
    return out


def _fits(p: _Planner, plan: _Plan, r0: int, r1: int, c0: int, c1: int, cout_core: int
          ) -> str | None:
    """None if every buffer holds this tile, else the reason it does not."""
    hw, spec, vt = p.hw, p.spec, plan.vthreads
    inp_cap, acc_cap = hw.inp_buff_bytes // vt, hw.acc_buff_bytes // vt
    wgt_cap = hw.wgt_buff_bytes if plan.resident else hw.wgt_buff_bytes // vt
    if _shares_input(p, plan):
        inp_cap = hw.inp_buff_bytes  # threads split output channels, not the input tile
    uop_cap = hw.uop_buff_bytes // UOP_BYTES
    rng = p.ranges(r0, r1, c0, c1)
    single = p.n == 1
    # external tensors: loaded at tile start, live until their last consumer
    ext_bytes: dict[int, int] = {}
    for ext, users in p.ext_users.items():
        if not any(spec.layers[u].is_gemm for u in users) or ext in p.weight_ext:
            continue  # read into the accumulator (LOAD ACC) or the weight buffer
        rows = [(_need(spec.layers[u], rng[u][0], rng[u][1], 0)) for u in users]
        cols = [(_need(spec.layers[u], rng[u][2], rng[u][3], 1)) for u in users]
        nr = max(b for _, b in rows) - min(a for a, _ in rows)
        nc = max(b for _, b in cols) - min(a for a, _ in cols)
        layer = spec.layers[users[0]]
        ch = layer.c_in if layer.kind != LayerKind.CONCAT else layer.c_in  # upper bound
        if single and layer.is_gemm:
            ch = min(ch, plan.cin_chunk)
        if single and layer.kind == LayerKind.DEPTHWISE_CONV2D and plan.split == "channels":
            ch = min(ch, cout_core)  # a depthwise core reads only its own channels
        ext_bytes[ext] = p.act_bytes(max(nr, 0), max(nc, 0), ch, layer.batch)
    inter_last = {i: max(p.consumers[i]) for i in range(p.n)
                  if p.consumers[i] and i not in p.weight_producers}  # those: weight buffer
    for i, layer in enumerate(spec.layers):
        rows, cols = rng[i][1] - rng[i][0], rng[i][3] - rng[i][2]
        if rows <= 0 or cols <= 0:
            continue
        if i in p.onchip_weight and not plan.resident:
            return (f"layer {layer.name}: its on-chip second operand must stay in the weight "
                    "buffer, and the group's weights do not fit it")
        cout = cout_core if (single and plan.split == "channels") else layer.c_out
        live = sum(b for e, b in ext_bytes.items() if p.ext_last[e] >= i)
        live += sum(p.act_bytes(rng[j][1] - rng[j][0], rng[j][3] - rng[j][2],
                                spec.layers[j].c_out, spec.layers[j].batch)
                    for j, lc in inter_last.items() if j < i and lc >= i)
        if i in inter_last:
            live += p.act_bytes(rows, cols, layer.c_out, layer.batch)
        if live > inp_cap:
            return (f"layer {layer.name}: a {rows}x{cols} tile needs {live} B of input buffer, "
                    f"{inp_cap} B available per virtual thread")
        chunk = min(plan.cout_chunk[i], cout)
        if layer.is_gemm:
            acc = p.acc_bytes(rows, cols, chunk, layer.batch)
            iter_out, iter_in, uops = p.gemm_shape(layer, rows, cols, chunk,
                                                   plan.cin_chunk if single else layer.c_in)
            if uops > uop_cap:
                return f"layer {layer.name}: {uops} micro-ops exceed the {uop_cap}-entry uop buffer"
            if not plan.resident:
                wb = p.weight_sram_bytes(layer, chunk, plan.cin_chunk if single else layer.c_in)
                if wb > wgt_cap:
                    return (f"layer {layer.name}: a {chunk}-channel weight chunk needs {wb} B, "
                            f"{wgt_cap} B of weight buffer available")
        else:
            in_rows, in_cols = _need(layer, rng[i][0], rng[i][1], 0), _need(layer, rng[i][2], rng[i][3], 1)
            acc = (p.acc_bytes(rows, cols, chunk, layer.batch)
                   + p.acc_bytes(in_rows[1] - in_rows[0], in_cols[1] - in_cols[0], chunk,
                                 layer.batch))
        if acc > acc_cap:
            return (f"layer {layer.name}: a {rows}x{cols}x{chunk} tile needs {acc} B of "
                    f"accumulator buffer, {acc_cap} B available per virtual thread")
    return None


def _cout_chunks(p: _Planner, plan: _Plan, rng: list[tuple[int, int, int, int]],
                 cout_core: int) -> list[int]:
    """Largest output-channel chunk per layer that fits the accumulator (and weight) buffer."""
    hw, vt = p.hw, plan.vthreads
    chunks = []
    for i, layer in enumerate(p.spec.layers):
        cout = cout_core if (p.n == 1 and plan.split == "channels") else layer.c_out
        r0, r1, c0, c1 = rng[i]
        rows, cols = max(r1 - r0, 1), max(c1 - c0, 1)
        per_block = p.acc_bytes(rows, cols, p.bo, layer.batch)
        if not layer.is_gemm:  # ALU layers hold their input tile in the accumulator too
            a, b = _need(layer, r0, r1, 0)
            c, d = _need(layer, c0, c1, 1)
            per_block += p.acc_bytes(max(b - a, 1), max(d - c, 1), p.bo, layer.batch)
        blocks = max(1, (hw.acc_buff_bytes // vt) // max(1, per_block))
        if layer.is_gemm and not plan.resident:
            wb = max(1, p.weight_sram_bytes(layer, p.bo, plan.cin_chunk if p.n == 1 else layer.c_in))
            blocks = max(1, min(blocks, (hw.wgt_buff_bytes // vt) // wb))
        chunks.append(min(_pad(cout, p.bo), blocks * p.bo))
    return chunks


def _plan(p: _Planner) -> _Plan:
    hw, spec, cores, last = p.hw, p.spec, p.cores, p.last
    split = _choose_split(p)
    H, W = last.h_out, last.w_out
    if split == "rows":
        core_rows = _bands(H, cores)
        core_couts = [(0, last.c_out)] * cores
    else:
        core_rows = [(0, H)] * cores
        core_couts = _bands(last.c_out, cores, p.bo)
    cout_core = max(b - a for a, b in core_couts)
    band = max(b - a for a, b in core_rows)
    weights = sum(p.weight_sram_bytes(layer, cout_core if split == "channels" else layer.c_out,
                                      layer.c_in)
                  for layer in spec.layers if layer.is_gemm)
    resident = weights <= hw.wgt_buff_bytes
    cin_full = max(layer.c_in for layer in spec.layers)
    reason = "no tile fits"
    for vt in sorted({hw.virtual_threads, 1}, reverse=True):
        cin_options = [cin_full]
        if p.n == 1 and spec.layers[0].is_gemm:
            c = _pad(cin_full, p.bi)
            while c > p.bi:
                c = _pad(c // 2, p.bi)
                cin_options.append(c)
        for cin_chunk in cin_options:
            col_options = []
            wt = W
            while True:
                col_options.append(wt)
                if wt == 1:
                    break
                wt = -(-wt // 2)
            for wt in col_options:
                plan = _Plan(split, vt, 1, wt, [], cin_chunk, resident, core_rows, core_couts)
                # binary search the largest tile height that fits
                lo, hi, best = 1, max(1, band), 0
                while lo <= hi:
                    t = (lo + hi) // 2
                    if _try(p, plan, t, wt, cout_core, band) is None:
                        best, lo = t, t + 1
                    else:
                        hi = t - 1
                if best:
                    plan.tile_rows = best
                    _try(p, plan, best, wt, cout_core, band)
                    return plan
                reason = _try(p, plan, 1, wt, cout_core, band) or reason
    raise _Infeasible(reason)


def _try(p: _Planner, plan: _Plan, t: int, wt: int, cout_core: int, band: int) -> str | None:
    """Check every distinct tile position of the core with the tallest band; sets chunks."""
    H, W = p.last.h_out, p.last.w_out
    a, b = max(((a, b) for a, b in plan.core_rows), key=lambda r: r[1] - r[0])
    # interior tile positions cover the largest halos; border tiles are clipped smaller
    r_mid = min(max(a, (a + b) // 2 - t // 2), max(a, b - t))
    c_mid = min(max(0, W // 2 - wt // 2), max(0, W - wt))
    probes = {(a, min(b, a + t)), (r_mid, min(b, r_mid + t))}
    for r0, r1 in probes:
        for c0, c1 in {(0, min(W, wt)), (c_mid, min(W, c_mid + wt))}:
            rng = p.ranges(r0, r1, c0, c1)
            plan.cout_chunk = _cout_chunks(p, plan, rng, cout_core)
            reason = _fits(p, plan, r0, r1, c0, c1, cout_core)
            if reason:
                return reason
    return None


# ---- emission -------------------------------------------------------------------------
def _shares_input(p: _Planner, plan: _Plan) -> bool:
    """Streamed weights of a single layer, input loaded once per tile: the virtual threads
    alternate over output-channel chunks of one tile (VTA's ``oc_nthread``), so they share
    the whole input buffer and split the weight and accumulator buffers. (VTA threads split
    either the output channels or the rows, never both.)"""
    layer = p.spec.layers[0]
    return (plan.vthreads > 1 and p.n == 1 and layer.is_gemm and not plan.resident
            and plan.cin_chunk >= layer.c_in)


class _Step:
    __slots__ = ("loads", "computes", "stores", "drain")

    def __init__(self, drain: bool = False) -> None:
        self.loads: list[Insn] = []
        self.computes: list[Insn] = []
        self.stores: list[Insn] = []
        # its loads overwrite a buffer every thread reads: wait for all earlier computes
        self.drain = drain


def _emit_core(p: _Planner, plan: _Plan, core: int) -> tuple[list[Insn], int, int]:
    """Instruction stream of one core; returns (program, tiles, gemm_macs_issued)."""
    hw, spec = p.hw, p.spec
    r_lo, r_hi = plan.core_rows[core]
    k_lo, k_hi = plan.core_couts[core]
    if r_hi <= r_lo or k_hi <= k_lo:
        return [], 0, 0
    W = p.last.w_out
    single = p.n == 1
    chan_split = plan.split == "channels"
    steps: list[_Step] = []
    tiles = 0
    macs_issued = 0
    first = True
    shared_input = _shares_input(p, plan)
    for r0 in range(r_lo, r_hi, plan.tile_rows):
        r1 = min(r_hi, r0 + plan.tile_rows)
        for c0 in range(0, W, plan.tile_cols):
            c1 = min(W, c0 + plan.tile_cols)
            tiles += 1
            rng = p.ranges(r0, r1, c0, c1)
            step = _Step(drain=shared_input and not first)
            steps.append(step)
            if first:
                first = False
                for i, layer in enumerate(spec.layers):
                    cout = (k_hi - k_lo) if chan_split else layer.c_out
                    if layer.is_gemm:
                        _, _, uops = p.gemm_shape(layer, 1, 1, cout, plan.cin_chunk if single else layer.c_in)
                        step.computes.append(Insn(LOAD, MEM_UOP, nbytes=uops * UOP_BYTES, layer=i))
                        if plan.resident and i not in p.onchip_weight:
                            step.loads.append(Insn(LOAD, MEM_WGT, layer=i, nbytes=p.weight_sram_bytes(
                                layer, cout, layer.c_in)))
            # external inputs of the tile (once per tensor, union of what its users need)
            ext_done: set[int] = set()
            for i, layer in enumerate(spec.layers):
                rows, cols = rng[i][1] - rng[i][0], rng[i][3] - rng[i][2]
                if rows <= 0 or cols <= 0:
                    continue
                cout_total = (k_hi - k_lo) if chan_split else layer.c_out
                for s in spec.sources[i]:
                    if s >= 0 or s in ext_done or s in p.weight_ext:
                        continue  # (a weight-path operand comes with the weight loads)
                    ext_done.add(s)
                    users = p.ext_users[s]
                    rr = [_need(spec.layers[u], rng[u][0], rng[u][1], 0) for u in users]
                    cc = [_need(spec.layers[u], rng[u][2], rng[u][3], 1) for u in users]
                    nr = max(b for _, b in rr) - min(a for a, _ in rr)
                    nc = max(b for _, b in cc) - min(a for a, _ in cc)
                    if layer.kind == LayerKind.CONCAT:
                        ch = layer.c_in // max(1, len(spec.sources[i]))
                    elif layer.kind == LayerKind.DEPTHWISE_CONV2D and chan_split:
                        ch = k_hi - k_lo  # a depthwise core reads only its own channels
                    else:
                        ch = layer.c_in
                    if any(spec.layers[u].is_gemm for u in users):
                        if single and plan.cin_chunk < ch:
                            continue  # loaded per input-channel chunk below
                        step.loads.append(Insn(LOAD, MEM_INP, layer=i,
                                               nbytes=p.act_bytes(nr, nc, ch, layer.batch)))
                    # ALU-only consumers read it chunk by chunk into the accumulator
                    # (LOAD ACC, compute queue): see _emit_layer
                step, macs = _emit_layer(p, plan, steps, step, i, layer, rows, cols, cout_total,
                                         r0, r1, c0, c1, rng[i])
                macs_issued += macs
    program = _link(steps, plan.vthreads)
    return program, tiles, macs_issued


def _emit_layer(p: _Planner, plan: _Plan, steps: list[_Step], step: _Step, i: int,
                layer: Layer, rows: int, cols: int, cout_total: int,
                r0: int, r1: int, c0: int, c1: int, rng_i: tuple[int, int, int, int]
                ) -> tuple[_Step, int]:
    hw, spec = p.hw, p.spec
    r0_i, r1_i, c0_i, c1_i = rng_i
    single = p.n == 1
    chunk = min(plan.cout_chunk[i], _pad(cout_total, p.bo))
    macs = 0
    store_rows, store_cols = p.store_share(i, r0, r1, c0, c1)
    for k0 in range(0, cout_total, chunk):
        kc = min(chunk, cout_total - k0)
        if layer.is_gemm:
            cin_total = layer.c_in
            ci_chunk = plan.cin_chunk if single else cin_total
            n_ci = -(-cin_total // ci_chunk)
            for ci in range(n_ci):
                cic = min(ci_chunk, cin_total - ci * ci_chunk)
                need_new_step = step.computes and (not plan.resident or n_ci > 1)
                if need_new_step:
                    step = _Step()
                    steps.append(step)
                if n_ci > 1:
                    rr = _need(layer, r0, r1, 0) if single else (0, 0)
                    cc = _need(layer, c0, c1, 1) if single else (0, 0)
                    step.loads.append(Insn(LOAD, MEM_INP, layer=i, nbytes=p.act_bytes(
                        rr[1] - rr[0], cc[1] - cc[0], cic, layer.batch)))
                if not plan.resident:
                    step.loads.append(Insn(LOAD, MEM_WGT, layer=i,
                                           nbytes=p.weight_sram_bytes(layer, kc, cic)))
                iter_out, iter_in, uops = p.gemm_shape(layer, rows, cols, kc, cic)
                step.computes.append(Insn(GEMM, iter_out=iter_out, iter_in=iter_in, uops=uops,
                                          cycles=iter_out * iter_in * uops * hw.gemm_ii, layer=i))
                macs += iter_out * iter_in * uops * hw.macs_per_cycle * hw.gemm_ii
            alu_ops = REQUANT_ALU_OPS
        else:
            ext_inputs = [x for x in spec.sources[i] if x < 0
                          and not any(spec.layers[u].is_gemm for u in p.ext_users[x])]
            if ext_inputs:
                rr, cc = _need(layer, r0_i, r1_i, 0), _need(layer, c0_i, c1_i, 1)
                share = kc if layer.kind != LayerKind.CONCAT else kc // len(spec.sources[i])
                for _ in ext_inputs:
                    step.computes.append(Insn(LOAD, MEM_ACC, layer=i, nbytes=p.act_bytes(
                        rr[1] - rr[0], cc[1] - cc[0], max(share, 1), layer.batch)))
            kh, kw = layer.kernel
            if layer.kind in (LayerKind.MAX_POOL,):
                alu_ops = kh * kw + 2
            elif layer.kind in (LayerKind.AVG_POOL, LayerKind.GLOBAL_AVG_POOL):
                alu_ops = kh * kw + 3  # sum, shift (power-of-two divisor), clamp
            elif layer.kind == LayerKind.ADD:
                alu_ops = len(spec.sources[i]) - 1 + 2
            elif has_recipe(layer.kind.value):  # softmax, layernorm, gelu, lrn, mul, sub
                alu_ops = alu_passes(layer.kind.value)
            else:  # concat: place each input in its channel range
                alu_ops = 1
        iter_out = rows * cols * layer.batch // hw.batch or 1
        iter_in = -(-kc // p.bo)
        if p.consumers[i]:
            alu_ops += 1  # write the fused intermediate into the input buffer
        step.computes.append(Insn(ALU, iter_out=iter_out, iter_in=iter_in, uops=alu_ops,
                                  alu_ops=alu_ops,
                                  cycles=iter_out * iter_in * alu_ops * hw.alu_ii, layer=i))
        if spec.stores[i] and store_rows > 0 and store_cols > 0:
            step.stores.append(Insn(STORE, "OUT", layer=i, nbytes=p.act_bytes(
                store_rows, store_cols, kc, layer.batch)))
    return step, macs


def _link(steps: list[_Step], vt: int) -> list[Insn]:
    """Set dependency flags (see module docstring) and flatten into fetch order."""
    n = len(steps)
    program: list[Insn] = []
    skip = 0  # CMP->LD tokens already taken by an earlier draining step
    for s, step in enumerate(steps):
        if not step.loads:  # every step loads something, so the LD->CMP chain is regular
            step.loads.append(Insn(LOAD, MEM_INP, nbytes=0))
        if skip:
            skip -= 1
        elif s >= vt and step.drain and s + vt <= n:
            # take the tokens of steps s-vt .. s-1 now (the next vt-1 steps take none)
            for _ in range(vt - 1):
                step.loads.insert(0, Insn(LOAD, MEM_INP, nbytes=0))
            for insn in step.loads[:vt]:
                insn.pop_next = True
            skip = vt - 1
        elif s >= vt:
            step.loads[0].pop_next = True  # CMP->LD: the buffer half is free again
        step.loads[-1].push_next = True  # LD->CMP
        c = step.computes
        c[0].pop_prev = True  # LD->CMP
        if s >= vt and steps[s - vt].stores:
            c[0].pop_next = True  # ST->CMP: the output half has been stored
        if s + vt < n:
            c[-1].push_prev = True  # CMP->LD
        if step.stores:
            c[-1].push_next = True  # CMP->ST
            step.stores[0].pop_prev = True
            if s + vt < n:
                step.stores[-1].push_prev = True  # ST->CMP
        program.extend(step.loads)
        program.extend(c)
        program.extend(step.stores)
    program.append(Insn(FINISH))
    return program


@lru_cache(maxsize=16384)
def _plan_cached(spec: GroupSpec, cores: int, hw: HardwareConfig) -> tuple[_Planner, _Plan] | str:
    """The tiling plan (small), or why there is none. Feasibility needs only this."""
    p = _Planner(spec, cores, hw)
    try:
        return p, _plan(p)
    except _Infeasible as err:
        return str(err)


def infeasibility(spec: GroupSpec, cores: int, hw: HardwareConfig) -> str | None:
    """Why ``spec`` cannot run on ``cores`` cores (None if it can): planning only, no emission."""
    planned = _plan_cached(spec, cores, hw)
    return planned if isinstance(planned, str) else None


# Instruction streams are large (hundreds of thousands of instructions for a big group) and
# each group is simulated once (results are memoized by the evaluator), so only the last
# few are kept, for re-simulation with a trace.
@lru_cache(maxsize=32)
def _lower_cached(spec: GroupSpec, cores: int, hw: HardwareConfig) -> LoweredGroup:
    return _lower(spec, cores, hw)


def _lower(spec: GroupSpec, cores: int, hw: HardwareConfig) -> LoweredGroup:
    macs = sum(layer.macs for layer in spec.layers)
    planned = _plan_cached(spec, cores, hw)
    if isinstance(planned, str):
        return LoweredGroup([], cores, "", 0, 0, 0, 0, False, macs, 0, False, planned)
    p, plan = planned
    programs, tiles, issued = [], 0, 0
    for core in range(cores):
        prog, t, m = _emit_core(p, plan, core)
        programs.append(prog)
        tiles += t
        issued += m
    return LoweredGroup(programs, cores, plan.split, plan.vthreads, plan.tile_rows,
                        plan.tile_cols, tiles, plan.resident, macs, 0,
                        meta={"gemm_macs_issued": issued, "cin_chunk": plan.cin_chunk,
                              "cout_chunk": list(plan.cout_chunk)})


def lower_group(spec: GroupSpec, cores: int, hw: HardwareConfig) -> LoweredGroup:
    """Per-core instruction streams for ``spec`` on ``cores`` cores (memoized)."""
    return _lower_cached(spec, cores, hw)
