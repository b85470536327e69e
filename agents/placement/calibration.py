"""What the simulation measured for each group, fed back into the isolated-cost candidates.

A candidate group's cost at ``c`` cores (:mod:`agents.placement.candidates`) is its latency
*alone on the chip*; once it shares the DRAM and the host with co-running groups it takes
longer, and how much longer only the whole-placement simulation knows. CP-SAT's model
(:mod:`agents.placement.cpsat`) over isolated costs therefore optimises a makespan the chip
does not reproduce (resnet50x4: model 1.64 M cycles for a plan that simulates at 2.50 M).

:class:`Calibration` collects, from simulated placements, each group's measured duration: its
``end_cycles - launch_cycles`` in that run (the cores held, the host wait and launch, the run
on the shared DRAM), keyed by *(network, first layer, end layer, cores)*, so the requests of
one network (resnet50x4's four copies) share what any of them measured. A key's calibrated
duration is the mean of every measurement of it (over requests and rounds: one run's
contention is one sample of the co-runners it may meet). :meth:`Calibration.apply` gives the
candidate groupings with those durations in place of the isolated latencies (the bytes stay,
so a stretched group asks a proportionally lower DRAM rate, as it did in the run); a
(group, cores) that never ran keeps its isolated latency: the model stays optimistic about
what it has not tried, and trying it is how it learns (the logic-based-Benders reading: a
simulated plan is the subproblem, its measured durations the cut).

:func:`simulated_plan` turns a simulation's records back into a plan (start = launch cycle,
the cores it ran on), the form CP-SAT is hinted with; :func:`peak_demand` is the most DRAM
rate the groups of a plan ask at once under given costs.
"""

from __future__ import annotations

from dataclasses import replace

from fusiongym.accelerator.spatial.simulate import PlacementResult
from fusiongym.accelerator.spatial.workload import Workload
from fusiongym.agents.placement.base import PlannedGroup
from fusiongym.agents.placement.candidates import Grouping


UNEXPLORED = ("stretched", "isolated")  # what a (group, cores) that never ran costs


class Calibration:
    """Measured durations per (network hash, start, end, cores); see the module docstring."""

    def __init__(self) -> None:
        self._samples: dict[tuple[str, int, int, int], list[int]] = {}

    def add(self, workload: Workload, result: PlacementResult) -> int:
        """Record every group of a simulated placement; returns how many were recorded."""
        n = 0
        for g in result.groups:
            key = (workload.requests[g.request].network.content_hash(), g.start, g.end, g.cores)
            self._samples.setdefault(key, []).append(int(g.end_cycles - g.launch_cycles))
            n += 1
        return n

    def duration(self, network_hash: str, start: int, end: int, cores: int) -> int | None:
        """The calibrated duration (mean of the measurements, cycles), None if never run."""
        s = self._samples.get((network_hash, start, end, cores))
        return None if not s else int(round(sum(s) / len(s)))

    def stretch(self, network_hash: str, start: int, end: int,
                isolated: dict[int, int]) -> float | None:
        """The group's measured over isolated duration, over every count it ran at (total
        measured cycles over total isolated ones), None if it never ran."""
        got = [(sum(s), len(s) * isolated[c])
               for (h, a, b, c), s in self._samples.items()
               if (h, a, b) == (network_hash, start, end) and isolated.get(c, 0) > 0]
        return sum(m for m, _ in got) / sum(i for _, i in got) if got else None

    def __len__(self) -> int:
        return len(self._samples)

    def apply(self, workload: Workload, cands: list[list[Grouping]],
              incumbent: PlacementResult | None = None, unexplored: str = "stretched"
              ) -> list[list[Grouping]]:
        """``cands`` (per request, its candidate groupings) with each measured (group, cores)
        at its calibrated duration instead of its isolated latency; a group that ran in
        ``incumbent`` (the best simulated run) at that request and count takes what it
        measured there, so the incumbent, replayed on these costs, is what it simulated.
        A count the group never ran at costs its isolated latency (``unexplored=
        "isolated"``) or that times the group's stretch at the counts it ran at
        (``"stretched"``: the contention it met, assumed the same at another count)."""
        ran = {} if incumbent is None else {
            (g.request, g.start, g.end, g.cores): int(g.end_cycles - g.launch_cycles)
            for g in incumbent.groups}
        out = []
        for r, (req, gs) in enumerate(zip(workload.requests, cands)):
            h = req.network.content_hash()
            row = []
            for G in gs:
                groups = []
                for g in G.groups:
                    stretch = self.stretch(h, g.start, g.end, g.latency_cycles) \
                        if unexplored == "stretched" else None
                    lat = {}
                    for c, v in g.latency_cycles.items():
                        measured = ran.get((r, g.start, g.end, c))
                        if measured is None:
                            measured = self.duration(h, g.start, g.end, c)
                        if measured is None and stretch is not None:
                            measured = int(round(v * stretch))
                        lat[c] = v if v <= 0 or measured is None else measured
                    groups.append(replace(g, latency_cycles=lat))
                row.append(replace(G, groups=tuple(groups)))
            out.append(row)
        return out


def simulated_plan(result: PlacementResult) -> list[PlannedGroup]:
    """The plan a simulation ran, in launch order: each group from its launch cycle on the
    cores it held (a host-run first layer, holding none, at its nominal count)."""
    return [PlannedGroup(g.request, g.start, g.end, tuple(g.core_ids), int(g.launch_cycles),
                         host_cores=0 if g.core_ids else g.cores)
            for g in sorted(result.groups, key=lambda g: g.launch_cycles)]


def peak_demand(spans: list[tuple[int, int, float]]) -> float:
    """The largest sum of ``rate`` over the spans ``(start, end, rate)`` live at one cycle."""
    return max((sum(r for s, e, r in spans if s <= t < e) for t, _, _ in spans), default=0.0)
