"""A features extractor that reads the observation's layer window as a sequence.

FusionEnv's observation starts with a window of per-layer rows (``lookback`` layers before
the decision, the current one, ``lookahead`` after; see :class:`envs.features.FeatureExtractor`).
A flat MLP sees those rows as unrelated numbers and must learn the same "a 1x1 conv after a
depthwise conv" pattern once per window position. :class:`LayerWindowExtractor` instead runs
a small 1-D convolution over the layer axis (shared weights: a block shape looks the same
wherever it sits, so an unseen network made of familiar block shapes is not a surprise),
then keeps the current layer's channel vector (the decision is about it), a max-pool over
the window (what lies anywhere around) and passes the rest of the observation (open group,
hardware, estimates, mask) through unchanged. A linear layer mixes the three.

Receptive field with kernel 3 and dilations (1, 2, 4): 15 layers, wide enough to see a whole
residual or inverted-residual block on both sides of the decision.
"""

from __future__ import annotations

import gymnasium as gym
import torch
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

EXTRACTORS = ("flat", "layer_conv")


class LayerWindowExtractor(BaseFeaturesExtractor):
    """``obs[:window * row_width]`` -> (window, row_width) -> dilated 1-D conv over layers.

    ``current_row``: index of the decision's layer in the window (the env's ``lookback``).
    """

    def __init__(self, observation_space: gym.spaces.Box, window: int, row_width: int,
                 current_row: int, channels: int = 64, features_dim: int = 256):
        super().__init__(observation_space, features_dim)
        total = int(observation_space.shape[0])
        if window * row_width > total or not 0 <= current_row < window:
            raise ValueError(f"a window of {window} x {row_width} (current row {current_row}) "
                             f"does not fit an observation of {total}")
        self.window, self.row_width, self.current_row = window, row_width, current_row
        self.rest = total - window * row_width
        layers: list[nn.Module] = []
        c_in = row_width
        for dilation in (1, 2, 4):
            layers += [nn.Conv1d(c_in, channels, kernel_size=3, dilation=dilation,
                                 padding=dilation), nn.ReLU()]
            c_in = channels
        self.conv = nn.Sequential(*layers)
        self.mix = nn.Sequential(nn.Linear(2 * channels + self.rest, features_dim), nn.ReLU())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        split = self.window * self.row_width
        rows = observations[:, :split].reshape(-1, self.window, self.row_width)
        seq = self.conv(rows.transpose(1, 2))  # (batch, channels, window)
        current = seq[:, :, self.current_row]
        pooled = seq.max(dim=2).values
        return self.mix(torch.cat([current, pooled, observations[:, split:]], dim=1))


def policy_kwargs_for(extractor: str, features, user_kwargs: dict) -> dict:
    """SB3 ``policy_kwargs``: the user's (net_arch, ...) plus the extractor and the window
    geometry of ``features`` (an :class:`envs.features.FeatureExtractor`). The geometry is
    saved with the model, so a loaded policy reads observations the same way."""
    kwargs = dict(user_kwargs)
    if extractor == "flat":
        return kwargs
    if extractor != "layer_conv":
        raise ValueError(f"unknown features extractor {extractor!r} (one of {EXTRACTORS})")
    extra = dict(kwargs.pop("features_extractor_kwargs", {}) or {})
    extra.update(window=features.window, row_width=features.row_width,
                 current_row=features.lookback)
    kwargs.update(features_extractor_class=LayerWindowExtractor,
                  features_extractor_kwargs=extra)
    return kwargs


class PlannerPriorPolicy(MaskableActorCriticPolicy):
    """MaskablePPO's actor-critic with a fixed logit prior toward the planner's choice.

    ``logits = action_net(latent) - prior_scale * plan_fine_regret`` (the observation's
    per-action regret under the DP over lower bounds, :mod:`envs.features`, 0 for the best
    action, 1 from +1.1 % on). The network learns a *correction* to the planner (residual
    policy learning): where the expert agrees with the planner it has nothing to learn,
    and on hardware outside the training distribution, where its own features are off,
    the prior still holds it near the planner unless it is confident otherwise.
    ``prior_start``: index of ``plan_fine_regret_fuse`` in the observation; ``n_prior``:
    the number of actions. ``correction_limit`` > 0 squashes the network's logits into
    ``(-limit, limit)`` (``limit * tanh(x / limit)``), so it can overturn the planner only
    where the planner's regret is below ``2 * limit / prior_scale`` in fine units: a trust
    region around the planner. Without it, DAgger teaches confident habits (logits >> the
    prior) that fire wrongly on hardware outside training (measured: MobileNetV2 on
    ``mlu100_slow_dram`` fused where the planner and the expert both started a group).
    """

    def __init__(self, *args, prior_start: int, n_prior: int, prior_scale: float,
                 correction_limit: float = 0.0, **kwargs):
        self.prior_start, self.n_prior, self.prior_scale = prior_start, n_prior, prior_scale
        self.correction_limit = correction_limit
        self._prior: torch.Tensor | None = None
        super().__init__(*args, **kwargs)

    def _get_constructor_parameters(self) -> dict:
        data = super()._get_constructor_parameters()
        data.update(prior_start=self.prior_start, n_prior=self.n_prior,
                    prior_scale=self.prior_scale, correction_limit=self.correction_limit)
        return data

    def _set_prior(self, obs) -> None:
        obs = torch.as_tensor(obs, device=self.device, dtype=torch.float32)
        regret = obs[:, self.prior_start:self.prior_start + self.n_prior]
        self._prior = -self.prior_scale * regret

    def _get_action_dist_from_latent(self, latent_pi: torch.Tensor):
        logits = self.action_net(latent_pi)
        if self.correction_limit > 0:  # a trust region: only near-ties can be overturned
            logits = self.correction_limit * torch.tanh(logits / self.correction_limit)
        if self._prior is not None:
            logits = logits + self._prior
        return self.action_dist.proba_distribution(action_logits=logits)

    def forward(self, obs, deterministic: bool = False, action_masks=None):
        self._set_prior(obs)
        return super().forward(obs, deterministic, action_masks)

    def evaluate_actions(self, obs, actions, action_masks=None):
        self._set_prior(obs)
        return super().evaluate_actions(obs, actions, action_masks)

    def get_distribution(self, obs, action_masks=None):
        self._set_prior(obs)
        return super().get_distribution(obs, action_masks)


def planner_prior_kwargs(feature_names: tuple[str, ...], n_actions: int, scale: float,
                         correction_limit: float = 0.0) -> dict:
    """The :class:`PlannerPriorPolicy` arguments for an env with ``feature_names``."""
    name = "plan_fine_regret_fuse"
    if name not in feature_names:
        raise ValueError("a planner prior needs the planner features (env.planner_features)")
    return {"prior_start": feature_names.index(name), "n_prior": n_actions, "prior_scale": scale,
            "correction_limit": correction_limit}
