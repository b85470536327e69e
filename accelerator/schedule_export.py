"""The schedule export: what a compiler needs to run a schedule, in one versioned JSON file.

A plain schedule (``Schedule.save``) says which layers are fused and on how many cores.
The export adds, per group, what the lowering decided and what the simulator measured:

- the layers (index, name, kind and, for an ONNX model, the ONNX nodes each came from);
- the plan (``accelerator.lowering.tiling.Plan``): split axis, virtual threads, tile sizes,
  halo handling (line buffer or recompute), weight order (resident / tile loop outermost /
  weight-stationary), channel chunks, and per core its slice of the output, its instruction
  count, the bytes it moves per buffer and the buffer capacities it was planned against;
- where it runs (``runs_on``): the accelerator, or, for a first layer the config puts on the
  host (``first_layer_on: host``, :mod:`accelerator.host`), the host, whose record replaces the
  plan with the host cost's parts (no core holds it);
- the expected cycles, DRAM bytes and energy (the simulator's, launch and barrier included);
- the hardware it was made for, by content hash (``HardwareConfig.key``; the name is not
  part of the hash), with the full resolved config so the file stands alone.

The file is a superset of a plain schedule (``groups[*].start / end / cores``,
``network``, ``network_hash``), so :meth:`Schedule.load` and ``fusiongym simulate
--schedule`` read it as they read any schedule; :func:`load_schedule_file` also checks
its ``format`` / ``version`` and returns the hardware hash, so a replay on other hardware
can say so. The JSON Schema is ``docs/schema/schedule-v1.schema.json`` (in the repository); group records
allow extra fields (later versions may add placement fields, e.g. a start time).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.evaluator import GroupEvaluator, default_evaluator, evaluate
from fusiongym.accelerator.host import HOST, ACCELERATOR, host_cost, runs_on_host
from fusiongym.accelerator.isa import MEM_ACC, MEM_INP, MEM_UOP, MEM_WGT, STORE, LOAD
from fusiongym.accelerator.lowering import lower_group
from fusiongym.accelerator.lowering.planner import plan_cached
from fusiongym.accelerator.lowering.spec import Refusal
from fusiongym.accelerator.schedule import Schedule, ScheduleError
from fusiongym.accelerator.workloads.network import Network

FORMAT = "fusiongym-schedule"
VERSION = 1
SUPPORTED_VERSIONS = (1,)


def hardware_hash(hw: HardwareConfig) -> str:
    """16 hex digits of everything in the config that changes simulated numbers."""
    return hashlib.sha256(hw.key.encode()).hexdigest()[:16]


def _weight_order(plan) -> str:
    if plan.resident:
        return "resident"  # every weight of the group loaded once per core
    return "weight-stationary" if plan.weight_outer else "tile-loop-outermost"


def _halo(plan, spec) -> str:
    if plan.split == "channels" or len(spec.layers) == 1:
        return "none"  # no row of one tile is another's input inside the group
    return "line-buffer" if plan.line_buffer else "recompute"


def _core_record(core: int, plan, program, hw: HardwareConfig) -> dict:
    loaded: Counter[str] = Counter()
    stored = 0
    for insn in program:
        if insn.op == LOAD:
            loaded[insn.mem] += insn.nbytes
        elif insn.op == STORE:
            stored += insn.nbytes
    rows = plan.core_rows[core] if core < len(plan.core_rows) else (0, 0)
    couts = plan.core_couts[core] if core < len(plan.core_couts) else (0, 0)
    return {"core": core, "out_rows": list(rows), "out_channels": list(couts),
            "instructions": len(program),
            "loaded_bytes": {m: loaded.get(m, 0) for m in (MEM_INP, MEM_WGT, MEM_ACC, MEM_UOP)},
            "stored_bytes": stored}


def _plan_record(spec, cores: int, hw: HardwareConfig) -> dict:
    planned = plan_cached(spec, cores, hw)
    if isinstance(planned, Refusal):  # evaluate() refuses such a schedule before we get here
        raise ScheduleError(f"group is infeasible: {planned.reason}")
    plan = planned.plan
    lowered = lower_group(spec, cores, hw)
    vt = plan.vthreads
    return {
        "split": plan.split, "vthreads": vt, "tile_rows": plan.tile_rows,
        "tile_cols": plan.tile_cols, "tiles": lowered.tiles,
        "halo": _halo(plan, spec), "weight_order": _weight_order(plan),
        "cout_chunk": list(plan.cout_chunk), "cin_chunk": plan.cin_chunk,
        "im2col": bool(plan.im2col),
        "modelled_cycles": round(plan.cost.cycles) if plan.cost else None,
        "modelled_dram_bytes": plan.cost.dram_bytes if plan.cost else None,
        # what the plan was fitted against: per virtual thread, as fit.py checks it
        "buffer_capacity_bytes": {"inp": hw.inp_buff_bytes // vt, "wgt": hw.wgt_buff_bytes,
                                  "acc": hw.acc_buff_bytes // vt, "uop": hw.uop_buff_bytes},
        "per_core": [_core_record(c, plan, p, hw) for c, p in enumerate(lowered.programs)],
    }


def _host_record(network: Network, hw: HardwareConfig) -> dict:
    """The host-run first layer (accelerator/host.py): no plan, no core, its cost's parts."""
    cost = host_cost(network, hw)
    return {"overhead_cycles": cost.overhead_cycles, "compute_cycles": cost.compute_cycles,
            "transfer_cycles": cost.transfer_cycles, "host_clock_mhz": hw.host_clock_mhz,
            "host_int8_macs_per_cycle": hw.host_int8_macs_per_cycle}


