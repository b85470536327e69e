"""A schedule's execution as a Chrome / Perfetto trace (Trace Event Format JSON).

Open the file in https://ui.perfetto.dev or chrome://tracing. Layout:

- one process per core (``core 0`` ...), one thread per module (``load``, ``compute``,
  ``store``); every executed instruction is an ``X`` (complete) event named by its kind
  (``LOAD.INP``, ``GEMM`` ...) with ``args`` = kind, bytes, cycles, layer, group;
- a ``schedule`` process: one span per fused group (thread ``groups``) and its host launch
  and end-of-group barrier (thread ``overheads``);
- a ``DRAM`` process: a counter of the transfers in flight on the shared bus.

Groups are laid back to back, as :func:`accelerator.evaluator.evaluate` adds them up: group
``k`` starts where group ``k-1`` ends, and its cores start after the launch overhead.
Timestamps are microseconds at the configured clock (``cycles / clock_mhz``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.evaluator import run_group
from fusiongym.accelerator.host import host_result
from fusiongym.accelerator.isa import MODULE_NAMES
from fusiongym.accelerator.lowering import GroupSpec
from fusiongym.accelerator.results import GroupOverhead, GroupResult, group_overhead
from fusiongym.accelerator.schedule import Schedule, ScheduleError
from fusiongym.accelerator.sim import SimResult, simulate
from fusiongym.accelerator.workloads.network import Network

SCHEDULE_PID_OFFSET = 1  # the schedule process comes after the cores
DRAM_PID_OFFSET = 2


class GroupTrace(NamedTuple):
    """One group of a schedule, simulated with a trace.

    ``offset_cycles`` is when the group's cores start on the schedule's timeline (the sum
    of the earlier groups' latencies plus this group's launch overhead); add it to the
    times in ``sim.trace`` / ``sim.dram_trace``.
    """

    offset_cycles: int
    result: GroupResult
    sim: SimResult


def sim_overhead(sim: SimResult, cores: int, hw: HardwareConfig) -> GroupOverhead:
    """The launch / barrier / host wait around one simulated group (as its latency counts)."""
    return group_overhead(hw, cores, sim.active_cores, sim.cycles)


def simulate_schedule_trace(network: Network, schedule: Schedule,
                            hw: HardwareConfig) -> list[GroupTrace]:
    """Simulate every group of ``schedule`` with a trace, laid back to back in time."""
    schedule.validate(network, hw)
    out: list[GroupTrace] = []
    t = 0
    for k, g in enumerate(schedule.groups):
        on_host = host_result(network, g.start, g.end, g.cores, hw)
        if on_host is not None and on_host.feasible:
            # the host-run first layer: no accelerator work, so an empty run (as a zero-copy
            # Concat's) that keeps one trace per group; its time is the host's
            out.append(GroupTrace(t, on_host, simulate([[]], hw, trace=True)))
            t += on_host.latency_cycles
            continue
        if on_host is not None:
            raise ScheduleError(f"group {k} (layers {g.start}..{g.end - 1}) is infeasible: "
                                f"{on_host.reason}")
        spec = GroupSpec.from_network(network, g.start, g.end)
        result, _, sim = run_group(spec, g.cores, hw, g.start, trace=True)
        if not result.feasible or sim is None:
            raise ScheduleError(f"group {k} (layers {g.start}..{g.end - 1}) on {g.cores} cores "
                                f"is infeasible: {result.reason}")
        out.append(GroupTrace(t + sim_overhead(sim, g.cores, hw).launch_cycles, result, sim))
        t += result.latency_cycles
    return out


def schedule_trace(network: Network, schedule: Schedule, hw: HardwareConfig) -> dict[str, Any]:
    """Re-simulate every group of ``schedule`` with tracing on; return a TEF dict.

    Raises :class:`ScheduleError` for a schedule that does not fit the network or the
    hardware, or that contains an infeasible group.
    """
    schedule.validate(network, hw)
    us_per_cycle = 1.0 / hw.clock_mhz
    max_cores = max(g.cores for g in schedule.groups)
    schedule_pid = max_cores - 1 + SCHEDULE_PID_OFFSET
    dram_pid = max_cores - 1 + DRAM_PID_OFFSET
    events: list[dict[str, Any]] = _metadata(max_cores, schedule_pid, dram_pid)
    offset = 0  # cycles: where this group starts on the schedule's timeline
    busy = {name: 0 for name in MODULE_NAMES}
    group_summaries = []
    for k, (g, (run_start, result, sim)) in enumerate(
            zip(schedule.groups, simulate_schedule_trace(network, schedule, hw))):
        names = [layer.name for layer in network.layers[g.start:g.end]]
        label = names[0] + (f" .. {names[-1]}" if len(names) > 1 else "")
        for core, module, kind, start, end, nbytes, layer in sim.trace or ():
            if end <= start:
                continue  # zero-length placeholders (empty loads) have nothing to show
            busy[MODULE_NAMES[module]] += end - start
            events.append({
                "name": kind, "cat": MODULE_NAMES[module], "ph": "X",
                "pid": core, "tid": module,
                "ts": (run_start + start) * us_per_cycle,
                "dur": (end - start) * us_per_cycle,
                "args": {"kind": kind, "bytes": nbytes, "cycles": end - start, "group": k,
                         "layer": names[layer] if 0 <= layer < len(names) else None},
            })
        events.extend(_dram_counter(sim.dram_trace or [], run_start, us_per_cycle, dram_pid))
        group_args = {"group": k, "start": g.start, "end": g.end, "cores": g.cores,
                      "layers": names, "latency_cycles": result.latency_cycles,
                      "dram_bytes_read": result.dram_bytes_read,
                      "dram_bytes_written": result.dram_bytes_written}
        events.append({"name": f"group {k}: {label} x{g.cores}", "cat": "group", "ph": "X",
                       "pid": schedule_pid, "tid": 0, "ts": offset * us_per_cycle,
                       "dur": result.latency_cycles * us_per_cycle, "args": group_args})
        launch, barrier, host_wait = sim_overhead(sim, g.cores, hw)
        barrier += host_wait  # the barrier, then any wait for the host's next launch
        if launch:
            events.append({"name": "launch", "cat": "overhead", "ph": "X", "pid": schedule_pid,
                           "tid": 1, "ts": offset * us_per_cycle,
                           "dur": launch * us_per_cycle,
                           "args": {"group": k, "cycles": launch}})
        if barrier > 0:
            events.append({"name": "barrier", "cat": "overhead", "ph": "X", "pid": schedule_pid,
                           "tid": 1, "ts": (run_start + sim.cycles) * us_per_cycle,
                           "dur": barrier * us_per_cycle, "args": {"group": k, "cycles": barrier}})
        group_summaries.append({**group_args, "offset_cycles": offset,
                                "busy_cycles": dict(result.busy_cycles)})
        offset += result.latency_cycles
    return {
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {
            "network": network.name, "network_hash": network.content_hash(),
            "hardware": hw.name, "clock_mhz": hw.clock_mhz, "time_unit": "us",
            "latency_cycles": offset, "busy_cycles": busy, "groups": group_summaries,
        },
    }


def _metadata(cores: int, schedule_pid: int, dram_pid: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []

    def meta(name: str, pid: int, tid: int, value: str | int, key: str = "name") -> None:
        events.append({"name": name, "ph": "M", "pid": pid, "tid": tid, "args": {key: value}})

    for core in range(cores):
        meta("process_name", core, 0, f"core {core}")
        meta("process_sort_index", core, 0, core, "sort_index")
        for module, name in enumerate(MODULE_NAMES):
            meta("thread_name", core, module, name)
            meta("thread_sort_index", core, module, module, "sort_index")
    meta("process_name", schedule_pid, 0, "schedule")
    meta("process_sort_index", schedule_pid, 0, -1, "sort_index")
    meta("thread_name", schedule_pid, 0, "groups")
    meta("thread_name", schedule_pid, 1, "overheads")
    meta("process_name", dram_pid, 0, "DRAM")
    meta("process_sort_index", dram_pid, 0, cores, "sort_index")
    return events


def _dram_counter(dram_trace: list[tuple], run_start: int, us_per_cycle: float,
                  pid: int) -> list[dict[str, Any]]:
    """Transfers in flight over time, as counter (``C``) events."""
    changes: dict[int, int] = {}
    for _core, start, end, _nbytes in dram_trace:
        changes[start] = changes.get(start, 0) + 1
        changes[end] = changes.get(end, 0) - 1
    events = []
    level = 0
    for t in sorted(changes):
        level += changes[t]
        events.append({"name": "DRAM transfers in flight", "ph": "C", "pid": pid, "tid": 0,
                       "ts": (run_start + t) * us_per_cycle, "args": {"transfers": level}})
    return events
