"""A trained MaskablePPO policy as a scheduler: masked argmax over FusionEnv, one pass.

Scheduling a network walks it once; the only hardware queries are feasibility checks for
the action masks (lowering, no simulation). The env's rewards are turned off, so the
search costs zero simulator calls.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from accelerator.config import HardwareConfig
from accelerator.errors import UserInputError
from accelerator.evaluator import GroupEvaluator
from accelerator.schedule import Schedule
from accelerator.workloads.network import Network
from agents.base import Scheduler


class PPOScheduler(Scheduler):
    name = "ppo"

    def __init__(self, model, env_kwargs: dict | None = None,
                 evaluator: GroupEvaluator | None = None):
        """``model``: a MaskablePPO instance or the path of a saved one."""
        super().__init__(evaluator)
        if isinstance(model, (str, Path)):
            path = Path(model)
            if not path.is_file():
                raise UserInputError(f"model file {str(path)!r} not found")
            from sb3_contrib import MaskablePPO
            try:
                model = MaskablePPO.load(str(path), device="cpu")
            except Exception as err:  # a corrupt or foreign zip
                raise UserInputError(f"{path}: not a MaskablePPO model ({type(err).__name__})") from None
        self.model = model
        self.env_kwargs = dict(env_kwargs or {})

    def _schedule(self, network: Network, hw: HardwareConfig,
                  evaluator: GroupEvaluator) -> Schedule:
        from envs.fusion_env import FusionEnv

        env = FusionEnv([network], hw=hw, evaluator=evaluator, compute_rewards=False,
                        **self.env_kwargs)
        _check_compatible(self.model, env, hw)
        obs, _ = env.reset(seed=0, options={"network": network})
        info: dict = {}
        done = False
        while not done:
            action, _ = self.model.predict(obs, action_masks=env.action_masks(),
                                           deterministic=True)
            obs, _, terminated, truncated, info = env.step(int(action))
            done = terminated or truncated
        return info["schedule"]

    def action_probabilities(self, observations: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """The masked policy's action probabilities, one row per (observation, mask) pair
        (one batched forward pass; invalid actions get 0). Used by :mod:`agents.ppo_search`."""
        import torch

        policy = self.model.policy
        with torch.no_grad():
            obs_tensor, _ = policy.obs_to_tensor(np.asarray(observations, dtype=np.float32))
            dist = policy.get_distribution(obs_tensor, action_masks=np.asarray(masks, dtype=bool))
            probs = dist.distribution.probs.cpu().numpy().astype(np.float64)
        return np.where(masks, probs, 0.0)


def policy_mismatch(model, env, hw: HardwareConfig) -> str:
    """Why ``model`` cannot act in ``env`` on ``hw`` ('' if it can). A policy reads a fixed
    observation layout and picks among a fixed number of core counts."""
    if model.action_space.n != env.action_space.n:
        return (f"the policy has {model.action_space.n} actions, {hw.name} needs "
                f"{env.action_space.n} (core counts {list(hw.allowed_core_counts)})")
    if model.observation_space.shape != env.observation_space.shape:
        return (f"the policy observes {model.observation_space.shape[0]} features, "
                f"{hw.name} gives {env.observation_space.shape[0]} with these env settings")
    return ""


def _check_compatible(model, env, hw: HardwareConfig) -> None:
    problem = policy_mismatch(model, env, hw)
    if problem:
        raise UserInputError(f"this policy cannot schedule on {hw.name!r}: {problem}")
