"""The launch rule of a placement, as plain arithmetic over given group durations.

:mod:`accelerator.spatial.simulate` runs the rule event by event with every group's streams
on the shared DRAM; this module replays the *same rule* with a fixed duration per group (its
isolated cost, or a lower bound of it), with no SimPy at all. Schedulers use it as their
inner loop and report its result as the *isolated-cost estimate* of a placement; the
simulation is the answer. The rule (one definition, both implement it; a test checks that
they agree when the durations are the simulated ones):

- group ``k`` is launched at the earliest time ``t`` that is no earlier than group
  ``k-1``'s launch (in-order issue), its request's arrival and the end of every group in its
  dependencies, and at which ``cores`` cores are free (its ``core_ids`` if pinned);
- it takes the lowest-numbered cores free at ``t``, holds them for its duration, and frees
  them when it ends; a group with no work (duration 0: a zero-copy Concat) holds no core
  and ends when it is launched;
- a host-run first layer (``on_host[k]``, :mod:`accelerator.host`) holds no core either: it
  is launched once the host CPU is free (one such group at a time) and holds it for its
  duration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.host import runs_on_host


@dataclass(frozen=True)
class Timeline:
    """When each group ran and on which cores."""

    start_cycles: tuple[int, ...]
    end_cycles: tuple[int, ...]
    core_ids: tuple[tuple[int, ...], ...]

    @property
    def makespan_cycles(self) -> int:
        return max(self.end_cycles)


def choose_cores(free_at: list[int], cores: int, ready: int,
                 pinned: tuple[int, ...] | None) -> tuple[int, tuple[int, ...]]:
    """The launch time (>= ``ready``) and cores of a group that needs ``cores`` cores, given
    when each core is next free. Lowest-numbered free cores; ties at the launch time go to
    every core free by then."""
    if pinned is not None:
        t = max([ready] + [free_at[c] for c in pinned])
        return t, tuple(pinned)
    t = max(ready, sorted(free_at)[cores - 1])
    ids = tuple(c for c in range(len(free_at)) if free_at[c] <= t)[:cores]
    return t, ids


def replay(groups, deps: list[tuple[int, ...]], arrivals: list[int],
           durations: list[int], chip_cores: int,
           on_host: Sequence[bool] | None = None) -> Timeline:
    """The launch rule over ``durations`` (one per group, launch to end). ``groups`` are
    :class:`~accelerator.spatial.placement.PlacedGroup`; ``arrivals[k]`` is group ``k``'s
    request's arrival; ``on_host[k]`` says group ``k`` runs on the host CPU (default: none
    does; :func:`host_flags` gives them)."""
    free_at = [0] * chip_cores
    host_free_at = 0
    starts: list[int] = []
    ends: list[int] = []
    ids_of: list[tuple[int, ...]] = []
    last_launch = 0
    for k, g in enumerate(groups):
        ready = max([last_launch, arrivals[k]] + [ends[j] for j in deps[k]])
        if on_host is not None and on_host[k]:
            t = max(ready, host_free_at)
            host_free_at = t + int(durations[k])
            starts.append(t)
            ends.append(host_free_at)
            ids_of.append(())
            last_launch = t
            continue
        if durations[k] <= 0:  # no work (a zero-copy Concat): holds no core, ends at once
            starts.append(ready)
            ends.append(ready)
            ids_of.append(())
            last_launch = ready
            continue
        t, ids = choose_cores(free_at, g.cores, ready, g.core_ids)
        end = t + int(durations[k])
        for c in ids:
            free_at[c] = end
        starts.append(t)
        ends.append(end)
        ids_of.append(ids)
        last_launch = t
    return Timeline(tuple(starts), tuple(ends), tuple(ids_of))


def host_flags(workload, groups, hw: HardwareConfig) -> list[bool]:
    """Per group of a placement: does it run on the host CPU (:mod:`accelerator.host`)?"""
    return [runs_on_host(workload.requests[g.request].network, g.start, g.end, hw)
            for g in groups]
