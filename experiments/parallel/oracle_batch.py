"""The exact oracle for many networks at once, with group simulations spread over Ray.

The oracle's cost is its simulations: every candidate (group of layers, core count) that
the DP examines is simulated once. Across networks most of them repeat (ResNet-18 and
ResNet-34 share their blocks; every network has 1-layer 3x3 convolutions), so the batch

1. **collects** the distinct candidates ``(GroupSpec.key, cores)`` of all networks first
   (groups of at most ``max_group_layers`` layers), so no group is simulated twice;
2. **simulates** them in parallel as Ray tasks, in chunks (a task gets a list of
   ``(GroupSpec, cores)`` and the hardware, lowers each, simulates the feasible ones and
   returns the ``GroupResult`` s). Feasibility is decided there too, not here: even
   planning alone is ~10% of a candidate's time, a serial part that would cap the
   speed-up (see :func:`collect_candidates`);
3. **merges** the results into one :class:`~accelerator.evaluator.GroupEvaluator` memo (only
   the candidates the DP examines: it skips groups starting at a layer that no feasible
   schedule reaches), then runs each network's DP against it, which now simulates nothing.

The schedules and latencies are the same as :class:`~agents.oracle.OracleScheduler` 's
one network at a time; the simulations are the distinct ones only.

Example::

    from fusiongym.experiments.parallel.oracle_batch import oracle_batch
    best = oracle_batch(["resnet18", "resnet34"], load_config("mlu100"), 8, num_workers=4)
    schedule, latency_cycles, sim_calls = best["resnet18"]
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, NamedTuple, Sequence

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate, memo_key, run_group
from fusiongym.accelerator.host import host_layers
from fusiongym.accelerator.lowering import GroupSpec
from fusiongym.accelerator.results import GroupResult
from fusiongym.accelerator.schedule import Schedule
from fusiongym.accelerator.workloads.loader import as_network
from fusiongym.accelerator.workloads.network import Network

TASKS_PER_WORKER = 4  # more tasks than workers, so a slow chunk does not hold up the end
MAX_CHUNK = 64  # groups per task: ~10 ms each, so a task is well above Ray's ~1 ms overhead


class OracleBatchEntry(NamedTuple):
    schedule: Schedule
    latency_cycles: int
    sim_calls: int  # simulations this network caused (groups no earlier network needed)


@dataclass
class OracleBatchReport:
    """Results plus what the batch cost; ``evaluator`` holds the merged memo."""

    entries: dict[str, OracleBatchEntry]
    values: dict[str, float]  # the optimal objective value per network
    evaluator: GroupEvaluator
    candidates: int = 0  # (group, cores) the DPs examine, over all networks, repeats included
    distinct: int = 0  # distinct (group shape, cores) among them
    simulated: int = 0  # feasible distinct groups simulated (== sum of sim_calls)
    infeasible: int = 0  # distinct groups that lowering rejected (lowered, not simulated)
    memo_hits: int = 0  # distinct groups the given evaluator already held
    speculative: int = 0  # simulated, but no DP examines them (an unreachable start)
    store_hits: int = 0  # distinct groups the evaluator's on-disk store answered
    tasks: int = 0
    workers: int = 0  # 0: simulated in this process
    seconds: dict[str, float] = field(default_factory=dict)  # collect / simulate / dp / total


# ---- the Ray task ---------------------------------------------------------------------
def simulate_chunk(hw: HardwareConfig, items: Sequence[tuple[GroupSpec, int]]) -> list[GroupResult]:
    """Lower and simulate each ``(spec, cores)``; results positioned at layer 0."""
    return [run_group(spec, cores, hw)[0] for spec, cores in items]


_REMOTE = None


def _remote(ray):
    global _REMOTE
    if _REMOTE is None:
        _REMOTE = ray.remote(num_cpus=1)(simulate_chunk)
    return _REMOTE


# ---- the batch ------------------------------------------------------------------------
def _networks(networks: Iterable[Network | str]) -> list[Network]:
    out: dict[str, Network] = {}
    for item in networks:
        net = as_network(item)
        seen = out.get(net.name)
        if seen is not None and seen.content_hash() != net.content_hash():
            raise UserInputError(f"two different networks are named {net.name!r}")
        out[net.name] = net
    if not out:
        raise UserInputError("no networks given")
    return list(out.values())


Candidate = tuple[int, int, tuple]  # (start, end, memo key) in the DP's order


def collect_candidates(nets: Sequence[Network], hw: HardwareConfig, max_group_layers: int,
                       evaluator: GroupEvaluator
                       ) -> tuple[list[list[Candidate]], dict[tuple, tuple[GroupSpec, int]]]:
    """Every network's candidates, and the distinct ones the memo does not hold yet.

    Nothing is planned or lowered here. Feasibility needs only the tiling plan, but that
    is still ~10% of a candidate's cost (the instruction streams another 20-60%): done
    here it would be a serial part that caps the speed-up (at 16 workers as long as all
    the simulations), so the workers decide it, and infeasible results come back cheap.
    """
    per_network: list[list[Candidate]] = []
    todo: dict[tuple, tuple[GroupSpec, int]] = {}
    for net in nets:
        cands: list[Candidate] = []
        for j in range(1, len(net) + 1):
            for i in range(max(0, j - max_group_layers), j):
                spec = evaluator.spec(net, i, j)
                for cores in hw.allowed_core_counts:
                    key = memo_key(spec, cores)
                    cands.append((i, j, key))
                    if key not in todo and evaluator.peek(key) is None:
                        todo[key] = (spec, cores)
        per_network.append(cands)
    return per_network, todo


def needed_by(nets: Sequence[Network], per_network: list[list[Candidate]],
              known: Callable[[tuple], GroupResult]) -> tuple[dict[tuple, str], int]:
    """The candidates each network's DP examines, given every candidate's result.

    The DP skips groups that start at a layer no schedule of feasible groups reaches;
    those were simulated ahead of knowing (in practice never: every layer of the zoo
    runs alone), and are left out so the memo holds exactly what the DP examines.
    Returns ``{key: first network that examines it}`` and the candidates examined.
    """
    first: dict[tuple, str] = {}
    examined = 0
    for net, cands in zip(nets, per_network):
        reached = [True] + [False] * len(net)
        for i, j, key in cands:  # by end, then start: reached[i] is final when it is read
            if not reached[i]:
                continue
            examined += 1
            first.setdefault(key, net.name)
            if known(key).feasible:
                reached[j] = True
    return first, examined


def _chunks(todo: dict[tuple, tuple[GroupSpec, int]], workers: int) -> list[list[tuple]]:
    # biggest groups first, so the small ones fill in the gaps at the end
    keys = sorted(todo, key=lambda k: -sum(layer.macs for layer in todo[k][0].layers) * k[1])
    size = max(1, min(MAX_CHUNK, math.ceil(len(keys) / (workers * TASKS_PER_WORKER))))
    return [keys[k:k + size] for k in range(0, len(keys), size)]


def _from_store(evaluator: GroupEvaluator, todo: dict[tuple, tuple[GroupSpec, int]]
                ) -> dict[tuple, GroupResult]:
    """Take the groups the evaluator's on-disk store already holds out of ``todo``."""
    store = getattr(evaluator, "store", None)
    if store is None:
        return {}
    from fusiongym.accelerator.store import group_key, result_from_dict

    found = {}
    for key, (spec, cores) in list(todo.items()):
        value = store.get(group_key(evaluator.hw.key, spec.key, cores))
        if value is not None:
            found[key] = result_from_dict(value, 0, len(spec.layers))
            del todo[key]
    return found


