"""ppo-search: a trained policy as the prior of a small search with the simulator.

The policy (:class:`agents.ppo.PPOScheduler`) walks a network in zero simulator calls but
makes some wrong decisions; the exact oracle makes none but simulates many candidates.
This search sits between them, with a budget in simulator calls (memo hits are free):

1. **The policy's candidate groups.** FusionEnv's decision at layer ``t`` depends on the
   open group ``[s, t)`` and its core count ``c``. The policy's action probabilities are
   read at every such state (``s`` reached by the policy's own greedy prefix, then START
   ``c`` and FUSEs): one batched forward pass, no simulation. A group ``[s, e)`` on ``c`` is
   a *candidate* if START ``c`` is among the policy's ``top_k`` actions at ``s``, FUSE is
   among them at every layer inside the group, and a START is among them at ``e`` (or
   ``e`` is the end). ``top_k = 1`` keeps only the greedy schedule's groups; ``top_k`` = the
   number of actions keeps every feasible group, i.e. the oracle's search space.
2. **Lazy shortest path over the candidates** (Dellin & Srinivasa, ICAPS 2016). Every
   candidate that has not been simulated is priced at its sound lower bound from lowering
   alone (:mod:`accelerator.bounds`; free), every simulated one at its simulated value, and the
   oracle's DP finds the cheapest schedule under those prices. If all of its groups are
   simulated, it is optimal over the candidates (every other schedule costs at least its
   priced value) and the search stops; otherwise its unsimulated groups are simulated and
   the DP runs again. A search that finishes with budget left widens ``top_k`` by one and
   goes on (simulated values are kept), up to every action, where a finished search is the
   oracle's optimum: the policy decides what is searched first, never what is left out.
3. **Never worse than the policy, and a small budget spent on differences.** The search
   keeps an *incumbent*, first the greedy schedule (never simulated up front). Where a DP
   path differs from it, it differs in *segments* between layer boundaries both have;
   segments are independent, so each is compared on its own and a path's segment replaces
   the incumbent's only when provably no worse: its groups simulated and summing to at
   most the incumbent's there (simulated values or lower bounds, never above the truth).
   Each round simulates one group (lazy search with a single-edge selector), the unknown
   group with the most at stake (bound x uses: a bound's error grows with the group, and
   repeated blocks share one simulation) among the path's groups and the incumbent's
   groups where the path differs (loose lower bounds there would block every proof), then
   re-plans. When the budget runs out the incumbent is returned. A finished search's path
   is optimal over candidates that include the incumbent's groups.

Nothing is random: the same policy, network and budget give the same schedule (``seed``
is accepted for the scheduler interface and unused).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.schedule import Group, Schedule
from fusiongym.accelerator.workloads.network import Network
from fusiongym.accelerator.objectives import check_objective, group_value
from fusiongym.agents.base import Scheduler
from fusiongym.accelerator.bounds import objective_lower_bound
from fusiongym.agents.cost_table import CostTable, dp_over

State = tuple[int, int, int]  # (layer t, open group start s, its cores c)


@dataclass
class PolicyPrior:
    """The policy's greedy schedule and its action probabilities at the states of step 1."""

    greedy: Schedule
    start_probs: list[np.ndarray]  # per layer s: probabilities after the greedy prefix
    open_probs: dict[State, np.ndarray]  # (t, s, c) -> probabilities, open group [s, t) on c
    core_counts: tuple[int, ...]

    def _in_top_k(self, probs: np.ndarray, action: int, k: int) -> bool:
        if probs[action] <= 0.0:  # masked: invalid
            return False
        # rank among valid actions; ties go to the lower action index, like argmax
        better = np.sum(probs > probs[action]) + np.sum(probs[:action] == probs[action])
        return int(better) < k

    def candidate(self, s: int, e: int, c: int, n: int, k: int) -> bool:
        """Is group ``[s, e)`` on ``c`` cores a candidate for ``top_k = k`` (step 1)?"""
        start_action = 1 + self.core_counts.index(c)
        if not self._in_top_k(self.start_probs[s], start_action, k):
            return False
        for t in range(s + 1, e):
            probs = self.open_probs.get((t, s, c))
            if probs is None or not self._in_top_k(probs, 0, k):
                return False
        if e == n:
            return True
        probs = self.open_probs.get((e, s, c))
        return probs is not None and any(self._in_top_k(probs, a, k)
                                         for a in range(1, len(probs)))


