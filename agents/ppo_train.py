"""MaskablePPO training over FusionEnv, read top to bottom (CleanRL spirit, SB3 machinery).

``train_ppo`` runs four named steps:

1. :func:`build_model`: the vectorised env over (training network, training hardware)
   pairs and the model (a flat MLP or the layer-window convolution of
   :mod:`agents.policy_net`), or the newest checkpoint to resume;
2. :func:`warm_start`: DAgger with the exact expert (:mod:`agents.dagger`; resumable per
   round), or plain behaviour cloning of oracle demonstrations, or nothing;
3. :func:`fine_tune`: PPO ``learn`` with checkpoints (atomic), the learning curve (held-out
   ratio for the record, validation ratio for model selection), a progress bar and, when
   configured, an imitation term that keeps the policy near the expert's labels, so
   fine-tuning cannot drift away for nothing;
4. :func:`finish`: ``model.zip`` is the checkpoint with the best validation ratio (a split
   of the *training* networks; never the held-out ones), or the last one without a
   validation split.

torch is imported here and only here, so the CLI stays fast.
"""

from __future__ import annotations

import csv
import json
import io
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.fileio import atomic_write_bytes, atomic_write_text
from fusiongym.accelerator.workloads.network import Network
from fusiongym.agents.dagger import DaggerSettings

CHECKPOINT_RE = re.compile(r"ckpt_(\d+)_steps\.zip$")


@dataclass
class TrainSettings:
    """Everything training needs, resolved from an experiment config."""

    hw: HardwareConfig
    train_networks: Sequence[Network]
    eval_networks: Sequence[Network]
    seed: int
    n_timesteps: int
    n_envs: int
    ppo_kwargs: dict  # passed to MaskablePPO (n_steps, batch_size, learning_rate, ...)
    env_kwargs: dict  # objective, max_group_layers, lookahead
    eval_freq: int
    checkpoint_freq: int
    bc_epochs: int = 0  # behaviour-cloning epochs on oracle demonstrations before PPO
    hardware: Sequence[HardwareConfig] = ()  # training distribution; empty: just ``hw``
    validation_networks: Sequence[Network] = ()  # model selection (a split of training nets)
    dagger: DaggerSettings | None = None  # replaces bc_epochs when set
    expert_coef: float = 0.0  # weight of the imitation term during PPO (0: pure PPO)
    expert_steps_per_rollout: int = 0
    expert_batch_size: int = 128
    features_extractor: str = "flat"  # or "layer_conv" (agents.policy_net)
    planner_prior: float = 0.0  # > 0: PlannerPriorPolicy with this logit scale
    correction_limit: float = 0.0  # its network's logits squashed into (-limit, limit)

    @property
    def training_hardware(self) -> list[HardwareConfig]:
        return list(self.hardware) or [self.hw]


def latest_checkpoint(run_dir: Path) -> tuple[Path, int] | None:
    found = []
    for p in (run_dir / "checkpoints").glob("ckpt_*_steps.zip"):
        m = CHECKPOINT_RE.search(p.name)
        if m:
            found.append((int(m.group(1)), p))
    if not found:
        return None
    steps, path = max(found)
    return path, steps


def _save_model_atomic(model, path: Path) -> None:
    buf = io.BytesIO()
    model.save(buf)
    atomic_write_bytes(path, buf.getvalue())


def read_curve(run_dir: Path) -> list[dict]:
    path = run_dir / "curve.csv"
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def _write_curve(run_dir: Path, rows: list[dict]) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["timesteps", "mean_return", "eval_ratio_to_oracle",
                                             "wall_seconds", "validation_ratio_to_oracle"])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(run_dir / "curve.csv", out.getvalue())


@dataclass
class _Session:
    """What the training steps share (one object instead of eight arguments each)."""

    settings: TrainSettings
    run_dir: Path
    progress: bool
    eval_fn: Callable[[object], float] | None
    venv: object = None
    model: object = None
    done_steps: int = 0
    resumed: bool = False
    curve: list = None  # type: ignore[assignment]
    experts: dict = None  # type: ignore[assignment]  # (net hash, hw index) -> ExactExpert
    best: dict = None  # type: ignore[assignment]  # {"timesteps", "validation_ratio"}


def train_ppo(settings: TrainSettings, run_dir: Path, resume: bool = False,
              progress: bool = True, eval_fn: Callable[[object], float] | None = None,
              on_dagger_round: Callable[[int, dict], None] | None = None) -> Path:
    """Train (or resume) and return the path of the final model.

    ``eval_fn(model) -> geometric-mean latency ratio to the oracle`` on held-out networks,
    called every ``eval_freq`` timesteps and recorded in ``curve.csv`` (for the record only:
    model selection uses the validation split). ``on_dagger_round(round, record)`` is called
    after each DAgger round is saved (a test kills the run there).
    """
    import torch

    torch.set_num_threads(1)  # small nets: threads cost more than they give, and hurt determinism
    run_dir.mkdir(parents=True, exist_ok=True)
    run = _Session(settings, run_dir, progress, eval_fn)
    build_model(run, resume)
    run.experts = _build_experts(settings)
    data = warm_start(run, on_dagger_round)
    fine_tune(run, data)
    final = finish(run)
    run.venv.close()
    return final


