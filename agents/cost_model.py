"""A learned cost model with the exact DP over its predictions: ``cost-model-dp``.

The baseline an expert asks a learned tuner to beat (TVM's AutoTVM / Ansor approach, with
the search made exact): learn a group's cost from features, then search over predictions.
Inference costs zero simulator calls, like the PPO policy.

Features (:func:`group_features`), per candidate (group, cores, hardware), no simulation:

- the group: length, MACs, ops, weight / input / output / intermediate bytes, widest
  channel count, smallest and largest output map, 3x3-or-larger kernels, strides, depthwise
  and ALU-only layer counts (all log-scaled);
- the hardware: cores, per-core MACs/cycle, DRAM bytes/cycle and latency, buffer sizes,
  machine balance;
- what lowering fixes (:func:`accelerator.bounds.group_work`, the tiling the simulator would
  run; the oracle computes it for its bounds too): the sound lower bound on run cycles,
  the busiest core's GEMM + ALU cycles, the DRAM bytes and the instruction count.

Target: ``log(run cycles / lower bound)``, where run cycles = latency - launch - barrier
(both are hardware knobs, added back exactly). The bound carries the roofline; the model
learns what the bound misses (DRAM contention, pipeline bubbles, queue stalls).

Model: an MLP (2 x 64 tanh units), full-batch Adam (torch, one thread) from a seeded
initialisation: deterministic; prediction in NumPy. Training data: every feasible candidate group (at most
``max_group_layers`` layers, every allowed core count) of the *training* networks,
simulated on each training hardware config (a seeded subsample past ``max_samples``).
Held-out networks are never simulated for training.

Objective ``energy``: :func:`accelerator.results.group_energy_pj` depends only on quantities
the programs fix, so the "prediction" is the exact lowering value (the same formula as
:func:`accelerator.bounds.energy_lower_bound`); only latency needs learning.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.fileio import atomic_write_bytes
from fusiongym.accelerator.schedule import Schedule
from fusiongym.accelerator.workloads.network import LayerKind, Network
from fusiongym.accelerator.objectives import check_objective
from fusiongym.accelerator.results import group_overhead
from fusiongym.agents.base import Scheduler
from fusiongym.accelerator.bounds import energy_lower_bound, group_work
from fusiongym.agents.cost_table import CostTable, dp_over

FEATURE_NAMES = (
    "log_layers", "log_macs", "log_ops", "log_weight_bytes", "log_input_bytes",
    "log_output_bytes", "log_intermediate_bytes", "log_max_channels", "log_min_map",
    "log_max_map", "big_kernels", "strided", "depthwise", "alu_only",
    "log_cores", "log_macs_per_cycle", "log_dram_bytes_per_cycle", "log_dram_latency",
    "log_inp_buffer", "log_wgt_buffer", "log_acc_buffer", "log_machine_balance",
    "log_cycles_lb", "log_busiest_core_compute", "log_dram_bytes", "log_dram_cycles",
    "log_instructions", "compute_share_of_bound", "dram_share_of_bound",
)
HIDDEN_UNITS = 64


def _log(x: float) -> float:
    return math.log(1.0 + max(0.0, float(x)))


def group_features(evaluator: GroupEvaluator, network: Network, start: int, end: int,
                   cores: int) -> tuple[np.ndarray, float] | None:
    """``(FEATURE_NAMES vector, run-cycles lower bound)``, or None if infeasible."""
    work = group_work(evaluator, network, start, end, cores)
    if work is None:
        return None
    hw = evaluator.hw
    layers = network.layers[start:end]
    bits = hw.inp_bits
    inter = sum(layer.output_bytes(bits) for layer in layers[:-1])
    maps = [layer.h_out * layer.w_out for layer in layers]
    dram_cycles = work.dram_bytes / hw.dram_bandwidth_bytes_per_cycle
    busiest = max(work.compute_cycles, default=0)
    lb = max(1.0, float(work.cycles_lb))
    values = (
        math.log(len(layers)), _log(sum(la.macs for la in layers)),
        _log(sum(la.ops for la in layers)), _log(sum(la.weight_bytes(hw.wgt_bits) for la in layers)),
        _log(layers[0].input_bytes(bits)), _log(layers[-1].output_bytes(bits)), _log(inter),
        _log(max(max(la.c_in, la.c_out) for la in layers)), _log(min(maps)), _log(max(maps)),
        sum(la.kernel[0] * la.kernel[1] >= 9 for la in layers) / len(layers),
        sum(max(la.stride) > 1 for la in layers) / len(layers),
        sum(la.kind == LayerKind.DEPTHWISE_CONV2D for la in layers) / len(layers),
        sum(not la.is_gemm for la in layers) / len(layers),
        math.log(cores), _log(hw.macs_per_cycle), _log(hw.dram_bandwidth_bytes_per_cycle),
        _log(hw.dram_latency_cycles), _log(hw.inp_buff_bytes), _log(hw.wgt_buff_bytes),
        _log(hw.acc_buff_bytes), _log(hw.macs_per_cycle * cores / hw.dram_bandwidth_bytes_per_cycle),
        math.log(lb), _log(busiest), _log(work.dram_bytes), _log(dram_cycles),
        _log(work.instruction_bytes / hw.instruction_bytes),
        min(1.0, busiest / lb), min(1.0, dram_cycles / lb),
    )
    return np.asarray(values, dtype=np.float64), lb


def _overhead(hw: HardwareConfig, cores: int) -> float:
    """Launch + end-of-group barrier: known knobs, never learned."""
    return float(group_overhead(hw, cores).total_cycles)


# ---- the regressor ----------------------------------------------------------------------
@dataclass
class MLPRegressor:
    """Standardised inputs -> tanh(64) -> tanh(64) -> one output (plus the target mean)."""

    x_mean: np.ndarray
    x_scale: np.ndarray
    weights: list[np.ndarray]  # w1, b1, w2, b2, w3, b3
    y_mean: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        h = (np.atleast_2d(x) - self.x_mean) / self.x_scale
        w1, b1, w2, b2, w3, b3 = self.weights
        h = np.tanh(h @ w1 + b1)
        h = np.tanh(h @ w2 + b2)
        return (h @ w3 + b3)[:, 0] + self.y_mean


def fit_mlp(x: np.ndarray, y: np.ndarray, seed: int, steps: int = 3000,
            learning_rate: float = 3e-3, weight_decay: float = 1e-4) -> MLPRegressor:
    """Full-batch Adam on the mean squared error, in torch on one thread (deterministic for
    a seed; a multi-threaded BLAS on a busy machine is ten times slower here, not faster).
    Prediction needs only NumPy."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = torch.Generator().manual_seed(seed)
        x_mean, x_scale = x.mean(axis=0), x.std(axis=0)
        x_scale = np.where(x_scale > 1e-9, x_scale, 1.0)  # constant features (one hardware)
        y_mean = float(y.mean())
        xs = torch.tensor((x - x_mean) / x_scale, dtype=torch.float64)
        yc = torch.tensor(y - y_mean, dtype=torch.float64)[:, None]
        sizes = [(x.shape[1], HIDDEN_UNITS), (HIDDEN_UNITS, HIDDEN_UNITS), (HIDDEN_UNITS, 1)]
        params = []
        for fan_in, fan_out in sizes:
            w = torch.randn(fan_in, fan_out, generator=gen, dtype=torch.float64) / math.sqrt(fan_in)
            params += [w.requires_grad_(), torch.zeros(fan_out, dtype=torch.float64,
                                                       requires_grad=True)]
        opt = torch.optim.Adam([{"params": params[0::2], "weight_decay": weight_decay},
                                {"params": params[1::2], "weight_decay": 0.0}],
                               lr=learning_rate)
        for _ in range(steps):
            w1, b1, w2, b2, w3, b3 = params
            pred = torch.tanh(torch.tanh(xs @ w1 + b1) @ w2 + b2) @ w3 + b3
            loss = torch.mean((pred - yc) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
        weights = [p.detach().numpy().copy() for p in params]
    finally:
        torch.set_num_threads(threads)
    return MLPRegressor(x_mean, x_scale, weights, y_mean)


# ---- training data and the saved model --------------------------------------------------
def training_samples(networks: Sequence[Network], hardwares: Sequence[HardwareConfig],
                     max_group_layers: int, max_samples: int, seed: int,
                     progress: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """Features and targets of simulated candidate groups of the training networks:
    ``(X, y, simulator calls)``. Distinct (group shape, cores) only, per hardware."""
    rng = np.random.default_rng(seed)
    xs, ys, calls = [], [], 0
    for hw in hardwares:
        ev = GroupEvaluator(hw)
        seen: dict[tuple, tuple[Network, int, int, int]] = {}
        for net in networks:
            for s in range(len(net)):
                for e in range(s + 1, min(len(net), s + max_group_layers) + 1):
                    for c in hw.allowed_core_counts:
                        seen.setdefault(ev.key(net, s, e, c), (net, s, e, c))
        cands = list(seen.values())
        if len(cands) > max_samples:
            cands = [cands[i] for i in sorted(rng.choice(len(cands), max_samples, replace=False))]
        for net, s, e, c in _bar(cands, progress, f"cost model: simulate on {hw.name}"):
            feats = group_features(ev, net, s, e, c)
            if feats is None:
                continue
            r = ev.result(net, s, e, c)
            run_cycles = max(1.0, r.latency_cycles - _overhead(hw, c))
            xs.append(feats[0])
            ys.append(math.log(run_cycles / feats[1]))
        calls += ev.sim_calls
    if not xs:
        raise UserInputError("cost model: the training networks have no feasible group")
    return np.stack(xs), np.asarray(ys), calls


def _bar(items: list, progress: bool, desc: str):
    if not progress:
        return items
    from tqdm import tqdm
    return tqdm(items, desc=desc, unit="group", leave=False)


def model_fingerprint(networks: Sequence[Network], hardwares: Sequence[HardwareConfig],
                      max_group_layers: int, max_samples: int, seed: int) -> str:
    """What the trained model depends on; a saved model is reused only if this matches."""
    doc = {"networks": [n.content_hash() for n in networks], "hardware": [h.key for h in hardwares],
           "max_group_layers": max_group_layers, "max_samples": max_samples, "seed": seed,
           "features": FEATURE_NAMES, "hidden": HIDDEN_UNITS}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def save_model(model: MLPRegressor, path: Path, meta: dict) -> None:
    buf = io.BytesIO()
    np.savez(buf, x_mean=model.x_mean, x_scale=model.x_scale, y_mean=np.asarray(model.y_mean),
             meta=np.asarray(json.dumps(meta, sort_keys=True)),
             **{f"w{k}": w for k, w in enumerate(model.weights)})
    atomic_write_bytes(path, buf.getvalue())


def load_model(path: Path) -> tuple[MLPRegressor, dict]:
    try:
        with np.load(path) as z:
            weights = [z[f"w{k}"] for k in range(6)]
            model = MLPRegressor(z["x_mean"], z["x_scale"], weights, float(z["y_mean"]))
            meta = json.loads(str(z["meta"]))
    except (OSError, KeyError, ValueError) as err:
        raise UserInputError(f"{path}: not a cost model file ({err})") from None
    return model, meta


def ensure_cost_model(path: Path, networks: Sequence[Network],
                      hardwares: Sequence[HardwareConfig], max_group_layers: int = 8,
                      max_samples: int = 1500, seed: int = 0, progress: bool = False,
                      log=print) -> tuple[MLPRegressor, dict]:
    """The model saved at ``path`` if it was trained on the same data, else train and save."""
    fingerprint = model_fingerprint(networks, hardwares, max_group_layers, max_samples, seed)
    if Path(path).is_file():
        model, meta = load_model(Path(path))
        if meta.get("fingerprint") == fingerprint:
            return model, meta
    log(f"cost model: simulating candidate groups of {len(networks)} training networks "
        f"on {', '.join(h.name for h in hardwares)}")
    x, y, calls = training_samples(networks, hardwares, max_group_layers, max_samples, seed,
                                   progress)
    model = fit_mlp(x, y, seed)
    rmse = float(np.sqrt(np.mean((model.predict(x) - y) ** 2)))
    meta = {"fingerprint": fingerprint, "samples": int(len(y)), "training_sim_calls": calls,
            "train_rmse_log": round(rmse, 5), "hardware": [h.name for h in hardwares],
            "networks": [n.name for n in networks]}
    save_model(model, Path(path), meta)
    return model, meta


# ---- the scheduler ----------------------------------------------------------------------
class CostModelScheduler(Scheduler):
    """The oracle's exact DP over the cost model's predicted group costs (0 simulations)."""

    name = "cost-model-dp"

    def __init__(self, model: MLPRegressor, max_group_layers: int = 8,
                 objective: str = "latency", evaluator: GroupEvaluator | None = None):
        super().__init__(evaluator)
        self.model = model
        self.max_group_layers = max_group_layers
        self.objective = check_objective(objective, additive=True)

    def predicted_cost(self, evaluator: GroupEvaluator, network: Network, start: int,
                       end: int, cores: int) -> float:
        """Predicted objective value of one group (inf if lowering says infeasible)."""
        if self.objective == "energy":
            value = energy_lower_bound(evaluator, network, start, end, cores)
            return math.inf if value is None else float(value)
        feats = group_features(evaluator, network, start, end, cores)
        if feats is None:
            return math.inf
        ratio = math.exp(float(self.model.predict(feats[0])[0]))
        return _overhead(evaluator.hw, cores) + feats[1] * max(1.0, ratio)

    def _schedule(self, network: Network, hw: HardwareConfig,
                  evaluator: GroupEvaluator) -> Schedule:
        table = CostTable(evaluator, lambda net, s, e, c: self.predicted_cost(evaluator, net, s, e, c),
                          self.objective)
        schedule, _ = dp_over(table, network, self.max_group_layers)
        return schedule
