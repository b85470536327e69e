"""PlacementEnv: build a placement of a workload (several requests at once), group by group."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from fusiongym.accelerator.bounds import group_work, latency_lower_bound
from fusiongym.accelerator.config import HardwareConfig, load_config
from fusiongym.accelerator.errors import UserInputError
from fusiongym.accelerator.evaluator import GroupEvaluator, default_evaluator
from fusiongym.accelerator.spatial.placement import PlacedGroup, Placement, group_producers
from fusiongym.accelerator.spatial.simulate import simulate_placement
from fusiongym.accelerator.spatial.timeline import host_flags, replay
from fusiongym.accelerator.spatial.workload import Workload
from fusiongym.accelerator.schedule import Schedule
from fusiongym.accelerator.workloads.network import Network
from fusiongym.envs.feasibility import GroupFeasibility
from fusiongym.envs.placement_reference import bound_schedule
from fusiongym.envs.features import hardware_features
from fusiongym.envs.placement_features import FRACTIONS, PlacementLayout, RequestTable, log_scaled

# gym.make("fusiongym/Place-v0") with no arguments: two requests of one small CNN and a
# two-tenant mix (small enough that a cold reset lowers their candidate groups in seconds)
DEFAULT_WORKLOADS = ("squeezenet1_1x2", "resnet18+squeezenet1_1")


def fraction_core_counts(hw: HardwareConfig) -> tuple[int | None, ...]:
    """The core count each of :data:`FRACTIONS` means on ``hw``: the largest allowed count
    <= fraction x cores, None if there is none or an earlier (larger) fraction already maps
    to it (a duplicate action would only split the policy's probability)."""
    out: list[int | None] = []
    for f in FRACTIONS:
        fits = [c for c in hw.allowed_core_counts if c <= hw.num_cores * f + 1e-9]
        c = max(fits) if fits else None
        out.append(None if c is None or c in out else c)
    return tuple(out)


def parse_workload(spec: Workload | str | Sequence[str]) -> Workload:
    """A Workload, ``"a+bx2"`` (requests joined by ``+``) or a list of request spellings."""
    if isinstance(spec, Workload):
        return spec
    if isinstance(spec, str):
        return Workload.parse([s for s in spec.split("+") if s])
    return Workload.parse(list(spec))


@dataclass(frozen=True)
class SlotState:
    """What slot ``slot`` is: request ``request``, layer ``layer`` next, open group
    ``[open_start, layer)`` on ``open_cores`` (None: no group open yet)."""

    slot: int
    request: int
    layer: int
    open_start: int | None
    open_cores: int | None
    groups_started: int


class PlacementEnv(gym.Env):
    """Placement of a workload's requests on the cores of a multi-core accelerator.

    ## Description

    A workload (drawn at :meth:`reset` from ``workloads``) is one or several requests, each a
    network whose layers are walked in topological order. The agent builds a
    :class:`~accelerator.spatial.placement.Placement` group by group: at each step it picks
    a request (through a *slot*) and decides that request's next layer: FUSE it into the
    request's open group, or START a new group there on a fraction of the chip's cores.
    Groups are launched in the order they are STARTed (the placement's launch order); a
    group launches once its producers have ended, the previous group has launched and its
    cores are free (:mod:`accelerator.spatial.timeline`), so groups of different requests,
    and independent branches of one network, run side by side whenever their cores fit.

    ## Action Space

    ``Discrete(max_slots * (1 + len(FRACTIONS)))``; action ``a = slot * 6 + j``. Slot ``s``
    is the ``s``-th unfinished request in workload order (empty past the last one):

    - ``j = 0`` FUSE: that request's next layer joins its open group;
    - ``j = 1 + f`` START: a new group starts at that request's next layer on
      :func:`fraction_core_counts` ``[f]`` cores (all / half / quarter / eighth / sixteenth
      of the chip, rounded down to an allowed count).

    Core counts are fractions of the chip, so one policy runs on 8-, 16- and 32-core chips.
    :meth:`action_masks` gives the valid actions (``sb3_contrib.MaskablePPO`` calls it). An
    action outside the action space raises ``ValueError``; a masked action inside it is
    *repaired* (the nearest valid action of the same slot, else the first valid action) and
    ``info["repaired_action"]`` holds the action applied.

    ## Why the masks never dead-end

    Slot ``s``'s actions are exactly the valid actions of its request's
    :class:`envs.feasibility.GroupFeasibility` (built over the core counts the fractions
    reach on this chip), with each reachable count offered by the one fraction that maps to
    it. Requests do not constrain each other's feasibility (a group's feasibility depends
    on its own layers and core count only: cores are shared in *time*, not taken away), so
    each request's walk keeps the invariant proven in :mod:`envs.feasibility`: every state
    it reaches through offered actions has an offered action, up to its last layer. While
    the episode has not ended some request is unfinished and occupies slot 0, so some action
    is offered. A workload with a request that has no feasible schedule on these counts is
    refused at reset (one line naming it).

    ## Observation Space

    ``Box(0, 1, (N,), float32)``, laid out by :class:`envs.placement_features.PlacementLayout`
    (``self.feature_names``): per slot, the request's next layer (the per-layer features of
    :mod:`envs.features`), its open group (length, MACs, cores as a fraction of the chip,
    estimated cycles), its progress and remaining work, when its open group ends and its
    next group could start (relative to the last launch), whether it is the earliest-ready /
    fewest-groups request, and the roofline estimate of its next layer on each fraction;
    then the machine at the last launch (free core fraction, cycles until a quarter / half /
    all of the cores are free, the running groups' DRAM demand as a fraction of the
    bandwidth, running groups per core, requests left, the estimated makespan so far, one
    over the workload's number of requests: how many share the chip, all episode long),
    the hardware features, and the action mask.

    Every time in the observation comes from the *isolated-cost estimate*: the launch rule
    replayed (:func:`accelerator.spatial.timeline.replay`) with each group's sound lower
    bound (:func:`accelerator.bounds.latency_lower_bound`: lowering only, no simulation) as
    its duration; DRAM demand is a group's lowered bytes over that duration.

    ## Rewards

    With ``E_t`` the estimated makespan of the partial placement after step ``t`` (open
    groups as they stand; ``E_0 = 0``) and ``ref`` the simulated makespan of the sequential
    reference placement of the workload (each request's ``reference`` schedule, request after
    request, :meth:`Placement.sequential`; the training code passes the sequential oracle,
    the default is the DP over lower bounds, :func:`envs.placement_reference.bound_schedule`,
    because envs may not import a scheduler), step ``t`` gives ``-(E_t - E_{t-1}) / ref`` and the last
    step instead gives ``-(M - E_{T-1}) / ref``, ``M`` the makespan of the finished
    placement in one simulation of all its groups on the shared DRAM
    (:func:`accelerator.spatial.simulate.simulate_placement`). The shaped terms telescope:
    the return is exactly ``-M / ref`` (``-1``: as fast as the sequential oracle; ``-0.5``:
    twice as fast).

    ## Starting State

    Every request at layer 0, no group open (only START actions are valid).

    ## Episode End

    Terminated after the decision for the last layer of the last request; never truncated
    (an episode has exactly as many steps as the workload has layers). ``info`` at the end:
    ``placement``, ``estimated_makespan_cycles``, and with rewards ``makespan_cycles``,
    ``request_latency_cycles``, ``reference_cycles`` and ``speedup`` (``ref / M``).

    ## Arguments

    ``workloads``: specs (``"resnet18x2"``, ``"mobilenet_v2+resnet18"``, a list of request
    spellings, or a Workload); default :data:`DEFAULT_WORKLOADS`. ``hw``: a HardwareConfig,
    preset name, None (mlu100), or a list of them (one drawn per reset; they may differ in
    their number of cores). ``max_slots`` (requests visible at once), ``max_group_layers``,
    ``compute_rewards=False`` (no simulation at all: rewards 0, ``info`` holds the placement
    and its estimate: how a trained policy is deployed), ``evaluator`` (one hardware only),
    ``reference`` (``(network, hw, evaluator) -> Schedule``, the reward's sequential reference).
    ``reset(options={"workload": spec, "hw_index": k})`` picks them; otherwise they are drawn
    with ``self.np_random``, so a seed fixes the sequence.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, workloads: Sequence[Workload | str | Sequence[str]] | str = DEFAULT_WORKLOADS,
                 hw: HardwareConfig | str | None | Sequence[HardwareConfig | str] = None,
                 max_slots: int = 4, max_group_layers: int = 8,
                 evaluator: GroupEvaluator | None = None, compute_rewards: bool = True,
                 render_mode: str | None = None,
                 reference: Callable[[Network, HardwareConfig, GroupEvaluator], Schedule]
                 | None = None):
        if isinstance(workloads, (str, Workload)):
            workloads = [workloads]
        self.workloads = [parse_workload(w) for w in workloads]
        if not self.workloads:
            raise UserInputError("PlacementEnv needs at least one workload")
        pool = list(hw) if isinstance(hw, (list, tuple)) else [hw]
        if not pool:
            raise UserInputError("PlacementEnv needs at least one hardware config")
        self.hardware = [h if isinstance(h, HardwareConfig) else load_config(h) for h in pool]
        if max_slots < 1 or max_group_layers < 1:
            raise UserInputError(f"max_slots and max_group_layers must be >= 1, got "
                                 f"{max_slots}, {max_group_layers}")
        if evaluator is not None and (len(self.hardware) > 1
                                      or evaluator.hw.key != self.hardware[0].key):
            raise UserInputError("the evaluator was built for a different hardware config")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise UserInputError(f"render_mode {render_mode!r} is not supported (use 'ansi')")
        self.max_slots, self.max_group_layers = max_slots, max_group_layers
        self.compute_rewards, self.render_mode = compute_rewards, render_mode
        self._reference_fn = reference if reference is not None else (
            lambda net, h, ev: bound_schedule(net, h, ev, max_group_layers))
        self.actions_per_slot = 1 + len(FRACTIONS)
        self.action_space = spaces.Discrete(max_slots * self.actions_per_slot)
        self.layout = PlacementLayout(max_slots, int(self.action_space.n))
        self.feature_names = self.layout.names
        self.observation_space = spaces.Box(0.0, 1.0, (self.layout.size,), np.float32)
        # per hardware: evaluator and caches keyed by network / workload content hash
        self._per_hw = [{"ev": evaluator if evaluator is not None else default_evaluator(h),
                         "fractions": fraction_core_counts(h), "feas": {}, "tables": {},
                         "reference": {}} for h in self.hardware]
        self.workload: Workload | None = None
        self.hw = self.hardware[0]  # the current chip and its evaluator (reset may switch)
        self.evaluator: GroupEvaluator = self._per_hw[0]["ev"]

    # ---- gymnasium API ------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        h = options.get("hw_index")
        if h is None:  # drawn before the workload, so one seed fixes both sequences
            h = int(self.np_random.integers(len(self.hardware))) if len(self.hardware) > 1 else 0
        self._hw_index = int(h)
        self.hw = self.hardware[self._hw_index]
        cache = self._per_hw[self._hw_index]
        self.evaluator: GroupEvaluator = cache["ev"]
        self.fraction_counts: tuple[int | None, ...] = cache["fractions"]
        self.reachable_counts = tuple(sorted(c for c in self.fraction_counts if c is not None))
        chosen = options.get("workload")
        self.workload = parse_workload(chosen) if chosen is not None else \
            self.workloads[int(self.np_random.integers(len(self.workloads)))]
        w = self.workload
        self._feas, self._tables = [], []
        for req in w.requests:
            key = req.network.content_hash()
            if key not in cache["feas"]:
                net, ev = req.network, self.evaluator
                feas = GroupFeasibility(len(net), self.reachable_counts, self.max_group_layers,
                                        lambda s, e, c, net=net, ev=ev:
                                        ev.infeasible_reason(net, s, e, c) is None)
                feas.check_schedulable(f"{req.network.name} on {self.hw.name} "
                                       f"(core counts {list(self.reachable_counts)})")
                cache["feas"][key] = feas
                cache["tables"][key] = RequestTable(net, self.hw, self.fraction_counts)
            self._feas.append(cache["feas"][key])
            self._tables.append(cache["tables"][key])
        self._reference = self.reference_cycles() if self.compute_rewards else None
        n_req = len(w)
        self._next = [0] * n_req  # next layer per request
        self._open: list[int | None] = [None] * n_req  # index of the open group
        self._count = [0] * n_req
        self._owner = [[-1] * len(r.network) for r in w.requests]
        self._groups: list[list[int]] = []  # [request, start, end, cores], launch order
        self._durations: list[int] = []
        self._bytes: list[int] = []
        self._deps: list[tuple[int, ...]] = []
        self._estimate = 0
        self._line = None
        self._refresh()
        info = {"workload": w.name, "hardware": self.hw.name}
        if self._reference is not None:
            info["reference_cycles"] = self._reference
        return self._observation(), info

    def step(self, action):
        if self.workload is None or not self._active:
            raise RuntimeError("call reset() before step() (the episode has ended)")
        if isinstance(action, (bool, np.bool_)) or not np.issubdtype(type(action), np.integer) \
                and not isinstance(action, int):
            raise ValueError(f"action {action!r} is not an integer")
        action = int(action)
        if not 0 <= action < self.action_space.n:
            raise ValueError(f"action {action} is outside Discrete({self.action_space.n})")
        info: dict[str, Any] = {}
        if not self._mask[action]:
            action = self._repair(action)
            info["repaired_action"] = action
        slot, j = divmod(action, self.actions_per_slot)
        r = self._active[slot]
        i = self._next[r]
        net = self.workload.requests[r].network
        if j == 0:
            k = self._open[r]
            self._groups[k][2] = i + 1
        else:
            k = len(self._groups)
            self._groups.append([r, i, i + 1, self.fraction_counts[j - 1]])
            self._durations.append(0)
            self._bytes.append(0)
            self._deps.append(())
            self._open[r] = k
            self._count[r] += 1
        self._owner[r][i] = k
        self._next[r] = i + 1
        _, s, e, c = self._groups[k]
        work = group_work(self.evaluator, net, s, e, c)
        bound = latency_lower_bound(self.evaluator, net, s, e, c)
        if work is None or bound is None:  # the mask offered an infeasible group: a bug
            raise RuntimeError(f"{self.workload.requests[r].name} layers {s}..{e - 1} on {c} "
                               "cores was offered but cannot be lowered")
        self._durations[k] = int(bound)
        self._bytes[k] = work.dram_bytes
        self._deps[k] = tuple(group_producers(net, s, e, self._owner[r]))
        before = self._estimate
        self._refresh()
        terminated = not self._active
        reward = 0.0
        if terminated:
            placement = self.placement()
            info.update(placement=placement, estimated_makespan_cycles=self._estimate)
            if self.compute_rewards:
                result = simulate_placement(self.workload, placement, self.hw, self.evaluator)
                reward = -(result.makespan_cycles - before) / self._reference
                info.update(makespan_cycles=result.makespan_cycles,
                            request_latency_cycles=result.request_latency_cycles,
                            reference_cycles=self._reference,
                            speedup=self._reference / result.makespan_cycles)
        elif self.compute_rewards:
            reward = -(self._estimate - before) / self._reference
        return self._observation(), float(reward), terminated, False, info

    def action_masks(self) -> np.ndarray:
        """Valid actions now (a fresh bool array)."""
        return self._mask.copy()

    def render(self):
        if self.render_mode != "ansi" or self.workload is None:
            return None
        lines = [f"{self.workload.name} on {self.hw.name}: estimated makespan "
                 f"{self._estimate} cycles"]
        for k, (r, s, e, c) in enumerate(self._groups):
            lines.append(f"  {k}: {self.workload.requests[r].name} [{s}..{e - 1}] x{c} cores"
                         + (f" @{self._line.start_cycles[k]}" if self._line else ""))
        return "\n".join(lines)

    # ---- state for experts and deployed policies ------------------------------------
    def slots(self) -> list[SlotState]:
        """The requests the slots hold now (slot order)."""
        out = []
        for s, r in enumerate(self._active):
            k = self._open[r]
            out.append(SlotState(s, r, self._next[r], None if k is None else self._groups[k][1],
                                 None if k is None else self._groups[k][3], self._count[r]))
        return out

    def slot_mask(self, slot: int) -> np.ndarray:
        """Slot ``slot``'s part of the mask: FUSE, then START per fraction."""
        a = slot * self.actions_per_slot
        return self._mask[a:a + self.actions_per_slot].copy()

    def open_group_end_cycles(self, request: int) -> int:
        """Estimated end of the request's open group (its arrival if none is open)."""
        k = self._open[request]
        if k is None or self._line is None:
            return self.workload.requests[request].arrival_cycles
        return self._line.end_cycles[k]

    def placement(self) -> Placement:
        """The groups so far as a placement (complete once the episode has ended)."""
        w = self.workload
        return Placement(tuple(PlacedGroup(r, s, e, c) for r, s, e, c in self._groups),
                         w.name, w.content_hash())

    def reference_cycles(self) -> int:
        """The simulated makespan of the sequential reference placement: each request's
        ``reference`` schedule, request after request (cached per workload and hardware)."""
        cache = self._per_hw[self._hw_index]["reference"]
        key = self.workload.content_hash()
        if key not in cache:
            per_network: dict[str, Schedule] = {}
            for req in self.workload.requests:
                key_n = req.network.content_hash()
                if key_n not in per_network:
                    per_network[key_n] = self._reference_fn(req.network, self.hw,
                                                            self.evaluator)
            placement = Placement.sequential(
                self.workload, [per_network[r.network.content_hash()]
                                for r in self.workload.requests])
            cache[key] = simulate_placement(self.workload, placement, self.hw,
                                            self.evaluator).makespan_cycles
        return cache[key]

    # ---- internals ------------------------------------------------------------------
    def _refresh(self) -> None:
        """Recompute the estimated timeline, the active slots and the mask."""
        w = self.workload
        if self._groups:
            arrivals = [w.requests[g[0]].arrival_cycles for g in self._groups]
            groups = [PlacedGroup(r, s, e, c) for r, s, e, c in self._groups]
            self._line = replay(groups, self._deps, arrivals, self._durations, self.hw.num_cores,
                                host_flags(w, groups, self.hw))
            self._estimate = self._line.makespan_cycles
        self._active = [r for r in range(len(w))
                        if self._next[r] < len(w.requests[r].network)][:self.max_slots]
        mask = np.zeros(self.action_space.n, dtype=bool)
        for s, r in enumerate(self._active):
            k = self._open[r]
            start = None if k is None else self._groups[k][1]
            cores = None if k is None else self._groups[k][3]
            valid = self._feas[r].valid_actions(self._next[r], start, cores)
            a = s * self.actions_per_slot
            mask[a] = valid[0]
            for f, c in enumerate(self.fraction_counts):
                if c is not None:
                    mask[a + 1 + f] = valid[1 + self.reachable_counts.index(c)]
        self._mask = mask

    def _repair(self, action: int) -> int:
        slot, j = divmod(action, self.actions_per_slot)
        a = slot * self.actions_per_slot
        same = [a + x for x in range(self.actions_per_slot) if self._mask[a + x]]
        if same:
            return min(same, key=lambda b: (abs(b - action), b))
        return int(np.flatnonzero(self._mask)[0])

    def _observation(self) -> np.ndarray:
        L = self.layout
        obs = np.zeros(L.size, dtype=np.float32)
        line, N = self._line, self.hw.num_cores
        last_launch = line.start_cycles[-1] if line else 0
        ends = {r: self.open_group_end_cycles(r) for r in self._active}
        ready = {}
        for r in self._active:  # when a group STARTed at its next layer could launch
            i = self._next[r]
            producers = [self._owner[r][p] for p in self.workload.requests[r].network.layers[i].inputs
                         if p >= 0]
            t = max([last_launch, self.workload.requests[r].arrival_cycles]
                    + [line.end_cycles[k] for k in producers if k >= 0])
            ready[r] = t
        earliest = min(ready.values()) if ready else 0
        fewest = min((self._count[r] for r in self._active), default=0)
        for s, r in enumerate(self._active):
            t, i = self._tables[r], self._next[r]
            row = obs[L.slices[f"slot{s}"]]
            pos = 0
            row[pos] = 1.0
            pos += 1
            row[pos:pos + t.layers.shape[1]] = t.layers[i]
            pos += t.layers.shape[1]
            k = self._open[r]
            if k is not None:
                _, gs, ge, gc = self._groups[k]
                row[pos:pos + 5] = (1.0, (ge - gs) / self.max_group_layers,
                                    log_scaled(t.macs[ge] - t.macs[gs], 10.0), gc / N,
                                    log_scaled(self._durations[k]))
            pos += 5
            row[pos:pos + 7] = (i / t.n, min(1.0, math.log2(t.n) / 10.0),
                                log_scaled(t.ideal_suffix[i] / N),
                                log_scaled(ends[r] - last_launch),
                                log_scaled(ready[r] - last_launch),
                                1.0 if ready[r] == earliest else 0.0,
                                1.0 if self._count[r] == fewest else 0.0)
            pos += 7
            row[pos:pos + t.estimates.shape[1]] = t.estimates[i]
        m = obs[L.slices["machine"]]
        if line is not None:
            free_at = [0] * N
            for k, ids in enumerate(line.core_ids):
                for c in ids:
                    free_at[c] = max(free_at[c], line.end_cycles[k])
            wait = sorted(max(0, f - last_launch) for f in free_at)
            running = [k for k in range(len(self._groups))
                       if line.start_cycles[k] <= last_launch < line.end_cycles[k]]
            demand = sum(self._bytes[k] / max(1, self._durations[k]) for k in running)
            m[:] = (sum(1 for x in wait if x == 0) / N,
                    log_scaled(wait[max(0, N // 4 - 1)]), log_scaled(wait[max(0, N // 2 - 1)]),
                    log_scaled(wait[-1]),
                    min(1.0, demand / self.hw.dram_bandwidth_bytes_per_cycle / 2.0),
                    min(1.0, len(running) / N),
                    len(self._active) / len(self.workload),
                    log_scaled(self._estimate), log_scaled(last_launch),
                    1.0 / len(self.workload))
        else:
            m[0] = 1.0
            m[6] = len(self._active) / len(self.workload)
            m[9] = 1.0 / len(self.workload)
        obs[L.slices["hardware"]] = hardware_features(self.hw)
        obs[L.slices["mask"]] = self._mask
        return obs
