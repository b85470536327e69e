"""Lowering: (fused group of layers, core count, hardware) -> per-core VTA-like instruction streams.

Modules: ``spec`` (GroupSpec, LoweredGroup, window arithmetic), ``tiling`` (the group's
geometry, the Plan record), ``fit`` (buffer checks), ``emit`` (plan -> instructions and
tokens), ``cost`` (the planner's estimate), ``planner`` (options, choice).

How a group is executed
-----------------------
- **Plan by modelled cost.** The planner (``planner.py``) enumerates real plans and picks
  the one with the lowest modelled time per core (``cost.py``: the pipelined streams of a
  few sample tiles emitted by the real emitter); a fused group falls back to its
  bytes-minimal plan when its fastest plan moves more DRAM bytes than its layers apart
  without being faster than them.
- **Split across cores.** Over output *rows* of the last layer (each core gets a
  contiguous band and computes everything upstream that band needs, halo included), or
  over the last layer's *output channels* (each core reads the whole input and its slice
  of the last layer's weights; a fused group's upstream layers are computed whole on every
  core, so their weights and MACs are duplicated: that is in the emitted instructions).
  A map with fewer rows than cores leaves cores idle under a row split.
- **Tiles.** Each core walks its band in spatial tiles (rows x cols of the last layer's
  output). Tile ranges of every layer are back-propagated through the group, so fused
  layers compute the halo their consumers need. The rows two consecutive row tiles share
  are either recomputed (and their external inputs re-read) or, with a **line buffer**,
  kept on chip (input-buffer space is reserved for them; only new rows are loaded and
  computed). Tile heights tried: the tallest that fits and ones giving 2/4/8 tiles per
  core, so that with large buffers load, compute and store can overlap.
- **Buffers.** Activations live in the input buffer as int8 with channels padded to
  BLOCK_IN (VTA's packed layout), accumulators in the accumulator buffer (int32). With
  2 virtual threads each thread owns half of the input and accumulator buffers (VTA's
  ``h_nthread``); when a single layer's weights are streamed tile by tile, the threads
  instead alternate over output-channel chunks of one tile (``oc_nthread``): they share
  the whole input buffer, each owns half of the weight and accumulator buffers, and the
  next tile's input load waits for every compute of the previous tile. A fused
  intermediate stays in the input buffer: the compute module writes it there (one ALU
  pass per vector, or the GEMM's output stage with ``requantize_in_gemm``; our extension
  of VTA, which only has a DRAM path) and nothing goes through DRAM.
- **Weights** of the whole group stay resident if they fit the weight buffer (loaded once
  per core); otherwise they are streamed chunk by chunk. A fused group re-streams them
  for every tile (so fewer, taller tiles pay less); a single layer may instead run
  weight-stationary: the chunk loop outermost, each chunk loaded once and shared by both
  threads, the input tile re-read once per chunk (the chunk's first load waits for every
  earlier compute). The planner's cost picks the order with less time.
  A matmul of two activations (attention) takes its second operand through this weight
  path: loaded with the weights when it comes from DRAM, or left in the weight buffer by
  its producer inside the group (which must then be resident). Every output row reads
  that operand whole, so an in-group producer computes all of it for every tile, like a
  halo that covers the whole map (hence no line buffer and no channel split for such a
  group: ``planner.py``).
- **ALU layers** (pools, sums, and the transformer kinds whose per-element pass counts
  are listed in :mod:`accelerator.op_costs`) run one ALU pass per vector per step.
- **Chunks.** Output channels are chunked to fit the accumulator buffer; input channels
  are chunked (partial sums kept in the accumulator) only in single-layer groups.
- **Requantisation.** On VTA (``requantize_in_gemm: false``) every GEMM chunk is followed
  by a serial ALU pass (bias, shift, clamp: 4 ops per vector at ALU_II). With
  ``requantize_in_gemm: true`` (MLU-class) it runs in the GEMM's output stage: one output
  vector per accumulated block, pipelined behind the MACs, so no ALU instruction is
  emitted and its time is inside the GEMM's; pooling, eltwise add and concat still run
  on the ALU.
- **Steps and tokens.** A core's stream is a sequence of steps (loads, computes, stores).
  Dependency tokens implement VTA's virtual-thread double buffering: a step's loads wait
  (CMP->LD) for the compute of the step ``vthreads`` earlier, its compute waits (LD->CMP)
  for its loads and (ST->CMP) for the store of the step ``vthreads`` earlier, its stores
  wait (CMP->ST) for its compute. Pushes are emitted only where a pop will consume them,
  so every stream is balanced.

A group that cannot be tiled at all is *infeasible* and carries a reason.
"""

from __future__ import annotations

from functools import lru_cache

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.lowering.emit import emit_core
from fusiongym.accelerator.lowering.planner import plan_cached
from fusiongym.accelerator.lowering.spec import GroupSpec, LoweredGroup, Refusal, RefusalKind

__all__ = ["GroupSpec", "LoweredGroup", "Refusal", "RefusalKind", "infeasibility", "lower_group"]


def infeasibility(spec: GroupSpec, cores: int, hw: HardwareConfig) -> Refusal | None:
    """Why ``spec`` cannot run on ``cores`` cores (None if it can): planning only, no emission."""
    planned = plan_cached(spec, cores, hw)
    return planned if isinstance(planned, Refusal) else None


# Instruction streams are large (hundreds of thousands of instructions for a big group) and
# each group is simulated once (results are memoized by the evaluator), so only the last
# few are kept, for re-simulation with a trace.
@lru_cache(maxsize=32)
def _lower_cached(spec: GroupSpec, cores: int, hw: HardwareConfig) -> LoweredGroup:
    return _lower(spec, cores, hw)


def _lower(spec: GroupSpec, cores: int, hw: HardwareConfig) -> LoweredGroup:
    macs = sum(layer.macs for layer in spec.layers)
    planned = plan_cached(spec, cores, hw)
    if isinstance(planned, Refusal):
        return LoweredGroup(programs=[], cores=cores, macs=macs, refusal=planned)
    g, plan = planned.geometry, planned.plan
    programs, tiles, issued = [], 0, 0
    for core in range(cores):
        prog, t, m = emit_core(g, plan, core)
        programs.append(prog)
        tiles += t
        issued += m
    return LoweredGroup(programs=programs, cores=cores, macs=macs, split=plan.split,
                        vthreads=plan.vthreads, tile_rows=plan.tile_rows,
                        tile_cols=plan.tile_cols, tiles=tiles, weights_resident=plan.resident,
                        meta={"gemm_macs_issued": issued, "cin_chunk": plan.cin_chunk,
                              "cout_chunk": list(plan.cout_chunk),
                              "line_buffer": plan.line_buffer,
                              "weight_outer": plan.weight_outer,
                              "im2col": plan.im2col,
                              "modelled_cycles": round(plan.cost.cycles),
                              "modelled_dram_bytes": plan.cost.dram_bytes})


def lower_group(spec: GroupSpec, cores: int, hw: HardwareConfig) -> LoweredGroup:
    """Per-core instruction streams for ``spec`` on ``cores`` cores (memoized)."""
    return _lower_cached(spec, cores, hw)
