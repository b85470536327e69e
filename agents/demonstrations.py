"""Oracle demonstrations and behaviour cloning: a warm start for PPO.

On the *training* networks only, the exact oracle's schedule is replayed through FusionEnv
to record (observation, mask, action, return-to-go). Behaviour cloning then fits the
policy's masked action distribution to the oracle's actions (cross-entropy) and its value
head to the returns, before PPO fine-tunes on rewards. Held-out networks are never
touched, so evaluation still measures generalisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.objectives import ADDITIVE_OBJECTIVES
from fusiongym.accelerator.workloads.network import Network


@dataclass
class Demonstrations:
    observations: np.ndarray  # (N, obs)
    masks: np.ndarray  # (N, actions) bool
    actions: np.ndarray  # (N,)
    returns: np.ndarray  # (N,) return-to-go (gamma = 1)

    def __len__(self) -> int:
        return len(self.actions)


def oracle_demonstrations(networks: Sequence[Network], hw: HardwareConfig, env_kwargs: dict,
                          log: Callable[[str], None] | None = None) -> Demonstrations:
    from fusiongym.agents.oracle import OracleScheduler
    from fusiongym.envs.fusion_env import FusionEnv

    objective = env_kwargs.get("objective", "latency")
    search_objective = objective if objective in ADDITIVE_OBJECTIVES else "latency"
    obs, masks, actions, returns = [], [], [], []
    for net in networks:
        schedule = OracleScheduler(max_group_layers=env_kwargs.get("max_group_layers", 8),
                                   objective=search_objective, progress=False).schedule(net, hw)
        starts = {g.start: g.cores for g in schedule.groups}
        env = FusionEnv([net], hw=hw, **env_kwargs)
        o, _ = env.reset(seed=0, options={"network": net})
        rewards = []
        for i in range(len(net)):
            action = 0 if i not in starts else 1 + hw.allowed_core_counts.index(starts[i])
            mask = env.action_masks()
            if not mask[action]:
                raise RuntimeError(f"{net.name}: the oracle's action at layer {i} is masked")
            obs.append(o)
            masks.append(mask)
            actions.append(action)
            o, r, _, _, _ = env.step(action)
            rewards.append(r)
        returns.extend(np.cumsum(rewards[::-1])[::-1].tolist())
        if log:
            log(f"demonstration: {net.name} ({len(net)} layers, {len(schedule.groups)} groups)")
    return Demonstrations(np.asarray(obs, dtype=np.float32), np.asarray(masks, dtype=bool),
                          np.asarray(actions, dtype=np.int64),
                          np.asarray(returns, dtype=np.float32))


def behaviour_cloning(model, demos: Demonstrations, epochs: int, batch_size: int = 64,
                      learning_rate: float = 1e-3, seed: int = 0) -> float:
    """Fit ``model.policy`` to the demonstrations; returns the final action accuracy."""
    import torch

    policy = model.policy
    device = policy.device
    obs = torch.as_tensor(demos.observations, device=device)
    actions = torch.as_tensor(demos.actions, device=device)
    masks = demos.masks
    returns = torch.as_tensor(demos.returns, device=device)
    optimizer = torch.optim.Adam(policy.parameters(), lr=learning_rate)
    rng = np.random.default_rng(seed)
    n = len(demos)
    policy.set_training_mode(True)
    for _ in range(epochs):
        order = rng.permutation(n)
        for lo in range(0, n, batch_size):
            idx = order[lo:lo + batch_size]
            loss = imitation_loss(policy, obs[idx], actions[idx], masks[idx], returns[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    policy.set_training_mode(False)
    return action_accuracy(policy, demos)


def imitation_loss(policy, obs, actions, masks, returns, value_coef: float = 0.5):
    """Masked cross-entropy to the demonstrated actions plus ``value_coef`` x the value
    head's squared error to the demonstrated returns-to-go (one torch scalar)."""
    import torch

    values, log_prob, _ = policy.evaluate_actions(obs, actions, action_masks=masks)
    return -log_prob.mean() + value_coef * torch.nn.functional.mse_loss(values.flatten(), returns)


def action_accuracy(policy, demos: Demonstrations, batch_size: int = 1024) -> float:
    """Fraction of states where the policy's masked argmax is the demonstrated action."""
    import torch

    correct = 0
    with torch.no_grad():
        for lo in range(0, len(demos), batch_size):
            obs = torch.as_tensor(demos.observations[lo:lo + batch_size], device=policy.device)
            dist = policy.get_distribution(obs, action_masks=demos.masks[lo:lo + batch_size])
            chosen = dist.distribution.probs.argmax(dim=1).cpu().numpy()
            correct += int(np.sum(chosen == demos.actions[lo:lo + batch_size]))
    return correct / max(1, len(demos))
