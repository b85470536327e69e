"""Instruction emission: a plan's tiles -> per-core steps (loads, computes, stores) ->
one VTA instruction stream per core with its dependency tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from fusiongym.accelerator.isa import ALU, FINISH, GEMM, LOAD, MEM_ACC, MEM_INP, MEM_UOP, MEM_WGT, STORE, Insn
from fusiongym.accelerator.lowering.fit import shares_input
from fusiongym.accelerator.lowering.spec import need, pad
from fusiongym.accelerator.lowering.tiling import UOP_BYTES, GroupGeometry, Plan, Ranges, Tile, _need
from fusiongym.accelerator.op_costs import REQUANT_PASSES, activation_passes, alu_passes, has_recipe
from fusiongym.accelerator.workloads.network import CHANNEL_KINDS, Layer, LayerKind

# Requantisation after a GEMM on VTA's ALU: add bias, shift right, then clamp with MAX and
# MIN (a folded ReLU is the MAX against zero instead of the int8 floor).
REQUANT_ALU_OPS = 4


class Step:
    __slots__ = ("loads", "computes", "stores", "drain")

    def __init__(self, drain: bool = False) -> None:
        self.loads: list[Insn] = []
        self.computes: list[Insn] = []
        self.stores: list[Insn] = []
        # its loads overwrite a buffer every thread reads: wait for all earlier computes
        self.drain = drain


class TileJob(NamedTuple):
    """One tile of one core: which output channels, which chunks, what to load (a named
    tuple: one is made for every tile of every core of every plan estimated)."""

    tile: Tile
    couts: tuple[int, int]  # the core's slice of the last layer's output channels
    chunk: int | None = None  # weight-stationary order: only this output-channel chunk
    load_weights: bool = True  # streamed weights: load them (False: still on chip)
    above: Tile | None = None  # line buffer: the previous row tile (its rows are on chip)
    drain: bool = False


@dataclass(frozen=True)
class LayerWork:
    """What layer ``i`` computes in one tile."""

    i: int
    layer: Layer
    rng: tuple[int, int, int, int]  # rows / cols it computes (line buffer: new rows only)
    cout: int  # output channels it computes on this core
    job: TileJob


class Emitter:
    """Emits the steps of one (group, cores, hardware, plan)."""

    def __init__(self, g: GroupGeometry, plan: Plan):
        self.g, self.plan, self.hw = g, plan, g.hw

        self.steps: list[Step] = []
        self.macs = 0
        # what the plan fixes for every tile (the rest is in Emitter._layer_key)
        self.plan_key = (plan.split, plan.resident, tuple(plan.cout_chunk), plan.cin_chunk,
                         plan.im2col)
        self.memo = g.emit_memo.setdefault(self.plan_key, {})
        static = self.memo.get(("static",))
        if static is None:  # (the same for every emitter of this group and plan key)
            static = self.memo[("static",)] = self._static()
        (self._chunked_input, self._alu_loads, self._ext_sources, self._acc_inputs,
         self._ext_channels) = static
        self._gemm_ii = self.hw.gemm_ii
        self._macs_per_uop = self.hw.macs_per_cycle * self.hw.gemm_ii  # MACs one GEMM uop issues

    def _static(self) -> tuple:
        """Per layer, what the key of :meth:`layer` needs that no tile changes: whether a
        GEMM loads its input per input-channel chunk, whether an ALU layer loads external
        inputs (its key then holds their clipped window); its external inputs; which of
        them come from DRAM into the accumulator (LOAD ACC); and the memo of
        :meth:`_external_channels`."""
        g, plan = self.g, self.plan
        layers, sources = g.spec.layers, g.spec.sources
        chunked_input = [layer.is_gemm and -(-layer.c_in // g.cin_chunk(plan, layer)) > 1
                         for layer in layers]
        alu_loads = [not layer.is_gemm and bool(sources[i]) for i, layer in enumerate(layers)]
        ext_sources = [tuple(s for s in srcs if s < 0) for srcs in sources]
        acc_inputs = [[k for k, x in enumerate(srcs) if x < 0 and not g.reads_into_inp(x)]
                      for srcs in sources]
        ext_channels: dict[tuple[int, int], int | None] = {}
        return chunked_input, alu_loads, ext_sources, acc_inputs, ext_channels

    def preamble(self, step: Step, couts: tuple[int, int]) -> None:
        """Micro-op kernels (and resident weights) of every layer, once per core (the same
        for every core with the same channels: replayed like :meth:`layer`)."""
        key = ("preamble", couts)
        recorded = self.memo.get(key)
        if recorded is None:
            fresh = Step()
            self._preamble(fresh, couts)
            recorded = self.memo[key] = (fresh.loads, fresh.computes)
        step.loads.extend(recorded[0])
        step.computes.extend(recorded[1])

    def _preamble(self, step: Step, couts: tuple[int, int]) -> None:
        g, plan = self.g, self.plan
        for i, layer in enumerate(g.spec.layers):
            if not layer.is_gemm:
                continue
            cout = couts[1] - couts[0] if i == g.n - 1 else g.cout(plan, i)
            _, _, uops = g.gemm_shape(layer, 1, 1, cout, g.cin_chunk(plan, layer), plan.im2col)
            step.computes.append(Insn(LOAD, MEM_UOP, nbytes=uops * UOP_BYTES, layer=i))
            if plan.resident and i not in g.onchip_weight:  # (else its producer left it)
                nbytes = g.weight_sram_bytes(layer, cout, layer.c_in, plan.im2col)
                step.loads.append(Insn(LOAD, MEM_WGT, layer=i, nbytes=nbytes,
                                       share_key=self.same_weights(i, couts, nbytes)))

    def tile(self, job: TileJob, first: bool) -> None:
        """Steps of one tile: its external inputs, then every layer's chunks."""
        g = self.g
        rng = g.ranges(job.tile)
        above = g.ranges(job.above) if job.above else None
        step = Step(drain=job.drain)
        self.steps.append(step)
        if first:
            self.preamble(step, job.couts)
        ext_done: set[int] = set()
        last = g.n - 1
        consumers, ext_sources = g.consumers, self._ext_sources
        for i, layer in enumerate(g.spec.layers):
            r = rng[i]
            if above is not None and consumers[i]:  # rows above are on chip already
                r = (max(r[0], above[i][1]), r[1], r[2], r[3])
            if r[1] <= r[0] or r[3] <= r[2]:
                continue
            for s in ext_sources[i]:
                if s not in ext_done:
                    ext_done.add(s)
                    self.load_external(step, s, i, job, rng, above)
            cout = job.couts[1] - job.couts[0] if i == last else layer.c_out
            step = self.layer(step, i, layer, r, cout, job)

    def load_external(self, step: Step, ext: int, i: int, job: TileJob, rng: Ranges,
                      above: Ranges | None) -> None:
        """LOAD INP of an external tensor's window (ALU-only users read it into the
        accumulator chunk by chunk instead: see :meth:`alu_layer`; a matmul's second
        operand comes with the weight loads)."""
        g, plan = self.g, self.plan
        ch = self._ext_channels.get((ext, i), 0)
        if ch == 0:
            ch = self._ext_channels[(ext, i)] = self._external_channels(ext, i)
        if ch is None:
            return
        if ch < 0:  # a depthwise core reads only its own channels
            ch = job.couts[1] - job.couts[0]
        r0, r1, c0, c1 = g.ext_window(ext, rng)
        if above is not None:
            r0 = max(r0, g.ext_window(ext, above)[1])
        if g.n == 1 and plan.cin_chunk < ch:
            return  # loaded per input-channel chunk in gemm_layer
        if plan.im2col:
            self.load_packed(step, i, rng[i], (ext, r0, c0))
            return
        nbytes = g.act_bytes(max(r1 - r0, 0), c1 - c0, ch, g.spec.layers[i].batch)
        share_key = self.same_input(i, (ext, r0, c0, nbytes))
        # the same load as an earlier tile's (of any core): replayed, link() copies it if
        # it flags it
        key = ("load", i, nbytes, share_key)
        insn = self.memo.get(key)
        if insn is None:
            insn = self.memo[key] = Insn(LOAD, MEM_INP, layer=i, nbytes=nbytes,
                                         share_key=share_key)
        step.loads.append(insn)

    def _external_channels(self, ext: int, i: int) -> int | None:
        """Channels of external tensor ``ext`` that layer ``i`` loads per tile: None if it
        is not loaded into the input buffer, -1 for a core's own channels (a depthwise last
        layer under a channel split)."""
        g, plan, layer = self.g, self.plan, self.g.spec.layers[i]
        if not g.reads_into_inp(ext):
            return None
        if layer.kind == LayerKind.CONCAT:
            return layer.c_in // max(1, len(g.spec.sources[i]))
        if (layer.kind == LayerKind.DEPTHWISE_CONV2D and plan.split == "channels"
                and i == g.n - 1):
            return -1
        return layer.c_in

    def load_packed(self, step: Step, i: int, out: tuple[int, int, int, int], region) -> None:
        """The im2col gather of a packed tile (``Plan.im2col``): per output row one 2-D DMA
        (VTA's LOAD: y_size rows of x_size elements at a stride, padding on the fly) reads
        the kh input rows that row's taps cover, unpadded (the raw image in DRAM has c_in
        channels, not a block), and its write side scatters every element into the tap
        lanes of the output pixels that use it. So DRAM moves each input row about
        kh / stride times (not kh x kw / stride^2: the kw taps of a row come from one read),
        and the input buffer receives one packed vector per output pixel and block of taps,
        at one vector per cycle (the buffer's write port): the LOAD lasts the longer of its
        DRAM transfer and those writes (``Insn.cycles``)."""
        g, layer = self.g, self.g.spec.layers[i]
        r0, r1, c0, c1 = out
        cols = need(layer, c0, c1, 1)
        in_rows = sum(b - a for a, b in (need(layer, r, r + 1, 0) for r in range(r0, r1)))
        nbytes = in_rows * (cols[1] - cols[0]) * layer.c_in * layer.batch * self.hw.inp_bits // 8
        blocks = -(-g.packed_channels(layer) // g.bi)
        writes = (r1 - r0) * (c1 - c0) * blocks * layer.batch // self.hw.batch
        step.loads.append(Insn(LOAD, MEM_INP, layer=i, nbytes=nbytes, cycles=writes,
                               share_key=self.same_input(i, (*region, nbytes))))

    def layer(self, step: Step, i: int, layer: Layer, rng: tuple[int, int, int, int],
              cout: int, job: TileJob) -> Step:
        """Every output-channel chunk of layer ``i`` in one tile (``rng``: the rows and
        columns it computes, ``cout``: its output channels on this core); returns the
        current step.

        Replayed from a memo when an earlier tile (of any core, in the planner's cost
        samples or the emission) had the same key: tiles of one band, and bands of equal
        height, emit the same instructions. The key holds every input of :meth:`_layer`
        that is not fixed by the (group, cores, hardware, plan): the sizes it reads, the
        absolute positions only where a multicast key names them (a channel split)."""
        key = self._layer_key(step, i, layer, rng, cout, job)
        recorded = self.memo.get(key)
        if recorded is None:
            last, self.memo[key] = self._record(step, LayerWork(i, layer, rng, cout, job))
            return last
        segments, macs = recorded
        self.macs += macs
        loads, computes, stores = segments[0]  # shared: link() copies what it flags
        step.loads += loads
        step.computes += computes
        step.stores += stores
        for loads, computes, stores in segments[1:]:
            step = Step()
            self.steps.append(step)
            step.loads += loads
            step.computes += computes
            step.stores += stores
        return step

    def _layer_key(self, step: Step, i: int, layer: Layer, rng: tuple[int, int, int, int],
                   cout: int, job: TileJob) -> tuple:
        g = self.g
        r0, r1, c0, c1 = rng
        extra: tuple = ()
        if self._chunked_input[i]:  # per-chunk input loads: the tile's input window
            t = job.tile
            rr, cc = need(layer, t.r0, t.r1, 0), need(layer, t.c0, t.c1, 1)
            extra = (rr, cc) if self.plan.split == "channels" else (
                rr[1] - rr[0], cc[1] - cc[0])
        elif self._alu_loads[i]:  # LOAD ACC of external inputs: their clipped window
            rows, cols = g._need[i]
            rr, cc = _need(rows, r0, r1), _need(cols, c0, c1)
            extra = (rr[1] - rr[0], cc[1] - cc[0])
        if layer.kind == LayerKind.GLOBAL_AVG_POOL:  # its DRAM bands are sized per thread
            extra = (*extra, self.plan.vthreads)     # (GroupGeometry.reduction_band_rows)
        store = g.store_share(i, job.tile) if g.spec.stores[i] else None
        return (i, r1 - r0, c1 - c0, cout, job.chunk, job.load_weights, job.couts, store,
                bool(step.computes), extra)

    def _record(self, step: Step, work: LayerWork) -> tuple[Step, tuple[list, int]]:
        """Run :meth:`_layer` and keep what it appended: per step (the current one first,
        then each new one) its loads, computes and stores, and the MACs it issued."""
        before = (len(step.loads), len(step.computes), len(step.stores))
        n_steps, macs = len(self.steps), self.macs
        last = self._layer(step, work)
        segments = [(step.loads[before[0]:], step.computes[before[1]:], step.stores[before[2]:])]
        segments += [(s.loads[:], s.computes[:], s.stores[:]) for s in self.steps[n_steps:]]
        return last, (segments, self.macs - macs)

    def _layer(self, step: Step, work: LayerWork) -> Step:
        g, job = self.g, work.job
        chunk = min(self.plan.cout_chunk[work.i], pad(work.cout, g.bo))
        starts = range(0, work.cout, chunk) if job.chunk is None else (job.chunk,)
        stored = g.spec.stores[work.i]
        store_rows, store_cols = g.store_share(work.i, job.tile) if stored else (0, 0)
        for k0 in starts:
            kc = min(chunk, work.cout - k0)
            if work.layer.is_gemm:
                step = self.gemm_layer(step, work, kc, k0)
                alu_ops = 0 if self.hw.requantize_in_gemm else REQUANT_ALU_OPS
            else:
                alu_ops = self.alu_layer(step, work, kc)
            # a folded sigmoid / hard swish / SiLU runs on the ALU even where the GEMM's
            # output stage requantises (ReLU / ReLU6 cost nothing: the clamp is the requant's)
            alu_ops += activation_passes(work.layer.activation)
            if not self.in_place_concat(work.i):
                self.alu_pass(step, work, kc, alu_ops)
            if stored and store_rows > 0 and store_cols > 0:
                nbytes = g.act_bytes(store_rows, store_cols, kc, work.layer.batch)
                if work.layer.kind == LayerKind.CONCAT:
                    # zero-copy: an input from DRAM already sits in its channel slice of the
                    # concatenated tensor, so only the slices computed here are stored
                    inside = sum(g.spec.layers[s].c_out for s in g.spec.sources[work.i]
                                 if s >= 0)
                    nbytes = nbytes * inside // work.layer.c_in
                if nbytes:
                    step.stores.append(Insn(STORE, "OUT", layer=work.i, nbytes=nbytes))
        return step

    def in_place_concat(self, i: int) -> bool:
        """A Concat whose inputs are all computed in the group: each producer wrote its
        output into its channel slice of the Concat's buffer (zero-copy), so no ALU pass."""
        layer = self.g.spec.layers[i]
        return layer.kind == LayerKind.CONCAT and all(s >= 0 for s in self.g.spec.sources[i])

    def same_weights(self, i: int, couts: tuple[int, int], chunk) -> tuple | None:
        """Multicast key of a weight load (``hw.dram_multicast``): equal keys within a group
        mean the same bytes. Every core loads the same weights on a row split, and on a
        channel split for the upstream layers (computed whole on every core); the last
        layer's slice differs per core."""
        if self.plan.split == "channels" and i == self.g.n - 1:
            return None
        return ("WGT", i, couts, chunk)

    def same_input(self, i: int, region: tuple) -> tuple | None:
        """Multicast key of an input load: on a channel split every core walks the same
        tiles and loads the same input windows (a depthwise last layer only its own
        channels); on a row split the cores' bands differ and halos overlap only partly."""
        layer = self.g.spec.layers[i]
        if self.plan.split != "channels" or (layer.kind == LayerKind.DEPTHWISE_CONV2D
                                             and i == self.g.n - 1):
            return None
        return ("INP", i, region)

    def gemm_layer(self, step: Step, work: LayerWork, kc: int, k0: int = 0) -> Step:
        """GEMMs of one output-channel chunk, over input-channel chunks when they are split."""
        g, plan, hw, layer = self.g, self.plan, self.hw, work.layer
        ci_chunk = g.cin_chunk(plan, layer)
        n_ci = -(-layer.c_in // ci_chunk)
        rows, cols = work.rng[1] - work.rng[0], work.rng[3] - work.rng[2]
        for ci in range(n_ci):
            cic = min(ci_chunk, layer.c_in - ci * ci_chunk)
            if step.computes and (not plan.resident or n_ci > 1):
                step = Step()
                self.steps.append(step)
            if n_ci > 1:  # single layer: its input tile, this input-channel chunk
                t = work.job.tile
                rr, cc = need(layer, t.r0, t.r1, 0), need(layer, t.c0, t.c1, 1)
                nbytes = g.act_bytes(rr[1] - rr[0], cc[1] - cc[0], cic, layer.batch)
                step.loads.append(Insn(LOAD, MEM_INP, layer=work.i, nbytes=nbytes,
                                       share_key=self.same_input(work.i, (rr[0], cc[0], ci,
                                                                          nbytes))))
            if not plan.resident and work.job.load_weights:
                nbytes = g.weight_sram_bytes(layer, kc, cic, plan.im2col)
                step.loads.append(Insn(LOAD, MEM_WGT, layer=work.i, nbytes=nbytes,
                                       share_key=self.same_weights(
                                           work.i, work.job.couts, (k0, ci, nbytes))))
            iter_out, iter_in, uops = g.gemm_shape(layer, rows, cols, kc, cic, plan.im2col)
            step.computes.append(Insn(GEMM, iter_out=iter_out, iter_in=iter_in, uops=uops,
                                      cycles=iter_out * iter_in * uops * self._gemm_ii
                                      + hw.gemm_pipeline_stages, layer=work.i))
            self.macs += iter_out * iter_in * uops * self._macs_per_uop
        return step

    def alu_layer(self, step: Step, work: LayerWork, kc: int) -> int:
        """LOAD ACC of the ALU layer's external inputs; returns its ALU ops per vector."""
        g, layer, i = self.g, work.layer, work.i
        ext_inputs = self._acc_inputs[i]
        if ext_inputs:
            r0, r1, c0, c1 = work.rng
            rr, cc = need(layer, r0, r1, 0), need(layer, c0, c1, 1)
            share = kc if layer.kind != LayerKind.CONCAT else kc // len(g.spec.sources[i])
            band = g.reduction_band_rows(self.plan, i, kc)
            if band is not None and band < rr[1] - rr[0]:
                return self.pool_in_bands(step, work, kc, rr, cc, band)
            for k in ext_inputs:
                # a channel op's vector: this chunk's kc channels of one (1 x 1) pixel
                rows, cols = ((1, 1) if layer.kind in CHANNEL_KINDS and k == 1
                              else (rr[1] - rr[0], cc[1] - cc[0]))
                step.computes.append(Insn(LOAD, MEM_ACC, layer=i, nbytes=g.act_bytes(
                    rows, cols, max(share, 1), layer.batch)))
        return alu_ops_per_vector(layer, len(g.spec.sources[i]))

    def pool_in_bands(self, step: Step, work: LayerWork, kc: int, rr: tuple[int, int],
                      cc: tuple[int, int], band: int) -> int:
        """A global pool whose input does not fit the accumulator: LOAD ACC of a band of
        rows, an ALU pass adding its ``rows x cols`` vectors into the running sum, band by
        band; returns the passes left for :meth:`alu_pass` (shift, clamp and the final
        sum: the same kh * kw + 3 per vector as a pool loaded whole)."""
        g, hw, layer = self.g, self.hw, work.layer
        rows, cols = work.rng[1] - work.rng[0], work.rng[3] - work.rng[2]
        iter_out = rows * cols * layer.batch // hw.batch or 1
        iter_in = -(-kc // g.bo)
        width = cc[1] - cc[0]
        for r0 in range(rr[0], rr[1], band):
            n = min(band, rr[1] - r0)
            step.computes.append(Insn(LOAD, MEM_ACC, layer=work.i,
                                      nbytes=g.act_bytes(n, width, kc, layer.batch)))
            ops = n * width
            step.computes.append(Insn(ALU, iter_out=iter_out, iter_in=iter_in, uops=ops,
                                      alu_ops=ops, cycles=iter_out * iter_in * ops * hw.alu_ii,
                                      layer=work.i))
        return layer.kernel[0] * layer.kernel[1] + 3 - (rr[1] - rr[0]) * width

    def alu_pass(self, step: Step, work: LayerWork, kc: int, alu_ops: int) -> None:
        """The ALU pass over a chunk's outputs. A GEMM whose requantisation runs in its own
        output stage (``requantize_in_gemm``) also writes a fused intermediate from there."""
        hw, layer = self.hw, work.layer
        if self.g.consumers[work.i] and not (layer.is_gemm and hw.requantize_in_gemm):
            alu_ops += 1  # write the fused intermediate into the input buffer
        if alu_ops == 0:
            return
        rows, cols = work.rng[1] - work.rng[0], work.rng[3] - work.rng[2]
        iter_out = rows * cols * layer.batch // hw.batch or 1
        iter_in = -(-kc // self.g.bo)
        step.computes.append(Insn(ALU, iter_out=iter_out, iter_in=iter_in, uops=alu_ops,
                                  alu_ops=alu_ops,
                                  cycles=iter_out * iter_in * alu_ops * hw.alu_ii, layer=work.i))


def alu_ops_per_vector(layer: Layer, n_inputs: int) -> int:
    """ALU ops per output vector of an ALU-kind layer with ``n_inputs`` inputs (before its
    folded activation's passes and the write of a fused intermediate: see
    ``Emitter._layer``; the oracle's shape-only floor counts the same ops)."""
    kh, kw = layer.kernel
    if layer.kind == LayerKind.MAX_POOL:
        return kh * kw + 2
    if layer.kind in (LayerKind.AVG_POOL, LayerKind.GLOBAL_AVG_POOL):
        return kh * kw + 3  # sum, shift (power-of-two divisor), clamp
    if layer.kind == LayerKind.ADD:
        return n_inputs - 1 + 2
    if has_recipe(layer.kind.value):  # softmax, layernorm, gelu, lrn, mul, sub,
        return alu_passes(layer.kind.value)  # channel mul / add, resize
    if layer.kind == LayerKind.ACTIVATION:  # (its activation's passes: see layer())
        return REQUANT_PASSES
    return 1  # concat: place each input in its channel range


def _clone(insn: Insn, new=Insn.__new__) -> Insn:
    """A fresh copy: link() flags copies, never an instruction a memo shares. Every slot of
    :class:`Insn` is copied (tested)."""
    c = new(Insn)
    c.op, c.mem, c.module, c.cycles, c.nbytes = insn.op, insn.mem, insn.module, insn.cycles, insn.nbytes
    c.iter_out, c.iter_in, c.uops, c.alu_ops = insn.iter_out, insn.iter_in, insn.uops, insn.alu_ops
    c.layer, c.share_key = insn.layer, insn.share_key
    c.pop_prev, c.pop_next = insn.pop_prev, insn.pop_next
    c.push_prev, c.push_next = insn.push_prev, insn.push_next
    return c


def core_jobs(g: GroupGeometry, plan: Plan, core: int) -> list[TileJob]:
    """The tiles of one core, in execution order (empty for an idle core)."""
    r_lo, r_hi = plan.core_rows[core]
    couts = plan.core_couts[core]
    if r_hi <= r_lo or couts[1] <= couts[0]:
        return []
    W = g.last.w_out
    shared = shares_input(g, plan)
    tiles = []
    for r0 in range(r_lo, r_hi, plan.tile_rows):
        r1 = min(r_hi, r0 + plan.tile_rows)
        above = Tile(r0 - plan.tile_rows, r0, 0, W) if plan.line_buffer and r0 > r_lo else None
        for c0 in range(0, W, plan.tile_cols):
            tiles.append((Tile(r0, r1, c0, min(W, c0 + plan.tile_cols)), above))
    if not plan.weight_outer:
        return [TileJob(t, couts, above=a, drain=shared and n > 0)
                for n, (t, a) in enumerate(tiles)]
    chunk = min(plan.cout_chunk[-1], pad(couts[1] - couts[0], g.bo))
    return [TileJob(t, couts, chunk=k0, load_weights=n == 0, above=a, drain=k0 > 0 and n == 0)
            for k0 in range(0, couts[1] - couts[0], chunk) for n, (t, a) in enumerate(tiles)]


def emit_core(g: GroupGeometry, plan: Plan, core: int) -> tuple[list[Insn], int, int]:
    """Instruction stream of one core; returns (program, tiles, gemm_macs_issued)."""
    jobs = core_jobs(g, plan, core)
    if not jobs:
        return [], 0, 0
    em = Emitter(g, plan)
    for n, job in enumerate(jobs):
        em.tile(job, first=n == 0)
    return link(em.steps, plan.vthreads), len({job.tile for job in jobs}), em.macs


def link(steps: list[Step], vt: int) -> list[Insn]:
    """Set dependency flags (see the package docstring) and flatten into fetch order."""
    n = len(steps)
    program: list[Insn] = []
    skip = 0  # CMP->LD tokens already taken by an earlier draining step
    for s, step in enumerate(steps):
        if not step.loads:  # every step loads something, so the LD->CMP chain is regular
            step.loads.append(Insn(LOAD, MEM_INP, nbytes=0))
        # memoized instructions are shared between tiles and cores: flag fresh copies
        for insns in (step.loads, step.computes, step.stores):
            if insns:
                insns[0] = _clone(insns[0])
                if len(insns) > 1:
                    insns[-1] = _clone(insns[-1])
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
