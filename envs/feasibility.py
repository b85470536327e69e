"""Which scheduling decisions keep a network schedulable (the source of the action masks).

A schedule is built left to right: at layer ``i`` the open group ``[start, i)`` on
``cores`` cores either takes layer ``i`` (FUSE) or is closed and a new group starts at
layer ``i`` on some core count (START c). :class:`GroupFeasibility` answers, for such a
state, which of those decisions still lead to a *complete* schedule in which every group
can be lowered onto the hardware and no group is longer than ``max_group_layers``.

Why a masked walk can never dead-end
------------------------------------
Invariant: the open group is feasible (FUSE and START only ever create feasible groups).
Call layer ``j`` *self-sufficient* if ``[j, j+1)`` is feasible on at least one core count.

- If every layer from ``i`` on is self-sufficient, START on one of layer ``i``'s feasible
  core counts is always available, and by induction so is some action at every later
  layer; at the end the open group (feasible by the invariant) is closed. So every state
  at or after ``i`` can be completed.
- Otherwise (some later layer only runs fused with its neighbours) completability is
  decided exactly by a backward recursion over states ``(i, start, cores)``:
  ``ok(n, ., .) = True`` and ``ok(i, s, c) = [FUSE valid] or any [START c' valid]`` with
  ``FUSE valid = i - s < max_group_layers and feasible(s, i+1, c) and ok(i+1, s, c)`` and
  ``START c' valid = feasible(i, i+1, c') and ok(i+1, i, c')``.

An action is offered (unmasked) only if it is valid in this sense, so at every reachable
state at least one action is offered (the state was entered through a valid action, whose
definition includes ``ok`` of that state). If no first action is valid the network has no
feasible schedule at all and :meth:`GroupFeasibility.check_schedulable` says so up front.
In the common case (every layer self-sufficient) this costs one lowering per candidate
action, and the recursion is never built.
"""

from __future__ import annotations

from typing import Callable, Sequence

from fusiongym.accelerator.errors import InfeasibleError
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.schedule import Group, Schedule
from fusiongym.accelerator.workloads.network import Network

FeasibleFn = Callable[[int, int, int], bool]  # (start, end, cores) -> can it be lowered?


