"""Buffer checks: does a tile of a plan fit the input, weight, accumulator and micro-op
buffers, and how many output channels per chunk fit."""

from __future__ import annotations

from fusiongym.accelerator.lowering.spec import need, pad
from fusiongym.accelerator.lowering.tiling import UOP_BYTES, GroupGeometry, Plan, Ranges, Tile
from fusiongym.accelerator.workloads.network import LayerKind


def shares_input(g: GroupGeometry, plan: Plan) -> bool:
    """Streamed weights of a single layer, input loaded once per tile: the virtual threads
    alternate over output-channel chunks of one tile (VTA's ``oc_nthread``), so they share
    the whole input buffer and split the weight and accumulator buffers. (VTA threads split
    either the output channels or the rows, never both.)"""
    layer = g.spec.layers[0]
    return (plan.vthreads > 1 and g.n == 1 and layer.is_gemm and not plan.resident
            and not plan.weight_outer and plan.cin_chunk >= layer.c_in)


def weight_cap(g: GroupGeometry, plan: Plan) -> int:
    """Weight buffer one chunk may use: all of it when the weights are resident or when the
    chunk loop is outermost (threads share the chunk), else one half per thread."""
    if plan.resident or plan.weight_outer:
        return g.hw.wgt_buff_bytes
    return g.hw.wgt_buff_bytes // plan.vthreads


def ext_channels(g: GroupGeometry, plan: Plan, ext: int, cout_core: int) -> int:
    """Channels of external tensor ``ext`` one core loads per tile."""
    users = g.ext_users[ext]
    layer = g.spec.layers[users[0]]
    ch = layer.c_in
    if g.n == 1 and layer.is_gemm:
        ch = min(ch, plan.cin_chunk)
    if (layer.kind == LayerKind.DEPTHWISE_CONV2D and plan.split == "channels"
            and users == [g.n - 1]):
        ch = min(ch, cout_core)  # a depthwise core reads only its own channels
    return ch


def ring_bytes(g: GroupGeometry, plan: Plan, rng: Ranges, above: Ranges | None) -> int:
    """Line buffer: rows shared with the tile above (kept on chip, not reloaded or
    recomputed), over every intermediate and every external tensor in the input buffer."""
    if above is None:
        return 0
    total = 0
    for i, layer in enumerate(g.spec.layers):
        if g.consumers[i]:
            overlap = above[i][1] - rng[i][0]
            if overlap > 0:
                total += g.act_bytes(overlap, rng[i][3] - rng[i][2], layer.c_out, layer.batch)
    for ext in g.ext_users:
        if not g.reads_into_inp(ext):
            continue
        lo, _, clo, chi = g.ext_window(ext, rng)
        overlap = g.ext_window(ext, above)[1] - lo
        if overlap > 0:
            layer = g.spec.layers[g.ext_users[ext][0]]
            total += g.act_bytes(overlap, chi - clo, layer.c_in, layer.batch)
    return total


def fits(g: GroupGeometry, plan: Plan, tile: Tile, cout_core: int,
         above: Tile | None = None) -> str | None:
    """None if every buffer holds this tile, else the reason it does not."""
    hw, spec, vt = g.hw, g.spec, plan.vthreads
    inp_cap, acc_cap = hw.inp_buff_bytes // vt, hw.acc_buff_bytes // vt
    if shares_input(g, plan):
        inp_cap = hw.inp_buff_bytes  # threads split output channels, not the input tile
    uop_cap = hw.uop_buff_bytes // UOP_BYTES
    rng = g.ranges(tile)
    ring = ring_bytes(g, plan, rng, g.ranges(above) if above else None)
    # external tensors: loaded at tile start, live until their last consumer
    ext_bytes: dict[int, int] = {}
    for ext, users in g.ext_users.items():
        if not g.reads_into_inp(ext):
            continue  # read chunk by chunk into the accumulator (LOAD ACC), not the input buffer
        r0, r1, c0, c1 = g.ext_window(ext, rng)
        if plan.im2col:  # the packed tile: one vector of taps per output pixel
            r0, r1, c0, c1 = rng[0]
            ext_bytes[ext] = g.act_bytes(max(r1 - r0, 0), max(c1 - c0, 0),
                                         g.packed_channels(spec.layers[0]), spec.layers[0].batch)
            continue
        ext_bytes[ext] = g.act_bytes(max(r1 - r0, 0), max(c1 - c0, 0),
                                     ext_channels(g, plan, ext, cout_core),
                                     spec.layers[users[0]].batch)
    inter_last = g.inter_last
    # every intermediate's tile in the input buffer, once (each is live for a span of layers)
    inter_bytes = {j: g.act_bytes(rng[j][1] - rng[j][0], rng[j][3] - rng[j][2],
                                  spec.layers[j].c_out, spec.layers[j].batch)
                   for j in inter_last}
    for i, layer in enumerate(spec.layers):
        rows, cols = rng[i][1] - rng[i][0], rng[i][3] - rng[i][2]
        if rows <= 0 or cols <= 0:
            continue
        if i in g.onchip_weight and not plan.resident:
            return (f"layer {layer.name}: its on-chip second operand must stay in the weight "
                    "buffer, and the group's weights do not fit it")
        live = sum(b for e, b in ext_bytes.items() if g.ext_last[e] >= i)
        live += sum(inter_bytes[j] for j, lc in inter_last.items() if j < i and lc >= i)
        if i in inter_last:
            live += inter_bytes[i]
        # a line buffer is one circular window per tensor, shared by the threads: the
        # tile's window plus the next tile's new rows (loaded while this one computes)
        over = (live * vt - ring * (vt - 1) > hw.inp_buff_bytes if plan.line_buffer
                else live > inp_cap)
        if over:
            return (f"layer {layer.name}: a {rows}x{cols} tile needs {live} B of input buffer, "
                    f"{inp_cap} B available per virtual thread")
        reason = _fits_layer(g, plan, i, rng, min(plan.cout_chunk[i], g.cout(plan, i)),
                             acc_cap, uop_cap)
        if reason:
            return reason
    return None