def _to_store(evaluator: GroupEvaluator, todo: dict[tuple, tuple[GroupSpec, int]],
              results: dict[tuple, GroupResult]) -> None:
    store = getattr(evaluator, "store", None)
    if store is None or not results:
        return
    from fusiongym.accelerator.store import group_key, result_to_dict

    store.put_many((group_key(evaluator.hw.key, todo[key][0].key, todo[key][1]),
                    result_to_dict(result)) for key, result in results.items())


def _progress(total: int, show: bool | None, label: str):
    if not total or show is False or (show is None and not sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="group", file=sys.stderr, leave=False)


def _simulate_on_ray(ray, hw: HardwareConfig, todo: dict[tuple, tuple[GroupSpec, int]],
                     workers: int, results: dict[tuple, GroupResult], bar) -> int:
    chunks = _chunks(todo, workers)
    hw_ref = ray.put(hw)
    remote = _remote(ray)
    queued = list(reversed(chunks))
    pending: dict = {}
    try:
        while queued or pending:
            # a few chunks per worker in flight: bounded object-store use, no idle worker
            while queued and len(pending) < workers * 2:
                keys = queued.pop()
                pending[remote.remote(hw_ref, [todo[k] for k in keys])] = keys
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                keys = pending.pop(ref)
                results.update(zip(keys, ray.get(ref)))
                if bar is not None:
                    bar.update(len(keys))
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    return len(chunks)


