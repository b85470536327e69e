"""Exact lower bounds on a group's cost, from its lowering alone (no simulation).

The oracle's DP (:mod:`agents.oracle`) needs a candidate's simulated cost only when the
candidate could still beat the best one found for the same group end; a *sound* lower bound
(never above the simulated value) decides that without simulating.

Latency
-------
A group's latency is ``launch + sim.cycles + barrier`` (:func:`accelerator.results.
group_latency_cycles`); the barrier is known from the active cores and the launch (with an
overlapped launch's host wait) is monotone in the run, so a bound on ``sim.cycles`` is what
is needed. Every fact below is a property of the simulator (:mod:`accelerator.sim`), true
for any instruction streams, whatever their dependency tokens:

1. *Time is whole cycles.* Every SimPy delay is an integer (DRAM latency, GEMM / ALU
   ``cycles``, transfer wake-ups ``max(1, ceil(...))``, bursts ``ceil(...)``), so the end
   time is an integer and ``sim.cycles >= x`` implies ``sim.cycles >= ceil(x)``.
2. *A DRAM transfer of n > 0 bytes* first waits ``dram_latency_cycles``, then moves its
   bytes at no more than ``bandwidth`` bytes per cycle (fair share: ``bandwidth / k`` each
   while k transfers are in flight; burst: ``ceil(burst / bandwidth)`` cycles per burst),
   and takes at least one cycle, so it lasts at least ``lat + dur(n)`` with
   ``dur(n) = max(1, ceil(n / bw - 1/2))``. (The ``- 1/2`` only absorbs floating-point
   slack: the fair-share model finishes a transfer with up to 1e-6 bytes left.) A
   transfer of 0 bytes is not made at all by the load / compute / store modules.
3. *The DRAM moves at most bandwidth bytes per cycle in total*, and nothing moves before
   ``dram_latency_cycles`` (every transfer starts at time >= 0 with that wait). All bytes
   of all cores (LOAD and STORE ``nbytes`` plus ``len(program) * instruction_bytes``
   fetched) therefore need ``sim.cycles >= lat + ceil(B / bw - 1/2)``.
   2b/3b. *Ports.* With ``dram_port_bytes_per_cycle`` set, every byte a core moves (its
   loads, stores and instruction fetch) passes that core's port, which moves at most
   ``port`` bytes per cycle (fair share: the core's flows share it; burst: each burst
   holds it ``burst / port`` cycles). So a transfer moves at ``min(bw, port)`` at best
   (2 with that rate) and one core's own bytes need ``lat + ceil(B_k / port - 1/2)``.
   Multicast reads, which a core may join part-way, are left out of ``B_k``.
4. *Each module runs its instructions one at a time, in program order* (fetch dispatches
   in order into FIFO queues). The compute module executes every GEMM / ALU for exactly
   its ``cycles`` and every LOAD.ACC / LOAD.UOP as a transfer (2); the load module its
   LOAD.INP / LOAD.WGT, the store module its STOREs; FINISH and 0-byte transfers take 0.
5. *Fetch comes first.* An instruction cannot start before its fetch block (``burst /
   instruction_bytes`` instructions) has arrived, and a core's blocks are fetched one after
   another, each a transfer (2).
6. *Tokens.* A token queue is a counter that never goes below zero, popped by one module
   and pushed by one other, each in program order: the s-th pop cannot complete before the
   s-th push, which happens after the pushing instruction has finished. (Full command or
   token queues only add waits.)
7. *Bandwidth across cores.* Take token s of the LD->CMP queue on every core k: by the time
   t_k it is pushed, the core's load module has moved ``P_k`` bytes (its loads up to the
   pusher, in order), and from the compute instruction that pops it, the rest of the
   compute stream still needs ``R_k`` cycles (4). For any set S of cores, all of their
   ``P_k`` have moved by ``max(t_k, k in S)``, so that time is >= ``lat + sum(P_k) / bw``
   (3), and that core still needs at least ``min(R_k, k in S)``. S = the m cores with the
   largest ``R_k``, for every m and s, gives ``lat + sum(P) / bw + R_(m)``.

The bound is the largest of (3), (7) and, per core, the *relaxed schedule*: the earliest
start of every instruction allowed by (4)-(6) with every transfer at its shortest (2),
computed in one pass. All these are max-plus expressions of durations that are at most
the real ones, so they are at most the simulated times. The weaker form the DP brief asked
for (``max(max over cores of GEMM + ALU cycles, ceil(bytes / bw))``) is implied term by
term. The tests check the bound against the simulator on every feasible candidate of
several networks and presets (both DRAM models).

Energy
------
:func:`accelerator.results.group_energy_pj` takes only quantities fixed by the programs
(GEMM / ALU cycle sums, bytes read including instruction fetch, bytes written, issued MACs),
so the same formula on the programs' sums *is* the simulated energy; the bound returned is
that value scaled down by ``1 - 1e-9``, a margin against floating-point rounding only.

Both are memoized per evaluator and ``(GroupSpec.key, cores)``, like the evaluator's own memo.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

from fusiongym.accelerator import lowering
from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.host import host_cost, host_refusal, runs_on_host
from fusiongym.accelerator.isa import (ALU, COMPUTE_MODULE, GEMM, LOAD, LOAD_MODULE, STORE, STORE_MODULE,
                             TOKEN_QUEUES)
from fusiongym.accelerator.pipeline import pipeline_end, token_deps
from fusiongym.accelerator.results import group_energy_pj, group_latency_cycles
from fusiongym.accelerator.lowering.emit import REQUANT_ALU_OPS, alu_ops_per_vector
from fusiongym.accelerator.op_costs import activation_passes
from fusiongym.accelerator.workloads.network import CHANNEL_KINDS, LayerKind, Network

ENERGY_SLACK = 1e-9  # relative: the energy bound is the exact formula times (1 - this)


@dataclass(frozen=True)
class GroupWork:
    """What a group's programs fix before simulation (idle cores left out)."""

    cycles_lb: int  # lower bound on sim.cycles (facts 1-7 of the module docstring)
    compute_cycles: tuple[int, ...]  # per active core: GEMM + ALU cycles
    dram_bytes: int  # all LOAD / STORE bytes plus instruction fetch, all cores
    gemm_cycles: int
    alu_cycles: int
    bytes_read: int  # data loads + instruction fetch (as SimResult.dram_bytes_read)
    bytes_written: int
    instruction_bytes: int
    macs_issued: int


