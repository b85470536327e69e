"""What a group is (GroupSpec), what its lowering produced (LoweredGroup), and the
per-axis window arithmetic every other lowering module shares."""

from __future__ import annotations

from dataclasses import dataclass, field

from accelerator.isa import Insn
from accelerator.workloads.network import CHANNEL_KINDS, Layer, LayerKind, Network


@dataclass(frozen=True)
class GroupSpec:
    """A fused group, reduced to what decides its execution (the memo-cache key).

    ``sources[i]`` lists layer i's inputs: ``j >= 0`` is the group's j-th layer,
    ``-(k + 1)`` the k-th tensor coming from outside the group (DRAM).
    ``stores[i]`` says whether layer i's output is needed outside the group.
    """

    layers: tuple[Layer, ...]
    sources: tuple[tuple[int, ...], ...]
    stores: tuple[bool, ...]

    @staticmethod
    def from_network(network: Network, start: int, end: int) -> "GroupSpec":
        external: dict[int, int] = {}
        sources = []
        for i in range(start, end):
            srcs = []
            for p in network.layers[i].inputs or (-1,):  # -1: the network input
                if p >= start:
                    srcs.append(p - start)
                else:
                    srcs.append(-(external.setdefault(p, len(external)) + 1))
            sources.append(tuple(srcs))
        stores = tuple(not network.consumers[i] or max(network.consumers[i]) >= end
                       for i in range(start, end))
        return GroupSpec(tuple(network.layers[start:end]), tuple(sources), stores)

    def layer_alone(self, i: int) -> "GroupSpec":
        """Layer i as a group of its own: every input from DRAM, its output stored."""
        n_inputs = len(self.sources[i])
        return GroupSpec((self.layers[i],), (tuple(-(k + 1) for k in range(n_inputs)),), (True,))

    @property
    def key(self) -> tuple:
        return tuple((layer.shape_key(), s, st)
                     for layer, s, st in zip(self.layers, self.sources, self.stores))

    @property
    def n_external(self) -> int:
        return -min((s for srcs in self.sources for s in srcs), default=0)


@dataclass
class LoweredGroup:
    """Per-core instruction streams plus what the plan decided (for reports and tests)."""

    programs: list[list[Insn]]  # one per core (an idle core has an empty list)
    cores: int
    split: str
    vthreads: int
    tile_rows: int
    tile_cols: int
    tiles: int
    weights_resident: bool
    macs: int  # useful MACs of the group's layers (recompute and padding not included)
    recompute_macs: int  # extra MACs computed for halos
    feasible: bool = True
    reason: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def macs_issued(self) -> int:
        """MACs the GEMM unit performs, padding lanes and halo recompute included."""
        return self.meta.get("gemm_macs_issued", self.macs)


class Infeasible(Exception):
    """No plan fits the buffers; the message says which buffer and layer."""


def pad(c: int, block: int) -> int:
    return -(-c // block) * block


def need(layer: Layer, lo: int, hi: int, axis: int) -> tuple[int, int]:
    """Input range [lo, hi) along ``axis`` (0 rows, 1 cols) needed for outputs [lo, hi)."""
    size_in = layer.h_in if axis == 0 else layer.w_in
    kind = layer.kind
    if kind in (LayerKind.ADD, LayerKind.CONCAT) or kind in CHANNEL_KINDS:
        return lo, hi  # (a channel op's broadcast vector: GroupGeometry.feeds_broadcast)
    if kind == LayerKind.RESIZE_NEAREST:
        s = layer.stride[axis]
        return lo // s, min(size_in, (hi - 1) // s + 1)
    if kind == LayerKind.RESIZE_BILINEAR:
        # output x samples the input at (x + 1/2) / s - 1/2 (half-pixel) or x (in - 1) /
        # (out - 1) (align_corners): both lie in (x/s - 1, x/s], so the source rows of
        # [lo, hi) and their lower / upper neighbours are within this window
        s = layer.stride[axis]
        return max(0, lo // s - 1), min(size_in, (hi - 1) // s + 2)
    k, s, pad_ = layer.kernel[axis], layer.stride[axis], layer.padding[axis]
    if kind == LayerKind.CONV_TRANSPOSE2D:
        a = -((-(lo + pad_ - k + 1)) // s)
        b = (hi - 1 + pad_) // s + 1
    else:
        a = lo * s - pad_
        b = (hi - 1) * s - pad_ + k
    return max(0, a), min(size_in, b)


def out_size(layer: Layer, axis: int) -> int:
    return layer.h_out if axis == 0 else layer.w_out
