"""MaskablePPO training over FusionEnv, read top to bottom (CleanRL spirit, SB3 machinery).

``train_ppo`` builds the vectorised env, the model (or loads the newest checkpoint to
resume), and runs ``learn`` with three callbacks: checkpoints (atomic), a held-out
evaluation that writes the learning curve, and a progress bar. torch is imported here
and only here, so the CLI stays fast.
"""

from __future__ import annotations

import csv
import io
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from accelerator.config import HardwareConfig
from accelerator.fileio import atomic_write_bytes, atomic_write_text
from accelerator.workloads.network import Network

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
                                             "wall_seconds"])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(run_dir / "curve.csv", out.getvalue())


def train_ppo(settings: TrainSettings, run_dir: Path, resume: bool = False,
              progress: bool = True,
              eval_fn: Callable[[object], float] | None = None) -> Path:
    """Train (or resume) and return the path of the final model.

    ``eval_fn(model) -> geometric-mean latency ratio to the oracle`` on held-out networks,
    called every ``eval_freq`` timesteps and recorded in ``curve.csv``.
    """
    import torch
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.callbacks import BaseCallback, CallbackList
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

    from envs.fusion_env import FusionEnv

    torch.set_num_threads(1)  # small MLP: threads cost more than they give, and hurt determinism
    run_dir.mkdir(parents=True, exist_ok=True)
    s = settings

    def make_env(rank: int):
        def _init():
            env = FusionEnv(list(s.train_networks), hw=s.hw, **s.env_kwargs)
            env.reset(seed=s.seed + rank)
            return env
        return _init

    venv = VecMonitor(DummyVecEnv([make_env(r) for r in range(s.n_envs)]))
    venv.seed(s.seed)
    ckpt = latest_checkpoint(run_dir) if resume else None
    if ckpt is not None:
        model = MaskablePPO.load(str(ckpt[0]), env=venv, device="cpu",
                                 tensorboard_log=str(run_dir / "tb"))
        done_steps = ckpt[1]
        curve = [r for r in read_curve(run_dir) if int(r["timesteps"]) <= done_steps]
    else:
        model = MaskablePPO("MlpPolicy", venv, seed=s.seed, device="cpu", verbose=0,
                            tensorboard_log=str(run_dir / "tb"), **s.ppo_kwargs)
        done_steps = 0
        curve = []
        if s.bc_epochs:
            from agents.demonstrations import behaviour_cloning, oracle_demonstrations
            demos = oracle_demonstrations(s.train_networks, s.hw, s.env_kwargs, log=None)
            accuracy = behaviour_cloning(model, demos, s.bc_epochs, seed=s.seed)
            atomic_write_text(run_dir / "pretrain.json",
                              f'{{"demonstration_steps": {len(demos)}, "bc_epochs": {s.bc_epochs}, '
                              f'"action_accuracy": {accuracy:.4f}}}\n')
            _save_model_atomic(model, run_dir / "checkpoints" / "ckpt_0_steps.zip")
    remaining = max(0, s.n_timesteps - done_steps)
    t0 = time.perf_counter()

    class _Periodic(BaseCallback):
        """Checkpoints and held-out evaluation on timestep multiples (resume-stable)."""

        def __init__(self):
            super().__init__()
            self.next_ckpt = (done_steps // s.checkpoint_freq + 1) * s.checkpoint_freq
            self.next_eval = (done_steps // s.eval_freq + 1) * s.eval_freq
            self.bar = None

        def _on_training_start(self) -> None:
            if progress:
                from tqdm import tqdm
                self.bar = tqdm(total=s.n_timesteps, initial=done_steps, unit="step",
                                desc="train", dynamic_ncols=True)

        def _on_step(self) -> bool:
            n = self.model.num_timesteps
            if self.bar is not None:
                self.bar.update(n - self.bar.n)
            if n >= self.next_eval:
                self.next_eval += s.eval_freq
                self._record(n)
            if n >= self.next_ckpt:
                self.next_ckpt += s.checkpoint_freq
                _save_model_atomic(self.model, run_dir / "checkpoints" / f"ckpt_{n}_steps.zip")
            return True

        def _record(self, n: int) -> None:
            buf = self.model.ep_info_buffer
            mean_ret = float(np.mean([e["r"] for e in buf])) if buf else float("nan")
            ratio = eval_fn(self.model) if eval_fn is not None else float("nan")
            curve.append({"timesteps": n, "mean_return": round(mean_ret, 6),
                          "eval_ratio_to_oracle": round(ratio, 6) if not math.isnan(ratio) else "",
                          "wall_seconds": round(time.perf_counter() - t0, 2)})
            _write_curve(run_dir, curve)
            self.logger.record("eval/ratio_to_oracle", ratio)
            if self.bar is not None:
                self.bar.set_postfix(ret=f"{mean_ret:.3f}", ratio=f"{ratio:.3f}")

        def _on_training_end(self) -> None:
            if self.bar is not None:
                self.bar.close()

    if remaining > 0:
        model.learn(total_timesteps=remaining, reset_num_timesteps=ckpt is None,
                    callback=CallbackList([_Periodic()]), tb_log_name="ppo",
                    progress_bar=False)
    final = run_dir / "model.zip"
    _save_model_atomic(model, final)
    if not curve or int(curve[-1]["timesteps"]) < model.num_timesteps:
        # one last point so the curve ends where training ended
        cb = _Periodic()
        cb.init_callback(model)
        cb._record(model.num_timesteps)
    venv.close()
    return final
