"""Discrete-event model of N VTA-style cores sharing one DRAM (SimPy).

Per core, four processes read like the hardware:

- **fetch** streams the instruction words from DRAM (one burst at a time) and dispatches
  each instruction into the load, compute or store command queue; it stalls while the
  target queue is full (bounded ``cmd_queue_depth``), exactly as VTA's fetch module does.
- **load**, **compute**, **store** each execute their queue in order. They synchronise
  *only* through the four dependency-token queues LD->CMP, CMP->LD, CMP->ST, ST->CMP
  (bounded ``token_queue_depth``): an instruction pops its tokens before it runs and
  pushes after it finishes.
- **DRAM** (:mod:`accelerator.dram`) is shared by every core. A transfer waits the access
  latency, then moves its bytes while sharing the bandwidth with every other transfer in
  flight, max-min fair under the bus and each core's port (``fair_share``, the default, a
  few events per transfer), or burst by burst over one first-come-first-served bus
  (``burst``, the reference, a few events per burst). Either way cores that load at the
  same time slow each other down because of the model, not because of a formula. With
  ``dram_multicast`` a LOAD carrying a ``share_key`` joins another core's read of the same
  data (what happens when they ask at different times: :mod:`accelerator.dram`).
- **Barrier**: when a core's three modules are done it enters the end-of-group barrier, a
  dissemination barrier over the active cores: in round ``r`` core ``k`` signals core
  ``(k + 2^r) mod n`` (``barrier_hop_cycles`` on the way) and waits for the signal of core
  ``(k - 2^r) mod n``; then the legacy host poll (:func:`accelerator.results.group_overhead`).

GEMM time is the micro-op loop nest ``iter_out x iter_in x uops x GEMM_II``; ALU time
``iter_out x iter_in x ops x ALU_II``. A token that can never arrive leaves processes
blocked when the event queue runs dry; that is reported as a :class:`DeadlockError` naming
the core, module and instruction, never a hang.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import simpy

from fusiongym.accelerator import dram as dram_models
from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.errors import DeadlockError
from fusiongym.accelerator.isa import (ALU, COMPUTE_MODULE, FINISH, GEMM, LOAD, LOAD_MODULE, MODULE_NAMES,
                             STORE, STORE_MODULE, TOKEN_NAMES, TOKEN_QUEUES, Insn)
from fusiongym.accelerator.results import barrier_rounds


@dataclass
class SimResult:
    """What one run of per-core instruction streams did. Times in cycles."""

    cycles: int  # from the first fetch to the last module finishing, over all cores
    cores: int
    busy_cycles: list[list[int]]  # [core][module] time spent executing instructions
    dram_bytes_read: int  # data loads + instruction fetch
    dram_bytes_written: int
    instruction_bytes: int
    gemm_cycles: int  # sum over GEMM instructions of iter_out * iter_in * uops * II
    alu_cycles: int
    instructions: dict[str, int]
    events: int
    tokens_left: int  # tokens still queued at the end (0 for a balanced stream)
    barrier_cycles: int = 0  # from the last module finishing to the end of the barrier
    active_cores: int = 0  # cores that got work (a non-empty stream)
    trace: list[tuple] | None = None  # (core, module, kind, start, end, nbytes, layer)
    dram_trace: list[tuple] | None = None  # (core, start, end, nbytes) per burst
    extra: dict = field(default_factory=dict)

    def utilization(self, core: int, module: int) -> float:
        return self.busy_cycles[core][module] / self.cycles if self.cycles else 0.0

    def module_busy(self) -> dict[str, int]:
        return {name: sum(b[m] for b in self.busy_cycles) for m, name in enumerate(MODULE_NAMES)}


class _Core:
    """One core's queues and bookkeeping."""

    def __init__(self, env: simpy.Environment, hw: HardwareConfig, index: int):
        self.index = index
        self.queues = [simpy.Store(env, capacity=hw.cmd_queue_depth) for _ in range(3)]
        self.tokens = [simpy.Container(env, capacity=hw.token_queue_depth, init=0)
                       for _ in range(4)]
        self.busy = [0, 0, 0]
        self.current: list[list] = [[None, 0], [None, 0], [None, 0]]  # see _module
        self.done = [False, False, False]
        self.serial_next = 0
        self.serial_event: simpy.Event | None = None
        self.finished = env.event()  # all three modules are done: it enters the barrier
        self.finish_time = 0