class GroupFeasibility:
    """Valid FUSE / START decisions for one network (see the module docstring).

    ``is_feasible(start, end, cores)`` is normally :meth:`GroupEvaluator.infeasible_reason`
    ``is None`` (lowering only, no simulation); tests inject arbitrary predicates.
    Results are memoized per instance, so create one per (network, hardware).
    """

    def __init__(self, n_layers: int, core_counts: Sequence[int], max_group_layers: int,
                 is_feasible: FeasibleFn):
        if max_group_layers < 1:
            raise ValueError(f"max_group_layers must be >= 1, got {max_group_layers}")
        self.n = n_layers
        self.core_counts = tuple(core_counts)
        self.max_group_layers = max_group_layers
        self._is_feasible = is_feasible
        self._feasible: dict[tuple[int, int, int], bool] = {}
        self._alone: dict[int, tuple[bool, ...]] = {}
        self._safe_from: int | None = None
        self._explain: Callable[[], str] | None = None  # names the blocking layer (for_network)
        self._ok: dict[tuple[int, int, int], bool] | None = None

    @classmethod
    def for_network(cls, network: Network, evaluator: GroupEvaluator,
                    max_group_layers: int) -> "GroupFeasibility":
        from fusiongym.accelerator.evaluator import unschedulable_message

        feas = cls(len(network), evaluator.hw.allowed_core_counts, max_group_layers,
                   lambda s, e, c: evaluator.infeasible_reason(network, s, e, c) is None)
        feas._explain = lambda: unschedulable_message(network, evaluator, max_group_layers)
        return feas

    # ---- primitive feasibility ------------------------------------------------------
    def feasible(self, start: int, end: int, cores: int) -> bool:
        key = (start, end, cores)
        hit = self._feasible.get(key)
        if hit is None:
            hit = self._feasible[key] = bool(self._is_feasible(start, end, cores))
        return hit

    def alone(self, i: int) -> tuple[bool, ...]:
        """Per allowed core count: can layer ``i`` run as a group of its own?"""
        hit = self._alone.get(i)
        if hit is None:
            hit = self._alone[i] = tuple(self.feasible(i, i + 1, c) for c in self.core_counts)
        return hit

    @property
    def safe_from(self) -> int:
        """Smallest ``k`` such that every layer ``>= k`` is self-sufficient."""
        if self._safe_from is None:
            k = self.n
            while k > 0 and any(self.alone(k - 1)):
                k -= 1
            self._safe_from = k
        return self._safe_from

    # ---- completability -------------------------------------------------------------
    def completable(self, i: int, start: int, cores: int) -> bool:
        """Can the state "open group [start, i) on ``cores``, layer i next" be completed?"""
        if i >= self.n or i >= self.safe_from:
            return True
        if self._ok is None:
            self._ok = self._build_ok()
        return self._ok.get((i, start, cores), False)

    def _build_ok(self) -> dict[tuple[int, int, int], bool]:
        """Backward recursion over states below ``safe_from`` (rarely needed)."""
        ok: dict[tuple[int, int, int], bool] = {}
        L = self.max_group_layers

        def lookup(i: int, s: int, c: int) -> bool:
            return True if i >= self.safe_from else ok.get((i, s, c), False)

        for i in range(self.safe_from - 1, 0, -1):
            start_any = any(self.feasible(i, i + 1, c2) and lookup(i + 1, i, c2)
                            for c2 in self.core_counts)
            for s in range(max(0, i - L), i):
                for c in self.core_counts:
                    if not self.feasible(s, i, c):
                        continue  # not a reachable state (the open group is always feasible)
                    fuse = i - s < L and self.feasible(s, i + 1, c) and lookup(i + 1, s, c)
                    ok[(i, s, c)] = fuse or start_any
        return ok

    # ---- the mask -------------------------------------------------------------------
    def fuse_valid(self, i: int, start: int | None, cores: int | None) -> bool:
        if start is None or cores is None or i >= self.n:
            return False
        return (i - start < self.max_group_layers and self.feasible(start, i + 1, cores)
                and self.completable(i + 1, start, cores))

    def start_valid(self, i: int, cores: int) -> bool:
        return i < self.n and self.feasible(i, i + 1, cores) and self.completable(i + 1, i, cores)

    def valid_actions(self, i: int, start: int | None, cores: int | None) -> tuple[bool, ...]:
        """``(FUSE, START c for c in core_counts)`` at layer ``i`` with open group
        ``[start, i)`` on ``cores`` (``start=None``: no open group, i.e. layer 0)."""
        return (self.fuse_valid(i, start, cores),) + tuple(
            self.start_valid(i, c) for c in self.core_counts)

    def check_schedulable(self, name: str = "network") -> None:
        """Raise InfeasibleError if no complete feasible schedule exists."""
        if self.n == 0 or not any(self.valid_actions(0, None, None)[1:]):
            if self.n and self._explain is not None:
                raise InfeasibleError(self._explain())
            raise InfeasibleError(
                f"{name}: no feasible schedule exists (no grouping of at most "
                f"{self.max_group_layers} layers on core counts {list(self.core_counts)} "
                "can be lowered onto this hardware)")

    def repair(self, action: int, i: int, start: int | None, cores: int | None,
               default_cores: int) -> int:
        """The valid action nearest to ``action`` (itself if valid).

        FUSE becomes START on the open group's core count (``default_cores`` at layer 0),
        START c the valid START nearest to c (fewer cores on a tie); if no START is valid,
        FUSE (then valid, see the module docstring).
        """
        valid = self.valid_actions(i, start, cores)
        if 0 <= action < len(valid) and valid[action]:
            return action
        starts = [a for a in range(1, len(valid)) if valid[a]]
        if not starts:
            return 0
        if action == 0 and cores is not None:
            wanted = cores
        elif 1 <= action < len(valid):
            wanted = self.core_counts[action - 1]
        else:
            wanted = default_cores
        return min(starts, key=lambda a: (abs(self.core_counts[a - 1] - wanted),
                                          self.core_counts[a - 1]))


def no_fusion_schedule(network: Network, evaluator: GroupEvaluator,
                       feasibility: GroupFeasibility | None = None) -> Schedule:
    """Every layer alone on ``hw.default_cores`` (DLFusion's "no optimization" baseline).

    On the mlu100 and vta16 presets ``default_cores`` is 1: the toolchain default of one core per
    operator. Precisely, it is the schedule that always asks for START on the default core
    count, repaired by :meth:`GroupFeasibility.repair` where that is invalid: a layer that
    cannot run alone on the default core count (none in the built-in networks) gets the
    nearest core count on which it can, and one that cannot run alone at all is fused into
    the group before it. So the baseline exists for every schedulable network.
    """
    hw = evaluator.hw
    feas = feasibility or GroupFeasibility.for_network(network, evaluator, len(network))
    feas.check_schedulable(network.name)
    want = 1 + hw.allowed_core_counts.index(hw.default_cores)
    groups: list[Group] = []
    start: int | None = None
    cores: int | None = None
    for i in range(len(network)):
        action = feas.repair(want, i, start, cores, hw.default_cores)
        if action == 0:
            continue
        if start is not None:
            groups.append(Group(start, i, cores))  # type: ignore[arg-type]
        start, cores = i, hw.allowed_core_counts[action - 1]
    groups.append(Group(start, len(network), cores))  # type: ignore[arg-type]
    return Schedule(tuple(groups), network.name, network.content_hash())
