"""Fixed-size, normalised observation features for :class:`envs.fusion_env.FusionEnv`.

Every feature lies in [0, 1]. Sizes and counts span orders of magnitude across networks,
so they are log-scaled against fixed reference scales (not per-network maxima: the same
layer must look the same in every network, or a policy could not transfer).

Per layer (:data:`LAYER_FEATURE_NAMES`): presence, log MACs / ops, log channels in / out,
log spatial size in / out, log kernel area, log stride, log input / weight / output bytes,
the layer-kind one-hot, graph features (several inputs, reads a non-adjacent layer, output
used beyond the next layer, and the residual-edge distances: how far back its farthest input
is and how far ahead its farthest consumer is, so a policy can see where a skip edge opens and
where it joins) and the hardware-relative ratios that DLFusion found to predict
the best core count: the operation count in units of one core's peak (log ideal compute
cycles), the channel size in units of the 16-wide GEMM block (block utilisation in and out,
log channel blocks), and the compute / DRAM balance (arithmetic intensity against the
machine balance).

The observation holds a *window* of layer rows (``lookback`` layers before the current one,
the current one, ``lookahead`` after; zero rows past either end), each with one more column
saying whether that layer is in the open group, so a sequence model over the window
(:mod:`agents.policy_net`) sees the block structure around the decision. Hardware features
(:data:`HARDWARE_FEATURE_NAMES`, log-scaled) make the hardware an input, so one policy can be
trained over a distribution of accelerators and asked about a new one.
"""

from __future__ import annotations

import math

import numpy as np

from fusiongym.accelerator.bounds import objective_lower_bound
from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.results import group_overhead
from fusiongym.accelerator.workloads.network import Layer, LayerKind, Network
from fusiongym.envs.planner import SuffixPlanner

LAYER_KINDS: tuple[LayerKind, ...] = tuple(LayerKind)

LAYER_FEATURE_NAMES: tuple[str, ...] = (
    "present", "log_macs", "log_ops", "log_c_in", "log_c_out", "log_hw_in", "log_hw_out",
    "log_kernel_area", "log_stride", "log_input_bytes", "log_weight_bytes", "log_output_bytes",
    *(f"kind_{k.value}" for k in LAYER_KINDS),
    "multi_input", "reads_non_adjacent", "output_skips_ahead",
    "log_input_skip_distance", "log_output_skip_distance",
    "log_ideal_compute_cycles", "c_in_block_utilisation", "c_out_block_utilisation",
    "log_c_out_blocks", "compute_dram_balance",
)
GROUP_FEATURE_NAMES_FIXED: tuple[str, ...] = (
    "group_open", "group_length", "group_log_macs", "group_log_dram_bytes",
    "group_log_weight_bytes", "group_weights_fit_buffer", "fuse_vs_start_estimate",
)
GLOBAL_FEATURE_NAMES: tuple[str, ...] = ("position", "log_network_layers")
WINDOW_ROW_EXTRA: tuple[str, ...] = ("in_open_group",)
HARDWARE_FEATURE_NAMES: tuple[str, ...] = (
    "hw_log_macs_per_cycle_per_core", "hw_log_num_cores", "hw_log_dram_bytes_per_cycle",
    "hw_log_dram_latency_cycles", "hw_log_inp_buffer_bytes", "hw_log_wgt_buffer_bytes",
    "hw_log_acc_buffer_bytes", "hw_log_launch_overhead_cycles", "hw_log_sync_cycles_per_core",
    "hw_log_alu_ii", "hw_virtual_threads", "hw_machine_balance_one_core",
    "hw_machine_balance_all_cores",
)


