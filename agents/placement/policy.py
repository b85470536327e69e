"""The learned placer: a trained Place-v0 policy (and, if its run holds one, the sequential
Fusion-v0 policy) as a placement scheduler.

- :class:`PolicyPlacer` (``ppo``) is zero-shot. Its candidates: one greedy masked rollout of
  the placement policy in :class:`envs.placement_env.PlacementEnv` with
  ``compute_rewards=False``, and, when the run holds a sequential policy, the
  :class:`agents.placement.policy_plans.SequentialPolicyPlans` placements (each request's
  groups by the sequential policy on a core cap, arranged as chains, partitions or HEFT
  plans). It
  returns the candidate with the lowest contention-aware fluid estimate over lowering-only
  costs (:func:`agents.placement.fluid.lowering_cost`). What it uses: lowering only
  (feasibility for the masks, the groups' planner estimates, sound lower bounds and stream
  bytes, roofline
  features): **no simulator call**, neither of an isolated group nor of a placement
  (``sim_calls`` counts both and is 0 unless the evaluator had to simulate, which nothing
  here asks it to).
- :class:`PolicySearchPlacer` (``ppo-search``) spends a simulation budget: the same
  candidates plus ``samples`` rollouts sampled from the placement policy and the list
  teacher's plan, ranked by the same estimate; the best ``budget`` distinct ones are
  simulated (one whole-placement simulation each) and the fastest simulated one is returned.

Both have the methods of the placement-scheduler interface (``place(workload, hw,
evaluator=None) -> Placement``, ``sim_calls``, ``seconds``, ``last_result``, ``info``), so the
placement registry can list them.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator, default_evaluator
from fusiongym.accelerator.spatial.placement import Placement
from fusiongym.accelerator.spatial.simulate import PlacementResult, simulate_placement
from fusiongym.accelerator.spatial.workload import Workload
from fusiongym.agents.placement.fluid import fluid_makespan, lowering_cost
from fusiongym.agents.placement.policy_plans import SequentialPolicyPlans
from fusiongym.envs.placement_env import PlacementEnv


def load_policy(path: str | Path):
    """A saved MaskablePPO model (torch / SB3 are imported here, not at import time)."""
    from sb3_contrib import MaskablePPO

    path = Path(path)
    if not path.exists():
        raise UserInputError(f"policy file {str(path)!r} not found")
    return MaskablePPO.load(str(path), device="cpu")


def policy_action(model, obs: np.ndarray, mask: np.ndarray, rng: np.random.Generator | None
                  ) -> int:
    """The greedy (``rng=None``) or sampled masked action; sampling draws from ``rng`` so
    torch's global random state is untouched and a seed fixes the rollout."""
    import torch

    with torch.no_grad():
        obs_t = torch.as_tensor(obs[None], device=model.policy.device)
        dist = model.policy.get_distribution(obs_t, action_masks=mask[None])
        probs = dist.distribution.probs[0].cpu().numpy().astype(np.float64)
    probs = np.where(mask, probs, 0.0)
    if rng is None or probs.sum() <= 0:
        return int(np.argmax(np.where(mask, probs + 1e-12, -1.0)))
    return int(rng.choice(len(probs), p=probs / probs.sum()))


def rollout(env: PlacementEnv, choose, workload: Workload) -> tuple[Placement, int]:
    """One episode of ``choose(obs, mask) -> action``: the placement and its estimate."""
    obs, _ = env.reset(options={"workload": workload})
    done, info = False, {}
    while not done:
        obs, _, done, _, info = env.step(choose(obs, env.action_masks()))
    return info["placement"], int(info["estimated_makespan_cycles"])


def placement_key(placement: Placement) -> tuple:
    """What makes two candidates the same placement: groups, cores, pins, order edges."""
    return placement.groups