def build_model(run: _Session, resume: bool) -> None:
    """The vectorised env over the training pairs, and a new model or the newest checkpoint."""
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

    from fusiongym.agents.policy_net import PlannerPriorPolicy, planner_prior_kwargs, policy_kwargs_for
    from fusiongym.envs.fusion_env import FusionEnv

    s = run.settings

    def make_env(rank: int):
        def _init():
            env = FusionEnv(list(s.train_networks), hw=s.training_hardware, **s.env_kwargs)
            env.reset(seed=s.seed + rank)
            return env
        return _init

    run.venv = VecMonitor(DummyVecEnv([make_env(r) for r in range(s.n_envs)]))
    run.venv.seed(s.seed)
    ckpt = latest_checkpoint(run.run_dir) if resume else None
    tb = str(run.run_dir / "tb")
    if ckpt is not None:
        run.model = MaskablePPO.load(str(ckpt[0]), env=run.venv, device="cpu", tensorboard_log=tb)
        run.done_steps, run.resumed = ckpt[1], True
        run.curve = [r for r in read_curve(run.run_dir) if int(r["timesteps"]) <= run.done_steps]
        best_path = run.run_dir / "best.json"
        run.best = json.loads(best_path.read_text()) if best_path.exists() else None
        return
    kwargs = dict(s.ppo_kwargs)
    features = run.venv.get_attr("features", indices=[0])[0]
    kwargs["policy_kwargs"] = policy_kwargs_for(s.features_extractor, features,
                                                kwargs.get("policy_kwargs") or {})
    policy = "MlpPolicy"
    if s.planner_prior > 0:
        policy = PlannerPriorPolicy
        kwargs["policy_kwargs"].update(planner_prior_kwargs(
            features.names, run.venv.action_space.n, s.planner_prior, s.correction_limit))
    run.model = MaskablePPO(policy, run.venv, seed=s.seed, device="cpu", verbose=0,
                            tensorboard_log=tb, **kwargs)
    run.curve, run.best = [], None


def _build_experts(s: TrainSettings) -> dict:
    """Exact experts for every (training network, training hardware) pair when DAgger runs,
    and for the validation networks on the evaluation hardware (index 0)."""
    from fusiongym.accelerator.evaluator import default_evaluator
    from fusiongym.agents.dagger import ExactExpert

    limit = s.env_kwargs.get("max_group_layers", 8)
    objective = s.env_kwargs.get("objective", "latency")
    wanted = [(net, 0) for net in s.validation_networks]
    if s.dagger is not None:
        wanted += [(net, h) for h in range(len(s.training_hardware)) for net in s.train_networks]
    experts = {}
    for net, h in wanted:
        hw = s.training_hardware[h]
        experts[(net.content_hash(), h)] = ExactExpert(net, hw, default_evaluator(hw), limit,
                                                       objective)
    return experts


def warm_start(run: _Session, on_dagger_round) -> "object | None":
    """DAgger (resumable), or behaviour cloning of oracle demonstrations, before PPO.

    Returns the imitation data set the fine-tuning term keeps fitting (None without one)."""
    from fusiongym.agents.dagger import load_data, run_dagger

    s, run_dir = run.settings, run.run_dir
    data_path = run_dir / "dagger" / "data.npz"
    if run.resumed:  # past the warm start already: only its data set is needed
        return load_data(data_path) if s.dagger is not None and data_path.exists() else None
    if s.dagger is not None:
        from fusiongym.envs.fusion_env import FusionEnv

        env = FusionEnv(list(s.train_networks), hw=s.training_hardware, **s.env_kwargs)
        pairs = [(net, h) for h in range(len(s.training_hardware)) for net in s.train_networks]
        data = run_dagger(run.model, env, run.experts, pairs, s.dagger, run_dir / "dagger",
                          s.seed, _save_model_atomic, on_dagger_round)
    elif s.bc_epochs:
        from fusiongym.agents.demonstrations import behaviour_cloning, oracle_demonstrations
        data = oracle_demonstrations(s.train_networks, s.hw, s.env_kwargs, log=None)
        accuracy = behaviour_cloning(run.model, data, s.bc_epochs, seed=s.seed)
        atomic_write_text(run_dir / "pretrain.json",
                          f'{{"demonstration_steps": {len(data)}, "bc_epochs": {s.bc_epochs}, '
                          f'"action_accuracy": {accuracy:.4f}}}\n')
    else:
        return None
    # the cloned policy is a candidate too: PPO must beat it on validation to replace it
    run.model.set_random_seed(s.seed)  # PPO starts from the same random state after a resume
    _save_model_atomic(run.model, run_dir / "checkpoints" / "ckpt_0_steps.zip")
    _record(run, 0, run.model, time.perf_counter())
    return data


