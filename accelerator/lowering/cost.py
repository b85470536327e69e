"""The planner's cost model: a cheap estimate of a plan's time per core and DRAM bytes.

It emits a few sample tiles of a core with the real emitter (so the bytes and cycles are
the instructions' own, not a second formula), repeats them to the core's tile count, and
runs VTA's decoupled load / compute / store modules over the resulting steps as a
recurrence on their dependency tokens:

- every LOAD / STORE pays the DRAM access latency, then its bytes at the core's share of
  the bus (the bus divided by the active cores, capped by the core's DRAM port);
- a step's loads wait for the compute of the step ``vthreads`` earlier (all earlier
  computes for a draining step), its compute for its loads and for the store of the step
  ``vthreads`` earlier, its stores for its compute; modules run their steps in order;
- the core's time is at least its total bus time (data and instruction words).

``forced_serial`` (a validation switch) is ignored: the plan is the pipelined machine's,
so a forced-serial run executes the same instructions one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from fusiongym.accelerator.isa import (ALU, COMPUTE_MODULE, GEMM, LOAD, LOAD_MODULE, MEM_ACC, MEM_UOP,
                             STORE_MODULE)
from fusiongym.accelerator.pipeline import pipeline_end
from fusiongym.accelerator.lowering.emit import Emitter, Step, TileJob, core_jobs
from fusiongym.accelerator.lowering.tiling import GroupGeometry, Plan

StepTimes = tuple[float, float, float, bool]  # load, compute, store cycles; drains


@dataclass(frozen=True)
class PlanCost:
    cycles: float  # modelled time of the slowest core (no launch, no barrier)
    dram_bytes: int  # modelled data bytes read + written by all cores


@dataclass
class _JobCost:
    steps: list[StepTimes]
    data_bytes: int
    insns: int


def _job_cost(em: Emitter, job: TileJob, first: bool, bw: float, latency: int) -> _JobCost:
    em.steps = []
    em.tile(job, first)
    steps, data_bytes, insns = [], 0, 0
    for step in em.steps:
        data_bytes += sum(i.nbytes for i in step.loads + step.computes + step.stores)
        insns += len(step.loads) + len(step.computes) + len(step.stores)
        steps.append(step_times(step, bw, latency))
    return _JobCost(steps, data_bytes, insns)


def step_times(step: Step, bw: float, latency: int) -> StepTimes:
    """(load, compute, store cycles, drains) of one step: each transfer pays the latency
    and its bytes at ``bw``; computes their cycles, a LOAD.UOP / LOAD.ACC its transfer."""
    # a LOAD's cycles are a floor (an im2col gather is bound by the buffer's write port)
    load = sum(max(latency + i.nbytes / bw, i.cycles) for i in step.loads)
    store = sum(latency + i.nbytes / bw for i in step.stores)
    compute = 0.0
    for insn in step.computes:
        if insn.op in (GEMM, ALU):
            compute += insn.cycles
        elif insn.op == LOAD and insn.mem in (MEM_UOP, MEM_ACC):
            compute += latency + insn.nbytes / bw
    return load, compute, store, step.drain


def _samples(jobs: list[TileJob]) -> list[tuple[int, int]]:
    """(job index, how many jobs it stands for), in order: the first (pipeline start), the
    second if it is the first line-buffered tile, and the last stand for themselves; with
    the weight chunk loop outermost, the first tile of the second chunk stands for every
    later chunk's first tile (its weight load); one tile interior in rows and columns
    (full halos) stands for the rest."""
    n = len(jobs)
    per_chunk = next((k for k in range(1, n) if jobs[k].chunk != jobs[0].chunk), n)
    per_row = next((k for k in range(1, per_chunk) if jobs[k].tile.r0 != jobs[0].tile.r0),
                   per_chunk)
    middle = (per_chunk // per_row // 2) * per_row + per_row // 2  # interior in rows and cols
    alone = {0, n - 1} | ({1} if n > 1 and jobs[1].above is not None else set())
    counts: dict[int, int] = {}
    for k in range(n):
        if k in alone:
            rep = k
        elif per_chunk < n and k % per_chunk == 0:
            rep = per_chunk
        else:
            rep = middle
        counts[rep] = counts.get(rep, 0) + 1
    return sorted(counts.items())


def _pipeline_cycles(steps: list[StepTimes], vt: int) -> float:
    """End of the last store: the token recurrence of the module docstring, run by the one
    pipeline recurrence (:func:`accelerator.pipeline.pipeline_end`) over three items per
    step (load, compute, store at 3s, 3s+1, 3s+2)."""
    modules, durations, deps = [], [], []
    for s, (load, compute, store, drain) in enumerate(steps):
        modules += (LOAD_MODULE, COMPUTE_MODULE, STORE_MODULE)
        durations += (load, compute, store)
        if s >= vt:  # CMP->LD (a draining step: every earlier compute), ST->CMP
            deps += ((3 * (s - 1) + 1 if drain else 3 * (s - vt) + 1,),
                     (3 * s, 3 * (s - vt) + 2), (3 * s + 1,))
        else:
            deps += ((), (3 * s,), (3 * s + 1,))
    return pipeline_end(modules, durations, deps) or 0.0


def _core_cost(g: GroupGeometry, plan: Plan, core: int, bw: float) -> tuple[float, int]:
    """(modelled cycles, data bytes) of one core."""
    jobs = core_jobs(g, plan, core)
    em = Emitter(g, plan)
    hw = g.hw
    steps: list[StepTimes] = []
    data_bytes = insns = 0
    for k, count in _samples(jobs):
        job = _job_cost(em, jobs[k], k == 0, bw, hw.dram_latency_cycles)
        steps += job.steps * count
        data_bytes += job.data_bytes * count
        insns += job.insns * count
    return core_cycles(steps, plan.vthreads, data_bytes + insns * hw.instruction_bytes, bw), \
        data_bytes


def core_cycles(steps: list[StepTimes], vt: int, bus_bytes: int, bw: float) -> float:
    """The estimate of one core: its pipelined steps, and at least its bytes (data and
    instruction words) at its share ``bw`` of the bus."""
    return max(_pipeline_cycles(steps, vt), bus_bytes / bw)


def estimate(g: GroupGeometry, plan: Plan) -> PlanCost:
    """Modelled cycles of the slowest core and data bytes of all cores (cores with the same
    share of rows and channels are estimated once, by the most central of them: an interior
    band reads halos on both sides)."""
    active = [c for c in range(g.cores)
              if plan.core_rows[c][1] > plan.core_rows[c][0]
              and plan.core_couts[c][1] > plan.core_couts[c][0]]
    bw = g.hw.dram_bandwidth_bytes_per_cycle / max(1, len(active))
    if g.hw.dram_port_bytes_per_cycle:  # no core moves more than its port, whatever its share
        bw = min(bw, g.hw.dram_port_bytes_per_cycle)
    seen: dict[tuple[int, int], tuple[float, int]] = {}
    cycles, data_bytes = 0.0, 0
    for c in sorted(active, key=lambda c: abs(2 * c - g.cores + 1)):
        (a, b), (k0, k1) = plan.core_rows[c], plan.core_couts[c]
        shape = (b - a, k1 - k0)
        if shape not in seen:
            seen[shape] = _core_cost(g, plan, c, bw)
        cycles = max(cycles, seen[shape][0])
        data_bytes += seen[shape][1]
    return PlanCost(cycles, data_bytes)
