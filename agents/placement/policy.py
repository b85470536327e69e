"""The learned placer: a trained Place-v0 policy as a placement scheduler.

- :class:`PolicyPlacer` (``ppo``) is zero-shot: one greedy masked rollout of the policy in
  :class:`envs.placement_env.PlacementEnv` with ``compute_rewards=False``. What it uses:
  lowering only (feasibility for the masks, the groups' sound lower bounds for the
  observation's timeline, roofline features): **no simulator call**, neither of an isolated
  group nor of a placement (``sim_calls`` counts both and is 0 unless the evaluator had to
  simulate, which the env never asks it to).
- :class:`PolicySearchPlacer` (``ppo-search``) spends a simulation budget: the greedy
  rollout, ``samples`` rollouts sampled from the policy and the teacher's plan, ranked by
  their isolated-cost estimate; the best ``budget`` distinct ones by estimate are simulated
  (one whole-placement simulation each) and the fastest simulated one is returned.

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


class PolicyPlacer:
    """Zero-shot placement by a trained policy (see the module docstring)."""

    name = "ppo"

    def __init__(self, model, max_slots: int = 4, max_group_layers: int = 8):
        self.model = load_policy(model) if isinstance(model, (str, Path)) else model
        self.max_slots, self.max_group_layers = max_slots, max_group_layers
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

    def _place(self, workload, hw, ev) -> tuple[Placement, int]:
        env = self._env(workload, hw, ev)
        placement, estimate = rollout(env, lambda o, m: policy_action(self.model, o, m, None),
                                      workload)
        self.info = {"estimated_makespan_cycles": estimate}
        return placement, 0


class PolicySearchPlacer(PolicyPlacer):
    """Policy-guided search: at most ``budget`` whole-placement simulations."""

    name = "ppo-search"

    def __init__(self, model, max_slots: int = 4, max_group_layers: int = 8,
                 budget: int = 4, samples: int = 16, seed: int = 0):
        super().__init__(model, max_slots, max_group_layers)
        if budget < 1 or samples < 0:
            raise UserInputError(f"{self.name}: budget must be >= 1 and samples >= 0, got "
                                 f"{budget}, {samples}")
        self.budget, self.samples, self.seed = budget, samples, seed

    def _place(self, workload, hw, ev) -> tuple[Placement, int]:
        from fusiongym.agents.placement.teacher import ListTeacher

        env = self._env(workload, hw, ev)
        rng = np.random.default_rng(self.seed)
        found: dict[tuple, tuple[int, Placement, str]] = {}

        def keep(placement: Placement, estimate: int, source: str) -> None:
            key = tuple((g.request, g.start, g.end, g.cores) for g in placement.groups)
            found.setdefault(key, (estimate, placement, source))

        keep(*rollout(env, lambda o, m: policy_action(self.model, o, m, None), workload),
             "greedy")
        for _ in range(self.samples):
            keep(*rollout(env, lambda o, m: policy_action(self.model, o, m, rng), workload),
                 "sampled")
        teacher = ListTeacher(self.max_group_layers)
        keep(*rollout(env, lambda o, m: teacher.action(env), workload), "teacher")
        ranked = sorted(found.values(), key=lambda x: x[0])[:self.budget]
        best = None
        for estimate, placement, source in ranked:
            result = simulate_placement(workload, placement, hw, ev)
            if best is None or result.makespan_cycles < best[0].makespan_cycles:
                best = (result, placement, source)
        self.last_result = best[0]
        self.info = {"candidates": len(found), "simulated": len(ranked), "chosen": best[2]}
        return best[1], len(ranked)