def _validation_ratio(run: _Session, model) -> float:
    """Geometric-mean objective ratio to the exact optimum on the validation networks."""
    from fusiongym.agents.ppo import PPOScheduler
    from fusiongym.accelerator.evaluator import default_evaluator
    from fusiongym.accelerator.evaluator import evaluate

    s = run.settings
    if not s.validation_networks:
        return float("nan")
    evaluator = default_evaluator(s.hw)
    ppo = PPOScheduler(model, env_kwargs=s.env_kwargs, evaluator=evaluator)
    logs = []
    for net in s.validation_networks:
        expert = run.experts[(net.content_hash(), 0)]
        value = evaluate(net, ppo.schedule(net, s.hw), s.hw, evaluator).objective(expert.objective)
        logs.append(math.log(value / expert.optimum))
    return math.exp(sum(logs) / len(logs))


def _record(run: _Session, n: int, model, t0: float, mean_return: float = float("nan")) -> float:
    """Append one learning-curve row; keep the model if its validation ratio is the best."""
    ratio = run.eval_fn(model) if run.eval_fn is not None else float("nan")
    val = _validation_ratio(run, model)
    run.curve.append({"timesteps": n, "mean_return": round(mean_return, 6),
                      "eval_ratio_to_oracle": "" if math.isnan(ratio) else round(ratio, 6),
                      "wall_seconds": round(time.perf_counter() - t0, 2),
                      "validation_ratio_to_oracle": "" if math.isnan(val) else round(val, 6)})
    _write_curve(run.run_dir, run.curve)
    # strictly better at the recorded precision: a tie keeps the earlier (less drifted) model
    if not math.isnan(val) and (run.best is None or round(val, 6) < run.best["validation_ratio"]):
        run.best = {"timesteps": n, "validation_ratio": round(val, 6)}
        _save_model_atomic(model, run.run_dir / "best_model.zip")
        atomic_write_text(run.run_dir / "best.json", json.dumps(run.best) + "\n")
    return ratio


def fine_tune(run: _Session, data) -> None:
    """PPO ``learn`` for the remaining timesteps, with the callbacks of :func:`_callbacks`."""
    s, model = run.settings, run.model
    remaining = max(0, s.n_timesteps - run.done_steps)
    t0 = time.perf_counter()
    periodic, callbacks = _callbacks(run, data, t0)
    if remaining > 0:
        from stable_baselines3.common.callbacks import CallbackList
        model.learn(total_timesteps=remaining, reset_num_timesteps=not run.resumed,
                    callback=CallbackList(callbacks), tb_log_name="ppo", progress_bar=False)
    if not run.curve or int(run.curve[-1]["timesteps"]) < model.num_timesteps:
        periodic.init_callback(model)  # one last point so the curve ends where training ended
        periodic.record(model.num_timesteps)


def _callbacks(run: _Session, data, t0: float):
    from stable_baselines3.common.callbacks import BaseCallback

    s, done = run.settings, run.done_steps

    class Periodic(BaseCallback):
        """Checkpoints and learning-curve points on timestep multiples (resume-stable)."""

        def __init__(self):
            super().__init__()
            self.next_ckpt = (done // s.checkpoint_freq + 1) * s.checkpoint_freq
            self.next_eval = (done // s.eval_freq + 1) * s.eval_freq
            self.bar = None

        def _on_training_start(self) -> None:
            if run.progress:
                from tqdm import tqdm
                self.bar = tqdm(total=s.n_timesteps, initial=done, unit="step",
                                desc="train", dynamic_ncols=True)

        def _on_step(self) -> bool:
            n = self.model.num_timesteps
            if self.bar is not None:
                self.bar.update(n - self.bar.n)
            if n >= self.next_eval:
                self.next_eval += s.eval_freq
                self.record(n)
            if n >= self.next_ckpt:
                self.next_ckpt += s.checkpoint_freq
                _save_model_atomic(self.model, run.run_dir / "checkpoints" / f"ckpt_{n}_steps.zip")
            return True

        def record(self, n: int) -> None:
            buf = self.model.ep_info_buffer
            mean_ret = float(np.mean([e["r"] for e in buf])) if buf else float("nan")
            ratio = _record(run, n, self.model, t0, mean_ret)
            self.logger.record("eval/ratio_to_oracle", ratio)
            if self.bar is not None:
                self.bar.set_postfix(ret=f"{mean_ret:.3f}", ratio=f"{ratio:.3f}")

        def _on_training_end(self) -> None:
            if self.bar is not None:
                self.bar.close()

    periodic = Periodic()
    callbacks = [periodic]
    if data is not None and s.expert_coef > 0 and s.expert_steps_per_rollout > 0:
        from fusiongym.agents.dagger import expert_term_callback
        callbacks.append(expert_term_callback(data, s.expert_coef, s.expert_steps_per_rollout,
                                              s.expert_batch_size, s.seed, done))
    return periodic, callbacks


def finish(run: _Session) -> Path:
    """Write ``model.zip``: the best validation checkpoint, or the last model."""
    final = run.run_dir / "model.zip"
    best = run.run_dir / "best_model.zip"
    if run.settings.validation_networks and best.exists():
        atomic_write_bytes(final, best.read_bytes())
    else:
        _save_model_atomic(run.model, final)
    return final