def policy_prior(policy, network: Network, hw: HardwareConfig, evaluator: GroupEvaluator,
                 env_kwargs: dict) -> PolicyPrior:
    """Step 1 of the module docstring: replay FusionEnv through every (s, c) branch."""
    from fusiongym.envs.fusion_env import FusionEnv

    env = FusionEnv([network], hw=hw, evaluator=evaluator, compute_rewards=False, **env_kwargs)
    adapter = policy.adapter(env, hw)
    n, limit = len(network), env.max_group_layers
    obs, _ = env.reset(seed=0, options={"network": network})
    greedy_actions, start_obs, start_masks = [], [], []
    info: dict = {}
    for _ in range(n):  # the greedy walk, as PPOScheduler makes it
        mask = env.action_masks()
        start_obs.append(obs)
        start_masks.append(mask)
        action = int(np.argmax(policy.action_probabilities(obs[None], mask[None], adapter)[0]))
        greedy_actions.append(action)
        obs, _, _, _, info = env.step(action)
    states: list[State] = []
    open_obs, open_masks = [], []
    for s in range(n):
        for k, c in enumerate(env.core_counts):
            if not start_masks[s][1 + k]:
                continue
            env.reset(seed=0, options={"network": network})
            for action in greedy_actions[:s]:
                env.step(action)
            obs, *_ = env.step(1 + k)
            for t in range(s + 1, min(n, s + limit + 1)):
                mask = env.action_masks()
                states.append((t, s, c))
                open_obs.append(obs)
                open_masks.append(mask)
                if not mask[0] or t == n - 1:
                    break
                obs, *_ = env.step(0)
    start_probs = policy.action_probabilities(np.stack(start_obs), np.stack(start_masks), adapter)
    open_probs = (policy.action_probabilities(np.stack(open_obs), np.stack(open_masks), adapter)
                  if states else np.zeros((0, 1 + len(env.core_counts))))
    return PolicyPrior(info["schedule"], list(start_probs), dict(zip(states, open_probs)),
                       tuple(env.core_counts))


class PPOSearchScheduler(Scheduler):
    """The policy-guided, budgeted search of the module docstring.

    ``policy``: a :class:`agents.ppo.PPOScheduler` or the path of a saved model (then
    ``env_kwargs`` are the FusionEnv settings it was trained with). After a call,
    ``last_stats`` holds the widest ``top_k`` reached, the DP rounds and whether the search
    finished there (proved its schedule optimal over that ``top_k``'s candidates).
    """

    name = "ppo-search"

    def __init__(self, policy, budget_sim_calls: int = 100, top_k: int = 3,
                 max_group_layers: int = 8, objective: str = "latency",
                 env_kwargs: dict | None = None, seed: int = 0,
                 evaluator: GroupEvaluator | None = None):
        super().__init__(evaluator)
        if budget_sim_calls < 0:
            raise ValueError("budget_sim_calls must be >= 0")
        if top_k < 1:
            raise ValueError("top_k must be >= 1")
        if isinstance(policy, (str, Path)):
            from fusiongym.agents.ppo import PPOScheduler
            policy = PPOScheduler(policy, env_kwargs=env_kwargs)
        self.policy = policy
        self.env_kwargs = dict(env_kwargs if env_kwargs is not None else policy.env_kwargs)
        self.env_kwargs["max_group_layers"] = max_group_layers
        self.budget_sim_calls = budget_sim_calls
        self.top_k = top_k
        self.max_group_layers = max_group_layers
        self.objective = check_objective(objective, additive=True)
        self.seed = seed
        self.last_stats: dict = {}

    def _schedule(self, network: Network, hw: HardwareConfig,
                  evaluator: GroupEvaluator) -> Schedule:
        prior = policy_prior(self.policy, network, hw, evaluator, self.env_kwargs)
        search = _LazySearch(network, evaluator, self.objective, self.budget_sim_calls)
        incumbent = prior.greedy  # never replaced by a schedule not proved as good
        rounds, finished, k = 0, False, self.top_k
        for k in range(self.top_k, 2 + len(hw.allowed_core_counts)):
            allowed = self._candidates(prior, network, hw, k)
            table = CostTable(evaluator, search.price, self.objective,
                              allowed=lambda s, e, c: (s, e, c) in allowed)
            finished = False
            while True:
                rounds += 1
                sched, _ = dp_over(table, network, self.max_group_layers)
                if search.all_exact(sched):
                    # optimal over the candidates, which hold the incumbent's groups
                    finished, incumbent = True, sched
                    break
                incumbent, within_budget = search.improve(sched, incumbent)
                if not within_budget:
                    break
            if not finished:
                break
        self.last_stats = {"top_k_reached": k, "dp_rounds": rounds, "finished": finished}
        return incumbent

    def _candidates(self, prior: PolicyPrior, network: Network, hw: HardwareConfig,
                    k: int) -> set[State]:
        n = len(network)
        return {(s, e, c) for s in range(n) for e in range(s + 1, min(n, s + self.max_group_layers) + 1)
                for c in hw.allowed_core_counts if prior.candidate(s, e, c, n, k)}


