"""A placement's one simulation as a Chrome / Perfetto trace (Trace Event Format JSON).

Layout (open in https://ui.perfetto.dev):

- one process per physical core (``core 0`` ...), threads ``load`` / ``compute`` / ``store``
  with every executed instruction, plus a thread ``group`` with the span of the group that
  held the core (so concurrent groups show side by side on their own cores);
- a ``requests`` process with one thread per request: its groups' spans, launch to end;
- a ``DRAM`` process: transfers in flight on the shared bus, all groups together (this is
  where co-running groups meet).

Times are microseconds at the configured clock, on the placement's one timeline.
"""

from __future__ import annotations

from typing import Any

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.isa import MODULE_NAMES
from fusiongym.accelerator.spatial.placement import Placement
from fusiongym.accelerator.spatial.simulate import PlacementResult, simulate_placement
from fusiongym.accelerator.spatial.workload import Workload

GROUP_TID = len(MODULE_NAMES)  # the per-core thread that shows which group holds the core


def placement_trace(workload: Workload, placement: Placement, hw: HardwareConfig,
                    result: PlacementResult | None = None) -> dict[str, Any]:
    """Simulate ``placement`` with tracing on (unless ``result`` already has traces)."""
    if result is None or any(g.trace is None for g in result.groups):
        result = simulate_placement(workload, placement, hw, trace=True)
    us = 1.0 / hw.clock_mhz
    cores = hw.num_cores
    requests_pid, dram_pid = cores, cores + 1
    events: list[dict[str, Any]] = []

    def meta(name: str, pid: int, tid: int, value, key: str = "name") -> None:
        events.append({"name": name, "ph": "M", "pid": pid, "tid": tid, "args": {key: value}})

    for c in range(cores):
        meta("process_name", c, 0, f"core {c}")
        meta("process_sort_index", c, 0, c, "sort_index")
        for m, name in enumerate(MODULE_NAMES):
            meta("thread_name", c, m, name)
        meta("thread_name", c, GROUP_TID, "group")
    meta("process_name", requests_pid, 0, "requests")
    meta("process_sort_index", requests_pid, 0, -1, "sort_index")
    for r, req in enumerate(workload.requests):
        meta("thread_name", requests_pid, r, req.name)
    meta("process_name", dram_pid, 0, "DRAM")
    meta("process_sort_index", dram_pid, 0, cores, "sort_index")

    summaries = []
    for k, g in enumerate(result.groups):
        net = workload.requests[g.request].network
        names = [layer.name for layer in net.layers[g.start:g.end]]
        label = (f"g{k} {workload.requests[g.request].name}: {names[0]}"
                 + (f" .. {names[-1]}" if len(names) > 1 else "") + f" x{g.cores}")
        args = {"group": k, "request": workload.requests[g.request].name, "start": g.start,
                "end": g.end, "cores": g.cores, "core_ids": list(g.core_ids),
                "launch_cycles": g.launch_cycles, "end_cycles": g.end_cycles,
                "run_cycles": g.run_cycles}
        span = {"ts": g.launch_cycles * us, "dur": (g.end_cycles - g.launch_cycles) * us}
        events.append({"name": label, "cat": "group", "ph": "X", "pid": requests_pid,
                       "tid": g.request, **span, "args": args})
        for c in g.core_ids:
            events.append({"name": label, "cat": "group", "ph": "X", "pid": c,
                           "tid": GROUP_TID, **span, "args": args})
        for core, module, kind, start, end, nbytes, layer in g.trace or ():
            if end <= start:
                continue
            events.append({"name": kind, "cat": MODULE_NAMES[module], "ph": "X", "pid": core,
                           "tid": module, "ts": start * us, "dur": (end - start) * us,
                           "args": {"kind": kind, "bytes": nbytes, "group": k,
                                    "layer": names[layer] if 0 <= layer < len(names) else None}})
        summaries.append(args)
    changes: dict[int, int] = {}
    for _core, start, end, _nbytes in result.dram_trace or ():
        changes[start] = changes.get(start, 0) + 1
        changes[end] = changes.get(end, 0) - 1
    level = 0
    for t in sorted(changes):
        level += changes[t]
        events.append({"name": "DRAM transfers in flight", "ph": "C", "pid": dram_pid,
                       "tid": 0, "ts": t * us, "args": {"transfers": level}})
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"workload": workload.name, "hardware": hw.name,
                          "clock_mhz": hw.clock_mhz, "time_unit": "us",
                          "makespan_cycles": result.makespan_cycles, "groups": summaries}}
