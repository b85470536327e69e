"""One simulation of a whole placement: every group in one SimPy environment, one DRAM.

Each group is launched by the rule of :mod:`accelerator.spatial.timeline` (in-order issue,
producers and arrival first, then the lowest-numbered free cores). Once it holds its cores it
pays its host launch exactly as :func:`accelerator.results.group_overhead` defines it, but
with the host as a resource of ``host_launch_slots`` slots shared by every group:

- without ``launch_overlap`` the driver work and the dispatch run on a host slot, then the
  cores start;
- with it, the dispatch runs first, then the cores start while a host slot does the driver
  work beside them (the formula's "host prepares the next launch while this group runs",
  charged to the running group); the group ends when both are done.

The cores then run their streams (:class:`accelerator.sim.GroupRun`: fetch, load, compute,
store and the token queues, exactly as a lone group) on the chip's shared DRAM, and the
group's dissemination barrier runs over its own active cores. Co-running groups therefore
slow each other down only through the DRAM (the bus and their cores' ports) and the host:
contention is a result of the model. A chain of groups, each alone on the chip, costs exactly
what the sequential evaluation says (tested over the zoo).

A host-run first layer (``first_layer_on: host``, :mod:`accelerator.host`) holds no core: it
waits for the host CPU (one such layer at a time, a resource of its own, apart from the launch
slots) and then takes its formula's cycles there; its DRAM bytes are counted but are not put on
the simulated bus.

Multicast keys are namespaced per group (they are only unique within one group's streams).
A group's energy comes from its own counters (issued MACs, GEMM / ALU cycles, the DRAM bytes
its own transfers moved), so energy stays a sum over groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import simpy

from fusiongym.accelerator import dram as dram_models
from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.errors import DeadlockError
from fusiongym.accelerator.evaluator import GroupEvaluator, default_evaluator
from fusiongym.accelerator.host import HostCost, host_cost, host_energy_pj, host_refusal, runs_on_host
from fusiongym.accelerator.lowering import LoweredGroup, lower_group
from fusiongym.accelerator.results import group_energy_pj
from fusiongym.accelerator.sim import GroupRun
from fusiongym.accelerator.spatial.placement import Placement, PlacementError
from fusiongym.accelerator.spatial.workload import Workload


@dataclass
class GroupRecord:
    """When and where one group of a placement ran."""

    request: int
    start: int  # layers start .. end-1 of the request's network
    end: int
    cores: int
    core_ids: tuple[int, ...]
    launch_cycles: int  # it held its cores from here ...
    end_cycles: int  # ... to here (launch, run, barrier, any host wait)
    run_cycles: int  # the cores' run alone (first fetch to last module)
    dram_bytes_read: int  # data loads (instruction fetch excluded)
    dram_bytes_written: int
    energy_pj: float
    trace: list[tuple] | None = None  # (core, module, kind, start, end, nbytes, layer in group)


@dataclass
class PlacementResult:
    makespan_cycles: int
    request_latency_cycles: list[int]  # last group's end - arrival, per request
    groups: list[GroupRecord]
    dram_bytes_read: int
    dram_bytes_written: int
    energy_pj: float
    events: int
    seconds: float
    dram_trace: list[tuple] | None = None
    extra: dict = field(default_factory=dict)

    def pinned(self, placement: Placement) -> Placement:
        """``placement`` with the cores and times this run gave it (replays exactly)."""
        return placement.pinned([g.core_ids for g in self.groups],
                                [g.launch_cycles for g in self.groups],
                                [g.end_cycles for g in self.groups])


class _Tally:
    """The shared DRAM as one group sees it: forwards everything, counts that group's bytes."""

    def __init__(self, dram):
        self._dram = dram
        self.read = 0
        self.written = 0

    def transfer(self, core: int, nbytes: int, write: bool, shared=None):
        if write:
            self.written += nbytes
        else:
            self.read += nbytes
        yield from self._dram.transfer(core, nbytes, write, shared)

    def __getattr__(self, name):
        return getattr(self._dram, name)


class _CorePool:
    """Which cores are free; the one group at the head of the launch queue waits here."""

    def __init__(self, env: simpy.Environment, cores: int):
        self.env = env
        self._busy = [False] * cores
        self._changed: simpy.Event | None = None

    def acquire(self, count: int, pinned: tuple[int, ...] | None):
        while True:
            free = [c for c, b in enumerate(self._busy) if not b]
            if pinned is not None and all(not self._busy[c] for c in pinned):
                ids = tuple(pinned)
            elif pinned is None and len(free) >= count:
                ids = tuple(free[:count])  # the lowest-numbered, as timeline.choose_cores
            else:
                self._changed = self._changed or self.env.event()
                yield self._changed
                continue
            for c in ids:
                self._busy[c] = True
            return ids

    def release(self, ids) -> None:
        for c in ids:
            self._busy[c] = False
        if self._changed is not None:
            ev, self._changed = self._changed, None
            ev.succeed()


