"""Lowering speed on the oracle's candidate set, and the cold oracle (on demand, not a test).

    python -m fusiongym.benchmarks.lowering_speed lowering NETWORK [--hw PRESET]
    python -m fusiongym.benchmarks.lowering_speed oracle NETWORK [--hw PRESET]

``lowering``: every (group, cores) candidate the exact oracle examines (groups of at most 8
layers ending at each layer, every allowed core count), deduplicated by group shape as the
oracle's bounds are; each is planned and, if feasible, emitted (all cores' streams), cold,
in this fresh process. ``oracle``: the oracle (max_group_layers 8, pruned) cold. Prints one
JSON line: wall and CPU seconds of the timed part (CPU seconds are the figure to compare on
a shared machine), counts, and a digest of what was computed (the schedule and its value
for ``oracle``; plans and streams for ``lowering``), so two versions of the code can be
compared run against run. The script imports only what both the old and the new lowering
have, so it can time an older checkout: ``PYTHONPATH=OLD python benchmarks/lowering_speed.py``.
Alternate old and new with ``farm-bench --vs`` (README "Performance").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time

MAX_GROUP_LAYERS = 8


def _lowering(network_name: str, hw_name: str | None) -> dict:
    from fusiongym.accelerator.config import load_config
    from fusiongym.accelerator.evaluator import GroupEvaluator, memo_key
    from fusiongym.accelerator.lowering import infeasibility, lower_group
    from fusiongym.accelerator.workloads.zoo import get_network

    hw, net = load_config(hw_name), get_network(network_name)
    ev = GroupEvaluator(hw)
    seen, candidates, feasible, insns = set(), 0, 0, 0
    digest = hashlib.sha256()
    seconds = cpu = 0.0  # planning and emission only (the digest below is not timed)
    for j in range(1, len(net) + 1):
        for i in range(max(0, j - MAX_GROUP_LAYERS), j):
            for cores in hw.allowed_core_counts:
                candidates += 1
                spec = ev.spec(net, i, j)
                key = memo_key(spec, cores)
                if key in seen:
                    continue
                seen.add(key)
                t0, c0 = time.perf_counter(), time.process_time()
                reason = infeasibility(spec, cores, hw)
                lowered = lower_group(spec, cores, hw) if reason is None else None
                seconds += time.perf_counter() - t0
                cpu += time.process_time() - c0
                if lowered is None:
                    digest.update(str(reason).encode())
                    continue
                feasible += 1
                for program in lowered.programs:
                    insns += len(program)
                    digest.update(repr([(x.op, x.mem, x.nbytes, x.cycles, x.pop_prev, x.pop_next,
                                         x.push_prev, x.push_next) for x in program]).encode())
    return {"what": "lowering", "network": network_name, "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu, 3),
            "candidates": candidates, "distinct": len(seen), "feasible": feasible,
            "instructions": insns, "digest": digest.hexdigest()[:16]}


def _oracle(network_name: str, hw_name: str | None) -> dict:
    from fusiongym.accelerator.config import load_config
    from fusiongym.accelerator.evaluator import GroupEvaluator
    from fusiongym.accelerator.workloads.zoo import get_network
    from fusiongym.agents.oracle import OracleScheduler

    hw, net = load_config(hw_name), get_network(network_name)
    ev = GroupEvaluator(hw)
    oracle = OracleScheduler(max_group_layers=MAX_GROUP_LAYERS, progress=False, evaluator=ev)
    t0, c0 = time.perf_counter(), time.process_time()
    schedule = oracle.schedule(net, hw)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    groups = [(g.start, g.end, g.cores) for g in schedule.groups]
    return {"what": "oracle", "network": network_name, "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu, 3),
            "sim_calls": ev.sim_calls, "candidates": oracle.candidates,
            "latency_cycles": oracle.last_value,
            "schedule": hashlib.sha256(repr(groups).encode()).hexdigest()[:16]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fusiongym.benchmarks.lowering_speed",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("lowering", "oracle"))
    parser.add_argument("network")
    parser.add_argument("--hw", default=None, help="preset name or file (default mlu100)")
    args = parser.parse_args(argv)
    try:
        run = _lowering if args.what == "lowering" else _oracle
        print(json.dumps(run(args.network, args.hw)))
    except (KeyError, ValueError, FileNotFoundError) as err:
        print(f"lowering_speed: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
