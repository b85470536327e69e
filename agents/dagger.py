"""DAgger with the exact expert: imitation on the states the policy itself visits.

Behaviour cloning on the oracle's own trajectories teaches the policy what to do on the
oracle's path only; one early mistake puts it in states (an open group the oracle never
had) where it has never been told anything. DAgger (Ross, Gordon & Bagnell, 2011) fixes
that by rolling out the *current* policy, asking the expert for the right action in every
state it visited, aggregating, and retraining.

The expert here is exact, not a human: a schedule's cost is a sum over groups, so the
optimal completion from any decision state has a closed form over a suffix DP
(:class:`ExactExpert`). With ``to_go[i]`` the optimal cost of layers ``i..n-1`` starting a
fresh group at ``i`` and ``start_value[i][k]`` the same with the first group on core count
``k``, the state "layer ``i`` next, open group ``[s, i)`` on core count ``k``" has

    Q(FUSE)      = min over j in (i, s + M], (s, j, k) feasible of cost(s, j, k) + to_go[j]
    Q(START k')  = cost(s, i, k) + start_value[i][k']

and the expert takes the masked argmin (ties: FUSE, then fewer cores: longer groups, fewer
cores, like the oracle). ``-min Q / baseline`` is the return-to-go under the expert, the
value head's target. Every candidate group is simulated once per (network, hardware); the
shared evaluator memoizes them, so PPO's rewards on the training networks afterwards are
memo hits.

:func:`run_dagger` is resumable: after each round the model, the aggregated data set and
the round number are written atomically (state file last), so a run killed at any point
restarts from the last finished round and, with the same seed, ends with the same weights.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.fileio import atomic_write_bytes, atomic_write_text
from fusiongym.accelerator.objectives import group_value
from fusiongym.accelerator.workloads.network import Network
from fusiongym.agents.demonstrations import Demonstrations, behaviour_cloning, imitation_loss
from fusiongym.envs.planner import SuffixPlanner, cost_table


class ExactExpert(SuffixPlanner):
    """Optimal action and value from any FusionEnv decision state of one (network, hw):
    the suffix DP of :class:`envs.planner.SuffixPlanner` over simulated group costs."""

    def __init__(self, network: Network, hw: HardwareConfig, evaluator: GroupEvaluator,
                 max_group_layers: int = 8, objective: str = "latency"):
        self.network, self.hw = network, hw
        # EDP is not a sum over groups: latency is the additive stand-in (as the oracle does)
        self.objective = objective if objective in ("latency", "energy") else "latency"

        def simulated(start: int, end: int, cores: int) -> float | None:
            r = evaluator.result(network, start, end, cores)
            return group_value(r, self.objective) if r.feasible else None

        super().__init__(len(network), hw.allowed_core_counts, max_group_layers,
                         cost_table(len(network), hw.allowed_core_counts, max_group_layers,
                                    simulated))


@dataclass
class DaggerSettings:
    rounds: int  # policy rollouts + relabel + retrain, after the expert-only round 0
    sampled_rollouts: int  # per (network, hardware) and round, besides one greedy rollout
    epochs: int
    batch_size: int
    learning_rate: float


def collect(env, experts: dict, pairs: Sequence[tuple[Network, int]], policy, rng,
            sampled_rollouts: int) -> Demonstrations:
    """Roll out ``policy`` (None: the expert itself) on every (network, hardware index) pair
    and label every visited state with the expert's action and value."""
    obs_rows, masks, actions, values = [], [], [], []
    for net, h in pairs:
        runs = [True] if policy is None else [True] + [False] * sampled_rollouts
        for greedy in runs:
            obs, info = env.reset(options={"network": net, "hw_index": h})
            expert = experts[(net.content_hash(), h)]
            baseline = info["baseline"]
            done = False
            while not done:
                mask = env.action_masks()
                i, start, cores = env.decision_state
                q = expert.q_values(i, start, cores)
                label = expert.action(i, start, cores, mask)
                obs_rows.append(obs)
                masks.append(mask)
                actions.append(label)
                values.append(-float(np.min(np.where(mask, q, math.inf))) / baseline)
                act = label if policy is None else _policy_action(policy, obs, mask, greedy, rng)
                obs, _, done, _, _ = env.step(act)
    return Demonstrations(np.asarray(obs_rows, dtype=np.float32), np.asarray(masks, dtype=bool),
                          np.asarray(actions, dtype=np.int64),
                          np.asarray(values, dtype=np.float32))