class _LazySearch:
    """Prices (exact if simulated, else the lower bound) and budgeted simulation."""

    def __init__(self, network: Network, evaluator: GroupEvaluator, objective: str,
                 budget_sim_calls: int):
        self.network = network
        self.evaluator = evaluator
        self.objective = objective
        self.budget = budget_sim_calls
        self.calls_at_start = evaluator.sim_calls
        self.exact: dict[tuple, float] = {}  # (group shape, cores) -> simulated value
        self.bound = objective_lower_bound(objective)

    def _key(self, s: int, e: int, c: int) -> tuple:
        return self.evaluator.key(self.network, s, e, c)

    def price(self, network: Network, s: int, e: int, c: int) -> float:
        hit = self.exact.get(self._key(s, e, c))
        if hit is not None:
            return hit
        lb = self.bound(self.evaluator, network, s, e, c)
        return float("inf") if lb is None else float(lb)

    def all_exact(self, schedule: Schedule) -> bool:
        return all(self._key(g.start, g.end, g.cores) in self.exact for g in schedule.groups)

    def _priced(self, groups: Sequence[Group]) -> float:
        return sum(self.price(self.network, g.start, g.end, g.cores) for g in groups)

    def _known(self, g: Group) -> bool:
        return self._key(g.start, g.end, g.cores) in self.exact

    def improve(self, path: Schedule, incumbent: Schedule) -> tuple[Schedule, bool]:
        """One simulation toward replacing parts of the incumbent by the DP path; returns
        the (possibly improved) incumbent and False if the budget ran out.

        Where the two differ they differ in *segments* between layer boundaries both have;
        segments are independent (the rest is shared), so each is compared on its own:
        the path's groups in it simulated, against the incumbent's priced (simulated or
        lower bound: never above the truth)."""
        # the unknown groups either side needs: the path's (the lazy search's step), and the
        # incumbent's where the path differs (their bounds may be too loose for any proof);
        # the one with most at stake first (bound x uses: a bound's error grows with the
        # group, and repeated blocks share one simulation)
        segments = _segments(path, incumbent)
        differing = [g for _, theirs in segments for g in theirs]
        todo = [g for g in (*path.groups, *differing) if not self._known(g)]
        uses = Counter(self._key(g.start, g.end, g.cores) for g in (*path.groups, *differing))
        pick = max(todo, key=lambda g: (self.price(self.network, g.start, g.end, g.cores)
                                        * uses[self._key(g.start, g.end, g.cores)],
                                        -g.start)) if todo else None
        within = pick is None or self._simulate(pick)
        for ours, theirs in segments:  # disjoint stretches: each replaced on its own
            if all(self._known(g) for g in ours) and self._priced(ours) <= self._priced(theirs):
                incumbent = _replace(incumbent, ours)
        return incumbent, within

    def _simulate(self, g: Group) -> bool:
        key = self._key(g.start, g.end, g.cores)
        if key in self.exact:
            return True
        if self.evaluator.sim_calls - self.calls_at_start >= self.budget:
            return False
        r = self.evaluator.result(self.network, g.start, g.end, g.cores)
        self.exact[key] = group_value(r, self.objective) if r.feasible else float("inf")
        return True


def _segments(path: Schedule, incumbent: Schedule) -> list[tuple[list[Group], list[Group]]]:
    """``(path's groups, incumbent's groups)`` of every stretch of layers between
    boundaries both schedules have, where they differ."""
    cuts = sorted(({g.start for g in path.groups} & {g.start for g in incumbent.groups})
                  | {path.groups[-1].end})
    out = []
    for lo, hi in zip(cuts, cuts[1:]):
        ours = [g for g in path.groups if lo <= g.start < hi]
        theirs = [g for g in incumbent.groups if lo <= g.start < hi]
        if ours != theirs:
            out.append((ours, theirs))
    return out


def _replace(schedule: Schedule, groups: list[Group]) -> Schedule:
    """``schedule`` with the layers ``groups`` cover scheduled as ``groups`` instead."""
    lo, hi = groups[0].start, groups[-1].end
    kept = [g for g in schedule.groups if g.end <= lo or g.start >= hi]
    return Schedule(tuple(sorted(kept + list(groups), key=lambda g: g.start)),
                    schedule.network, schedule.network_hash)