def hardware_features(hw: HardwareConfig) -> np.ndarray:
    """The :data:`HARDWARE_FEATURE_NAMES` vector: every knob that moves a trade-off, log-scaled
    against fixed ranges (MLU-class and FPGA-class machines both land inside [0, 1])."""
    balance_one = hw.macs_per_cycle / hw.dram_bandwidth_bytes_per_cycle  # MACs per DRAM byte
    balance_all = balance_one * hw.num_cores
    values = [
        _log2_scaled(hw.macs_per_cycle, 14.0),
        _log2_scaled(hw.num_cores, 10.0),
        _log2_scaled(hw.dram_bandwidth_bytes_per_cycle, 12.0),
        _log2_scaled(hw.dram_latency_cycles, 12.0),
        _log2_scaled(hw.inp_buff_bytes, 26.0),
        _log2_scaled(hw.wgt_buff_bytes, 26.0),
        _log2_scaled(hw.acc_buff_bytes, 26.0),
        _log_scaled(hw.launch_overhead_cycles, 6.0),
        _log_scaled(hw.sync_cycles_per_core, 5.0),
        _log2_scaled(hw.alu_ii, 4.0),
        hw.virtual_threads / 2.0,
        # log2(MACs per DRAM byte) in [-8, 16] -> [0, 1]: where the roofline ridge sits
        min(1.0, max(0.0, (math.log2(balance_one) + 8.0) / 24.0)),
        min(1.0, max(0.0, (math.log2(balance_all) + 8.0) / 24.0)),
    ]
    return np.asarray(values, dtype=np.float32)


def ideal_compute_cycles(layer: Layer, hw: HardwareConfig) -> float:
    """One core at peak: block_in x block_out MACs per cycle on GEMMs, one vector per ALU_II."""
    if layer.is_gemm:
        return layer.macs / hw.macs_per_cycle
    return layer.ops / (hw.block_out * hw.batch) * hw.alu_ii