def transfer_bw(hw: HardwareConfig) -> float:
    """The most bytes per cycle one transfer can move: the bus, or the core's port if
    slower (fact 2b: every byte a core moves, fetch included, passes its port)."""
    port = hw.dram_port_bytes_per_cycle
    bw = hw.dram_bandwidth_bytes_per_cycle
    return min(bw, port) if port else bw


def _dur(nbytes: int, bw: float) -> int:
    """Fewest cycles a transfer of ``nbytes`` > 0 spends moving its bytes (fact 2)."""
    return max(1, math.ceil(nbytes / bw - 0.5))


def relaxed_end(program: list, hw: HardwareConfig) -> int | None:
    """A lower bound on when one core's ``program`` finishes (facts 2, 4, 5 and 6 of the
    module docstring): the simulator's schedule with every transfer alone on the DRAM and
    no queue ever full. None if the token flags leave a module waiting for ever (the
    simulator reports a deadlock there)."""
    bw, lat, ib = transfer_bw(hw), hw.dram_latency_cycles, hw.instruction_bytes
    per_burst = max(1, hw.dram_burst_bytes // ib)
    n = len(program)
    ready = []  # when each fetch block has arrived: blocks are fetched one after another
    t = 0
    for base in range(0, n, per_burst):
        t += lat + _dur(min(per_burst, n - base) * ib, bw)
        ready.append(t)
    deps = token_deps(program)
    if deps is None:
        return None
    modules = [insn.module for insn in program]
    durations = [(lat + max(1, math.ceil(insn.nbytes / bw - 0.5)) if insn.nbytes else 0)
                 if insn.op == LOAD or insn.op == STORE else insn.cycles for insn in program]
    return pipeline_end(modules, durations, deps, [ready[k // per_burst] for k in range(n)])


def _load_cuts(program: list, hw: HardwareConfig) -> tuple[list[int], list[int]]:
    """Per LD->CMP token s of one core: (bytes the load module has moved by the time it
    pushes token s, summed durations of the compute instructions from the one that pops
    token s to the end). See fact 7 of the module docstring."""
    bw, lat = transfer_bw(hw), hw.dram_latency_cycles
    loaded, pushed_at = 0, []
    durations, pops = [], []
    for insn in program:
        m = insn.module
        if m == LOAD_MODULE:
            loaded += insn.nbytes
            if insn.push_next:
                pushed_at.append(loaded)
        elif m == COMPUTE_MODULE:
            if insn.pop_prev:
                pops.append(len(durations))
            if insn.op == LOAD:
                durations.append(lat + _dur(insn.nbytes, bw) if insn.nbytes else 0)
            else:
                durations.append(insn.cycles)
    tail, acc = [0] * (len(durations) + 1), 0
    for k in range(len(durations) - 1, -1, -1):
        acc += durations[k]
        tail[k] = acc
    s = min(len(pushed_at), len(pops))
    return pushed_at[:s], [tail[k] for k in pops[:s]]


@dataclass
class _CoreSums:
    """What one core's program contributes to its :class:`GroupWork` (one pass over it)."""

    chain: list[int]  # per module: summed durations (fact 4)
    compute_cycles: int  # GEMM + ALU cycles
    gemm: int
    alu: int
    read: int  # data bytes loaded (multicast loads left out: ``shared``)
    written: int
    own_bytes: int  # through this core's port (fact 2b/3b): data and fetched instructions
    shared: dict  # multicast key -> bytes
    relaxed: int | None  # the relaxed schedule's end (None: use relaxed_end, or no tokens)
    cuts: tuple[list[int], list[int]]  # (bytes loaded by each LD->CMP push, compute left)


def _core_sums(program: list, hw: HardwareConfig, relax: bool) -> _CoreSums:
    """Every per-core quantity of :func:`work_from_programs` in one pass over ``program``.

    The relaxed schedule is :func:`relaxed_end`'s recurrence (:func:`accelerator.pipeline.
    pipeline_end` over :func:`accelerator.pipeline.token_deps`) evaluated as it goes: each
    token queue holds the end times of its pushes, and the s-th pop takes the s-th, which
    is exactly ``token_deps``' pairing while every push comes before its pop in program
    order (the lowering's streams). Where one does not (a pop finds its queue empty) this
    gives up (``relaxed`` None) and the caller runs :func:`relaxed_end` itself. The cuts are
    :func:`_load_cuts`' (the compute left after a pop is the total minus what came
    before). ``tests/test_pipeline.py`` checks both against those definitions."""
    bw, lat, ib = transfer_bw(hw), hw.dram_latency_cycles, hw.instruction_bytes
    per_burst = max(1, hw.dram_burst_bytes // ib)
    multicast = hw.dram_multicast
    n = len(program)
    durs: dict[int, int] = {}  # bytes -> lat + _dur (sizes repeat)
    chain = [0, 0, 0]
    gemm = alu = read = written = 0
    own = n * ib
    shared: dict = {}
    # relaxed schedule state
    free = [0, 0, 0]
    queues: list[list[int]] = [[], [], [], []]  # end times of each queue's pushes
    popped = [0, 0, 0, 0]
    relaxed_ok = relax
    block_end = 0  # arrival of the current fetch block (blocks come one after another)
    # cuts state
    loaded, pushed_at, pops_before, compute_done = 0, [], [], 0
    next_block = 0
    for k, insn in enumerate(program):
        if k == next_block:
            block_end += lat + _dur(min(per_burst, n - k) * ib, bw)
            next_block += per_burst
        op, m = insn.op, insn.module
        if op == LOAD or op == STORE:
            nb = insn.nbytes
            if nb:
                d = durs.get(nb)
                if d is None:
                    d = durs[nb] = lat + _dur(nb, bw)
                if multicast and insn.share_key is not None:
                    shared[insn.share_key] = nb
                else:
                    chain[m] += d
                    own += nb
                    if op == LOAD:
                        read += nb
                    else:
                        written += nb
            else:
                d = 0
        else:
            d = insn.cycles
            if op == GEMM:
                gemm += d
            elif op == ALU:
                alu += d
        if m == LOAD_MODULE:
            loaded += insn.nbytes
        elif m == COMPUTE_MODULE:
            if insn.pop_prev:
                pops_before.append(compute_done)
            compute_done += d
        if relaxed_ok:
            start = free[m]
            if block_end > start:
                start = block_end
            if insn.pop_prev or insn.pop_next:  # (few are: a step's first and last)
                pop_prev_q, pop_next_q, _, _ = TOKEN_QUEUES[m]
                for flag, q in ((insn.pop_prev, pop_prev_q), (insn.pop_next, pop_next_q)):
                    if flag and q is not None:
                        s = popped[q]
                        if s >= len(queues[q]):
                            relaxed_ok = False  # its push comes later (or never)
                            break
                        if queues[q][s] > start:
                            start = queues[q][s]
                        popped[q] = s + 1
            end = free[m] = start + d
            if insn.push_prev or insn.push_next:
                _, _, push_prev_q, push_next_q = TOKEN_QUEUES[m]
                if insn.push_prev and push_prev_q is not None:
                    queues[push_prev_q].append(end)
                if insn.push_next and push_next_q is not None:
                    queues[push_next_q].append(end)
        if m == LOAD_MODULE and insn.push_next:
            pushed_at.append(loaded)
    cyc = gemm + alu
    chain[COMPUTE_MODULE] += cyc
    s = min(len(pushed_at), len(pops_before))
    cuts = (pushed_at[:s], [compute_done - b for b in pops_before[:s]])
    return _CoreSums(chain, cyc, gemm, alu, read, written, own, shared,
                     (max(free) if n else 0) if relaxed_ok else None, cuts)


def work_from_programs(lowered: lowering.LoweredGroup, hw: HardwareConfig) -> GroupWork:
    """Sum a feasible lowered group's per-core instruction streams into a :class:`GroupWork`."""
    bw, lat, ib = hw.dram_bandwidth_bytes_per_cycle, hw.dram_latency_cycles, hw.instruction_bytes
    one_bw, port = transfer_bw(hw), hw.dram_port_bytes_per_cycle
    per_burst = max(1, hw.dram_burst_bytes // ib)
    core_lb = 0
    compute_cycles = []
    gemm = alu = read = written = insn_bytes = 0
    # multicast: a LOAD with a share_key may join another core's read, so it may take less
    # than fact 2 says and its bytes may cross the bus once for all cores: such loads count
    # 0 cycles in the chains, their bytes once per key, and facts 6-7 (relaxed schedule,
    # cuts) are not used
    multicast = hw.dram_multicast
    shared_bytes: dict = {}
    cuts = []
    for program in lowered.programs:
        if not program:
            continue
        core = _core_sums(program, hw, relax=not multicast)
        gemm += core.gemm
        alu += core.alu
        read += core.read
        written += core.written
        shared_bytes.update(core.shared)
        chain = core.chain
        compute_cycles.append(core.compute_cycles)
        insn_bytes += len(program) * ib
        head = lat + _dur(min(len(program), per_burst) * ib, one_bw)
        if multicast:
            relaxed = 0
        else:
            relaxed = core.relaxed
            if relaxed is None:
                relaxed = relaxed_end(program, hw) or 0
            cuts.append(core.cuts)
        # fact 3 for one core's port: its own bytes cannot pass faster than the port
        port_lb = lat + math.ceil(core.own_bytes / port - 0.5) if port else 0
        core_lb = max(core_lb, head + max(chain[LOAD_MODULE], chain[COMPUTE_MODULE],
                                          chain[STORE_MODULE]), relaxed, port_lb)
    read += sum(shared_bytes.values())
    total = read + written + insn_bytes
    dram_lb = lat + math.ceil(total / bw - 0.5) if total else 0
    cut_lb = 0
    for s in range(min((len(b) for b, _ in cuts), default=0)):
        moved = 0  # the cores with the longest remaining compute first (fact 7)
        for done, rest in sorted(((b[s], r[s]) for b, r in cuts), key=lambda x: -x[1]):
            moved += done
            cut_lb = max(cut_lb, lat + math.ceil(moved / bw - 0.5) + rest)
    return GroupWork(
        cycles_lb=max(core_lb, dram_lb, cut_lb),
        compute_cycles=tuple(compute_cycles),
        dram_bytes=total,
        gemm_cycles=gemm,
        alu_cycles=alu,
        bytes_read=read + insn_bytes,
        bytes_written=written,
        instruction_bytes=insn_bytes,
        macs_issued=lowered.macs_issued,
    )


def host_work(network: Network, start: int, end: int, hw: HardwareConfig) -> GroupWork | None:
    """The host-run first layer's :class:`GroupWork` (None for a group that fuses it with
    accelerator layers: infeasible). Exact, not a bound: no core is active, so the latency
    bound adds no launch or barrier and equals :func:`accelerator.host.host_cost`'s
    latency, and the energy bound the host's energy (times ``1 - ENERGY_SLACK``)."""
    if not runs_on_host(network, start, end, hw):
        return None
    cost = host_cost(network, hw)
    return GroupWork(cycles_lb=cost.latency_cycles, compute_cycles=(),
                     dram_bytes=cost.dram_bytes_read + cost.dram_bytes_written,
                     gemm_cycles=0, alu_cycles=0, bytes_read=cost.dram_bytes_read,
                     bytes_written=cost.dram_bytes_written, instruction_bytes=0,
                     macs_issued=cost.macs)


# evaluator -> {GroupEvaluator.key: GroupWork | None (infeasible)}
_WORK: "weakref.WeakKeyDictionary[GroupEvaluator, dict]" = weakref.WeakKeyDictionary()


def group_work(evaluator: GroupEvaluator, network: Network, start: int, end: int,
               cores: int) -> GroupWork | None:
    """The group's :class:`GroupWork` (memoized), or None if it is infeasible.

    Feasibility comes from the tiling plan alone; only feasible groups are emitted.
    """
    memo = _WORK.get(evaluator)
    if memo is None:
        memo = _WORK[evaluator] = {}
    spec = evaluator.spec(network, start, end)
    key = evaluator.key(network, start, end, cores)  # a host-run group is keyed apart
    if key in memo:
        return memo[key]
    hw = evaluator.hw
    if runs_on_host(network, start, end, hw) or host_refusal(network, start, end, hw):
        work = host_work(network, start, end, hw)
    elif lowering.infeasibility(spec, cores, hw) is not None:
        work = None
    else:
        lowered = lowering.lower_group(spec, cores, hw)
        work = work_from_programs(lowered, hw) if lowered.feasible else None
    memo[key] = work
    return work


def latency_lower_bound(evaluator: GroupEvaluator, network: Network, start: int, end: int,
                        cores: int) -> int | None:
    """A lower bound on ``evaluator.result(network, start, end, cores).latency_cycles``
    from lowering only (None if the group is infeasible). See the module docstring."""
    work = group_work(evaluator, network, start, end, cores)
    if work is None:
        return None
    # the barrier is over the cores that got work (GroupWork lists those only)
    return group_latency_cycles(work.cycles_lb, cores, evaluator.hw, len(work.compute_cycles))


def latency_floor(evaluator: GroupEvaluator, network: Network, start: int, end: int,
                  cores: int) -> int:
    """A lower bound on the group's latency from its layer shapes alone: no planning, no
    lowering, and never above :func:`latency_lower_bound` (for a feasible group), so a
    search may order its candidates by it first and compute their exact bound only for
    those that could still win (the oracle does).

    The GEMM unit of a core does at most one ``BATCH x BLOCK_IN x BLOCK_OUT`` block product
    per micro-op, one micro-op per ``gemm_ii`` cycles, and the lowering computes every
    output of every GEMM layer, so its GEMM instructions on all cores together last at
    least ``macs * gemm_ii / (BATCH * BLOCK_IN * BLOCK_OUT)`` cycles (padding lanes, halo
    recompute and duplicated upstream layers only add), and one of the ``cores`` cores at
    least that over ``cores``: a term of the compute chain in ``cycles_lb`` (fact 4).
    Transposed convolutions are left out (``Layer.macs`` counts the products of output
    pixels that their padding crops), and so is every layer when the hardware batch is
    above 1 (a GEMM's ``iter_out`` rounds rows x cols x batch down to it). The overheads
    are those of one active core (zero when the group has no MACs: a zero-copy Concat is
    launched on none), the least any feasible plan pays: they grow with the active cores
    and with the run.

    The run is also at least the DRAM's time for the bytes every plan moves
    (:func:`_floor_bytes`): fact 3 for all cores together, and fact 3b for the busiest
    core's port, in ``cycles_lb`` through ``dram_lb`` and ``port_lb``."""
    hw = evaluator.hw
    if runs_on_host(network, start, end, hw):  # the host's cost is a formula: exact
        return host_cost(network, hw).latency_cycles
    if host_refusal(network, start, end, hw):  # infeasible: any value is below "never"
        return 0
    spec = evaluator.spec(network, start, end)
    macs = alu_cycles = 0
    if hw.batch == 1:
        whole = _computed_whole(spec)
        macs = sum(layer.macs for i, layer in enumerate(spec.layers)
                   if layer.kind != LayerKind.CONV_TRANSPOSE2D and i in whole)
        alu_cycles = _floor_alu_cycles(spec, hw, whole)
    block = hw.batch * hw.block_in * hw.block_out
    run = -(-(macs * hw.gemm_ii + alu_cycles * block) // (block * cores))
    every_core, shared = _floor_bytes(spec, hw)
    lat = hw.dram_latency_cycles
    if every_core + shared:
        total = every_core + shared
        run = max(run, lat + math.ceil(total / hw.dram_bandwidth_bytes_per_cycle - 0.5))
        port = hw.dram_port_bytes_per_cycle
        if port and not hw.dram_multicast:
            own = every_core + shared / cores
            run = max(run, lat + math.ceil(own / port - 0.5))
    return group_latency_cycles(run, cores, hw, 1 if macs or every_core + shared else 0)


def _computed_whole(spec: lowering.GroupSpec) -> set[int]:
    """Layers of ``spec`` whose every output the lowering computes under any plan (at
    least once, between the cores): the last layer (its tiles cover its map), a stored
    layer (its own shares of the tiles cover its map, ``GroupGeometry.store_share``), an
    operand every output row reads whole (a matmul's weight, a channel op's vector), and
    a producer of such a layer whose window over the consumer's whole map is the
    producer's whole map with no gaps between the windows of neighbouring tiles (kernel at
    least the stride). A layer read only through a strided 1x1 convolution computes just
    the rows and columns it samples."""
    n = len(spec.layers)
    whole = {n - 1} | {i for i in range(n) if spec.stores[i]}
    for j in range(n - 1, -1, -1):
        if j not in whole:
            continue
        layer = spec.layers[j]
        for k, i in enumerate(spec.sources[j]):
            if i < 0 or i in whole:
                continue
            if k == 1 and (layer.kind == LayerKind.MATMUL or layer.kind in CHANNEL_KINDS):
                whole.add(i)
                continue
            covers = all(
                lowering.spec.need(layer, 0, out, axis) == (0, size_in)
                and (layer.kind in (LayerKind.CONV_TRANSPOSE2D, LayerKind.RESIZE_NEAREST,
                                    LayerKind.RESIZE_BILINEAR)
                     or layer.kernel[axis] >= layer.stride[axis])
                for axis, out, size_in in ((0, layer.h_out, layer.h_in),
                                           (1, layer.w_out, layer.w_in)))
            if covers:
                whole.add(i)
    return whole


def _floor_alu_cycles(spec: lowering.GroupSpec, hw: HardwareConfig, whole: set[int]) -> int:
    """ALU cycles every plan of ``spec`` spends on all cores together (hardware batch 1):
    each ALU pass runs ``iter_out x iter_in x ops x alu_ii`` cycles over a tile's chunk
    (``Emitter.alu_pass``), and the tiles and chunks of a layer in ``whole`` cover its
    ``h_out x w_out x batch`` pixels and ``ceil(c_out / BLOCK_OUT)`` blocks at least once.
    The ops per vector: the ALU kind's own (``emit.alu_ops_per_vector``) or a GEMM's
    requantisation on VTA's ALU, its folded activation's passes, and the write of an
    intermediate a later layer of the group reads from the input buffer. Left out: a
    Concat (in place or a copy) and a global pool (summed band by band when it is large)."""
    consumed = {s for srcs in spec.sources for s in srcs if s >= 0}
    bo, total = hw.block_out, 0
    for i, layer in enumerate(spec.layers):
        if i not in whole or layer.kind in (LayerKind.CONCAT, LayerKind.GLOBAL_AVG_POOL):
            continue
        if layer.is_gemm:
            ops = 0 if hw.requantize_in_gemm else REQUANT_ALU_OPS
            ops += 1 if i in consumed and not hw.requantize_in_gemm else 0
        else:
            ops = alu_ops_per_vector(layer, len(spec.sources[i])) + (1 if i in consumed else 0)
        ops += activation_passes(layer.activation)
        total += layer.h_out * layer.w_out * layer.batch * -(-layer.c_out // bo) * ops
    return total * hw.alu_ii


def _floor_bytes(spec: lowering.GroupSpec, hw: HardwareConfig) -> tuple[int, int]:
    """(bytes every active core moves, bytes the active cores move between them) under any
    plan of ``spec``, data only and unpadded (the streams pad channels to blocks and add
    instruction words, halos and re-reads).

    Every core with work computes part of the last layer, so every layer it depends on
    (its producers, theirs ...), and loads that layer's weights at least once (resident:
    in its preamble; streamed: with each chunk it computes): under a row split each core
    computes a band of every layer, under a channel split the upstream layers whole
    (``lowering.planner``). The last layer's weights are loaded at least once between the
    cores (whole per core on a row split, a slice per core on a channel split), and every
    stored output is stored exactly once between them (``GroupGeometry.store_share``).
    Left out, being harder to pin: a matmul's weight operand (per sample, or left on chip
    by its producer), a Concat's stores (zero-copy slices), external inputs. The busiest
    of the ``a <= cores`` active cores therefore moves at least ``every + shared / cores``
    through its port (fact 3b; multicast loads are left out of a core's port bytes, so
    the caller skips that term under multicast), and all of them ``every + shared`` on
    the bus (fact 3: a multicast read counts once)."""
    n = len(spec.layers)
    ancestors = {n - 1}
    for i in range(n - 1, -1, -1):
        if i in ancestors:
            ancestors.update(s for s in spec.sources[i] if s >= 0)
    every_core = shared = 0
    for i, layer in enumerate(spec.layers):
        if layer.is_gemm and layer.kind != LayerKind.MATMUL:
            weights = layer.weight_bytes(hw.wgt_bits)
            if i == n - 1:
                shared += weights
            elif i in ancestors:
                every_core += weights
        if spec.stores[i] and layer.kind != LayerKind.CONCAT:
            shared += layer.output_bytes(hw.inp_bits)
    return every_core, shared


def objective_lower_bound(objective: str):
    """The bound for ``objective``: energy's for ``energy``, else latency's (EDP, not a sum
    over groups, is searched by its additive stand-in, latency)."""
    return energy_lower_bound if objective == "energy" else latency_lower_bound


def energy_lower_bound(evaluator: GroupEvaluator, network: Network, start: int, end: int,
                       cores: int) -> float | None:
    """A lower bound on ``evaluator.result(...).energy_pj`` (None if infeasible)."""
    work = group_work(evaluator, network, start, end, cores)
    if work is None:
        return None
    exact = group_energy_pj(evaluator.hw, macs_issued=work.macs_issued,
                            gemm_cycles=work.gemm_cycles, alu_cycles=work.alu_cycles,
                            dram_bytes_read=work.bytes_read, dram_bytes_written=work.bytes_written)
    return exact * (1.0 - ENERGY_SLACK) if exact > 0 else exact