def run_oracle_batch(networks: Iterable[Network | str], hw: HardwareConfig,
                     max_group_layers: int = 8, ray_address: str | None = None,
                     num_workers: int | None = None, *, objective: str = "latency",
                     sequential: bool = False, evaluator: GroupEvaluator | None = None,
                     progress: bool | None = False) -> OracleBatchReport:
    """:func:`oracle_batch` with the cost accounting (see :class:`OracleBatchReport`).

    ``sequential=True`` computes the same distinct groups in this process, without Ray.
    ``evaluator``: a memo to start from and fill (default: a fresh one for ``hw``); if it
    has an on-disk store, groups found there are not simulated and new results go there.
    """
    from fusiongym.agents.oracle import OracleScheduler
    from fusiongym.experiments.parallel.ray_session import check_workers, import_ray

    if max_group_layers < 1:
        raise UserInputError(f"max_group_layers must be >= 1, got {max_group_layers}")
    check_workers(num_workers)
    if not sequential:
        import_ray("the oracle batch")
    t0 = time.perf_counter()
    nets = _networks(networks)
    hosted = [net.name for net in nets if host_layers(net, hw)]
    if hosted:  # its workers simulate group shapes, which do not say where a layer runs
        raise UserInputError(f"the oracle batch does not support first_layer_on: host "
                             f"({', '.join(hosted)} would run layer 0 on the host); run "
                             "`fusiongym oracle` per network instead")
    evaluator = evaluator if evaluator is not None else GroupEvaluator(hw)
    if evaluator.hw.key != hw.key:
        raise UserInputError(f"the evaluator was built for hardware {evaluator.hw.name!r}, "
                             f"not {hw.name!r}")
    oracle = OracleScheduler(max_group_layers=max_group_layers, objective=objective,
                             progress=False, evaluator=evaluator)  # checks the objective early
    per_network, todo = collect_candidates(nets, hw, max_group_layers, evaluator)
    stored = _from_store(evaluator, todo)  # answered by the evaluator's on-disk store
    t_collect = time.perf_counter()
    results, workers, tasks = _simulate_todo(hw, todo, sequential, ray_address, num_workers,
                                             progress)
    _to_store(evaluator, todo, results)
    t_sim = time.perf_counter()
    merged = merge_results(evaluator, nets, per_network, results, stored)
    entries, values = _solve_each(nets, hw, oracle, evaluator, merged.caused)
    t_end = time.perf_counter()
    return OracleBatchReport(
        entries=entries, values=values, evaluator=evaluator, candidates=merged.examined,
        distinct=merged.distinct, simulated=sum(merged.caused.values()),
        infeasible=merged.infeasible, speculative=merged.speculative,
        store_hits=merged.store_hits, memo_hits=merged.memo_hits, tasks=tasks, workers=workers,
        seconds={"collect": round(t_collect - t0, 3), "simulate": round(t_sim - t_collect, 3),
                 "dp": round(t_end - t_sim, 3), "total": round(t_end - t0, 3)})


