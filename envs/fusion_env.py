"""FusionEnv: choose layer fusion groups and a core count per group, one layer at a time."""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from fusiongym.accelerator.config import HardwareConfig, load_config
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator, default_evaluator
from fusiongym.accelerator.objectives import check_objective, objective_value
from fusiongym.accelerator.results import GroupResult
from fusiongym.accelerator.schedule import Group, Schedule
from fusiongym.accelerator.workloads.loader import as_network
from fusiongym.accelerator.workloads.network import Network
from fusiongym.envs.feasibility import GroupFeasibility, no_fusion_schedule
from fusiongym.envs.features import FeatureExtractor

# gym.make("fusiongym/Fusion-v0") with no arguments: the zoo networks the quick experiment
# config trains on (a residual CNN, a depthwise-separable one, a fire-module one), small
# enough that a cold reset simulates their baselines in well under a second each
DEFAULT_NETWORKS = ("resnet18", "mobilenet_v1", "squeezenet1_1")


class FusionEnv(gym.Env):
    """Layer fusion + core-count scheduling of a DNN on a multi-core accelerator.

    ## Description

    The agent walks the layers of a network in topological order and builds a schedule: a
    sequence of fused groups (contiguous layer ranges), each on one core count. Group costs
    come from the SimPy accelerator model (``accelerator.evaluator.GroupEvaluator``, memoized).
    At :meth:`reset` a network is drawn from the training set, so one policy learns to
    schedule many networks.

    ## Action Space

    ``Discrete(1 + len(hw.allowed_core_counts))`` at layer ``i``:

    - ``0`` FUSE: append layer ``i`` to the open group;
    - ``1 + k`` START: close the open group and start a new one at layer ``i`` on
      ``hw.allowed_core_counts[k]`` cores.

    :meth:`action_masks` gives the valid actions (``sb3_contrib.MaskablePPO`` calls it).
    FUSE is invalid at layer 0, when the open group already has ``max_group_layers``
    layers, and when the group with layer ``i`` cannot be lowered on its core count; START
    ``c`` is invalid when layer ``i`` cannot run alone on ``c`` cores. Beyond that an action
    is masked if it would leave no feasible completion, so a masked policy never reaches a
    dead end (proof in :mod:`envs.feasibility`). An invalid action is *repaired*, not
    rejected: FUSE becomes START on the open group's core count (or the nearest valid one),
    START ``c`` becomes the valid START nearest to ``c`` (fewer cores on a tie), or FUSE if
    no START is valid; ``info["repaired_action"]`` then holds the action applied.

    ## Observation Space

    ``Box(0, 1, (N,), float32)``, built by :class:`envs.features.FeatureExtractor` (the
    feature names are ``self.feature_names``): features of a window of layers, ``lookback``
    before the current one to ``lookahead`` after it (zeros past either end; each row says
    whether its layer is in the open group; residual-edge distances per layer), the open group (open flag, length /
    ``max_group_layers``, log MACs, log DRAM bytes, log weight bytes, whether its weights
    fit the weight buffer, core-count one-hot), the position ``i / n``, log network size,
    the hardware features (log-scaled peak, cores, DRAM bandwidth, buffers, overheads,
    machine balance), roofline core-count estimates of the current layer, with
    ``planner_features=True`` the planner features (per action: its regret under the exact
    DP over the groups' sound lower bounds, :mod:`envs.planner` / :mod:`accelerator.bounds`,
    at two scales, and a one-hot of that DP's choice; lowering only, no simulation), and the
    action mask.

    ## Rewards

    When a group closes, ``-objective(group) / objective(baseline)``, where the baseline
    is the no-fusion schedule (every layer alone on ``hw.default_cores``; see
    :func:`envs.feasibility.no_fusion_schedule` for layers that cannot run alone) of the
    episode's network, computed once per network through the evaluator. ``objective`` is
    ``latency`` (cycles) or ``energy`` (pJ), both sums over groups, so the episode return is
    ``-total / baseline`` (``-1`` matches the baseline, ``-0.25`` is a 4x speedup). For
    ``edp`` (energy x delay, not a sum) a closing group gets the increase of the running
    product ``E_so_far * T_so_far``, which telescopes to the same ``-EDP / EDP_baseline``.
    All other steps give 0.

    ## Starting State

    Layer 0 of the drawn network, no open group (only START actions are valid).

    ## Episode End

    Terminated after the decision for the last layer; the open group is then closed
    automatically. Never truncated (an episode has exactly ``len(network)`` steps).
    ``info`` at termination: ``schedule`` (a :class:`Schedule`), ``latency_cycles``,
    ``energy_pj``, ``objective`` (the total), ``baseline``, ``speedup`` (baseline / total).

    ## Arguments

    Every argument has a default, so ``gymnasium.make("fusiongym/Fusion-v0")`` works:
    ``networks``: Networks or anything :func:`accelerator.workloads.loader.load_network`
    reads (zoo names such as ``"resnet18"``, ``"synthetic:SEED"``, ``.onnx`` paths); default
    :data:`DEFAULT_NETWORKS` (ResNet-18, MobileNetV1, SqueezeNet 1.1); ``hw``: a
    HardwareConfig, a preset name or file, None for the default preset (mlu100), or a list of them
    (all with the same allowed core counts): a training distribution of hardware, one drawn
    at each reset (``options={"hw_index": k}`` picks one; ``self.hw`` is the current one);
    ``objective``: one of :data:`accelerator.objectives.OBJECTIVE_NAMES` (default
    ``latency``); ``max_group_layers``; ``lookback`` / ``lookahead`` (the layer window of
    the observation); ``planner_features`` (see Observation Space: costs a lowering of
    every candidate group once per network, seconds on a ResNet-50); ``compute_rewards=False`` schedules without
    simulating anything (rewards are 0 and ``info`` at the end holds only the schedule:
    how a trained policy is deployed); ``evaluator``: a shared GroupEvaluator (default:
    the process-wide one for ``hw``). ``reset(options={"network": net_or_name})`` picks a
    network (it need not be in the training set); otherwise one is drawn with
    ``self.np_random``, so a seed fixes the sequence of networks.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, networks: Sequence[Network | str] | Network | str = DEFAULT_NETWORKS,
                 hw: HardwareConfig | str | None | Sequence[HardwareConfig | str] = None,
                 objective: str = "latency", max_group_layers: int = 8, lookahead: int = 2,
                 evaluator: GroupEvaluator | None = None, render_mode: str | None = None,
                 compute_rewards: bool = True, lookback: int = 0,
                 planner_features: bool = False):
        if isinstance(networks, (Network, str)):
            networks = [networks]
        self.networks = [as_network(n) for n in networks]
        if not self.networks:
            raise UserInputError("FusionEnv needs at least one network")
        pool = list(hw) if isinstance(hw, (list, tuple)) else [hw]
        if not pool:
            raise UserInputError("FusionEnv needs at least one hardware config")
        self.hardware = [h if isinstance(h, HardwareConfig) else load_config(h) for h in pool]
        self.hw = self.hardware[0]
        check_objective(objective, additive=False)
        if max_group_layers < 1:
            raise UserInputError(f"max_group_layers must be >= 1, got {max_group_layers}")
        if evaluator is not None and (len(self.hardware) > 1 or evaluator.hw.key != self.hw.key):
            raise UserInputError("the evaluator was built for a different hardware config")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise UserInputError(f"render_mode {render_mode!r} is not supported (use 'ansi')")
        # one action space for every config: START k means the k-th allowed core count
        self.core_counts = self.hw.allowed_core_counts
        for other in self.hardware[1:]:
            if other.allowed_core_counts != self.core_counts:
                raise UserInputError(
                    f"hardware {other.name!r} allows core counts {list(other.allowed_core_counts)}, "
                    f"{self.hw.name!r} {list(self.core_counts)}: one policy needs the same list")
        self.objective = objective
        self.max_group_layers = max_group_layers
        self.render_mode = render_mode
        # False: schedule only (rewards 0, no simulation at all): how a trained policy is
        # deployed, so its search cost is zero simulator calls
        self.compute_rewards = compute_rewards
        # per hardware config: evaluator, features, and caches keyed by network hash
        self._per_hw = []
        for h in self.hardware:
            ev = evaluator if evaluator is not None else default_evaluator(h)
            features = FeatureExtractor(h, lookahead, max_group_layers, lookback,
                                        planner=ev if planner_features else None,
                                        objective=objective)
            self._per_hw.append((ev, features, {}, {}))
        self._use_hardware(0)
        self.feature_names = self.features.names
        self.action_space = spaces.Discrete(1 + len(self.core_counts))
        self.observation_space = spaces.Box(0.0, 1.0, (self.features.size,), np.float32)
        self.network: Network | None = None

    def _use_hardware(self, index: int) -> None:
        self.hw = self.hardware[index]
        self.evaluator, self.features, self._feasibility, self._baselines = self._per_hw[index]

    # ---- gymnasium API ------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        chosen = (options or {}).get("network")
        hw_index = (options or {}).get("hw_index")
        if hw_index is None:  # drawn before the network, so one seed fixes both sequences
            hw_index = int(self.np_random.integers(len(self.hardware))) \
                if len(self.hardware) > 1 else 0
        self._use_hardware(hw_index)
        if chosen is None:
            chosen = self.networks[int(self.np_random.integers(len(self.networks)))]
        self.network = as_network(chosen)
        key = self.network.content_hash()
        if key not in self._feasibility:
            feas = GroupFeasibility.for_network(self.network, self.evaluator, self.max_group_layers)
            feas.check_schedulable(self.network.name)
            self._feasibility[key] = feas
        self._feas = self._feasibility[key]
        self._baseline = self._baseline_of(self.network) if self.compute_rewards else None
        self._i, self._start, self._cores = 0, None, None
        self._groups: list[Group] = []
        self._results: list[GroupResult] = []
        self._cycles = self._energy = 0.0
        self._mask = self._compute_mask()
        info = {"network": self.network.name, "hardware": self.hw.name}
        if self._baseline is not None:
            info["baseline"] = self._baseline_value()
        return self._observation(), info

    def step(self, action):
        if self.network is None or self._i >= len(self.network):
            raise RuntimeError("call reset() before step() (the episode has ended)")
        if not self.action_space.contains(action):
            # Gymnasium's contract: an action outside the space is the caller's bug, never
            # silently "repaired" (repair is for in-range actions the mask forbids)
            raise ValueError(f"action {action!r} is outside the action space "
                             f"Discrete({self.action_space.n}): 0 = FUSE, 1..{self.action_space.n - 1}"
                             f" = START on {list(self.core_counts)} cores")
        action = int(action)
        info: dict[str, Any] = {}
        if not self._mask[action]:
            action = self._repair(action)
            info["repaired_action"] = action
        reward = 0.0
        if action == 0:
            pass  # layer i joins the open group
        else:
            if self._start is not None:
                reward += self._close(self._i)
            self._start, self._cores = self._i, self.core_counts[action - 1]
        self._i += 1
        terminated = self._i == len(self.network)
        if terminated:
            reward += self._close(self._i)
            self._mask = np.zeros(self.action_space.n, dtype=bool)
            info.update(self._final_info())
        else:
            self._mask = self._compute_mask()
        return self._observation(), float(reward), terminated, False, info

    def action_masks(self) -> np.ndarray:
        """Valid actions at the current layer (a fresh bool array; FUSE first)."""
        return self._mask.copy()

    @property
    def decision_state(self) -> tuple[int, int | None, int | None]:
        """``(layer i next, open group start or None, its core count or None)``: the state
        an expert (:class:`agents.dagger.ExactExpert`) needs to label this decision."""
        return self._i, self._start, self._cores

    def render(self):
        if self.render_mode != "ansi" or self.network is None:
            return None
        lines = [f"{self.network.name}: layer {self._i}/{len(self.network)}"]
        lines += Schedule(tuple(self._groups)).describe(self.network)
        if self._start is not None and self._i < len(self.network):
            lines.append(f"open: [{self._start}..{self._i - 1}] x{self._cores} cores")
        return "\n".join(lines)

    # ---- internals ----------------------------------------------------------------
    def _compute_mask(self) -> np.ndarray:
        return np.array(self._feas.valid_actions(self._i, self._start, self._cores), dtype=bool)

    def _observation(self) -> np.ndarray:
        return self.features.observation(self.network, self._i, self._start, self._cores,
                                         self._mask.astype(np.float32))

    def _repair(self, action: int) -> int:
        return self._feas.repair(action, self._i, self._start, self._cores,
                                 self.hw.default_cores)

    def _close(self, end: int) -> float:
        """Close the open group [start, end); return its reward."""
        g = Group(self._start, end, self._cores)
        if not self.compute_rewards:
            self._groups.append(g)
            return 0.0
        r = self.evaluator.result(self.network, g.start, g.end, g.cores)
        if not r.feasible:  # cannot happen through the mask; a bug if it does
            raise RuntimeError(f"closed an infeasible group {g}: {r.reason}")
        self._groups.append(g)
        self._results.append(r)
        before = self._running_objective()
        self._cycles += r.latency_cycles
        self._energy += r.energy_pj
        return -(self._running_objective() - before) / self._baseline_value()

    def _running_objective(self) -> float:
        return objective_value(self.objective, self._cycles, self._energy,
                               self._cycles / (self.hw.clock_mhz * 1e6))

    def _baseline_of(self, network: Network) -> tuple[float, float, float]:
        key = network.content_hash()
        if key not in self._baselines:
            sched = no_fusion_schedule(network, self.evaluator, self._feas)
            results = [self.evaluator.result(network, g.start, g.end, g.cores)
                       for g in sched.groups]
            cycles = float(sum(r.latency_cycles for r in results))
            energy = float(sum(r.energy_pj for r in results))
            self._baselines[key] = (cycles, energy, cycles / (self.hw.clock_mhz * 1e6))
        return self._baselines[key]

    def _baseline_value(self) -> float:
        cycles, energy, seconds = self._baseline
        return objective_value(self.objective, cycles, energy, seconds)

    def _final_info(self) -> dict[str, Any]:
        schedule = Schedule(tuple(self._groups), self.network.name, self.network.content_hash())
        if not self.compute_rewards:
            return {"schedule": schedule}
        total = self._running_objective()
        return {
            "schedule": schedule,
            "latency_cycles": int(self._cycles),
            "energy_pj": self._energy,
            "objective": total,
            "baseline": self._baseline_value(),
            "speedup": self._baseline_value() / total if total else float("inf"),
        }
