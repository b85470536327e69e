"""A trained FusionEnv policy on a chip with other core counts than it was trained on.

FusionEnv's action space and part of its observation are indexed by the chip's allowed
core counts (START on ``c`` cores; per-count blocks such as ``estimate_cores_c`` and the
planner's regrets), so a policy trained on a 16-core chip (counts 1..16: 6 actions) cannot
act on an 8-core chip (5 actions) as is. This adapter reads the counts *relative to the
chip*, ranked from the top, as the placement env does with chip fractions: the chip's
largest count is the policy's largest ("all cores"), the next is its "half", and so on. On
a smaller chip the policy's smallest counts have no counterpart (their mask reads 0, their
features read as the worst option); on a larger chip the chip's smallest counts are out of
the policy's reach. Everything else in the observation (the layer window, the group, the
hardware features that tell the policy the chip's size) is passed through unchanged. When
the counts match, the adapter is the identity.
"""

from __future__ import annotations

import numpy as np

# the FusionEnv feature families indexed by core count (envs.features.FeatureExtractor),
# and what a policy's count with no counterpart on this chip reads as: absent from the
# open group, the slowest estimate, the largest regret, never the planner's best, masked
CORE_FAMILIES = {
    "group_cores_": 0.0,
    "estimate_cores_": 1.0,
    "plan_regret_start_": 1.0,
    "plan_fine_regret_start_": 1.0,
    "plan_best_start_": 0.0,
    "mask_start_": 0.0,
}


class CoreCountAdapter:
    """Maps observations, masks and actions between a chip's FusionEnv and a policy with
    ``policy_actions`` actions (FUSE + one START per core count) and ``policy_obs_size``
    features. Raises ValueError when the layouts differ in more than the core counts."""

    def __init__(self, env_names: tuple[str, ...], env_core_counts: tuple[int, ...],
                 policy_actions: int, policy_obs_size: int):
        self.env_k = len(env_core_counts)
        self.policy_k = policy_actions - 1
        if self.policy_k < 1:
            raise ValueError(f"the policy has {policy_actions} actions")
        shift = self.policy_k - self.env_k  # policy rank r <-> env count r - shift
        source: list[int] = []
        fill: list[float] = []
        seen: set[str] = set()
        for index, name in enumerate(env_names):
            family = _family(name)
            if family is None:
                source.append(index)
                fill.append(0.0)
                continue
            if family in seen:
                continue
            seen.add(family)
            block = [i for i, n in enumerate(env_names) if n.startswith(family)]
            for rank in range(self.policy_k):
                j = rank - shift
                source.append(block[j] if 0 <= j < self.env_k else -1)
                fill.append(CORE_FAMILIES[family])
        if len(source) != policy_obs_size:
            raise ValueError(f"the policy observes {policy_obs_size} features, this chip's "
                             f"env gives {len(source)} once its core counts are ranked")
        self.identity = shift == 0
        self._source = np.asarray(source)
        self._fill = np.asarray(fill, dtype=np.float32)
        # env action of each policy action (-1: none on this chip)
        self.env_action = np.asarray(
            [0, *(1 + r - shift if 0 <= r - shift < self.env_k else -1
                  for r in range(self.policy_k))])

    def observation(self, env_obs: np.ndarray) -> np.ndarray:
        """Policy-layout observations of env observations (one or a batch)."""
        if self.identity:
            return env_obs
        obs = np.asarray(env_obs, dtype=np.float32)
        taken = np.take(obs, np.maximum(self._source, 0), axis=-1)
        return np.where(self._source >= 0, taken, self._fill).astype(np.float32)

    def mask(self, env_mask: np.ndarray) -> np.ndarray:
        if self.identity:
            return env_mask
        m = np.asarray(env_mask, dtype=bool)
        taken = np.take(m, np.maximum(self.env_action, 0), axis=-1)
        return taken & (self.env_action >= 0)

    def to_env(self, policy_action: int) -> int:
        return int(self.env_action[policy_action])

    def probabilities_to_env(self, policy_probs: np.ndarray) -> np.ndarray:
        """Per-action probabilities in the env's layout (counts out of reach get 0)."""
        if self.identity:
            return policy_probs
        p = np.asarray(policy_probs)
        out = np.zeros((*p.shape[:-1], 1 + self.env_k), dtype=p.dtype)
        for a, e in enumerate(self.env_action):
            if e >= 0:
                out[..., e] = p[..., a]
        return out


def _family(name: str) -> str | None:
    return next((f for f in CORE_FAMILIES if name.startswith(f)), None)