def export_schedule(network: Network, schedule: Schedule, hw: HardwareConfig,
                    evaluator: GroupEvaluator | None = None, scheduler: str = "",
                    onnx_nodes: dict[str, tuple[str, ...]] | None = None) -> dict:
    """The export document of ``schedule`` (validated and simulated here)."""
    ev = evaluator if evaluator is not None else default_evaluator(hw)
    result = evaluate(network, schedule, hw, ev)
    onnx_nodes = onnx_nodes or {}
    groups = []
    for k, (g, r) in enumerate(zip(schedule.groups, result.groups)):
        spec = ev.spec(network, g.start, g.end)
        layers = []
        for i in range(g.start, g.end):
            layer = network.layers[i]
            entry = {"index": i, "name": layer.name, "kind": layer.kind.value}
            if layer.name in onnx_nodes:
                entry["onnx_nodes"] = list(onnx_nodes[layer.name])
            layers.append(entry)
        on_host = runs_on_host(network, g.start, g.end, hw)
        where = ({"host": _host_record(network, hw)} if on_host
                 else {"plan": _plan_record(spec, g.cores, hw)})
        groups.append({
            "index": k, "start": g.start, "end": g.end, "cores": g.cores, "layers": layers,
            "runs_on": HOST if on_host else ACCELERATOR, **where,
            "expected": {"latency_cycles": r.latency_cycles,
                         "dram_bytes_read": r.dram_bytes_read,
                         "dram_bytes_written": r.dram_bytes_written,
                         "energy_pj": r.energy_pj, "macs": r.macs},
        })
    return {
        "format": FORMAT, "version": VERSION, "scheduler": scheduler,
        "network": network.name, "network_hash": network.content_hash(),
        "layers": len(network),
        "hardware": {"name": hw.name, "hash": hardware_hash(hw), "config": hw.file_mapping()},
        "expected": {"latency_cycles": result.latency_cycles,
                     "dram_bytes_read": result.dram_bytes_read,
                     "dram_bytes_written": result.dram_bytes_written,
                     "energy_pj": result.energy_pj},
        "groups": groups,
    }


def load_schedule_file(path: str | Path) -> tuple[Schedule, str | None]:
    """A plain schedule or an export: ``(schedule, hardware hash or None)``. An export
    of a version this code does not know is refused rather than half-read."""
    schedule = Schedule.load(path)
    data = json.loads(Path(path).read_text())  # Schedule.load has checked it parses
    if data.get("format") != FORMAT:
        return schedule, None
    if data.get("version") not in SUPPORTED_VERSIONS:
        raise ScheduleError(f"{path}: schedule export version {data.get('version')!r} is not "
                            f"supported (this fusiongym reads {list(SUPPORTED_VERSIONS)})")
    hw = data.get("hardware")
    return schedule, (hw.get("hash") if isinstance(hw, dict) else None)
