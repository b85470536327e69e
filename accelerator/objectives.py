"""What a schedule can be scored by: the one definition of the objectives.

Every objective is computed from three plain numbers of a result (a whole schedule's or a
group's): its latency in cycles, its energy in pJ and its duration in seconds. Which
objectives are *additive* matters to the searches: a schedule's latency and energy are sums
over its groups (groups run one after another), so the dynamic-programming oracle, the
heuristic and brute force can score a group alone and their optimum is exact. The
energy-delay product is not a sum over groups (the product of two sums), so those searches
refuse it; the RL env can still reward it (by the increase of the running product).

Used by :meth:`accelerator.schedule.ScheduleResult.objective`, the schedulers in
``agents/`` (:func:`group_value`, :func:`check_objective`), the env's reward and the
experiment runner.
"""

from __future__ import annotations

from dataclasses import dataclass

from fusiongym.accelerator.errors import UserInputError


@dataclass(frozen=True)
class Objective:
    name: str
    additive: bool  # a sum over groups: a group-by-group search (the DP oracle) is exact
    unit: str


_ALL = (
    Objective("latency", additive=True, unit="cycles"),
    Objective("energy", additive=True, unit="pJ"),
    Objective("edp", additive=False, unit="pJ*s"),  # energy x delay
)
OBJECTIVES: dict[str, Objective] = {o.name: o for o in _ALL}
OBJECTIVE_NAMES: tuple[str, ...] = tuple(OBJECTIVES)
ADDITIVE_OBJECTIVES: tuple[str, ...] = tuple(o.name for o in _ALL if o.additive)


def objective_value(name: str, latency_cycles: float, energy_pj: float,
                    seconds: float) -> float:
    """The value of objective ``name`` (lower is better) of a result with these totals."""
    if name == "latency":
        return float(latency_cycles)
    if name == "energy":
        return float(energy_pj)
    if name == "edp":
        return energy_pj * seconds
    raise UserInputError(f"objective {name!r} is not one of {', '.join(OBJECTIVE_NAMES)}")


def group_value(result, name: str) -> float:
    """A feasible GroupResult's contribution to an additive objective (its summand)."""
    return float(result.latency_cycles) if name == "latency" else float(result.energy_pj)


def check_objective(name: str, *, additive: bool) -> str:
    """``name`` if it is an objective (an additive one when ``additive``), else a one-line
    UserInputError that names the valid ones."""
    if additive and name not in ADDITIVE_OBJECTIVES:
        raise UserInputError(f"objective {name!r} cannot be searched group by group; "
                             f"use one of {', '.join(ADDITIVE_OBJECTIVES)}")
    if name not in OBJECTIVES:
        raise UserInputError(f"objective {name!r} is not one of {', '.join(OBJECTIVE_NAMES)}")
    return name
