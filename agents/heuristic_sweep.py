"""The DLFusion-style study: the best core count of synthesized layers, as a lookup table.

DLFusion found on synthesized layers that a layer's operation count and its feature-map
channel size decide its best core count. This sweep repeats that study on the simulator:
it builds single layers over a grid of channel counts, map sizes and kernels, simulates
each alone on every allowed core count, and for every cell of an (operation count x
channel size) grid, per layer category, picks the core count with the smallest geometric
mean slow-down against each layer's own best. Empty cells copy the nearest filled cell of
the same category (by operation count, then channel size).

    python -m fusiongym.agents.heuristic_sweep --out agents/heuristic_tables/PRESET.json [--hw PRESET]

writes the table the :class:`agents.heuristic.HeuristicScheduler` loads, with every
sample's latencies (for plots) and how much the table loses against the per-layer best.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import math
import sys
import time
from typing import Iterator

from fusiongym.accelerator.config import HardwareConfig, load_config
from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.fileio import atomic_write_json
from fusiongym.accelerator.workloads.network import Layer, LayerKind, Network, NetworkBuilder

# ops bins: factor-4 steps; channel bins: "<= 16", "<= 32", ... , "> 1024" (output channels)
OPS_EDGES = tuple(4**k for k in range(8, 19))  # 65 K .. 69 G operations
CHANNEL_EDGES = (16, 32, 64, 128, 256, 512, 1024)
CATEGORIES = ("conv", "depthwise", "dense", "alu")

_CHANNELS = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 2048)
_SIZES = (7, 14, 28, 56, 112)
_MAX_CHANNELS_X_SIZE = 2**15  # keeps the grid to shapes real networks have


def category(layer: Layer) -> str:
    if layer.kind in (LayerKind.CONV2D, LayerKind.CONV_TRANSPOSE2D):
        return "conv"
    if layer.kind == LayerKind.DEPTHWISE_CONV2D:
        return "depthwise"
    if layer.kind == LayerKind.DENSE:
        return "dense"
    return "alu"


def ops_bin(ops: int) -> int:
    return bisect.bisect_right(OPS_EDGES, ops)


def channel_bin(channels: int) -> int:
    return bisect.bisect_left(CHANNEL_EDGES, channels)


def synthesized_layers() -> Iterator[tuple[Network, int]]:
    """(network, index of the layer under study) over the sweep grid."""
    for c in _CHANNELS:
        for h in _SIZES:
            if c * h > _MAX_CHANNELS_X_SIZE:
                continue
            for k in (1, 3):
                for c_in in sorted({c, max(16, c // 2)}):
                    b = NetworkBuilder(f"conv{k}_{c_in}to{c}_{h}", (c_in, h, h))
                    b.conv(None, c, k, 1)
                    yield b.build(), 0
            b = NetworkBuilder(f"dw_{c}_{h}", (c, h, h))
            b.conv(None, c, 3, 1, groups=c)
            yield b.build(), 0
            b = NetworkBuilder(f"maxpool_{c}_{h}", (c, h, h))
            b.pool(None, 3, 1, 1)
            yield b.build(), 0
            b = NetworkBuilder(f"add_{c}_{h}", (c, h, h))
            x = b.conv(None, c, 1, 1)
            y = b.conv(None, c, 1, 1)
            b.add(x, y)
            yield b.build(), 2
    for c_in, h in ((512, 7), (256, 6), (4096, 1), (2048, 1), (1024, 1), (1280, 1), (512, 1)):
        for c_out in (10, 100, 1000, 4096):
            b = NetworkBuilder(f"fc_{c_in}x{h}to{c_out}", (c_in, h, h))
            b.dense(None, c_out)
            yield b.build(), 0


def sweep(hw: HardwareConfig, progress: bool | None = None) -> dict:
    """Simulate every synthesized layer on every core count; return the JSON document."""
    ev = GroupEvaluator(hw)
    cores = list(hw.allowed_core_counts)
    layers = list(synthesized_layers())
    samples = []
    bar = None
    if progress or (progress is None and sys.stderr.isatty()):
        from tqdm import tqdm
        bar = tqdm(total=len(layers), desc="sweep", unit="layer", file=sys.stderr, leave=False)
    t0 = time.perf_counter()
    for net, idx in layers:
        layer = net.layers[idx]
        lat = {}
        for c in cores:
            r = ev.result(net, idx, idx + 1, c)
            if r.feasible:
                lat[c] = r.latency_cycles
        if bar is not None:
            bar.update(1)
        if not lat:
            continue
        samples.append({"name": net.name, "category": category(layer), "ops": layer.ops,
                        "c_out": layer.c_out, "latency_cycles": {str(c): v for c, v in lat.items()}})
    if bar is not None:
        bar.close()
    tables, regret = {}, {}
    for cat in CATEGORIES:
        tables[cat], regret[cat] = _table([s for s in samples if s["category"] == cat], cores)
    return {
        "generated_by": "python -m fusiongym.agents.heuristic_sweep",
        "hardware": hw.name,
        "hardware_key_sha256": hardware_digest(hw),
        "core_counts": cores,
        "ops_edges": list(OPS_EDGES),
        "channel_edges": list(CHANNEL_EDGES),
        "feature": {"ops": "Layer.ops", "channels": "Layer.c_out"},
        "tables": tables,
        "mean_slowdown_vs_per_layer_best": regret,
        "sim_calls": ev.sim_calls,
        "wall_seconds": round(time.perf_counter() - t0, 2),
        "samples": samples,
    }


def _table(samples: list[dict], cores: list[int]) -> tuple[list[list[int]], float]:
    """Per (ops bin, channel bin): the core count of least geometric-mean slow-down."""
    n_ops, n_ch = len(OPS_EDGES) + 1, len(CHANNEL_EDGES) + 1
    cells: dict[tuple[int, int], list[dict]] = {}
    for s in samples:
        cells.setdefault((ops_bin(s["ops"]), channel_bin(s["c_out"])), []).append(s)

    def log_slowdown(s: dict, c: int) -> float:
        lat = s["latency_cycles"]
        best = min(lat.values())
        return math.log(lat[str(c)] / best) if str(c) in lat else math.inf

    chosen: dict[tuple[int, int], int] = {}
    for cell, members in cells.items():
        chosen[cell] = min(cores, key=lambda c: (sum(log_slowdown(s, c) for s in members), c))
    table = []
    for o in range(n_ops):
        row = []
        for ch in range(n_ch):
            if (o, ch) in chosen:
                row.append(chosen[(o, ch)])
            elif chosen:
                near = min(chosen, key=lambda k: (abs(k[1] - ch) > 0, abs(k[0] - o), abs(k[1] - ch)))
                row.append(chosen[near])
            else:
                row.append(cores[0])
        table.append(row)
    losses = [log_slowdown(s, table[ops_bin(s["ops"])][channel_bin(s["c_out"])]) for s in samples]
    finite = [x for x in losses if math.isfinite(x)]
    regret = math.exp(sum(finite) / len(finite)) if finite else 1.0
    return table, round(regret, 4)


def hardware_digest(hw: HardwareConfig) -> str:
    """What a table records of the hardware it was swept on (its every value, not its name)."""
    return hashlib.sha256(hw.key.encode()).hexdigest()[:16]


def swept_on(doc: dict, hw: HardwareConfig) -> bool:
    """True if the thresholds document ``doc`` was swept on hardware with ``hw``'s values."""
    return doc.get("hardware_key_sha256") == hardware_digest(hw)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fusiongym.agents.heuristic_sweep",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="agents/heuristic_tables/mlu100.json",
                        help="where to write the table (atomically)")
    parser.add_argument("--hw", default=None, help="hardware preset or file (default mlu100)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    hw = load_config(args.hw)
    doc = sweep(hw, progress=False if args.no_progress else None)
    atomic_write_json(args.out, doc)
    print(f"{len(doc['samples'])} layers, {doc['sim_calls']} simulations, "
          f"{doc['wall_seconds']} s -> {args.out}")
    for cat, slow in doc["mean_slowdown_vs_per_layer_best"].items():
        print(f"  {cat:9s} table is {slow:.3f}x slower than each layer's best (geometric mean)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
