"""Scheduling one candidate design on every workload network, and the results journal.

A candidate's latency on a network is what its best schedule gives: the exact oracle's
optimum, or the proxy's — ``bound-dp``, the same DP over sound lower bounds (zero
simulations; its value is a lower bound on the oracle's, and the search only needs it to
rank candidates). Groups are memoized in an on-disk store (:mod:`accelerator.store`)
shared by every candidate, worker and later run.

The journal (``journal.jsonl``) holds one line per finished evaluation, appended, flushed
and fsynced before the next starts, so a killed exploration loses at most the one it was
running (whose simulated groups are in the store already); a torn last line is ignored.
A resumed run reads the journal first and evaluates only what is missing.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.store import GroupStore
from fusiongym.accelerator.workloads.loader import load_network
from fusiongym.experiments.explore.space import Candidate, DesignSpace

JOURNAL_FORMAT = 1


@dataclass(frozen=True)
class NetworkResult:
    network: str
    latency_cycles: float
    latency_ms: float
    energy_pj: float | None  # None for the proxy: a bound on latency says nothing of energy
    sim_calls: int
    seconds: float


@dataclass(frozen=True)
class Evaluation:
    """One candidate scheduled with one scheduler on every workload network."""

    key: str
    scheduler: str
    networks: tuple[NetworkResult, ...]

    def to_json(self) -> dict:
        return {"format": JOURNAL_FORMAT, "key": self.key, "scheduler": self.scheduler,
                "networks": [asdict(n) for n in self.networks]}

    @classmethod
    def from_json(cls, d: dict) -> "Evaluation":
        return cls(d["key"], d["scheduler"], tuple(NetworkResult(**n) for n in d["networks"]))

    @property
    def sim_calls(self) -> int:
        return sum(n.sim_calls for n in self.networks)

    @property
    def seconds(self) -> float:
        return sum(n.seconds for n in self.networks)


def evaluate_candidate(space: DesignSpace, candidate: Candidate, scheduler: str,
                       store_path: str | Path | None) -> Evaluation:
    """Schedule every workload of ``space`` on ``candidate`` with ``scheduler``."""
    from fusiongym.accelerator.evaluator import evaluate
    from fusiongym.agents.bound_dp import BoundDPScheduler
    from fusiongym.agents.oracle import OracleScheduler

    hw = space.hardware(candidate)
    evaluator = GroupEvaluator(hw)
    if store_path is not None:
        # the Explorer checked the file's integrity once; a per-candidate quick_check
        # would rescan the whole (growing) store for every candidate
        evaluator.store = GroupStore(store_path, check=False)
    results = []
    try:
        for w in space.spec.workloads:
            net = load_network(w.network)
            calls0, t0 = evaluator.sim_calls, time.perf_counter()
            if scheduler == "oracle":
                oracle = OracleScheduler(space.spec.max_group_layers, progress=False,
                                         evaluator=evaluator)
                schedule = oracle.schedule(net, hw)
                r = evaluate(net, schedule, hw, evaluator)
                cycles, energy = float(r.latency_cycles), float(r.energy_pj)
            else:
                proxy = BoundDPScheduler(space.spec.max_group_layers, evaluator=evaluator)
                schedule = proxy.schedule(net, hw)
                cycles, energy = _bound_value(schedule, net, evaluator), None
            results.append(NetworkResult(w.network, cycles, cycles / (hw.clock_mhz * 1e3),
                                         energy, evaluator.sim_calls - calls0,
                                         time.perf_counter() - t0))
    finally:
        if evaluator.store is not None:
            evaluator.store.close()
    return Evaluation(candidate.key, scheduler, tuple(results))


def _bound_value(schedule, net, evaluator) -> float:
    """bound-dp's optimum: the sum of its groups' lower bounds (no simulation)."""
    from fusiongym.accelerator.bounds import objective_lower_bound

    bound = objective_lower_bound("latency")
    return float(sum(bound(evaluator, net, g.start, g.end, g.cores)
                     for g in schedule.groups))


class Journal:
    """Append-only record of finished evaluations (see the module docstring)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.entries: dict[tuple[str, str], Evaluation] = {}
        if self.path.exists():
            text = self.path.read_text()
            if text and not text.endswith("\n"):  # torn by a kill: keep the whole lines
                text = text[:text.rfind("\n") + 1]
                tmp = self.path.with_name(self.path.name + ".tmp")
                tmp.write_text(text)
                os.replace(tmp, self.path)
            for line in text.splitlines():
                try:
                    e = Evaluation.from_json(json.loads(line))
                except (ValueError, KeyError, TypeError):
                    continue  # a line torn by a kill mid-write
                self.entries[(e.key, e.scheduler)] = e

    def get(self, key: str, scheduler: str) -> Evaluation | None:
        return self.entries.get((key, scheduler))

    def add(self, e: Evaluation) -> None:
        self.entries[(e.key, e.scheduler)] = e
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(e.to_json(), sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
