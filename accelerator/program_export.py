"""``--emit-program DIR``: every group's per-core instruction streams, as the simulator runs them.

The format is documented in ``docs/program-format.md``: ``DIR/program.json`` (a manifest:
network, hardware hash, per group its cores and per core the stream's file, instruction
counts by kind and bytes loaded / stored) and one JSON-lines file per (group, core),
``g<group>_c<core>.jsonl``, one instruction per line in stream order with VTA's fields
(``op``, ``mem``, ``nbytes``, ``iter_out``, ``iter_in``, ``uops``, ``alu_ops``, ``cycles``)
and its four dependency flags (``pop_prev``, ``pop_next``, ``push_prev``, ``push_next``).
The streams are the lowering's own (``lower_group``), the ones ``simulate`` runs; the
manifest's counts are recomputed from the written instructions, not copied from the
simulator, so a test can compare the two.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.fileio import atomic_write_json, atomic_write_text
from fusiongym.accelerator.isa import LOAD, MODULE_NAMES, STORE, Insn
from fusiongym.accelerator.host import host_refusal, runs_on_host
from fusiongym.accelerator.lowering import GroupSpec, lower_group
from fusiongym.accelerator.schedule import Schedule, ScheduleError
from fusiongym.accelerator.schedule_export import hardware_hash
from fusiongym.accelerator.workloads.network import Network

PROGRAM_FORMAT = "fusiongym-program"
PROGRAM_VERSION = 1
FIELDS = ("op", "mem", "nbytes", "iter_out", "iter_in", "uops", "alu_ops", "cycles")
FLAGS = ("pop_prev", "pop_next", "push_prev", "push_next")


def insn_record(insn: Insn, first_layer: int) -> dict:
    """One instruction as a line of the stream file (``layer``: the network's index)."""
    rec = {f: getattr(insn, f) for f in FIELDS}
    rec["module"] = MODULE_NAMES[insn.module]
    rec["layer"] = first_layer + insn.layer if insn.layer >= 0 else -1
    rec.update({f: bool(getattr(insn, f)) for f in FLAGS})
    # equal keys within a group: the same DRAM bytes (a multicast DRAM may serve them once)
    rec["share"] = (hashlib.sha256(repr(insn.share_key).encode()).hexdigest()[:12]
                    if insn.share_key is not None else None)
    return rec


def stream_summary(records: list[dict]) -> dict:
    """Counts and bytes of one written stream, from its records alone."""
    kinds = Counter(f"{r['op']}.{r['mem']}" if r["mem"] else r["op"] for r in records)
    return {"instructions": len(records), "by_kind": dict(sorted(kinds.items())),
            "loaded_bytes": sum(r["nbytes"] for r in records if r["op"] == LOAD),
            "stored_bytes": sum(r["nbytes"] for r in records if r["op"] == STORE)}


def read_stream(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line]


def emit_program(network: Network, schedule: Schedule, hw: HardwareConfig,
                 out_dir: str | Path) -> dict:
    """Write every group's per-core streams and the manifest into ``out_dir``; returns it."""
    schedule.validate(network, hw)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    groups = []
    for k, g in enumerate(schedule.groups):
        if runs_on_host(network, g.start, g.end, hw):  # accelerator/host.py: no streams
            groups.append({"index": k, "start": g.start, "end": g.end, "cores": g.cores,
                           "layers": [network.layers[g.start].name], "runs_on": "host",
                           "streams": []})
            continue
        why = host_refusal(network, g.start, g.end, hw)
        if why is not None:
            raise ScheduleError(f"group {g.start}..{g.end - 1} is infeasible: {why}")
        lowered = lower_group(GroupSpec.from_network(network, g.start, g.end), g.cores, hw)
        if not lowered.feasible:
            raise ScheduleError(f"group {g.start}..{g.end - 1} on {g.cores} cores is "
                                f"infeasible: {lowered.reason}")
        cores = []
        for c, program in enumerate(lowered.programs):
            records = [insn_record(insn, g.start) for insn in program]
            name = f"g{k}_c{c}.jsonl"
            atomic_write_text(out_dir / name,
                              "".join(json.dumps(r, separators=(",", ":")) + "\n"
                                      for r in records))
            cores.append({"core": c, "file": name, **stream_summary(records)})
        groups.append({"index": k, "start": g.start, "end": g.end, "cores": g.cores,
                       "layers": [layer.name for layer in network.layers[g.start:g.end]],
                       "streams": cores})
    manifest = {"format": PROGRAM_FORMAT, "version": PROGRAM_VERSION,
                "network": network.name, "network_hash": network.content_hash(),
                "hardware": {"name": hw.name, "hash": hardware_hash(hw)},
                "fields": [*FIELDS, "module", "layer", *FLAGS, "share"], "groups": groups}
    atomic_write_json(out_dir / "program.json", manifest)
    return manifest