def core_count_estimates(layer: Layer, hw: HardwareConfig) -> list[float]:
    """A roofline estimate of ``layer`` alone on each allowed core count, in cycles.

    Analytic and cheap (no simulation): work divided over the cores that get any (output
    rows, or 16-wide output-channel blocks, whichever split keeps more cores busy), DRAM
    bytes with the weights re-read by every row-split core (the input by every
    channel-split core), plus the end-of-group barrier. It encodes the DLFusion finding
    that the best core count grows with the operation count and channel size.
    """
    work = ideal_compute_cycles(layer, hw)
    in_b, w_b = layer.input_bytes(hw.inp_bits), layer.weight_bytes(hw.wgt_bits)
    out_b = layer.output_bytes(hw.inp_bits)
    blocks = -(-layer.c_out // hw.block_out)
    estimates = []
    for c in hw.allowed_core_counts:
        rows, chans = min(c, layer.h_out), min(c, blocks)
        if rows >= chans:
            active, traffic = rows, in_b + w_b * rows + out_b
        else:
            active, traffic = chans, in_b * chans + w_b + out_b
        estimates.append(max(work / active, traffic / hw.dram_bandwidth_bytes_per_cycle)
                         + group_overhead(hw, c, active).barrier_cycles)
    return estimates


def _log_scaled(value: float, log10_max: float) -> float:
    """log10(1 + value) / log10_max, clipped to [0, 1]."""
    return min(1.0, max(0.0, math.log10(1.0 + max(0.0, value)) / log10_max))


def _log2_scaled(value: float, log2_max: float) -> float:
    return min(1.0, max(0.0, math.log2(max(1.0, value)) / log2_max))


def layer_features(network: Network, index: int, hw: HardwareConfig) -> np.ndarray:
    """The :data:`LAYER_FEATURE_NAMES` vector of one layer."""
    layer: Layer = network.layers[index]
    block = hw.block_out
    in_bytes = layer.input_bytes(hw.inp_bits)
    w_bytes = layer.weight_bytes(hw.wgt_bits)
    out_bytes = layer.output_bytes(hw.inp_bits)
    ideal_cycles = ideal_compute_cycles(layer, hw)
    dram_cycles = (in_bytes + w_bytes + out_bytes) / hw.dram_bandwidth_bytes_per_cycle
    # > 0.5: compute-bound even on one core; < 0.5: DRAM-bound (log10 ratio, +-5 decades)
    balance = 0.5 + 0.1 * math.log10(max(ideal_cycles, 1.0) / max(dram_cycles, 1.0))
    consumers = network.consumers[index]
    farthest_input = max((index - p for p in layer.inputs), default=1)
    farthest_consumer = max((c - index for c in consumers), default=1)
    values = [
        1.0,
        _log_scaled(layer.macs, 10.0),
        _log_scaled(layer.ops, 10.0),
        _log2_scaled(layer.c_in, 12.0),
        _log2_scaled(layer.c_out, 12.0),
        _log2_scaled(layer.h_in * layer.w_in, 16.0),
        _log2_scaled(layer.h_out * layer.w_out, 16.0),
        _log2_scaled(layer.kernel[0] * layer.kernel[1], 8.0),
        _log2_scaled(max(layer.stride), 3.0),
        _log_scaled(in_bytes, 8.0),
        _log_scaled(w_bytes, 9.0),
        _log_scaled(out_bytes, 8.0),
        *(1.0 if layer.kind == k else 0.0 for k in LAYER_KINDS),
        1.0 if len(layer.inputs) > 1 else 0.0,
        1.0 if any(p != index - 1 for p in layer.inputs) or (index > 0 and not layer.inputs)
        else 0.0,
        1.0 if consumers and max(consumers) > index + 1 else 0.0,
        _log2_scaled(farthest_input, 7.0),
        _log2_scaled(farthest_consumer, 7.0),
        _log_scaled(ideal_cycles, 9.0),
        layer.c_in / (-(-layer.c_in // block) * block),
        layer.c_out / (-(-layer.c_out // block) * block),
        _log2_scaled(-(-layer.c_out // block), 8.0),
        min(1.0, max(0.0, balance)),
    ]
    return np.asarray(values, dtype=np.float32)


class FeatureExtractor:
    """Builds observation vectors for one hardware config, layer window and group limit.

    Layout: ``lookback + 1 + lookahead`` window rows of :attr:`row_width` (the
    :data:`LAYER_FEATURE_NAMES` and :data:`WINDOW_ROW_EXTRA`; row ``lookback`` is the current
    layer; all zeros outside the network), then the open group
    (:data:`GROUP_FEATURE_NAMES_FIXED` and a one-hot of its core count), then
    :data:`GLOBAL_FEATURE_NAMES`, :data:`HARDWARE_FEATURE_NAMES`, the roofline core-count
    estimates of the current layer, and the action mask (1 = valid) so that an unmasked
    policy can see which actions will be repaired. The window comes first so that a
    sequence model can reshape ``obs[:window_size]`` to ``(window, row_width)``.
    """

    def __init__(self, hw: HardwareConfig, lookahead: int, max_group_layers: int,
                 lookback: int = 0, planner: GroupEvaluator | None = None,
                 objective: str = "latency"):
        if lookahead < 0 or lookback < 0:
            raise ValueError(f"lookahead and lookback must be >= 0, got {lookahead}, {lookback}")
        self.hw = hw
        self.lookahead = lookahead
        self.lookback = lookback
        self.window = lookback + 1 + lookahead
        self.row_width = len(LAYER_FEATURE_NAMES) + len(WINDOW_ROW_EXTRA)
        self.max_group_layers = max_group_layers
        self.core_counts = hw.allowed_core_counts
        self._hw_features = hardware_features(hw)
        # planner features: Q-values of every action under the DP over lower bounds
        self.planner = planner
        self._bound = objective_lower_bound(objective)
        self._planners: dict[str, SuffixPlanner] = {}
        actions = ("fuse", *(f"start_{c}" for c in self.core_counts))
        planner_names = (*(f"plan_regret_{a}" for a in actions),
                         *(f"plan_fine_regret_{a}" for a in actions),
                         *(f"plan_best_{a}" for a in actions)) if planner is not None else ()
        self.names: tuple[str, ...] = (
            *(f"layer{k - lookback:+d}.{n}" for k in range(self.window)
              for n in (*LAYER_FEATURE_NAMES, *WINDOW_ROW_EXTRA)),
            *GROUP_FEATURE_NAMES_FIXED,
            *(f"group_cores_{c}" for c in self.core_counts),
            *GLOBAL_FEATURE_NAMES,
            *HARDWARE_FEATURE_NAMES,
            *(f"estimate_cores_{c}" for c in self.core_counts), "launch_fraction",
            *planner_names,
            "mask_fuse", *(f"mask_start_{c}" for c in self.core_counts),
        )
        self.size = len(self.names)
        self._tables: dict[str, _NetworkTable] = {}

    @property
    def window_size(self) -> int:
        """Number of leading observation entries that form the layer window."""
        return self.window * self.row_width

    def table(self, network: Network) -> "_NetworkTable":
        key = network.content_hash()
        t = self._tables.get(key)
        if t is None:
            if len(self._tables) > 512:  # bounded: synthetic training sets can be large
                self._tables.clear()
            t = self._tables[key] = _NetworkTable(network, self.hw)
        return t

    def observation(self, network: Network, i: int, start: int | None, cores: int | None,
                    mask: np.ndarray) -> np.ndarray:
        """A fresh float32 vector for "layer ``i`` next, open group ``[start, i)`` on
        ``cores``" (``start=None``: no open group). ``i == len(network)`` is the terminal
        observation."""
        t = self.table(network)
        n = len(network)
        width, layer_width = self.row_width, len(LAYER_FEATURE_NAMES)
        obs = np.zeros(self.size, dtype=np.float32)
        lo, hi = max(0, i - self.lookback), min(n, i + self.lookahead + 1)
        if lo < hi:
            rows = obs[:self.window_size].reshape(self.window, width)
            first = lo - (i - self.lookback)
            rows[first:first + hi - lo, :layer_width] = t.layers[lo:hi]
            if start is not None:  # layers start..i-1 are in the open group
                for k in range(max(lo, start), min(hi, i)):
                    rows[k - (i - self.lookback), layer_width] = 1.0
        pos = self.window_size
        if start is not None and cores is not None and i > start:
            macs = t.macs[i] - t.macs[start]
            weight_bytes = t.weight_bytes[i] - t.weight_bytes[start]
            # DRAM traffic if the group closed now: its inputs and outputs (upper bound:
            # the first layer's input and the last layer's output, plus skip tensors)
            dram = t.input_bytes[start] + t.output_bytes[i - 1]
            fixed = len(GROUP_FEATURE_NAMES_FIXED)
            obs[pos:pos + fixed] = (
                1.0, (i - start) / self.max_group_layers, _log_scaled(macs, 10.0),
                _log_scaled(dram, 8.0), _log_scaled(weight_bytes, 9.0),
                1.0 if weight_bytes <= self.hw.wgt_buff_bytes else 0.0,
                t.fuse_vs_start(start, i, cores, self.hw) if i < n else 0.0)
            obs[pos + fixed + self.core_counts.index(cores)] = 1.0
        pos += len(GROUP_FEATURE_NAMES_FIXED) + len(self.core_counts)
        obs[pos] = min(1.0, i / n)
        obs[pos + 1] = _log2_scaled(n, 10.0)
        pos += 2
        obs[pos:pos + len(self._hw_features)] = self._hw_features
        pos += len(self._hw_features)
        k = len(self.core_counts)
        if i < n:  # how much slower each core count is than the best one, and launch weight
            obs[pos:pos + k + 1] = t.estimates[i]
        pos += k + 1
        if self.planner is not None:
            if i < n:
                obs[pos:pos + 3 * (k + 1)] = self.planner_features(network, i, start, cores, mask)
            pos += 3 * (k + 1)
        obs[pos:pos + len(mask)] = mask
        return obs

    def plan(self, network: Network) -> SuffixPlanner:
        """The suffix DP over every candidate group's lower bound (lowering only, memoized
        per network; the same bounds the oracle prunes with)."""
        key = network.content_hash()
        p = self._planners.get(key)
        if p is None:
            if len(self._planners) > 512:
                self._planners.clear()
            ev, bound = self.planner, self._bound
            p = self._planners[key] = SuffixPlanner.from_function(
                len(network), self.core_counts, self.max_group_layers,
                lambda s, e, c: bound(ev, network, s, e, c))
        return p

    def planner_features(self, network: Network, i: int, start: int | None, cores: int | None,
                         mask: np.ndarray) -> np.ndarray:
        """Per action (FUSE, START c...): how much worse its best completion is than the
        best action's under the lower bounds (log2 ratio x4, 1 at +19 %; and x64, 1 at
        +1.1 %, the scale at which near-ties are decided), and a one-hot of the best.
        Masked actions read as 1 (worst) and never best."""
        q = np.where(mask > 0, self.plan(network).q_values(i, start, cores), math.inf)
        best = float(np.min(q))
        out = np.zeros(3 * len(q), dtype=np.float32)
        if not math.isfinite(best) or best <= 0:
            return out
        with np.errstate(divide="ignore", invalid="ignore"):
            regret = np.where(np.isfinite(q), np.log2(q / best), np.inf)
        out[:len(q)] = np.minimum(1.0, regret * 4.0)
        out[len(q):2 * len(q)] = np.minimum(1.0, regret * 64.0)
        out[2 * len(q) + int(np.argmin(q))] = 1.0
        return out


class _NetworkTable:
    """Per-network precomputation: layer feature rows and prefix sums for group features."""

    def __init__(self, network: Network, hw: HardwareConfig):
        self.layers = np.stack([layer_features(network, i, hw) for i in range(len(network))])
        self.macs = np.concatenate([[0], np.cumsum([layer.macs for layer in network.layers])])
        self.weight_bytes = np.concatenate(
            [[0], np.cumsum([layer.weight_bytes(hw.wgt_bits) for layer in network.layers])])
        self.input_bytes = [layer.input_bytes(hw.inp_bits) for layer in network.layers]
        self.output_bytes = [layer.output_bytes(hw.inp_bits) for layer in network.layers]
        self.ideal_cycles = np.concatenate(
            [[0.0], np.cumsum([ideal_compute_cycles(layer, hw) for layer in network.layers])])
        self.raw_estimates = [core_count_estimates(layer, hw) for layer in network.layers]
        rows = []
        for layer, est in zip(network.layers, self.raw_estimates):
            best = max(1.0, min(est))
            overhead = group_overhead(hw, 1, 1, best)  # what a launch adds to this layer alone
            launch = overhead.launch_cycles + overhead.host_wait_cycles
            rows.append([min(1.0, math.log2(max(e, 1.0) / best) / 4.0) for e in est]
                        + [launch / (launch + best)])
        self.estimates = np.asarray(rows, dtype=np.float32)

    def fuse_vs_start(self, start: int, i: int, cores: int, hw: HardwareConfig) -> float:
        """Roofline guess at the FUSE / START trade-off for layer ``i`` and the open group
        ``[start, i)`` on ``cores``: what layer ``i`` adds to the group's roofline time (its
        work spread over the cores, its weights and output through DRAM, the intermediate
        staying on chip) against what it costs alone (a launch plus its best single-layer
        estimate). 0.5 = even; above: fusing looks cheaper (log2 ratio, +-5 octaves).
        Analytic only (no lowering, no simulation); the policy learns how far to trust it."""
        bandwidth = hw.dram_bandwidth_bytes_per_cycle

        def group_cycles(end: int) -> float:
            compute = (self.ideal_cycles[end] - self.ideal_cycles[start]) / cores
            traffic = (self.input_bytes[start] + self.output_bytes[end - 1]
                       + self.weight_bytes[end] - self.weight_bytes[start])
            return max(compute, traffic / bandwidth)

        added = group_cycles(i + 1) - group_cycles(i)
        alone = group_overhead(hw, 1).launch_cycles + min(self.raw_estimates[i])
        return min(1.0, max(0.0, 0.5 + 0.1 * math.log2(max(alone, 1.0) / max(added, 1.0))))
