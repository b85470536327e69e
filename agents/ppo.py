"""A trained MaskablePPO policy as a scheduler: masked argmax over FusionEnv, one pass.

Scheduling a network walks it once; the only hardware queries are feasibility checks for
the action masks (lowering, no simulation). The env's rewards are turned off, so the
search costs zero simulator calls.
"""

from __future__ import annotations

from pathlib import Path

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


def _check_compatible(model, env, hw: HardwareConfig) -> None:
    """A policy reads a fixed observation layout and picks among a fixed number of core
    counts; hardware with another core-count list cannot be scheduled by it."""
    if model.action_space.n != env.action_space.n or \
            model.observation_space.shape != env.observation_space.shape:
        raise UserInputError(
            f"this policy was trained for {model.action_space.n - 1} core counts and "
            f"{model.observation_space.shape[0]} observation features; hardware {hw.name!r} "
            f"allows core counts {list(hw.allowed_core_counts)} "
            f"({env.observation_space.shape[0]} features with these env settings)")
