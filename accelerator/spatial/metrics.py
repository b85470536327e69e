"""What a placement of a workload is scored by.

- **makespan** (the default objective): cycles from 0 to the end of the last group;
- **per-request latency**: a request's last group's end minus its arrival;
- **throughput**: requests per second over the makespan;
- **STP** and **ANTT** (Eyerman & Eeckhout, "System-level performance metrics for
  multiprogram workloads", IEEE Micro 2008): with ``T_alone[i]`` request ``i``'s latency when
  it runs alone on the whole chip (its sequential oracle schedule) and ``T_multi[i]`` its
  latency in the workload, the normalised progress is ``NP_i = T_alone[i] / T_multi[i]``;
  system throughput ``STP = sum_i NP_i`` (higher is better, = number of requests when
  nothing slows down) and average normalised turnaround time
  ``ANTT = mean_i T_multi[i] / T_alone[i]`` (lower is better, >= 1 when nothing is faster
  than alone);
- **energy** stays a sum over groups (every group's own counters).
"""

from __future__ import annotations

from dataclasses import dataclass

from fusiongym.accelerator.errors import UserInputError

PLACEMENT_OBJECTIVES = ("makespan", "mean_latency", "energy")


@dataclass(frozen=True)
class Multiprogram:
    stp: float
    antt: float
    normalised_progress: tuple[float, ...]


def multiprogram(alone_cycles: list[int], multi_cycles: list[int]) -> Multiprogram:
    """STP and ANTT of requests that took ``multi_cycles`` together and ``alone_cycles`` alone."""
    if len(alone_cycles) != len(multi_cycles) or not alone_cycles:
        raise ValueError("one alone and one multi latency per request")
    progress = tuple(a / m for a, m in zip(alone_cycles, multi_cycles))
    antt = sum(m / a for a, m in zip(alone_cycles, multi_cycles)) / len(alone_cycles)
    return Multiprogram(stp=sum(progress), antt=antt, normalised_progress=progress)


def throughput_per_second(requests: int, makespan_cycles: int, clock_mhz: float) -> float:
    return requests / (makespan_cycles / (clock_mhz * 1e6))


def placement_value(name: str, result) -> float:
    """The value (lower is better) of objective ``name`` for a PlacementResult."""
    if name == "makespan":
        return float(result.makespan_cycles)
    if name == "mean_latency":
        lat = result.request_latency_cycles
        return sum(lat) / len(lat)
    if name == "energy":
        return float(result.energy_pj)
    raise UserInputError(f"placement objective {name!r} is not one of "
                         f"{', '.join(PLACEMENT_OBJECTIVES)}")