def simulate_placement(workload: Workload, placement: Placement, hw: HardwareConfig,
                       evaluator: GroupEvaluator | None = None,
                       trace: bool = False) -> PlacementResult:
    """Run every group of ``placement`` in one environment (see the module docstring)."""
    deps = placement.validate(workload, hw)
    ev = evaluator if evaluator is not None else default_evaluator(hw)
    lowered: list[LoweredGroup | HostCost] = []  # a host-run first layer: its host cost
    for k, g in enumerate(placement.groups):
        net = workload.requests[g.request].network
        if runs_on_host(net, g.start, g.end, hw):
            lowered.append(host_cost(net, hw))
            continue
        why = host_refusal(net, g.start, g.end, hw)
        low = lower_group(ev.spec(net, g.start, g.end), g.cores, hw) if why is None else None
        if low is None or not low.feasible:
            raise PlacementError(f"group {k} ({workload.requests[g.request].name} layers "
                                 f"{g.start}..{g.end - 1}) on {g.cores} cores is infeasible: "
                                 f"{why or low.reason}")
        lowered.append(low)

    env = simpy.Environment()
    dram = dram_models.make_dram(env, hw, hw.num_cores, trace)
    pool = _CorePool(env, hw.num_cores)
    host = simpy.Resource(env, capacity=hw.host_launch_slots)
    host_cpu = simpy.Resource(env, capacity=1)  # one host-run layer computes at a time
    n = len(placement.groups)
    launched = [env.event() for _ in range(n)]
    done = [env.event() for _ in range(n)]
    records: list[GroupRecord | None] = [None] * n
    runs: list[GroupRun | None] = [None] * n

    def driver_work(cycles: int):
        with host.request() as slot:
            yield slot
            yield env.timeout(cycles)

    def group(k: int):
        g = placement.groups[k]
        if k:
            yield launched[k - 1]
        arrival = workload.requests[g.request].arrival_cycles
        if arrival > env.now:
            yield env.timeout(arrival - env.now)
        pending = [done[j] for j in deps[k] if not done[j].triggered]
        if pending:
            yield env.all_of(pending)
        low = lowered[k]
        if isinstance(low, HostCost):
            # the host-run first layer (accelerator/host.py): holds no core, waits for the
            # host CPU, costs its formula there
            with host_cpu.request() as cpu:
                yield cpu
                launch = env.now
                launched[k].succeed()
                yield env.timeout(low.latency_cycles)
            records[k] = GroupRecord(
                g.request, g.start, g.end, g.cores, (), int(launch), int(env.now),
                low.compute_cycles + low.transfer_cycles, low.dram_bytes_read,
                low.dram_bytes_written, host_energy_pj(low, hw), [] if trace else None)
            done[k].succeed()
            return
        if not any(low.programs):
            # no instructions (a zero-copy Concat): nothing is launched, no core is held,
            # as group_overhead charges nothing for it
            records[k] = GroupRecord(g.request, g.start, g.end, g.cores, (), int(env.now),
                                     int(env.now), 0, 0, 0, 0.0, [] if trace else None)
            launched[k].succeed()
            done[k].succeed()
            return
        ids = yield from pool.acquire(g.cores, g.core_ids)
        launch = env.now
        launched[k].succeed()
        driver = None
        if not hw.launch_overlap:
            serial = hw.launch_overhead_cycles + hw.launch_dispatch_cycles
            if serial:
                yield from driver_work(serial)
        else:
            if hw.launch_dispatch_cycles:
                yield env.timeout(hw.launch_dispatch_cycles)
            if hw.launch_overhead_cycles:
                driver = env.process(driver_work(hw.launch_overhead_cycles))
        tally = _Tally(dram)
        counters = [0, 0]
        cores_start = env.now
        trace_list: list | None = [] if trace else None
        run = runs[k] = GroupRun(env, hw, tally, ids, lowered[k].programs, trace_list,
                                 counters, share_ns=k)
        yield run.finished
        run_cycles = run.work_end - cores_start if run.active else 0
        if driver is not None and not driver.triggered:
            yield driver
        end = env.now
        pool.release(ids)
        records[k] = GroupRecord(
            g.request, g.start, g.end, g.cores, tuple(ids), int(launch), int(end),
            int(run_cycles), tally.read - run.instruction_bytes, tally.written,
            group_energy_pj(hw, macs_issued=low.macs_issued, gemm_cycles=counters[0],
                            alu_cycles=counters[1], dram_bytes_read=tally.read,
                            dram_bytes_written=tally.written),
            trace_list)
        done[k].succeed()

    for k in range(n):
        env.process(group(k))
    env.run()
    for k in range(n):
        if records[k] is None:
            if runs[k] is not None:
                runs[k].check_deadlock(env.now, f"group {k}, ")
            raise DeadlockError(f"placement never launched group {k}: it waits for "
                                f"{[j for j in deps[k] if not done[j].triggered]}")
    ends = [0] * len(workload)
    for r in records:
        ends[r.request] = max(ends[r.request], r.end_cycles)
    makespan = max(r.end_cycles for r in records)
    return PlacementResult(
        makespan_cycles=makespan,
        request_latency_cycles=[e - req.arrival_cycles
                                for e, req in zip(ends, workload.requests)],
        groups=list(records),
        dram_bytes_read=sum(r.dram_bytes_read for r in records),
        dram_bytes_written=sum(r.dram_bytes_written for r in records),
        energy_pj=sum(r.energy_pj for r in records),
        events=next(env._eid),
        seconds=makespan / (hw.clock_mhz * 1e6),
        dram_trace=dram.trace,
    )
