"""Schedulers for placements (issue 20): which fused groups of a workload's requests run on
how many cores, in which launch order, possibly side by side.

- :mod:`~agents.placement.base`: the interface (``PlacementScheduler.place``) and the plan
  (isolated-cost start times and cores) every scheduler here turns into a placement;
- :mod:`~agents.placement.candidates`: the candidate groupings (the sequential oracle's
  groups, those groups split at branch starts, single layers) and their isolated costs;
- :mod:`~agents.placement.simple`: ``sequential`` (the baseline) and ``partition``;
- :mod:`~agents.placement.list_sched`: ``list``, HEFT-style list scheduling;
- :mod:`~agents.placement.cpsat`: ``cpsat``, OR-Tools CP-SAT over the candidate groupings;
- :mod:`~agents.placement.fluid`: a contention-aware estimate of a placement (DRAM shared as
  a fluid), with which the searches rank plans before simulating them;
- :mod:`~agents.placement.search`: ``search``, local search with the simulation in the loop;
- :mod:`~agents.placement.registry`: ``PLACEMENT_SCHEDULERS`` (name -> factory).
"""

from fusiongym.agents.placement.base import PlacementScheduler
from fusiongym.agents.placement.registry import PLACEMENT_SCHEDULERS, make_placement_scheduler

__all__ = ["PLACEMENT_SCHEDULERS", "PlacementScheduler", "make_placement_scheduler"]
