"""Discrete-event model of N VTA-style cores sharing one DRAM (SimPy).

Per core, four processes read like the hardware:

- **fetch** streams the instruction words from DRAM (one burst at a time) and dispatches
  each instruction into the load, compute or store command queue; it stalls while the
  target queue is full (bounded ``cmd_queue_depth``), exactly as VTA's fetch module does.
- **load**, **compute**, **store** each execute their queue in order. They synchronise
  *only* through the four dependency-token queues LD->CMP, CMP->LD, CMP->ST, ST->CMP
  (bounded ``token_queue_depth``): an instruction pops its tokens before it runs and
  pushes after it finishes.
- **DRAM** is shared by every core. A transfer waits the access latency, then moves its
  bytes while sharing the bandwidth with every other transfer in flight (``fair_share``,
  the default: the fluid limit of round-robin burst interleaving, a few events per
  transfer), or burst by burst over one first-come-first-served bus (``burst``, the
  reference, a few events per burst). Either way cores that load at the same time slow
  each other down because of the model, not because of a formula.

GEMM time is the micro-op loop nest ``iter_out x iter_in x uops x GEMM_II``; ALU time
``iter_out x iter_in x ops x ALU_II``. A token that can never arrive leaves processes
blocked when the event queue runs dry; that is reported as a :class:`DeadlockError` naming
the core, module and instruction, never a hang.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import simpy

from accelerator.config import HardwareConfig
from accelerator.errors import DeadlockError
from accelerator.isa import (ALU, COMPUTE_MODULE, FINISH, GEMM, LOAD, LOAD_MODULE, MODULE_NAMES,
                             STORE, STORE_MODULE, TOKEN_NAMES, TOKEN_QUEUES, Insn)


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
    trace: list[tuple] | None = None  # (core, module, kind, start, end, nbytes, layer)
    dram_trace: list[tuple] | None = None  # (core, start, end, nbytes) per burst
    extra: dict = field(default_factory=dict)

    def utilization(self, core: int, module: int) -> float:
        return self.busy_cycles[core][module] / self.cycles if self.cycles else 0.0

    def module_busy(self) -> dict[str, int]:
        return {name: sum(b[m] for b in self.busy_cycles) for m, name in enumerate(MODULE_NAMES)}


def _bus_cycles(nbytes: int, bytes_per_cycle: float) -> int:
    """Whole cycles the bus is held to move ``nbytes`` (at least one)."""
    return max(1, math.ceil(nbytes / bytes_per_cycle - 1e-9))


def _access(dram, nbytes: int, write: bool):
    """What every DRAM transfer starts with: count its bytes, then wait the access latency."""
    if write:
        dram.written += nbytes
    else:
        dram.read += nbytes
    if dram.latency:
        yield dram.env.timeout(dram.latency)


class _BurstDram:
    """DRAM as one bus arbitrated burst by burst, first come first served.

    The reference model: every ``dram_burst_bytes`` burst is a bus acquisition, so its cost
    grows with the bytes moved. :class:`_FairShareDram` is its fast fluid limit.
    """

    __slots__ = ("env", "bus", "latency", "burst", "cycles_per_burst", "bw", "read", "written",
                 "trace")

    def __init__(self, env: simpy.Environment, hw: HardwareConfig, trace: bool):
        self.env = env
        self.bus = simpy.Resource(env, capacity=1)
        self.latency = hw.dram_latency_cycles
        self.burst = hw.dram_burst_bytes
        self.bw = hw.dram_bandwidth_bytes_per_cycle
        self.cycles_per_burst = _bus_cycles(self.burst, self.bw)
        self.read = 0
        self.written = 0
        self.trace: list[tuple] | None = [] if trace else None

    def transfer(self, core: int, nbytes: int, write: bool):
        """Process body: move ``nbytes`` over the shared bus."""
        yield from _access(self, nbytes, write)
        env = self.env
        remaining = nbytes
        burst, bus = self.burst, self.bus
        while remaining > 0:
            if remaining >= burst:
                cycles = self.cycles_per_burst
                moved = burst
            else:
                moved = remaining
                cycles = _bus_cycles(moved, self.bw)
            req = bus.request()
            yield req
            start = env.now
            yield env.timeout(cycles)
            bus.release(req)
            if self.trace is not None:
                self.trace.append((core, start, env.now, moved))
            remaining -= moved


class _FairShareDram:
    """DRAM whose bandwidth is shared equally by the transfers in flight (processor sharing).

    This is round-robin burst interleaving in the limit of small bursts: while ``n``
    transfers overlap, each moves ``bandwidth / n`` bytes per cycle, so cores slow each other
    down exactly when they load at the same time. It costs a few events per *transfer*
    (arrival, completion, re-planning when the set of transfers changes) instead of a few
    per burst. Completion times are rounded up to whole cycles, so the bus never moves more
    than ``bandwidth`` bytes per cycle.
    """

    __slots__ = ("env", "latency", "bw", "read", "written", "trace", "active", "last",
                 "version")

    def __init__(self, env: simpy.Environment, hw: HardwareConfig, trace: bool):
        self.env = env
        self.latency = hw.dram_latency_cycles
        self.bw = hw.dram_bandwidth_bytes_per_cycle
        self.read = 0
        self.written = 0
        self.trace: list[tuple] | None = [] if trace else None
        self.active: list[list] = []  # [bytes left, done event, core, start, nbytes]
        self.last = 0  # time the bytes-left figures were last brought up to date
        self.version = 0  # invalidates wake-ups planned before the set of transfers changed

    def transfer(self, core: int, nbytes: int, write: bool):
        """Process body: move ``nbytes``, sharing the bandwidth with concurrent transfers."""
        yield from _access(self, nbytes, write)
        env = self.env
        if nbytes <= 0:
            return
        done = env.event()
        self._advance()
        self.active.append([float(nbytes), done, core, env.now, nbytes])
        self._plan()
        yield done

    def _advance(self) -> None:
        now = self.env.now
        active = self.active
        if active and now > self.last:
            share = self.bw * (now - self.last) / len(active)
            for t in active:
                t[0] -= share
        self.last = now

    def _plan(self) -> None:
        active = self.active
        if not active:
            return
        self.version += 1
        version = self.version
        smallest = min(t[0] for t in active)
        delay = max(1, math.ceil(smallest * len(active) / self.bw - 1e-9))
        wake = self.env.timeout(delay)
        wake.callbacks.append(lambda _event: self._wake(version))

    def _wake(self, version: int) -> None:
        if version != self.version:
            return  # a transfer arrived or left since this wake-up was planned
        self._advance()
        finished = [t for t in self.active if t[0] <= 1e-6]
        if finished:
            self.active = [t for t in self.active if t[0] > 1e-6]
            now = self.env.now
            for t in finished:
                t[1].succeed()
                if self.trace is not None:
                    self.trace.append((t[2], t[3], now, t[4]))
        self._plan()


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
            seq_of: dict[int, int] | None, trace: list | None, counters: list[int]):
    """Load, compute or store module: execute ``count`` instructions in queue order."""
    queue = core.queues[module]
    tokens = core.tokens
    busy = core.busy
    c = core.index
    pop_prev_q, pop_next_q, push_prev_q, push_next_q = TOKEN_QUEUES[module]
    # what the module is doing, as (instruction, state code): rendered only on a deadlock
    cur = core.current[module]
    for _ in range(count):
        cur[0] = None
        cur[1] = _WAIT_INSN
        insn = yield queue.get()
        cur[0] = insn
        if seq_of is not None:
            cur[1] = _WAIT_TURN
            yield from _wait_turn(env, core, seq_of[id(insn)])
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
            if insn.nbytes:
                yield from dram.transfer(c, insn.nbytes, write=op == STORE)
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


def simulate(programs: list[list[Insn]], hw: HardwareConfig, trace: bool = False) -> SimResult:
    """Run per-core instruction streams to completion on the shared-DRAM model."""
    env = simpy.Environment()
    dram_model = _FairShareDram if hw.dram_arbitration == "fair_share" else _BurstDram
    dram = dram_model(env, hw, trace)
    cores = [_Core(env, hw, c) for c in range(len(programs))]
    trace_list: list | None = [] if trace else None
    counters = [0, 0]  # gemm cycles, alu cycles
    instructions: dict[str, int] = {}
    insn_bytes = 0
    for core, program in zip(cores, programs):
        if not program:
            core.done = [True, True, True]
            continue
        counts = [0, 0, 0]
        for insn in program:
            counts[insn.module] += 1
            instructions[insn.kind] = instructions.get(insn.kind, 0) + 1
        insn_bytes += len(program) * hw.instruction_bytes
        seq_of = {id(insn): k for k, insn in enumerate(program)} if hw.forced_serial else None
        env.process(_fetch(env, hw, core, program, dram))
        for m in (LOAD_MODULE, COMPUTE_MODULE, STORE_MODULE):
            env.process(_module(env, hw, core, m, counts[m], dram, seq_of, trace_list, counters))
    env.run()
    for core in cores:
        for m in range(3):
            if not core.done[m]:
                insn, state = core.current[m]
                where = (f"instruction {programs[core.index].index(insn)} ({insn!r})"
                         if insn is not None else "before its next instruction")
                raise DeadlockError(
                    f"deadlock at cycle {env.now}: core {core.index} {MODULE_NAMES[m]} module, "
                    f"{where}, is {_describe_state(m, state)}, which can never happen")
    tokens_left = sum(t.level for core in cores for t in core.tokens)
    return SimResult(
        cycles=int(env.now),
        cores=len(programs),
        busy_cycles=[list(core.busy) for core in cores],
        dram_bytes_read=dram.read,
        dram_bytes_written=dram.written,
        instruction_bytes=insn_bytes,
        gemm_cycles=counters[0],
        alu_cycles=counters[1],
        instructions=instructions,
        events=next(env._eid),  # SimPy numbers every scheduled event
        tokens_left=tokens_left,
        trace=trace_list,
        dram_trace=dram.trace,
    )