def _fetch(env, hw: HardwareConfig, core: _Core, program: list[Insn], dram):
    per_burst = max(1, hw.dram_burst_bytes // hw.instruction_bytes)
    queues = core.queues
    for base in range(0, len(program), per_burst):
        block = program[base:base + per_burst]
        yield from dram.transfer(core.index, len(block) * hw.instruction_bytes, write=False)
        for insn in block:
            yield queues[insn.module].put(insn)


def _wait_turn(env, core: _Core, seq: int):
    while core.serial_next != seq:
        if core.serial_event is None:
            core.serial_event = env.event()
        yield core.serial_event


def _advance_turn(core: _Core) -> None:
    core.serial_next += 1
    ev = core.serial_event
    if ev is not None:
        core.serial_event = None
        ev.succeed()


def _module(env, hw: HardwareConfig, core: _Core, module: int, count: int, dram,
            seq_of: list[int] | None, trace: list | None, counters: list[int],
            share_ns=None):
    """Load, compute or store module: execute ``count`` instructions in queue order.

    ``share_ns`` names the group run in a whole-placement simulation, so that multicast keys
    (which are only unique within one group's streams) never join two groups' reads."""
    queue = core.queues[module]
    tokens = core.tokens
    busy = core.busy
    c = core.index
    pop_prev_q, pop_next_q, push_prev_q, push_next_q = TOKEN_QUEUES[module]
    # what the module is doing, as (instruction, state code): rendered only on a deadlock
    cur = core.current[module]
    multicast = hw.dram_multicast
    for j in range(count):
        cur[0] = None
        cur[1] = _WAIT_INSN
        insn = yield queue.get()
        cur[0] = insn
        if seq_of is not None:
            cur[1] = _WAIT_TURN
            yield from _wait_turn(env, core, seq_of[j])
        if insn.pop_prev:
            cur[1] = _POP_PREV
            yield tokens[pop_prev_q].get(1)
        if insn.pop_next:
            cur[1] = _POP_NEXT
            yield tokens[pop_next_q].get(1)
        cur[1] = _EXECUTING
        start = env.now
        op = insn.op
        if op == GEMM or op == ALU:
            if insn.cycles:
                yield env.timeout(insn.cycles)
            if op == GEMM:
                counters[0] += insn.cycles
            else:
                counters[1] += insn.cycles
        elif op == LOAD or op == STORE:
            if not insn.nbytes:
                pass
            elif multicast and insn.share_key is not None:
                key = insn.share_key if share_ns is None else (share_ns, insn.share_key)
                yield from dram_models.read(dram, c, insn.nbytes, key)
            else:
                yield from dram.transfer(c, insn.nbytes, write=op == STORE)
            if insn.cycles > env.now - start:
                # a LOAD whose on-chip side is slower than its DRAM side (the im2col gather
                # writing packed vectors, accelerator/lowering/emit.py load_packed)
                yield env.timeout(insn.cycles - (env.now - start))
        busy[module] += env.now - start
        if trace is not None and op != FINISH:
            trace.append((c, module, insn.kind, start, env.now, insn.nbytes, insn.layer))
        if insn.push_prev:
            cur[1] = _PUSH_PREV
            yield tokens[push_prev_q].put(1)
        if insn.push_next:
            cur[1] = _PUSH_NEXT
            yield tokens[push_next_q].put(1)
        if seq_of is not None:
            _advance_turn(core)
    cur[0] = None
    cur[1] = _FINISHED
    core.done[module] = True
    if all(core.done):
        core.finish_time = env.now
        core.finished.succeed()


def _barrier_member(env, k: int, n: int, hop: int, finished: simpy.Event, flags: list[list]):
    """Active core ``k`` of ``n`` in the dissemination barrier (see the module docstring)."""
    yield finished
    for r, arrived in enumerate(flags):
        signal = env.timeout(hop)  # the flag travels to core k + 2^r
        signal.callbacks.append(lambda _event, flag=arrived[(k + (1 << r)) % n]: flag.succeed())
        yield arrived[k]


def _barrier(env, hw: HardwareConfig, active: list[_Core], allocated: int, end: list[int]):
    """End-of-group barrier: the tree over the active cores, then the legacy host poll."""
    hop = hw.barrier_hop_cycles
    rounds = barrier_rounds(len(active)) if hop else 0
    flags = [[env.event() for _ in active] for _ in range(rounds)]
    yield env.all_of([env.process(_barrier_member(env, k, len(active), hop, core.finished, flags))
                      for k, core in enumerate(active)])
    if allocated > 1 and hw.sync_cycles_per_core:
        yield env.timeout(hw.sync_cycles_per_core * allocated)
    end.append(env.now)


# module states, for deadlock reports
_WAIT_INSN, _WAIT_TURN, _POP_PREV, _POP_NEXT, _EXECUTING, _PUSH_PREV, _PUSH_NEXT, _FINISHED = range(8)


def _describe_state(module: int, state: int) -> str:
    pop_prev, pop_next, push_prev, push_next = TOKEN_QUEUES[module]
    return {
        _WAIT_INSN: "waiting for an instruction",
        _WAIT_TURN: "waiting for its turn (forced serial)",
        _POP_PREV: f"waiting for a {TOKEN_NAMES[pop_prev]} token" if pop_prev is not None else "",
        _POP_NEXT: f"waiting for a {TOKEN_NAMES[pop_next]} token" if pop_next is not None else "",
        _EXECUTING: "executing",
        _PUSH_PREV: f"waiting to push a {TOKEN_NAMES[push_prev]} token (queue full)"
        if push_prev is not None else "",
        _PUSH_NEXT: f"waiting to push a {TOKEN_NAMES[push_next]} token (queue full)"
        if push_next is not None else "",
        _FINISHED: "finished",
    }[state]


class GroupRun:
    """One group's streams started on a set of physical cores of a running environment.

    ``finished`` fires when the group's last active core is done and its barrier is over;
    ``work_end`` is then when the last module finished (the cores' run ends there) and
    ``barrier_end`` when the barrier did (None if the group has no barrier)."""

    def __init__(self, env: simpy.Environment, hw: HardwareConfig, dram, core_ids,
                 programs: list[list[Insn]], trace_list: list | None, counters: list[int],
                 share_ns=None):
        self.programs = programs
        self.cores = [_Core(env, hw, c) for c in core_ids]
        self.instructions: dict[str, int] = {}
        self.instruction_bytes = 0
        for core, program in zip(self.cores, programs):
            if not program:
                core.done = [True, True, True]
                continue
            counts = [0, 0, 0]
            for insn in program:
                counts[insn.module] += 1
                self.instructions[insn.kind] = self.instructions.get(insn.kind, 0) + 1
            self.instruction_bytes += len(program) * hw.instruction_bytes
            # forced serial: the program index of each module's j-th instruction (queues are
            # FIFO and fetch is in order; an instruction object may occur more than once)
            seq_of = ([[k for k, insn in enumerate(program) if insn.module == m]
                       for m in range(3)] if hw.forced_serial else [None, None, None])
            env.process(_fetch(env, hw, core, program, dram))
            for m in (LOAD_MODULE, COMPUTE_MODULE, STORE_MODULE):
                env.process(_module(env, hw, core, m, counts[m], dram, seq_of[m], trace_list,
                                    counters, share_ns))
        self.active = [core for core, program in zip(self.cores, programs) if program]
        self.barrier_end: list[int] = []
        has_barrier = (hw.barrier_hop_cycles and len(self.active) > 1) or (
            hw.sync_cycles_per_core and len(programs) > 1)
        self._env = env
        self._finished = (env.process(_barrier(env, hw, self.active, len(programs),
                                               self.barrier_end)) if has_barrier else None)

    @property
    def finished(self) -> simpy.Event:
        # made on demand: a lone group's simulation never waits on it, and an extra
        # condition event would change its event count
        if self._finished is None:
            self._finished = (self._env.all_of([core.finished for core in self.active])
                              if self.active else self._env.timeout(0))
        return self._finished

    @property
    def work_end(self) -> int:
        return int(max((core.finish_time for core in self.active), default=0))

    def check_deadlock(self, now: float, where_prefix: str = "") -> None:
        """Raise DeadlockError naming the first module of this group that never finished."""
        for k, core in enumerate(self.cores):
            for m in range(3):
                if not core.done[m]:
                    insn, state = core.current[m]
                    program = self.programs[k]
                    where = (f"instruction {program.index(insn)} ({insn!r})"
                             if insn is not None else "before its next instruction")
                    raise DeadlockError(
                        f"deadlock at cycle {now}: {where_prefix}core {core.index} "
                        f"{MODULE_NAMES[m]} module, {where}, is {_describe_state(m, state)}, "
                        "which can never happen")


def simulate(programs: list[list[Insn]], hw: HardwareConfig, trace: bool = False) -> SimResult:
    """Run per-core instruction streams to completion on the shared-DRAM model."""
    env = simpy.Environment()
    dram = dram_models.make_dram(env, hw, len(programs), trace)
    trace_list: list | None = [] if trace else None
    counters = [0, 0]  # gemm cycles, alu cycles
    run = GroupRun(env, hw, dram, range(len(programs)), programs, trace_list, counters)
    env.run()
    run.check_deadlock(env.now)
    cores = run.cores
    tokens_left = sum(t.level for core in cores for t in core.tokens)
    work_end = run.work_end
    barrier_end = run.barrier_end
    return SimResult(
        cycles=work_end,
        cores=len(programs),
        busy_cycles=[list(core.busy) for core in cores],
        dram_bytes_read=dram.read,
        dram_bytes_written=dram.written,
        instruction_bytes=run.instruction_bytes,
        gemm_cycles=counters[0],
        alu_cycles=counters[1],
        instructions=run.instructions,
        events=next(env._eid),  # SimPy numbers every scheduled event
        tokens_left=tokens_left,
        barrier_cycles=int(barrier_end[0] - work_end) if barrier_end else 0,
        active_cores=len(run.active),
        trace=trace_list,
        dram_trace=dram.trace,
    )
