"""Candidate groupings of a request and their isolated costs.

A grouping is a request's layers cut into contiguous groups (a sequential schedule without
core counts). The searches here choose among three per request, because where the fusion
boundaries lie decides what can overlap:

- ``oracle``: the sequential oracle's groups (exact for one request alone on the chip). The
  oracle often fuses sibling branches (Inception's four, SqueezeNet's expand1x1 / 3x3) into
  one group, which then cannot overlap;
- ``split``: the oracle's groups cut before every layer that does not read the layer just
  before it in topological order, i.e. at the start of each branch; chains stay fused, so
  siblings become separate groups that may co-run (BERT's Q / K / V projections, ResNet's
  downsample shortcut);
- ``layers``: no fusion (one group per layer): the most parallelism, the most DRAM traffic;
- ``oracle@N`` (:func:`capped_kinds`, not in :data:`GROUPINGS`): the oracle's groups when
  it may use at most ``N`` cores. The oracle on the whole chip fuses for 16 cores; a request
  that shares the chip runs on a few, where other fusion pays: ResNet-50's oracle at <= 2
  cores has 35 groups (43 on the whole chip, 46 in ``split``) that on 2 cores take 1.43 M
  cycles alone and move 50.3 MB (``split``'s: 1.59 M, 53.2 MB), and four requests listed on
  them simulate 11 % faster (2.23 M cycles against 2.50 M on ``split``).

A piece of ``split`` that no core count can run falls back to single layers. A group's
isolated cost at ``c`` cores is :meth:`GroupEvaluator.result` (one memoized simulation of the
group alone on the chip): an estimate, and never the answer once it shares the chip.
"""

from __future__ import annotations

from dataclasses import dataclass

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.errors import InfeasibleError
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.host import runs_on_host
from fusiongym.accelerator.schedule import Schedule
from fusiongym.accelerator.spatial.placement import group_producers
from fusiongym.accelerator.workloads.network import Network
from fusiongym.agents.oracle import OracleScheduler

GROUPINGS = ("oracle", "split", "layers")
CAPPED = "oracle@"  # + a core count: the oracle's groups on at most that many cores


def capped_kinds(hw: HardwareConfig) -> tuple[str, ...]:
    """``oracle@N`` for every allowed core count ``N`` below the chip's (see the docstring)."""
    return tuple(f"{CAPPED}{c}" for c in hw.allowed_core_counts if c < hw.num_cores)


class _CoreLimited:
    """``hw`` as the oracle's DP sees it, with only core counts <= ``max_cores`` allowed (the
    evaluator keeps the real config, so its memo and counters are shared)."""

    def __init__(self, hw: HardwareConfig, max_cores: int):
        self._hw = hw
        self.allowed_core_counts = tuple(c for c in hw.allowed_core_counts if c <= max_cores)

    def __getattr__(self, name):
        return getattr(self._hw, name)


def oracle_schedule(network: Network, hw: HardwareConfig, ev: GroupEvaluator,
                    max_cores: int | None = None) -> Schedule:
    """The sequential oracle's schedule, optionally on at most ``max_cores`` cores."""
    oracle = OracleScheduler(progress=False, evaluator=ev)
    if max_cores is None or max_cores >= hw.num_cores:
        return oracle.schedule(network, hw)
    # the DP reads only allowed_core_counts from hw; the evaluator simulates on the real hw
    return oracle._schedule(network, _CoreLimited(hw, max_cores), ev)  # noqa: SLF001


@dataclass(frozen=True)
class CandidateGroup:
    """Layers ``start .. end-1`` with isolated cost per feasible core count."""

    start: int
    end: int
    latency_cycles: dict[int, int]  # core count -> isolated latency (feasible counts only)
    dram_bytes: dict[int, int]  # core count -> data bytes read + written alone
    on_host: bool = False  # the host-run first layer (accelerator/host.py): holds no core

    @property
    def fastest_cycles(self) -> int:
        return min(self.latency_cycles.values())


@dataclass(frozen=True)
class Grouping:
    """One request's layers cut into groups, with the group DAG (producers per group)."""

    kind: str
    groups: tuple[CandidateGroup, ...]
    producers: tuple[tuple[int, ...], ...]  # per group: indices of the groups it reads


