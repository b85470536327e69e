"""The SimPy floor: a bare fetch -> load / compute / store pipeline with trivial bodies.

It uses exactly the primitives of :mod:`accelerator.sim` (per core: three bounded
``simpy.Store`` command queues, four bounded ``simpy.Container`` token queues; one shared
``simpy.Resource`` DRAM bus) and the same process structure, but no bookkeeping: no state
strings, no trace, no counters, one bus hold per memory instruction (a DRAM access
latency timeout, then one request / timeout / release). Events per second of this
pipeline are what SimPy itself can do with this structure; the model's rate divided by
it (B1's ``ratio``) is the share of time the model spends in SimPy rather than in our
Python around it.

A stream is a list of :data:`Op` tuples ``(module, pop_prev, pop_next, push_prev,
push_next, cycles, is_memory)``. :func:`synthetic_stream` builds a balanced double-buffered
stream; :func:`from_programs` converts lowered instruction streams so that the bare
pipeline can replay exactly the work the model simulated.
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import simpy

# the simulator's own module indices and token-queue table, so the floor runs the same rules
from fusiongym.accelerator.isa import COMPUTE_MODULE, LOAD_MODULE, STORE_MODULE, TOKEN_QUEUES

Op = tuple  # (module, pop_prev, pop_next, push_prev, push_next, cycles, is_memory)


def synthetic_stream(tiles: int, load_cycles: int = 40, compute_cycles: int = 100,
                     store_cycles: int = 40, vthreads: int = 2) -> list[Op]:
    """``tiles`` x (LOAD, GEMM, STORE) with VTA double-buffering tokens, plus a FINISH."""
    ops: list[Op] = []
    for t in range(tiles):
        early, late = t >= vthreads, t + vthreads < tiles
        ops.append((LOAD_MODULE, False, early, False, True, load_cycles, True))
        ops.append((COMPUTE_MODULE, True, early, late, True, compute_cycles, False))
        ops.append((STORE_MODULE, True, False, late, False, store_cycles, True))
    ops.append((COMPUTE_MODULE, False, False, False, False, 0, False))  # FINISH
    return ops


def from_programs(programs: Sequence[Sequence], bytes_per_cycle: float) -> list[list[Op]]:
    """Lowered per-core programs (``accelerator.isa.Insn``) as bare streams: same modules,
    flags and compute cycles; a memory instruction holds the bus once for its whole
    transfer (the model splits it into bursts)."""
    streams = []
    for program in programs:
        stream = []
        for insn in program:
            memory = insn.op in ("LOAD", "STORE")
            cycles = (max(1, math.ceil(insn.nbytes / bytes_per_cycle)) if insn.nbytes else 0) \
                if memory else insn.cycles
            stream.append((insn.module, insn.pop_prev, insn.pop_next, insn.push_prev,
                           insn.push_next, cycles, memory and cycles > 0))
        streams.append(stream)
    return streams


def _fetch(env, queues, stream, bus, per_burst, latency):
    for base in range(0, len(stream), per_burst):
        if latency:
            yield env.timeout(latency)
        req = bus.request()
        yield req
        yield env.timeout(1)
        bus.release(req)
        for op in stream[base:base + per_burst]:
            yield queues[op[0]].put(op)


def _module(env, queue, tokens, count, bus, module, latency):
    pp, pn, up, un = TOKEN_QUEUES[module]
    for _ in range(count):
        op = yield queue.get()
        if op[1]:
            yield tokens[pp].get(1)
        if op[2]:
            yield tokens[pn].get(1)
        cycles = op[5]
        if op[6]:
            if latency:
                yield env.timeout(latency)
            req = bus.request()
            yield req
            yield env.timeout(cycles)
            bus.release(req)
        elif cycles:
            yield env.timeout(cycles)
        if op[3]:
            yield tokens[up].put(1)
        if op[4]:
            yield tokens[un].put(1)


def run_bare(streams: Sequence[Sequence[Op]], cmd_queue_depth: int = 8,
             token_queue_depth: int = 8, per_burst: int = 256,
             latency: int = 0) -> tuple[int, float, int]:
    """Run one bare simulation; returns ``(events, seconds, end_cycle)``.

    Timed: building the environment, queues and processes, and ``env.run()`` (the same
    boundaries as ``accelerator.sim.simulate`` minus its result bookkeeping). Events:
    ``next(env._eid)`` after the run, exactly as ``simulate`` counts them.
    """
    t0 = time.perf_counter()
    env = simpy.Environment()
    bus = simpy.Resource(env, capacity=1)
    for stream in streams:
        if not stream:
            continue
        queues = [simpy.Store(env, capacity=cmd_queue_depth) for _ in range(3)]
        tokens = [simpy.Container(env, capacity=token_queue_depth, init=0) for _ in range(4)]
        counts = [0, 0, 0]
        for op in stream:
            counts[op[0]] += 1
        env.process(_fetch(env, queues, stream, bus, per_burst, latency))
        for m in (LOAD_MODULE, COMPUTE_MODULE, STORE_MODULE):
            env.process(_module(env, queues[m], tokens, counts[m], bus, m, latency))
    env.run()
    seconds = time.perf_counter() - t0
    return next(env._eid), seconds, int(env.now)
