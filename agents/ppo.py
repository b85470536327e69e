"""A trained MaskablePPO policy as a scheduler: masked argmax over FusionEnv, one pass.

Scheduling a network walks it once; the only hardware queries are feasibility checks for
the action masks (lowering, no simulation). The env's rewards are turned off, so the
search costs zero simulator calls.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.schedule import Schedule
from fusiongym.accelerator.workloads.network import Network
from fusiongym.agents.base import Scheduler
from fusiongym.agents.core_adapter import CoreCountAdapter


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
        from fusiongym.envs.fusion_env import FusionEnv

        env = FusionEnv([network], hw=hw, evaluator=evaluator, compute_rewards=False,
                        **self.env_kwargs)
        adapter = self.adapter(env, hw)
        obs, _ = env.reset(seed=0, options={"network": network})
        info: dict = {}
        done = False
        while not done:
            env_mask = env.action_masks()
            mask = adapter.mask(env_mask)
            if mask.any():
                action, _ = self.model.predict(adapter.observation(obs), action_masks=mask,
                                               deterministic=True)
                action = adapter.to_env(int(action))
            else:  # only counts out of the policy's reach are valid: the largest of them
                action = int(np.flatnonzero(env_mask)[-1])
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
        return info["schedule"]

    def adapter(self, env, hw: HardwareConfig) -> CoreCountAdapter:
        """How this policy reads ``env`` (its chip's core counts ranked against the
        policy's; the identity on the chip it was trained on). UserInputError if the
        layouts differ in more than the core counts."""
        try:
            return CoreCountAdapter(tuple(env.feature_names), tuple(env.core_counts),
                                    self.model.action_space.n, self.model.observation_space.shape[0])
        except ValueError as err:
            raise UserInputError(f"this policy cannot schedule on {hw.name!r}: {err} "
                                 f"(core counts {list(hw.allowed_core_counts)})") from None

    def action_probabilities(self, observations: np.ndarray, masks: np.ndarray,
                             adapter: CoreCountAdapter | None = None) -> np.ndarray:
        """The masked policy's action probabilities, one row per (observation, mask) pair
        (one batched forward pass; invalid actions get 0), in the env's layout when an
        ``adapter`` is given. Used by :mod:`agents.ppo_search`."""
        import torch

        masks = np.asarray(masks, dtype=bool)
        obs = np.asarray(observations, dtype=np.float32)
        policy_masks = masks if adapter is None else adapter.mask(masks)
        if adapter is not None:
            obs = adapter.observation(obs)
        # a row whose valid actions are all out of the policy's reach: uniform over them
        empty = ~policy_masks.any(axis=-1)
        safe_masks = np.where(empty[:, None], True, policy_masks)
        policy = self.model.policy
        with torch.no_grad():
            obs_tensor, _ = policy.obs_to_tensor(obs)
            dist = policy.get_distribution(obs_tensor, action_masks=safe_masks)
            probs = dist.distribution.probs.cpu().numpy().astype(np.float64)
        probs = np.where(policy_masks, probs, 0.0)
        if adapter is not None:
            probs = adapter.probabilities_to_env(probs)
        if empty.any():
            probs[empty] = masks[empty] / masks[empty].sum(axis=-1, keepdims=True)
        return probs


def policy_mismatch(model, env, hw: HardwareConfig) -> str:
    """Why ``model`` cannot act in ``env`` on ``hw`` ('' if it can). A policy reads a fixed
    observation layout; a chip with other core counts is read through
    :class:`agents.core_adapter.CoreCountAdapter`, so only other env settings (the layer
    window, planner features) stop it."""
    try:
        CoreCountAdapter(tuple(env.feature_names), tuple(env.core_counts),
                         model.action_space.n, model.observation_space.shape[0])
    except ValueError as err:
        return f"{err} (core counts {list(hw.allowed_core_counts)})"
    return ""