def _costed(network: Network, start: int, end: int, hw: HardwareConfig,
            ev: GroupEvaluator, cost=None) -> CandidateGroup | None:
    """The group's isolated costs: simulated, or ``cost(network, start, end, cores) ->
    (latency, bytes) | None`` (e.g. :func:`agents.placement.fluid.lowering_cost`)."""
    lat, nbytes = {}, {}
    for c in hw.allowed_core_counts:
        if ev.infeasible_reason(network, start, end, c) is not None:
            continue
        if cost is not None:
            priced = cost(network, start, end, c)
            if priced is not None:
                lat[c], nbytes[c] = priced
            continue
        r = ev.result(network, start, end, c)
        if r.feasible:
            lat[c] = int(r.latency_cycles)
            nbytes[c] = int(r.dram_bytes_read + r.dram_bytes_written)
    if lat and runs_on_host(network, start, end, hw):
        # it costs the same on every count and holds none: one nominal count, the smallest
        c = min(lat)
        return CandidateGroup(start, end, {c: lat[c]}, {c: nbytes[c]}, on_host=True)
    return CandidateGroup(start, end, lat, nbytes) if lat else None


def branch_split(network: Network, bounds: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``bounds`` cut before every layer that does not read its predecessor (a branch start)."""
    out = []
    for s, e in bounds:
        cut = s
        for i in range(s + 1, e):
            if (i - 1) not in network.layers[i].inputs:
                out.append((cut, i))
                cut = i
        out.append((cut, e))
    return out


def make_grouping(kind: str, network: Network, hw: HardwareConfig, ev: GroupEvaluator,
                  oracle: Schedule, cost=None) -> Grouping:
    """The ``kind`` grouping of ``network`` (see the module docstring) with its costs
    (simulated, or ``cost``'s: see :func:`_costed`; ``oracle``: the whole-chip oracle's
    schedule, whose groups ``oracle`` and ``split`` start from; ``oracle@N`` computes its
    own)."""
    if kind == "oracle":
        bounds = [(g.start, g.end) for g in oracle.groups]
    elif kind.startswith(CAPPED):
        cap = kind[len(CAPPED):]
        if not cap.isdigit() or int(cap) not in hw.allowed_core_counts:
            raise ValueError(f"grouping {kind!r}: {cap!r} is not an allowed core count of "
                             f"{hw.name} ({list(hw.allowed_core_counts)})")
        capped = oracle_schedule(network, hw, ev, int(cap))
        bounds = [(g.start, g.end) for g in capped.groups]
    elif kind == "split":
        bounds = branch_split(network, [(g.start, g.end) for g in oracle.groups])
    elif kind == "layers":
        bounds = [(i, i + 1) for i in range(len(network))]
    else:
        raise ValueError(f"grouping {kind!r} is not one of {', '.join(GROUPINGS)} or "
                         f"{CAPPED}N")
    groups: list[CandidateGroup] = []
    for s, e in bounds:
        g = _costed(network, s, e, hw, ev, cost)
        if g is not None:
            groups.append(g)
            continue
        for i in range(s, e):  # no core count runs the piece: its layers one by one
            single = _costed(network, i, i + 1, hw, ev, cost)
            if single is None:
                raise InfeasibleError(f"{network.name}: layer {i} runs on no core count of "
                                      f"{hw.name}")
            groups.append(single)
    owner = [0] * len(network)
    for k, g in enumerate(groups):
        for i in range(g.start, g.end):
            owner[i] = k
    producers = tuple(tuple(group_producers(network, g.start, g.end, owner)) for g in groups)
    return Grouping(kind, tuple(groups), producers)


def groupings_of(network: Network, hw: HardwareConfig, ev: GroupEvaluator,
                 kinds: tuple[str, ...] = GROUPINGS,
                 oracle: Schedule | None = None, cost=None) -> list[Grouping]:
    """The distinct groupings ``kinds`` of ``network`` (a kind equal to an earlier one, e.g.
    ``split`` of a chain network, is left out)."""
    oracle = oracle if oracle is not None else oracle_schedule(network, hw, ev)
    out: list[Grouping] = []
    seen = set()
    for kind in kinds:
        g = make_grouping(kind, network, hw, ev, oracle, cost)
        key = tuple((c.start, c.end) for c in g.groups)
        if key not in seen:
            seen.add(key)
            out.append(g)
    return out