def _fits_layer(g: GroupGeometry, plan: Plan, i: int, rng: Ranges, chunk: int,
                acc_cap: int, uop_cap: int) -> str | None:
    """Accumulator, micro-op and (streamed) weight buffer needs of layer i's chunk."""
    layer = g.spec.layers[i]
    rows, cols = rng[i][1] - rng[i][0], rng[i][3] - rng[i][2]
    if layer.is_gemm:
        acc = g.acc_bytes(rows, cols, chunk, layer.batch)
        _, _, uops = g.gemm_shape(layer, rows, cols, chunk, g.cin_chunk(plan, layer), plan.im2col)
        if uops > uop_cap:
            return f"layer {layer.name}: {uops} micro-ops exceed the {uop_cap}-entry uop buffer"
        if not plan.resident:
            wb = g.weight_sram_bytes(layer, chunk, g.cin_chunk(plan, layer), plan.im2col)
            if wb > weight_cap(g, plan):
                return (f"layer {layer.name}: a {chunk}-channel weight chunk needs {wb} B, "
                        f"{weight_cap(g, plan)} B of weight buffer available")
    else:
        in_rows, in_cols = need(layer, rng[i][0], rng[i][1], 0), need(layer, rng[i][2], rng[i][3], 1)
        band = g.reduction_band_rows(plan, i, chunk)  # (a global pool sums in bands)
        rows_in = in_rows[1] - in_rows[0] if band is None else min(band, in_rows[1] - in_rows[0])
        acc = (g.acc_bytes(rows, cols, chunk, layer.batch)
               + g.acc_bytes(rows_in, in_cols[1] - in_cols[0], chunk, layer.batch))
    if acc > acc_cap:
        return (f"layer {layer.name}: a {rows}x{cols}x{chunk} tile needs {acc} B of "
                f"accumulator buffer, {acc_cap} B available per virtual thread")
    return None


def cout_chunks(g: GroupGeometry, plan: Plan, rng: Ranges) -> list[int]:
    """Largest output-channel chunk per layer that fits the accumulator (and weight) buffer."""
    hw, vt = g.hw, plan.vthreads
    chunks = []
    for i, layer in enumerate(g.spec.layers):
        r0, r1, c0, c1 = rng[i]
        rows, cols = max(r1 - r0, 1), max(c1 - c0, 1)
        per_block = g.acc_bytes(rows, cols, g.bo, layer.batch)
        if not layer.is_gemm:  # ALU layers hold their input tile in the accumulator too
            a, b = need(layer, r0, r1, 0)
            c, d = need(layer, c0, c1, 1)
            window = g.acc_bytes(max(b - a, 1), max(d - c, 1), g.bo, layer.batch)
            if (per_block + window > hw.acc_buff_bytes // vt
                    and g.reduction_band_rows(plan, i, g.bo) is not None):
                # a global pool from DRAM too big to load whole: one row per band at least
                window = g.acc_bytes(1, max(d - c, 1), g.bo, layer.batch)
            per_block += window
        blocks = max(1, (hw.acc_buff_bytes // vt) // max(1, per_block))
        if layer.is_gemm and not plan.resident:
            wb = max(1, g.weight_sram_bytes(layer, g.bo, g.cin_chunk(plan, layer), plan.im2col))
            blocks = max(1, min(blocks, weight_cap(g, plan) // wb))
        chunks.append(min(pad(g.cout(plan, i), g.bo), blocks * g.bo))
    return chunks
