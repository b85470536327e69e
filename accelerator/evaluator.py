"""Evaluating schedules: lower + simulate each distinct (hardware, group shape, cores) once.

:func:`evaluate` is the one entry point for "what does this schedule cost": it validates
the schedule, asks a :class:`GroupEvaluator` for every group and sums them
(:meth:`accelerator.results.ScheduleResult.from_groups`).

The evaluator's memo key is the group's layer shapes and internal edges (not names) and
the core count, for one hardware config, so identical blocks (ResNet's repeated stages, the
same layer in two networks) are simulated once. ``sim_calls`` counts simulations actually
run: that is the search cost the schedulers report. With a ``store_path`` the memo is
backed by an on-disk store (:mod:`accelerator.store`) shared across runs and processes.

Searches that decide without simulating (the oracle's bounds, the Ray batch) use the public
memo API: :meth:`GroupEvaluator.key`, :meth:`~GroupEvaluator.knows`,
:meth:`~GroupEvaluator.peek` and :meth:`~GroupEvaluator.insert`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.host import host_refusal, host_result, runs_on_host
from fusiongym.accelerator.lowering import GroupSpec, LoweredGroup, infeasibility, lower_group
from fusiongym.accelerator.results import GroupResult, ScheduleResult, group_energy_pj, group_latency_cycles
from fusiongym.accelerator.schedule import Schedule, ScheduleError
from fusiongym.accelerator.sim import SimResult, simulate
from fusiongym.accelerator.store import GroupStore, lookup_or_run
from fusiongym.accelerator.workloads.network import Network

MemoKey = tuple  # (GroupSpec.key, cores): what makes two groups cost the same on one config


def memo_key(spec: GroupSpec, cores: int) -> MemoKey:
    """The memo key of ``spec`` on ``cores`` cores (independent of where the group sits)."""
    return (spec.key, cores)


def run_group(spec: GroupSpec, cores: int, hw: HardwareConfig, start: int = 0,
              trace: bool = False) -> tuple[GroupResult, LoweredGroup, SimResult | None]:
    """Lower and simulate one group (no memo)."""
    end = start + len(spec.layers)
    lowered = lower_group(spec, cores, hw)
    if not lowered.feasible:
        return GroupResult(start, end, cores, feasible=False, reason=lowered.reason,
                           macs=lowered.macs), lowered, None
    sim = simulate(lowered.programs, hw, trace=trace)
    result = GroupResult(
        start, end, cores,
        latency_cycles=group_latency_cycles(sim.cycles, cores, hw, sim.active_cores),
        dram_bytes_read=sim.dram_bytes_read - sim.instruction_bytes,
        dram_bytes_written=sim.dram_bytes_written,
        macs=lowered.macs,
        energy_pj=group_energy_pj(hw, macs_issued=lowered.macs_issued,
                                  gemm_cycles=sim.gemm_cycles, alu_cycles=sim.alu_cycles,
                                  dram_bytes_read=sim.dram_bytes_read,
                                  dram_bytes_written=sim.dram_bytes_written),
        busy_cycles=sim.module_busy(),
        instructions=sum(sim.instructions.values()),
        events=sim.events,
    )
    return result, lowered, sim


class GroupEvaluator:
    """Evaluates groups of a network on one hardware config, memoizing by group shape."""

    def __init__(self, hw: HardwareConfig, store_path: str | Path | None = None):
        """``store_path``: an on-disk memo (SQLite, :mod:`accelerator.store`) shared across
        runs and processes; results found there cost no simulation."""
        self.hw = hw
        self._memo: dict[MemoKey, GroupResult] = {}
        self._specs: dict[tuple[str, int, int], GroupSpec] = {}
        self.sim_calls = 0  # simulations actually run (misses of memo and store)
        self.hits = 0
        self.store_hits = 0
        self.store = GroupStore(store_path) if store_path is not None else None

    def spec(self, network: Network, start: int, end: int) -> GroupSpec:
        k = (network.content_hash(), start, end)
        spec = self._specs.get(k)
        if spec is None:
            spec = self._specs[k] = GroupSpec.from_network(network, start, end)
        return spec

    def key(self, network: Network, start: int, end: int, cores: int) -> MemoKey:
        """The memo key of layers ``start .. end-1`` of ``network`` on ``cores`` cores (a
        host-run first layer, :mod:`accelerator.host`, is keyed apart from the same shape on
        the accelerator)."""
        key = memo_key(self.spec(network, start, end), cores)
        return ("host",) + key if runs_on_host(network, start, end, self.hw) else key

    def infeasible_reason(self, network: Network, start: int, end: int, cores: int) -> str | None:
        """Why the group cannot run (None if it can). Lowering only, no simulation."""
        if runs_on_host(network, start, end, self.hw):
            return None
        why = host_refusal(network, start, end, self.hw)
        if why is not None:
            return why
        refusal = infeasibility(self.spec(network, start, end), cores, self.hw)
        return refusal.reason if refusal is not None else None

    # ---- the memo, for searches that decide without simulating -------------------------
    def peek(self, key: MemoKey) -> GroupResult | None:
        """The memoized result under ``key`` as stored (any position), or None. Counts nothing."""
        return self._memo.get(key)

    def knows(self, network: Network, start: int, end: int, cores: int) -> bool:
        """Whether :meth:`result` costs no simulation: the memo holds the group, or the
        host decides it (:mod:`accelerator.host`: a formula or a refusal)."""
        return (self.key(network, start, end, cores) in self._memo
                or runs_on_host(network, start, end, self.hw)
                or host_refusal(network, start, end, self.hw) is not None)

    def insert(self, key: MemoKey, result: GroupResult, *, from_store: bool = False) -> None:
        """Memoize a result computed elsewhere (a Ray worker, a store read in bulk), counted
        as :meth:`result` counts its own: a store answer, or a simulation if feasible."""
        self._memo[key] = result
        if from_store:
            self.store_hits += 1
        elif result.feasible:
            self.sim_calls += 1

    def keys(self) -> list[MemoKey]:
        """Every memoized key (for reports and tests)."""
        return list(self._memo)

    def result(self, network: Network, start: int, end: int, cores: int) -> GroupResult:
        """The group's cost: from the memo, else the on-disk store, else simulated; the
        host's formula for the host-run first layer (:mod:`accelerator.host`), no simulation."""
        on_host = host_result(network, start, end, cores, self.hw)
        if on_host is not None:
            return on_host
        spec = self.spec(network, start, end)
        hit = self._memo.get(memo_key(spec, cores))
        if hit is not None:
            self.hits += 1
            return _relocated(hit, start, end)

        def run() -> GroupResult:
            return run_group(spec, cores, self.hw, start)[0]

        if self.store is None:
            result, simulated = run(), True
        else:
            result, simulated = lookup_or_run(self.store, self.hw.key, spec.key, cores,
                                              start, end, run)
        self.insert(memo_key(spec, cores), result, from_store=not simulated)
        return result

    def __len__(self) -> int:
        return len(self._memo)