def _simulate_todo(hw: HardwareConfig, todo: dict[tuple, tuple[GroupSpec, int]],
                   sequential: bool, ray_address: str | None, num_workers: int | None,
                   progress: bool | None) -> tuple[dict[tuple, GroupResult], int, int]:
    """Simulate every group of ``todo``, here or on Ray: ``(results, workers, Ray tasks)``."""
    from fusiongym.experiments.parallel.ray_session import cluster_cpus, ray_session

    results: dict[tuple, GroupResult] = {}
    workers, tasks = 0, 0
    bar = _progress(len(todo), progress, "oracle batch")
    try:
        if sequential or not todo:
            for key, (spec, cores) in todo.items():
                results[key] = simulate_chunk(hw, [(spec, cores)])[0]
                if bar is not None:
                    bar.update(1)
        else:
            with ray_session(ray_address, num_workers, what="the oracle batch") as ray:
                workers = num_workers or cluster_cpus(ray)
                tasks = _simulate_on_ray(ray, hw, todo, workers, results, bar)
    finally:
        if bar is not None:
            bar.close()
    return results, workers, tasks


@dataclass
class MergeCounts:
    """What :func:`merge_results` put into the memo, and where it came from."""

    examined: int  # candidates the DPs examine, repeats included
    distinct: int  # distinct keys among them
    caused: dict[str, int]  # network -> feasible groups simulated for it first
    infeasible: int  # simulated batch results that lowering rejected
    speculative: int  # feasible batch results that no DP examines (left out of the memo)
    store_hits: int  # examined keys the on-disk store answered
    memo_hits: int  # examined keys the evaluator already held


def merge_results(evaluator: GroupEvaluator, nets: Sequence[Network],
                  per_network: list[list[Candidate]], results: dict[tuple, GroupResult],
                  stored: dict[tuple, GroupResult]) -> MergeCounts:
    """Put the batch's results into the evaluator's memo, only those a DP examines, counted
    as the evaluator's own (store answers as store hits, the rest as simulations)."""
    first, examined = needed_by(
        nets, per_network,
        lambda key: results.get(key) or stored.get(key) or evaluator.peek(key))
    for key, result in stored.items():
        if key in first:
            evaluator.insert(key, result, from_store=True)
    caused = {net.name: 0 for net in nets}
    infeasible = speculative = 0
    for key, result in results.items():
        if key not in first:
            speculative += result.feasible
            continue
        evaluator.insert(key, result)
        infeasible += not result.feasible
        caused[first[key]] += result.feasible
    return MergeCounts(
        examined=examined, distinct=len(first), caused=caused, infeasible=infeasible,
        speculative=speculative, store_hits=sum(1 for k in stored if k in first),
        memo_hits=sum(1 for k in first if k not in results and k not in stored))


def _solve_each(nets: Sequence[Network], hw: HardwareConfig, oracle, evaluator: GroupEvaluator,
                caused: dict[str, int]) -> tuple[dict[str, OracleBatchEntry], dict[str, float]]:
    """Each network's DP over the filled memo: its schedule, latency and optimal value."""
    entries, values = {}, {}
    for net in nets:
        schedule = oracle.schedule(net, hw)
        # everything is in the memo, so the DP simulates nothing; count it all the same
        calls = caused[net.name] + oracle.last_cost.sim_calls
        latency = evaluate(net, schedule, hw, evaluator).latency_cycles
        entries[net.name] = OracleBatchEntry(schedule, latency, calls)
        values[net.name] = float(oracle.last_value)
    return entries, values


