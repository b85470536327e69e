"""What a group is (GroupSpec), what its lowering produced (LoweredGroup), and the
per-axis window arithmetic every other lowering module shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from fusiongym.accelerator.isa import Insn
from fusiongym.accelerator.workloads.network import CHANNEL_KINDS, Layer, LayerKind, Network


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


class RefusalKind(Enum):
    """Why a group has no plan: its tiles fit no buffer, or fusing its layers does not pay
    (more DRAM bytes and not clearly faster; a longer group with the same first layers
    inherits this refusal, see ``planner.plan_cached``)."""

    NO_TILE_FITS = "no tile fits"
    FUSION_DOES_NOT_PAY = "fusion does not pay"


@dataclass(frozen=True)
class Refusal:
    """A lowering outcome that is not a plan: what kind of refusal, and the one-line reason
    (which buffer and layer, or the bytes and cycles that made the fusion not pay)."""

    kind: RefusalKind
    reason: str

    def __str__(self) -> str:
        return self.reason


@dataclass
class LoweredGroup:
    """Per-core instruction streams plus what the plan decided (for reports and tests);
    for a refused group no streams and the :class:`Refusal` (``feasible`` is False)."""

    programs: list[list[Insn]]  # one per core (an idle core has an empty list)
    cores: int
    macs: int  # useful MACs of the group's layers (recompute and padding not included)
    split: str = ""
    vthreads: int = 0
    tile_rows: int = 0
    tile_cols: int = 0
    tiles: int = 0
    weights_resident: bool = False
    recompute_macs: int = 0  # extra MACs computed for halos
    refusal: Refusal | None = None
    meta: dict = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        return self.refusal is None

    @property
    def reason(self) -> str:
        return self.refusal.reason if self.refusal is not None else ""

    @property
    def macs_issued(self) -> int:
        """MACs the GEMM unit performs, padding lanes and halo recompute included."""
        return self.meta.get("gemm_macs_issued", self.macs)


class Infeasible(Exception):
    """Raised inside the planner when there is no plan; carries the :class:`Refusal` that
    the planner returns as a value."""

    def __init__(self, refusal: Refusal):
        super().__init__(refusal.reason)
        self.refusal = refusal


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
