"""Schedules: fused groups of consecutive layers, each with a core count (what to run).

Groups run one after another. A tensor that crosses a group boundary goes through DRAM; a
tensor inside a group stays on chip. A schedule's latency is the sum of its groups'
latencies (each includes launch and synchronisation overhead), which is what makes the
oracle's dynamic programme exact. What a schedule costs is computed by
:func:`accelerator.evaluator.evaluate` into an :class:`accelerator.results.ScheduleResult`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.fileio import atomic_write_json, read_json_object
from fusiongym.accelerator.workloads.network import Network


class ScheduleError(UserInputError):
    """A schedule does not describe a valid execution of its network."""


@dataclass(frozen=True, slots=True)
class Group:
    """Layers ``start .. end-1`` (topological order) fused into one operator on ``cores`` cores."""

    start: int
    end: int
    cores: int

    def __len__(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Schedule:
    groups: tuple[Group, ...]
    network: str = ""  # name, for the reader of a saved file
    network_hash: str = ""  # content hash: a saved schedule is only replayed on its network

    @staticmethod
    def no_fusion(network: Network, cores: int) -> "Schedule":
        return Schedule(tuple(Group(i, i + 1, cores) for i in range(len(network))),
                        network.name, network.content_hash())

    @staticmethod
    def from_boundaries(network: Network, ends: list[int], cores: list[int]) -> "Schedule":
        starts = [0] + ends[:-1]
        return Schedule(tuple(Group(s, e, c) for s, e, c in zip(starts, ends, cores)),
                        network.name, network.content_hash())

    def validate(self, network: Network, hw: HardwareConfig) -> None:
        """Raise ScheduleError unless the groups cover every layer once, in order."""
        n = len(network)
        if not self.groups:
            raise ScheduleError("schedule has no groups")
        if self.network_hash and self.network_hash != network.content_hash():
            raise ScheduleError(
                f"schedule was made for network {self.network!r} ({self.network_hash}), "
                f"not {network.name!r} ({network.content_hash()})")
        expected = 0
        for k, g in enumerate(self.groups):
            if g.start != expected:
                what = "skips" if g.start > expected else "repeats"
                raise ScheduleError(
                    f"group {k} starts at layer {g.start} but layer {expected} is next: the "
                    f"schedule {what} layers")
            if not g.start < g.end <= n:
                raise ScheduleError(f"group {k} covers layers {g.start}..{g.end - 1}, "
                                    f"outside 0..{n - 1}")
            if g.cores not in hw.allowed_core_counts:
                raise ScheduleError(f"group {k}: {g.cores} cores is not allowed on {hw.name} "
                                    f"(allowed: {list(hw.allowed_core_counts)})")
            expected = g.end
        if expected != n:
            raise ScheduleError(f"schedule ends at layer {expected - 1}; the network has "
                                f"{n} layers (0..{n - 1})")

    # ---- JSON round trip --------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"network": self.network, "network_hash": self.network_hash,
                "groups": [asdict(g) for g in self.groups]}

    @staticmethod
    def from_dict(data: dict, source: str = "schedule") -> "Schedule":
        try:
            groups = tuple(Group(int(g["start"]), int(g["end"]), int(g["cores"]))
                           for g in data["groups"])
            return Schedule(groups, str(data.get("network", "")),
                            str(data.get("network_hash", "")))
        except (KeyError, TypeError, ValueError) as err:
            raise ScheduleError(f"{source}: not a schedule (each group needs integer "
                                f"start, end, cores): {err!s}") from None

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, self.to_dict())

    @staticmethod
    def load(path: str | Path) -> "Schedule":
        data = read_json_object(path, ScheduleError, "schedule")
        return Schedule.from_dict(data, str(path))

    def describe(self, network: Network) -> list[str]:
        return [f"[{g.start}..{g.end - 1}] {network.layers[g.start].name}"
                + (f" .. {network.layers[g.end - 1].name}" if len(g) > 1 else "")
                + f" x{g.cores} cores" for g in self.groups]
