"""Placements: fused groups of a workload's requests, each on its own cores, possibly at once.

A placement lists groups in **launch order** (the host's one submission queue, as in a
single-threaded runtime): group ``k`` is launched once groups ``0..k-1`` have been, the
groups producing its inputs have finished, its request has arrived, every group in its
``after`` has finished, and ``cores`` cores are free. Its cores are the lowest-numbered free
ones at launch unless ``core_ids`` pins them (a replayed placement pins the ids it ran on, so
it replays exactly). Cores are symmetric: only how many a group has and that no core runs two
groups at once matter to the cost, and the simulation (:mod:`accelerator.spatial.simulate`)
enforces the second.

Groups stay contiguous ranges of a request's topological order (a tensor crossing a group
boundary goes through DRAM), so a placement of one request with every group ``after`` the
previous one is exactly a sequential :class:`~accelerator.schedule.Schedule`
(:meth:`Placement.sequential`), and it costs exactly what the sequential evaluation says.

Data dependencies are computed from the network's edges (:func:`group_producers`); a
scheduler only chooses groups, core counts, the launch order and optional extra ``after``
edges. A saved placement may carry the times and cores it ran on (``start_cycles``,
``end_cycles``, ``core_ids``); loading checks they are consistent (no core runs two groups at
once, no group starts before its producers end), so a hand-edited file fails in one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.fileio import atomic_write_json, read_json_object
from fusiongym.accelerator.host import runs_on_host
from fusiongym.accelerator.schedule import Schedule, ScheduleError
from fusiongym.accelerator.spatial.workload import Workload
from fusiongym.accelerator.workloads.network import Network

FORMAT = "fusiongym-placement"
VERSION = 1


class PlacementError(ScheduleError):
    """A placement does not describe a valid execution of its workload."""


@dataclass(frozen=True, slots=True)
class PlacedGroup:
    """Layers ``start .. end-1`` of request ``request`` fused into one operator on ``cores``."""

    request: int
    start: int
    end: int
    cores: int
    after: tuple[int, ...] = ()  # extra: indices of earlier groups that must end first
    core_ids: tuple[int, ...] | None = None  # pinned cores; None = lowest free at launch
    start_cycles: int | None = None  # as recorded by a simulation (checked on load)
    end_cycles: int | None = None

    def __len__(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Placement:
    groups: tuple[PlacedGroup, ...]
    workload: str = ""  # name, for the reader of a saved file
    workload_hash: str = ""  # a saved placement only replays on its workload
    meta: dict = field(default_factory=dict, compare=False)  # scheduler, objective ...

    # ---- construction ------------------------------------------------------------------
    @staticmethod
    def sequential(workload: Workload, schedules: list[Schedule]) -> "Placement":
        """Request after request, each request's groups one after another on its schedule's
        core counts: today's sequential semantics (every group after the previous one)."""
        groups: list[PlacedGroup] = []
        for r, schedule in enumerate(schedules):
            for g in schedule.groups:
                after = (len(groups) - 1,) if groups else ()
                groups.append(PlacedGroup(r, g.start, g.end, g.cores, after))
        return Placement(tuple(groups), workload.name, workload.content_hash())

    @staticmethod
    def side_by_side(workload: Workload, schedules: list[Schedule]) -> "Placement":
        """Each request's groups in order, requests interleaved group by group in launch
        order, no extra ordering: requests co-run wherever their core counts fit."""
        per = [[PlacedGroup(r, g.start, g.end, g.cores) for g in s.groups]
               for r, s in enumerate(schedules)]
        groups = []
        depth = max(len(p) for p in per)
        for k in range(depth):
            groups.extend(p[k] for p in per if k < len(p))
        return Placement(tuple(groups), workload.name, workload.content_hash())

    def pinned(self, core_ids: list[tuple[int, ...]], start: list[int], end: list[int]) -> "Placement":
        """This placement with the cores and times a simulation gave it (for saving)."""
        return replace(self, groups=tuple(
            replace(g, core_ids=tuple(ids) or None, start_cycles=int(s), end_cycles=int(e))
            for g, ids, s, e in zip(self.groups, core_ids, start, end)))

    def without_host_pins(self, workload: Workload, hw: HardwareConfig) -> "Placement":
        """This placement with no core pinned for a host-run first layer (accelerator/host.py:
        it holds none), for schedulers whose plans gave it the cores of its nominal count."""
        groups = tuple(replace(g, core_ids=None) if g.core_ids is not None and runs_on_host(
            workload.requests[g.request].network, g.start, g.end, hw) else g
            for g in self.groups)
        return self if groups == self.groups else replace(self, groups=groups)

    # ---- checks ------------------------------------------------------------------------
    def validate(self, workload: Workload, hw: HardwareConfig) -> list[tuple[int, ...]]:
        """Raise PlacementError unless the groups cover each request once in contiguous
        ranges, every producer is launched before its consumer, and cores fit the chip.
        Returns each group's dependencies (producers and ``after``), for the simulation."""
        if not self.groups:
            raise PlacementError("placement has no groups")
        if self.workload_hash and self.workload_hash != workload.content_hash():
            raise PlacementError(f"placement was made for workload {self.workload!r} "
                                 f"({self.workload_hash}), not {workload.name!r} "
                                 f"({workload.content_hash()})")
        owner: list[list[int]] = [[-1] * len(r.network) for r in workload.requests]
        for k, g in enumerate(self.groups):
            where = f"group {k}"
            if not 0 <= g.request < len(workload):
                raise PlacementError(f"{where}: request {g.request} is not one of the "
                                     f"workload's {len(workload)} requests")
            n = len(workload.requests[g.request].network)
            if not 0 <= g.start < g.end <= n:
                raise PlacementError(f"{where} covers layers {g.start}..{g.end - 1} of request "
                                     f"{workload.requests[g.request].name!r}, outside 0..{n - 1}")
            if g.cores > hw.num_cores:
                raise PlacementError(f"{where}: {g.cores} cores, but {hw.name} has {hw.num_cores}")
            if g.cores not in hw.allowed_core_counts:
                raise PlacementError(f"{where}: {g.cores} cores is not allowed on {hw.name} "
                                     f"(allowed: {list(hw.allowed_core_counts)})")
            if g.core_ids is not None and runs_on_host(workload.requests[g.request].network,
                                                       g.start, g.end, hw):
                raise PlacementError(f"{where}: layer 0 runs on the host (first_layer_on: "
                                     "host) and holds no core; drop its core_ids")
            if g.core_ids is not None:
                ids = g.core_ids
                if len(ids) != g.cores or len(set(ids)) != len(ids) or not all(
                        0 <= c < hw.num_cores for c in ids):
                    raise PlacementError(f"{where}: core_ids {list(ids)} must be {g.cores} "
                                         f"distinct cores of 0..{hw.num_cores - 1}")
            for j in g.after:
                if not 0 <= j < k:
                    raise PlacementError(f"{where}: 'after' names group {j}, which is not "
                                         "launched before it")
            for i in range(g.start, g.end):
                if owner[g.request][i] >= 0:
                    raise PlacementError(f"{where} and group {owner[g.request][i]} both run "
                                         f"layer {i} of request {workload.requests[g.request].name!r}")
                owner[g.request][i] = k
        for r, layers in enumerate(owner):
            if -1 in layers:
                raise PlacementError(f"layer {layers.index(-1)} of request "
                                     f"{workload.requests[r].name!r} is in no group")
        deps = []
        for k, g in enumerate(self.groups):
            producers = group_producers(workload.requests[g.request].network, g.start, g.end,
                                        owner[g.request])
            late = [j for j in producers if j > k]
            if late:
                raise PlacementError(f"group {k} starts before its producer group {late[0]}: "
                                     "a group must be launched after the groups it reads")
            deps.append(tuple(sorted(set(producers) | set(g.after))))
        self._check_recorded(deps)
        return deps

    def _check_recorded(self, deps: list[tuple[int, ...]]) -> None:
        """A saved placement's recorded cores and times must describe a possible run."""
        timed = [(k, g) for k, g in enumerate(self.groups)
                 if g.start_cycles is not None and g.end_cycles is not None]
        for k, g in timed:
            if g.end_cycles < g.start_cycles:
                raise PlacementError(f"group {k} ends (cycle {g.end_cycles}) before it starts "
                                     f"(cycle {g.start_cycles})")
            for j in deps[k]:
                p = self.groups[j]
                if p.end_cycles is not None and g.start_cycles < p.end_cycles:
                    raise PlacementError(f"group {k} starts at cycle {g.start_cycles}, before its "
                                         f"producer group {j} ends at cycle {p.end_cycles}")
        for a in range(len(timed)):
            ka, ga = timed[a]
            for kb, gb in timed[a + 1:]:
                if ga.core_ids is None or gb.core_ids is None:
                    continue
                shared = set(ga.core_ids) & set(gb.core_ids)
                if shared and ga.start_cycles < gb.end_cycles and gb.start_cycles < ga.end_cycles:
                    raise PlacementError(f"groups {ka} and {kb} both run on core {min(shared)} "
                                         f"at once (cycles {max(ga.start_cycles, gb.start_cycles)}"
                                         f"..{min(ga.end_cycles, gb.end_cycles)})")

    # ---- JSON round trip ---------------------------------------------------------------
    def to_dict(self) -> dict:
        groups = []
        for g in self.groups:
            d = {"request": g.request, "start": g.start, "end": g.end, "cores": g.cores}
            if g.after:
                d["after"] = list(g.after)
            if g.core_ids:
                d["core_ids"] = list(g.core_ids)
            if g.start_cycles is not None:
                d["start_cycles"], d["end_cycles"] = g.start_cycles, g.end_cycles
            groups.append(d)
        return {"format": FORMAT, "version": VERSION, "workload": self.workload,
                "workload_hash": self.workload_hash, "groups": groups, **(
                    {"meta": self.meta} if self.meta else {})}

    @staticmethod
    def from_dict(data: dict, source: str = "placement") -> "Placement":
        if data.get("version", VERSION) != VERSION:
            raise PlacementError(f"{source}: placement version {data.get('version')!r} is not "
                                 f"supported (this fusiongym reads version {VERSION})")
        try:
            groups = []
            for g in data["groups"]:
                ids = g.get("core_ids")
                groups.append(PlacedGroup(
                    int(g.get("request", 0)), int(g["start"]), int(g["end"]), int(g["cores"]),
                    tuple(int(j) for j in g.get("after", ())),
                    tuple(int(c) for c in ids) if ids else None,  # [] = ran on none (no work)
                    int(g["start_cycles"]) if g.get("start_cycles") is not None else None,
                    int(g["end_cycles"]) if g.get("end_cycles") is not None else None))
        except (KeyError, TypeError, ValueError) as err:
            raise PlacementError(f"{source}: not a placement (each group needs integer request, "
                                 f"start, end, cores): {err!s}") from None
        return Placement(tuple(groups), str(data.get("workload", "")),
                         str(data.get("workload_hash", "")), dict(data.get("meta") or {}))

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, self.to_dict())

    @staticmethod
    def load(path: str | Path) -> "Placement":
        data = read_json_object(path, PlacementError, "placement")
        return Placement.from_dict(data, str(path))


def is_placement_file(data: dict) -> bool:
    """Whether a loaded JSON object is a placement (else a sequential schedule file)."""
    return data.get("format") == FORMAT


def group_producers(network: Network, start: int, end: int, owner: list[int]) -> list[int]:
    """Indices (into the placement) of the groups whose layers ``start..end-1`` read."""
    found = set()
    for i in range(start, end):
        for p in network.layers[i].inputs:
            if p >= 0 and not start <= p < end:
                found.add(owner[p])
    return sorted(found)
