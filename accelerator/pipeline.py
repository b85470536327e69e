"""VTA's decoupled load / compute / store pipeline as one recurrence.

A core runs three modules (:data:`accelerator.isa.LOAD_MODULE` ...); each runs its items
one at a time in program order, and an item may also wait for earlier items of other
modules (a dependency token: VTA's s-th pop of a token queue waits for its s-th push). With
every duration fixed, the earliest schedule is the max-plus recurrence

    end[k] = max(end of the module's previous item, ready[k], end[d] for d in deps[k]) + dur[k]

This is the one definition of that pipeline outside the simulator (:mod:`accelerator.sim`,
which runs the same modules as SimPy processes with DRAM contention and bounded queues):

- the planner's estimate (:func:`accelerator.lowering.cost._pipeline_cycles`) feeds it a
  plan's steps, with each transfer at the core's share of the bus;
- the bounds' relaxed schedule (:func:`accelerator.bounds.relaxed_end`) feeds it a core's
  instructions, with each transfer at its shortest and its fetch block's arrival as
  ``ready``, dependencies resolved from the token flags by :func:`token_deps`.

The simulator is never faster than the relaxed schedule (the bounds' argument), and the
estimate stays within its stated error of the simulator: ``tests/test_pipeline.py`` checks
both over random instruction streams.
"""

from __future__ import annotations

from collections.abc import Sequence

from fusiongym.accelerator.isa import TOKEN_QUEUES

NO_DEPS: tuple[int, ...] = ()


def pipeline_end(modules: Sequence[int], durations: Sequence[float],
                 deps: Sequence[Sequence[int]], ready: Sequence[float] | None = None
                 ) -> float | None:
    """The latest ``end`` of the recurrence in the module docstring (0 for no items), or
    None if the dependencies wait in a cycle (the simulator deadlocks there).

    Items are in program order; when every dependency is earlier in that order (the
    lowering's streams) one pass computes it, else the modules are advanced in turn."""
    n = len(modules)
    end = [0] * n  # ints stay ints (the bounds' whole cycles), floats floats
    free = [0, 0, 0]
    for k in range(n):
        m = modules[k]
        start = free[m]
        if ready is not None and ready[k] > start:
            start = ready[k]
        for d in deps[k]:
            if d >= k:
                return _pipeline_end_any_order(modules, durations, deps, ready)
            if end[d] > start:
                start = end[d]
        end[k] = free[m] = start + durations[k]
    return max(free) if n else 0


def _pipeline_end_any_order(modules: Sequence[int], durations: Sequence[float],
                            deps: Sequence[Sequence[int]], ready: Sequence[float] | None
                            ) -> float | None:
    """:func:`pipeline_end` when a dependency comes later in program order: each module
    runs its items in order while their dependencies have ended, in turn, until no module
    can advance."""
    streams: list[list[int]] = [[], [], []]
    for k, m in enumerate(modules):
        streams[m].append(k)
    end: list[float | None] = [None] * len(modules)
    pos, free = [0, 0, 0], [0, 0, 0]
    progress = True
    while progress:
        progress = False
        for m in range(3):
            stream = streams[m]
            while pos[m] < len(stream):
                k = stream[pos[m]]
                waits = [end[d] for d in deps[k]]
                if any(w is None for w in waits):
                    break  # a dependency has not run yet: run the other modules first
                start = max([free[m], ready[k] if ready is not None else 0, *waits])
                end[k] = free[m] = start + durations[k]
                pos[m] += 1
                progress = True
    if any(pos[m] < len(streams[m]) for m in range(3)):
        return None
    return max(free)


def token_deps(program: Sequence) -> list[Sequence[int]] | None:
    """Per instruction, the instructions whose pushed tokens it pops (the s-th pop of a
    token queue takes the s-th push, fact 6 of :mod:`accelerator.bounds`); None if some pop
    has no push at all (the simulator waits for ever there)."""
    pushers: list[list[int]] = [[], [], [], []]
    for k, insn in enumerate(program):
        if insn.push_prev or insn.push_next:
            _, _, push_prev_q, push_next_q = TOKEN_QUEUES[insn.module]
            if insn.push_prev and push_prev_q is not None:
                pushers[push_prev_q].append(k)
            if insn.push_next and push_next_q is not None:
                pushers[push_next_q].append(k)
    popped = [0, 0, 0, 0]
    deps: list[Sequence[int]] = []
    for insn in program:
        if not (insn.pop_prev or insn.pop_next):
            deps.append(NO_DEPS)
            continue
        pop_prev_q, pop_next_q, _, _ = TOKEN_QUEUES[insn.module]
        mine = []
        for flag, q in ((insn.pop_prev, pop_prev_q), (insn.pop_next, pop_next_q)):
            if flag and q is not None:
                s = popped[q]
                if s >= len(pushers[q]):
                    return None
                mine.append(pushers[q][s])
                popped[q] = s + 1
        deps.append(mine)
    return deps
