"""``search``: local search over placements with the simulation in the loop.

Every other scheduler here decides with isolated group costs and simulates at most a few
finished plans; the co-running groups' DRAM and host contention then eats part of the
planned gain (BERT-base: a HEFT plan estimated at 1.16x over the sequential oracle simulates
at 1.035x). This one improves a placement by what the simulation says:

1. *Start*: the best simulated of ``sequential`` (exact without a simulation: each group
   alone on the chip), ``partition`` and ``list`` (their own simulations, counted here).
2. *Neighbourhood* of the current placement (each move keeps it valid; groups stay at most
   ``max_group_layers`` layers, so the lower bound still covers the result):
   - ``cores``: every group of a *class* (the same layers' shapes reading the same shapes:
     BERT's twelve encoders' key / value / query projections are one class) to another
     feasible core count; and single groups, sampled;
   - ``split``: every group of a class cut at the same offset (each piece at its fastest
     feasible count no wider than the group), so siblings fused together can co-run;
   - ``merge``: a group with the next group of its request (fewer launches, fewer bytes);
   - ``stagger``: every group of a class that is not its parent's first sibling launched
     after its last sibling and ``after`` its first, at a given core count (BERT: the value
     projection beside the attention scores instead of beside key and query);
   - ``serialise``: an ``after`` edge between two groups that co-ran in the last simulation
     and both moved DRAM heavily (stop them fighting over the bus); ``release``: drop a
     group's ``after`` edges (let it co-run);
   - ``swap``: two adjacent groups exchange launch order (when neither reads the other);
   - ``unpin``: let the launch rule choose core ids (the start is pinned to its plan).
   A move that changes a group's cores or shape unpins every group (old ids may not fit).
3. *Order*: the moves are ranked by a contention-aware estimate
   (:func:`agents.placement.fluid.fluid_makespan`, no SimPy), joined by the best-estimated
   follow-up move of the ``lookahead`` best cuts / merges / staggers (such a move often pays
   only with a second one: a cut attention group lets the value projection co-run once it is
   staggered); they are simulated in that
   order until one beats the current placement's simulated makespan (first improvement),
   which becomes current; a neighbourhood simulated ``patience`` times without a gain, or
   exhausted, ends the search. Every whole-placement simulation counts against
   ``max_simulations``.

The result is the best simulated placement seen, so never worse than the start. Same seed,
same result: the simulation is deterministic and the seed only samples single-group moves.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator, evaluate
from fusiongym.accelerator.spatial.placement import PlacedGroup, Placement, PlacementError
from fusiongym.accelerator.spatial.simulate import PlacementResult
from fusiongym.accelerator.spatial.workload import Workload
from fusiongym.agents.placement.base import PlacementScheduler
from fusiongym.agents.placement.fluid import fluid_makespan
from fusiongym.agents.placement.list_sched import ListPlacement
from fusiongym.agents.placement.simple import PartitionPlacement, oracle_schedules


@dataclass(frozen=True)
class _Item:
    """A group in launch order with a stable id, so moves can insert and remove groups;
    ``after`` holds ids (turned into launch positions by :func:`_to_placement`)."""

    uid: int
    request: int
    start: int
    end: int
    cores: int
    after: frozenset = frozenset()
    core_ids: tuple[int, ...] | None = None


def _items(placement: Placement) -> list[_Item]:
    return [_Item(k, g.request, g.start, g.end, g.cores, frozenset(g.after), g.core_ids)
            for k, g in enumerate(placement.groups)]


def _to_placement(items: list[_Item], workload: Workload) -> Placement:
    """``items`` as a placement; ``after`` edges to groups launched later are dropped."""
    pos = {it.uid: k for k, it in enumerate(items)}
    groups = tuple(PlacedGroup(it.request, it.start, it.end, it.cores,
                               tuple(sorted(pos[u] for u in it.after
                                            if u in pos and pos[u] < k)), it.core_ids)
                   for k, it in enumerate(items))
    return Placement(groups, workload.name, workload.content_hash())


def _unpinned(items: list[_Item]) -> list[_Item]:
    return [replace(it, core_ids=None) for it in items]


class SearchPlacement(PlacementScheduler):
    """Simulation-in-the-loop local search (see the module docstring)."""

    name = "search"

    def __init__(self, max_simulations: int = 40, seed: int = 0, patience: int = 16,
                 single_moves: int = 24, max_group_layers: int = 8, lookahead: int = 4):
        super().__init__()
        for label, value, least in (("max_simulations", max_simulations, 1),
                                    ("patience", patience, 1), ("single_moves", single_moves, 0),
                                    ("max_group_layers", max_group_layers, 1),
                                    ("lookahead", lookahead, 0)):
            if not isinstance(value, int) or value < least:
                raise UserInputError(f"search: {label} must be an integer >= {least}, "
                                     f"got {value!r}")
        self.max_simulations = max_simulations
        self.seed = int(seed)
        self.patience = patience
        self.single_moves = single_moves
        self.max_group_layers = max_group_layers
        self.lookahead = lookahead

    # ---- the start --------------------------------------------------------------------
    def _start(self, workload: Workload, hw: HardwareConfig, ev: GroupEvaluator
               ) -> tuple[str, Placement, int, PlacementResult | None]:
        schedules = oracle_schedules(workload, hw, ev)
        seq = Placement.sequential(workload, schedules)
        seq_cycles = sum(evaluate(r.network, s, hw, ev).latency_cycles
                         for r, s in zip(workload.requests, schedules))
        starts: list[tuple[int, str, Placement, PlacementResult | None]] = []
        if all(r.arrival_cycles == 0 for r in workload.requests):  # exact only then
            starts.append((seq_cycles, "sequential", seq, None))
        for name, sched in (("partition", PartitionPlacement()), ("list", ListPlacement())):
            p = sched.place(workload, hw, ev)
            self._placement_sims += sched._placement_sims  # noqa: SLF001 (same evaluator)
            result = sched.last_result or self.simulate(workload, p, hw, ev)
            starts.append((result.makespan_cycles, name, p, result))
        cycles, name, placement, result = min(starts, key=lambda s: s[0])
        return name, placement, cycles, result

    # ---- moves ------------------------------------------------------------------------
    def _feasible_counts(self, workload, ev, request: int, start: int, end: int) -> list[int]:
        net = workload.requests[request].network
        return [c for c in ev.hw.allowed_core_counts
                if ev.infeasible_reason(net, start, end, c) is None]

    def _fastest(self, workload, ev, request, start, end, widest: int) -> int | None:
        counts = self._feasible_counts(workload, ev, request, start, end)
        if not counts or end - start > self.max_group_layers:
            return None
        net = workload.requests[request].network
        narrow = [c for c in counts if c <= widest] or counts
        return min(narrow, key=lambda c: (ev.result(net, start, end, c).latency_cycles, c))

    def _classes(self, workload, items: list[_Item], ev
                 ) -> tuple[list[list[int]], dict[int, list[int]]]:
        """Positions of groups by (own shape, their producers' shapes), and those classes cut
        by the rank among siblings (groups of one shape reading the same producers: BERT's
        key, value, query projections are ranks 0, 1, 2 of one parent); and per position its
        siblings' positions in launch order."""
        owner: dict[tuple[int, int], int] = {}
        for k, it in enumerate(items):
            for i in range(it.start, it.end):
                owner[(it.request, i)] = k
        shape = [str(ev.key(workload.requests[it.request].network, it.start, it.end, 1))
                 for it in items]
        coarse: dict[tuple, list[int]] = {}
        fine: dict[tuple, list[int]] = {}
        siblings: dict[tuple, int] = {}
        parents: list[tuple] = []
        for k, it in enumerate(items):
            net = workload.requests[it.request].network
            prods = tuple(sorted({owner[(it.request, p)] for i in range(it.start, it.end)
                                  for p in net.layers[i].inputs
                                  if p >= 0 and not it.start <= p < it.end}))
            key = (shape[k], tuple(sorted(shape[p] for p in prods)))
            coarse.setdefault(key, []).append(k)
            parent = (it.request, prods, shape[k])
            parents.append(parent)
            rank = siblings[parent] = siblings.get(parent, -1) + 1
            fine.setdefault(key + (rank,), []).append(k)
        out, seen = [], set()
        for members in list(coarse.values()) + list(fine.values()):
            if tuple(members) not in seen:
                seen.add(tuple(members))
                out.append(members)
        family: dict[tuple, list[int]] = {}
        for k, parent in enumerate(parents):
            family.setdefault(parent, []).append(k)
        return out, {k: family[parents[k]] for k in range(len(items))}

    def _moves(self, workload, items: list[_Item], ev, result: PlacementResult | None,
               rng: random.Random, next_uid) -> list[tuple[str, list[_Item]]]:
        moves: list[tuple[str, list[_Item]]] = []
        classes, siblings = self._classes(workload, items, ev)
        free = _unpinned(items)
        idle = [ev.result(workload.requests[it.request].network, it.start, it.end,
                          it.cores).latency_cycles <= 0 for it in items]  # zero-copy Concats
        for members in classes:
            first = items[members[0]]
            label = f"{workload.requests[first.request].name}:{first.start}-{first.end}"
            counts = self._feasible_counts(workload, ev, first.request, first.start, first.end)
            for c in ([] if idle[members[0]] else counts):
                if any(items[k].cores != c for k in members):
                    new = list(free)
                    for k in members:
                        new[k] = replace(new[k], cores=c)
                    moves.append((f"cores {label} x{len(members)} -> {c}", new))
            for offset in range(1, first.end - first.start):
                new = self._split(free, members, offset, workload, ev, next_uid)
                if new is not None:
                    moves.append((f"split {label} x{len(members)} at +{offset}", new))
            merged = self._merge(free, members, workload, ev)
            if merged is not None:
                moves.append((f"merge {label} x{len(members)} with next", merged))
            if not idle[members[0]] and all(siblings[k].index(k) > 0 for k in members):
                for c in counts:
                    new = self._stagger(free, members, siblings, c)
                    if new is not None:
                        moves.append((f"stagger {label} x{len(members)} at {c}", new))
        singles = []
        for k, it in enumerate(items):
            for c in self._feasible_counts(workload, ev, it.request, it.start, it.end):
                if c != it.cores and not idle[k]:
                    singles.append((k, c))
        for k, c in rng.sample(singles, min(self.single_moves, len(singles))):
            new = list(free)
            new[k] = replace(new[k], cores=c)
            moves.append((f"cores group {k} -> {c}", new))
        for k, it in enumerate(items):
            if it.after:
                new = list(items)
                new[k] = replace(it, after=frozenset())
                moves.append((f"release group {k}", new))
            twins = (items[k + 1].cores == it.cores and it.end - it.start
                     == items[k + 1].end - items[k + 1].start) if k + 1 < len(items) else True
            if not twins and not self._reads(workload, items[k + 1], it):
                new = list(items)
                new[k], new[k + 1] = items[k + 1], it
                moves.append((f"swap groups {k}, {k + 1}", new))
        if any(it.core_ids is not None for it in items):
            moves.append(("unpin", free))
        if result is not None:
            moves.extend(self._serialise(items, result))
        return moves

    @staticmethod
    def _reads(workload, consumer: _Item, producer: _Item) -> bool:
        """Whether ``consumer`` must stay launched after ``producer`` (data or ``after``)."""
        if producer.uid in consumer.after:
            return True
        if consumer.request != producer.request:
            return False
        net = workload.requests[consumer.request].network
        return any(producer.start <= p < producer.end
                   for i in range(consumer.start, consumer.end) for p in net.layers[i].inputs)

    @staticmethod
    def _stagger(items, members, siblings, cores: int) -> list[_Item] | None:
        """Each member launched after its last sibling and ``after`` its first one, on
        ``cores``: it then co-runs with its siblings' consumers instead of with its siblings
        (BERT: the value projection beside the attention scores, not beside key and query)."""
        uids = [items[k].uid for k in members]
        new = list(items)
        for u in uids:
            k = next(j for j, it in enumerate(new) if it.uid == u)
            family = [items[j].uid for j in siblings[members[uids.index(u)]]]
            first, last = family[0], max(family, key=lambda f: next(
                j for j, it in enumerate(new) if it.uid == f))
            moved = replace(new[k], cores=cores, after=new[k].after | {first})
            del new[k]
            at = next(j for j, it in enumerate(new) if it.uid == last) + 1 if last != u else k
            new.insert(at, moved)
        return new

    def _split(self, items, members, offset, workload, ev, next_uid) -> list[_Item] | None:
        new = list(items)
        for k in sorted(members, reverse=True):  # back to front: positions stay valid
            it = new[k]
            cut = it.start + offset
            a = self._fastest(workload, ev, it.request, it.start, cut, it.cores)
            b = self._fastest(workload, ev, it.request, cut, it.end, it.cores)
            if a is None or b is None:
                return None
            tail_uid = next_uid()
            head = replace(it, end=cut, cores=a)
            tail = _Item(tail_uid, it.request, cut, it.end, b, it.after, None)
            new[k:k + 1] = [head, tail]
            # whoever waited for the whole group waits for its tail too
            new = [replace(x, after=x.after | {tail_uid}) if it.uid in x.after else x
                   for x in new]
        return new

    def _merge(self, items, members, workload, ev) -> list[_Item] | None:
        new = list(items)
        for k in sorted(members, reverse=True):
            it = new[k]
            nxt = next((j for j in range(k + 1, len(new)) if new[j].request == it.request
                        and new[j].start == it.end), None)
            if nxt is None:
                return None
            other = new[nxt]
            c = self._fastest(workload, ev, it.request, it.start, other.end,
                              max(it.cores, other.cores))
            if c is None:
                return None
            merged = replace(it, end=other.end, cores=c, after=(it.after | other.after)
                             - {it.uid, other.uid})
            new[k] = merged
            del new[nxt]
            new = [replace(x, after=(x.after - {other.uid}) | {it.uid})
                   if other.uid in x.after else x for x in new]
        return new

    @staticmethod
    def _serialise(items, result: PlacementResult, top: int = 8) -> list[tuple[str, list[_Item]]]:
        """``after`` edges between the DRAM-heaviest pairs of groups that co-ran."""
        recs = result.groups
        rate = [(r.dram_bytes_read + r.dram_bytes_written) / max(1, r.end_cycles - r.launch_cycles)
                for r in recs]
        pairs = []
        for j in range(len(recs)):
            for k in range(j + 1, len(recs)):
                overlap = min(recs[j].end_cycles, recs[k].end_cycles) - max(
                    recs[j].launch_cycles, recs[k].launch_cycles)
                if overlap > 0:
                    pairs.append((min(rate[j], rate[k]) * overlap, j, k))
        out = []
        for _, j, k in sorted(pairs, reverse=True)[:top]:
            new = list(items)
            new[k] = replace(items[k], after=items[k].after | {items[j].uid})
            out.append((f"serialise group {k} after {j}", new))
        return out

    def _rank(self, workload, hw, ev, items, result, rng, next_uid, seen: set) -> list[tuple]:
        """The moves from ``items`` not seen before, valid, by fluid estimate (best first):
        (estimate, index, label, items, placement)."""
        ranked = []
        for label, new in self._moves(workload, items, ev, result, rng, next_uid):
            try:
                p = _to_placement(new, workload)
                if p.groups in seen:
                    continue
                seen.add(p.groups)
                deps = p.validate(workload, hw)
            except PlacementError:
                continue
            ranked.append((fluid_makespan(workload, p, hw, ev, deps), len(ranked), label, new, p))
        ranked.sort(key=lambda m: (m[0], m[1]))
        return ranked

    # ---- the search -------------------------------------------------------------------
    def _place(self, workload: Workload, hw: HardwareConfig, ev: GroupEvaluator) -> Placement:
        rng = random.Random(self.seed)
        self.tried: list[tuple[str, int, int]] = []
        start_name, placement, cycles, result = self._start(workload, hw, ev)
        start_cycles = cycles
        items = _items(placement)
        uid = [len(items)]

        def next_uid() -> int:
            uid[0] += 1
            return uid[0]

        seen = {placement.groups}
        accepted: list[str] = []
        best_placement, best_cycles, best_result = placement, cycles, result
        while self._placement_sims < self.max_simulations:
            ranked = self._rank(workload, hw, ev, items, result, rng, next_uid, seen)
            # a cut or a merge often pays only with a follow-up (BERT: splitting the attention
            # group lets the value projection co-run with the scores once it is staggered):
            # the best-estimated follow-up of the best few structural moves joins the ranking
            structural = [m for m in ranked if m[2].split()[0] in ("split", "merge", "stagger")]
            for _, _, label, new, _ in structural[:self.lookahead]:
                kids = self._rank(workload, hw, ev, new, None, rng, next_uid, seen)
                if kids:
                    ranked.append((kids[0][0], len(ranked), f"{label} + {kids[0][2]}",
                                   kids[0][3], kids[0][4]))
            ranked.sort(key=lambda m: (m[0], m[1]))
            self.ranked = [(m[0], m[2]) for m in ranked]
            improved = False
            for estimate, _, label, new, p in ranked[:self.patience]:
                if self._placement_sims >= self.max_simulations:
                    break
                sim = self.simulate(workload, p, hw, ev)
                self.tried.append((label, estimate, sim.makespan_cycles))
                if sim.makespan_cycles < cycles:
                    items, cycles, result, improved = new, sim.makespan_cycles, sim, True
                    accepted.append(label)
                    if cycles < best_cycles:
                        best_placement, best_cycles, best_result = p, cycles, sim
                    break
            if not improved:
                break
        if best_result is None:  # the sequential start won and nothing beat it
            best_result = self.simulate(workload, best_placement, hw, ev)
        self.last_result = best_result
        self.info = {"start": start_name, "start_cycles": start_cycles,
                     "moves": len(accepted), "accepted": accepted[:12],
                     "placement_sims": self._placement_sims}
        return best_placement