def _relocated(r: GroupResult, start: int, end: int) -> GroupResult:
    if r.start == start and r.end == end:
        return r
    return replace(r, start=start, end=end)


_DEFAULT: dict[str, GroupEvaluator] = {}


def default_evaluator(hw: HardwareConfig) -> GroupEvaluator:
    """A process-wide evaluator per hardware config (shared memo)."""
    ev = _DEFAULT.get(hw.key)
    if ev is None:
        ev = _DEFAULT[hw.key] = GroupEvaluator(hw)
    return ev


def clear_default_evaluators() -> None:
    """Forget the process-wide evaluators (benchmarks that must start cold)."""
    _DEFAULT.clear()


def unschedulable_message(network: Network, evaluator: "GroupEvaluator",
                          max_group_layers: int) -> str:
    """Why ``network`` has no feasible schedule, naming the layer that blocks it: the first
    layer that no feasible group reaching it from layer 0 can cover (lowering only; the
    plans are cached, so after a DP this costs nothing). The reason is that layer's own,
    alone on the hardware's default core count, as ``simulate`` reports it."""
    hw = evaluator.hw
    n = len(network)
    counts = hw.allowed_core_counts
    reachable = [True] + [False] * n
    for j in range(1, n + 1):
        reachable[j] = any(reachable[s] and evaluator.infeasible_reason(network, s, j, c) is None
                           for s in range(max(0, j - max_group_layers), j) for c in counts)
    blocked = max(j for j in range(n) if reachable[j])  # first layer no group gets past
    layer = network.layers[blocked]
    alone = {c: evaluator.infeasible_reason(network, blocked, blocked + 1, c) for c in counts}
    if all(alone.values()):
        why = alone[hw.default_cores] or next(iter(alone.values()))
        return (f"{network.name}: no feasible schedule: layer {blocked} ({layer.name}) cannot "
                f"run on any core count {list(counts)} of {hw.name}: {why}")
    return (f"{network.name}: no feasible schedule: no group of at most {max_group_layers} "
            f"layers can cover layer {blocked} ({layer.name}) after a feasible prefix "
            f"(alone it runs on {[c for c, r in alone.items() if r is None]} cores)")


def evaluate(network: Network, schedule: Schedule, hw: HardwareConfig,
             evaluator: GroupEvaluator | None = None) -> ScheduleResult:
    """Latency, traffic and energy of a schedule (each group simulated, memoized)."""
    schedule.validate(network, hw)
    ev = evaluator if evaluator is not None else default_evaluator(hw)
    results = [ev.result(network, g.start, g.end, g.cores) for g in schedule.groups]
    for g, r in zip(schedule.groups, results):
        if not r.feasible:
            raise ScheduleError(f"group {g.start}..{g.end - 1} on {g.cores} cores is "
                                f"infeasible: {r.reason}")
    return ScheduleResult.from_groups(results, hw)