def oracle_batch(networks: Iterable[Network | str], hw: HardwareConfig,
                 max_group_layers: int = 8, ray_address: str | None = None,
                 num_workers: int | None = None, **kwargs) -> dict[str, OracleBatchEntry]:
    """Optimal schedules of several networks: ``{name: (schedule, latency_cycles, sim_calls)}``.

    ``networks``: :class:`Network` s or names (zoo, ``synthetic:SEED``, ``.onnx`` paths).
    Without ``ray_address`` a local Ray with ``num_workers`` CPUs (default: all) is started
    and shut down; ``"auto"`` or ``HEAD:6379`` joins a running cluster; a Ray session the
    caller already opened is used as it is. ``sim_calls`` counts each distinct group once,
    at the first network that needs it, so the values add up to the batch's simulations.
    Keyword arguments go to :func:`run_oracle_batch`.
    """
    return run_oracle_batch(networks, hw, max_group_layers, ray_address, num_workers,
                            **kwargs).entries


# ---- `fusiongym oracle --networks ...` --------------------------------------------------
def run_cli(args) -> int:
    """The batch path of ``fusiongym oracle`` (see experiments/cli/commands/oracle.py)."""
    import json

    from fusiongym.accelerator.config import load_config
    from fusiongym.agents.baselines import NoFusionScheduler

    if args.save:
        raise UserInputError("--save takes one network: use it with --network or --onnx")
    if args.max_group_layers < 1:
        raise UserInputError(f"--max-group-layers must be >= 1, got {args.max_group_layers}")
    hw = load_config(args.hw)
    nets = _networks(args.networks)  # bad names fail before Ray starts
    report = run_oracle_batch(nets, hw, args.max_group_layers, args.ray_address,
                              args.num_workers, objective=args.objective,
                              progress=False if (args.no_progress or args.json) else None)
    ev = report.evaluator
    rows = []
    for net in nets:
        entry = report.entries[net.name]
        calls_before = ev.sim_calls
        base = evaluate(net, NoFusionScheduler(ev).schedule(net, hw), hw, ev)
        best = evaluate(net, entry.schedule, hw, ev)
        rows.append({
            "network": net.name, "network_hash": net.content_hash(), "layers": len(net),
            "groups": [{"start": g.start, "end": g.end, "cores": g.cores}
                       for g in entry.schedule.groups],
            "latency_cycles": best.latency_cycles, "latency_ms": best.seconds * 1e3,
            "energy_pj": best.energy_pj,
            "no_fusion_latency_cycles": base.latency_cycles,
            "speedup": base.latency_cycles / best.latency_cycles,
            "sim_calls": entry.sim_calls + ev.sim_calls - calls_before,
        })
    summary = {
        "hardware": hw.name, "max_group_layers": args.max_group_layers,
        "objective": args.objective, "networks": rows,
        "candidates": report.candidates, "distinct_groups": report.distinct,
        "simulated": report.simulated, "infeasible": report.infeasible,
        "ray_tasks": report.tasks, "workers": report.workers, "seconds": report.seconds,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    from fusiongym.experiments.cli.output import format_table

    print(f"oracle on {hw.name}: {len(nets)} networks (groups of at most "
          f"{args.max_group_layers} layers, minimising {args.objective})")
    print(format_table(
        ["network", "layers", "groups", "latency cycles", "speedup", "sim calls"],
        [[r["network"], r["layers"], len(r["groups"]), r["latency_cycles"],
          f"{r['speedup']:.3f}x", r["sim_calls"]] for r in rows]))
    print()
    print(f"search      {report.candidates} candidates, {report.distinct} distinct; "
          f"{report.simulated} simulated in {report.tasks} Ray tasks on {report.workers} "
          f"workers, {report.infeasible} infeasible (rejected by lowering)")
    s = report.seconds
    print(f"time        {s['total']:.2f} s (collect {s['collect']:.2f}, simulate "
          f"{s['simulate']:.2f}, DP {s['dp']:.2f})")
    return 0