def _policy_action(policy, obs: np.ndarray, mask: np.ndarray, greedy: bool, rng) -> int:
    """Greedy or sampled masked action; sampling draws from ``rng`` (numpy), so torch's
    global random state is untouched and a seed fixes the rollouts."""
    import torch

    with torch.no_grad():
        obs_t = torch.as_tensor(obs[None], device=policy.device)
        dist = policy.get_distribution(obs_t, action_masks=mask[None])
        probs = dist.distribution.probs[0].cpu().numpy().astype(np.float64)
    probs = np.where(mask, probs, 0.0)
    if greedy:
        return int(np.argmax(probs))
    return int(rng.choice(len(probs), p=probs / probs.sum()))


def concat(a: Demonstrations | None, b: Demonstrations) -> Demonstrations:
    if a is None:
        return b
    return Demonstrations(*(np.concatenate([x, y]) for x, y in
                            ((a.observations, b.observations), (a.masks, b.masks),
                             (a.actions, b.actions), (a.returns, b.returns))))


def save_data(path: Path, data: Demonstrations) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, observations=data.observations, masks=data.masks,
                        actions=data.actions, returns=data.returns)
    atomic_write_bytes(path, buf.getvalue())


def load_data(path: Path) -> Demonstrations:
    with np.load(path) as z:
        return Demonstrations(z["observations"], z["masks"], z["actions"], z["returns"])


def run_dagger(model, env, experts: dict, pairs: Sequence[tuple[Network, int]],
               settings: DaggerSettings, out_dir: Path, seed: int,
               save_model: Callable[[object, Path], None],
               on_round_end: Callable[[int, dict], None] | None = None) -> Demonstrations:
    """Round 0 clones the expert's own trajectories; rounds 1..R roll out the policy,
    relabel, aggregate and retrain. Resumes from ``out_dir/state.json`` if present. Returns
    the aggregated data set (the fine-tuning phase keeps imitating it)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    state_path = out_dir / "state.json"
    data: Demonstrations | None = None
    first = 0
    if state_path.exists():
        state = json.loads(state_path.read_text())
        first = state["rounds_done"]
        model.set_parameters(str(out_dir / f"round_{first - 1}.zip"), exact_match=True)
        data = load_data(out_dir / "data.npz")
    for r in range(first, settings.rounds + 1):
        rng = np.random.default_rng([seed, r])  # per round: a resumed round draws the same
        policy = None if r == 0 else model.policy
        data = concat(data, collect(env, experts, pairs, policy, rng, settings.sampled_rollouts))
        accuracy = behaviour_cloning(model, data, settings.epochs, settings.batch_size,
                                     settings.learning_rate, seed=seed + r)
        save_model(model, out_dir / f"round_{r}.zip")
        save_data(out_dir / "data.npz", data)
        record = {"rounds_done": r + 1, "dataset_states": len(data),
                  "action_accuracy": round(accuracy, 6)}
        atomic_write_text(state_path, json.dumps(record) + "\n")  # last: the commit point
        if on_round_end is not None:
            on_round_end(r, record)
    assert data is not None
    return data


def expert_term_callback(data: Demonstrations, coef: float, steps: int, batch_size: int,
                         seed: int, done_steps: int):
    """An SB3 callback: between PPO updates, ``steps`` gradient steps of ``coef`` x the
    imitation loss on the DAgger data (exact expert labels) through PPO's own optimizer.
    PPO may still move the policy where rewards say so, but not drift for nothing. Its
    minibatches are drawn from ``(seed, timesteps)``, so a resumed run draws the same."""
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    class ExpertTerm(BaseCallback):
        def _on_rollout_start(self) -> None:
            if self.model.num_timesteps <= done_steps:
                return  # no PPO update yet in this process
            policy = self.model.policy
            rng = np.random.default_rng([seed, self.model.num_timesteps])
            policy.set_training_mode(True)
            for _ in range(steps):
                idx = rng.integers(len(data), size=min(batch_size, len(data)))
                loss = coef * imitation_loss(
                    policy, torch.as_tensor(data.observations[idx]),
                    torch.as_tensor(data.actions[idx]), data.masks[idx],
                    torch.as_tensor(data.returns[idx]))
                policy.optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(policy.parameters(), self.model.max_grad_norm)
                policy.optimizer.step()
            policy.set_training_mode(False)

        def _on_step(self) -> bool:
            return True

    return ExpertTerm()