class PolicyPlacer:
    """Zero-shot placement by the trained policies (see the module docstring)."""

    name = "ppo"

    def __init__(self, model, max_slots: int = 4, max_group_layers: int = 8, sequential=None):
        """``sequential``: the run's sequential policy (:class:`agents.ppo.PPOScheduler`),
        or None (the placement policy's rollout alone)."""
        self.model = load_policy(model) if isinstance(model, (str, Path)) else model
        self.max_slots, self.max_group_layers = max_slots, max_group_layers
        self.plans = SequentialPolicyPlans(sequential) if sequential is not None else None
        self.sim_calls = 0
        self.seconds = 0.0
        self.last_result: PlacementResult | None = None
        self.info: dict = {}

    def _env(self, workload: Workload, hw: HardwareConfig, ev: GroupEvaluator) -> PlacementEnv:
        env = PlacementEnv([workload], hw, self.max_slots, self.max_group_layers, evaluator=ev,
                           compute_rewards=False)
        want = self.model.observation_space.shape
        if env.observation_space.shape != want:
            raise UserInputError(f"{self.name}: the policy reads {want[0]} features, the env "
                                 f"with max_slots={self.max_slots} gives "
                                 f"{env.observation_space.shape[0]}")
        return env

    def place(self, workload: Workload, hw: HardwareConfig,
              evaluator: GroupEvaluator | None = None) -> Placement:
        ev = evaluator if evaluator is not None else default_evaluator(hw)
        before = ev.sim_calls
        self.last_result, self.info = None, {}
        t0 = time.perf_counter()
        placement, sims = self._place(workload, hw, ev)
        self.seconds = time.perf_counter() - t0
        self.sim_calls = ev.sim_calls - before + sims
        return replace(placement, meta={**placement.meta, "scheduler": self.name})

    def _candidates(self, workload, hw, ev, env, rng=None, samples: int = 0
                    ) -> list[tuple[int, Placement, str]]:
        """Distinct candidates with their fluid estimates over lowering-only costs, best
        first (ties: the order found: greedy rollout, the sequential policy's plans, sampled
        rollouts)."""
        cost = lowering_cost(ev)
        found: dict[tuple, tuple[int, int, Placement, str]] = {}

        def keep(placement: Placement, source: str) -> None:
            key = placement_key(placement)
            if key not in found:
                est = fluid_makespan(workload, placement, hw, ev, cost=cost)
                found[key] = (est, len(found), placement, source)

        greedy = lambda o, m: policy_action(self.model, o, m, None)  # noqa: E731
        keep(rollout(env, greedy, workload)[0], "greedy")
        if self.plans is not None:
            for _, placement, arrangement in self.plans.candidates(workload, hw, ev):
                keep(placement, f"sequential-policy {arrangement}")
        for _ in range(samples):
            keep(rollout(env, lambda o, m: policy_action(self.model, o, m, rng), workload)[0],
                 "sampled")
        return [(e, p, s) for e, _, p, s in sorted(found.values(), key=lambda x: x[:2])]

    def _place(self, workload, hw, ev) -> tuple[Placement, int]:
        ranked = self._candidates(workload, hw, ev, self._env(workload, hw, ev))
        estimate, placement, source = ranked[0]
        self.info = {"estimated_makespan_cycles": estimate, "chosen": source,
                     "candidates": len(ranked)}
        return placement, 0


class PolicySearchPlacer(PolicyPlacer):
    """Policy-guided search: at most ``budget`` whole-placement simulations."""

    name = "ppo-search"

    def __init__(self, model, max_slots: int = 4, max_group_layers: int = 8,
                 budget: int = 4, samples: int = 16, seed: int = 0, sequential=None):
        super().__init__(model, max_slots, max_group_layers, sequential)
        if budget < 1 or samples < 0:
            raise UserInputError(f"{self.name}: budget must be >= 1 and samples >= 0, got "
                                 f"{budget}, {samples}")
        self.budget, self.samples, self.seed = budget, samples, seed

    def _place(self, workload, hw, ev) -> tuple[Placement, int]:
        from fusiongym.agents.placement.teacher import ListTeacher

        env = self._env(workload, hw, ev)
        rng = np.random.default_rng(self.seed)
        ranked = self._candidates(workload, hw, ev, env, rng, self.samples)
        teacher = ListTeacher(self.max_group_layers)
        plan = rollout(env, lambda o, m: teacher.action(env), workload)[0]
        if all(placement_key(plan) != placement_key(p) for _, p, _ in ranked):
            est = fluid_makespan(workload, plan, hw, ev, cost=lowering_cost(ev))
            ranked = sorted(ranked + [(est, plan, "teacher")], key=lambda x: x[0])
        best = None
        for _, placement, source in ranked[:self.budget]:
            result = simulate_placement(workload, placement, hw, ev)
            if best is None or result.makespan_cycles < best[0].makespan_cycles:
                best = (result, placement, source)
        self.last_result = best[0]
        simulated = min(self.budget, len(ranked))
        self.info = {"candidates": len(ranked), "simulated": simulated, "chosen": best[2]}
        return best[1], simulated
