"""The planner: enumerate real plans for (group, cores, hardware), keep those whose tiles
fit the buffers, and pick the one with the lowest modelled time (see cost.py).

Options (each is a plan the emitter executes, not a discount in a formula):

- **split**: bands of the last layer's rows per core, or slices of its output channels
  per core (a fused group then computes its upstream layers whole on every core: the
  recompute and the duplicated reads are in the emitted instructions);
- **tile height**: the tallest tile that fits, and shorter ones that give each virtual
  thread several tiles so loads, computes and stores overlap;
- **halo**: recompute the rows shared by consecutive row tiles, or keep them on chip
  (line buffer: costs input-buffer space, saves the re-reads and the recompute);
- **loop order** of a single layer whose weights stream: tile loop outermost (weights
  re-read per tile) or weight-chunk loop outermost (input re-read per chunk).

Invariant: a fused group's plan never moves more modelled DRAM bytes than its layers
planned apart unless its modelled latency is clearly lower (``FASTER_MARGIN_*``); otherwise
the fastest plan within the apart bytes is taken, and if no fused plan is, the fusion is
refused (infeasible, with the numbers in the reason).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from fusiongym.accelerator.config import HardwareConfig
from fusiongym.accelerator.lowering.cost import PlanCost, estimate
from fusiongym.accelerator.lowering.fit import cout_chunks, fits
from fusiongym.accelerator.lowering.spec import GroupSpec, Infeasible, Refusal, RefusalKind, pad
from fusiongym.accelerator.lowering.tiling import GroupGeometry, Plan, Tile
from fusiongym.accelerator.results import group_overhead
from fusiongym.accelerator.workloads.network import LayerKind

# row tiles per core the planner also tries beside the tallest tile that fits
TILES_PER_CORE = (2, 4)
# A fused plan that moves more DRAM bytes than its layers apart must be modelled this much
# faster than them, by core count: the simulator over the estimate on the validation
# windows (benchmarks/fusion_bytes.py, vta16) is p50 1.003 / p95 1.065 on one core,
# p50 1.007 / p95 1.12 on four (all cores stream at the same moments; the model shares
# the bus evenly). 0.8 on several cores refused more fusions and cost the oracle ~1%.
FASTER_MARGIN_ONE_CORE = 0.95
FASTER_MARGIN_MULTICORE = 0.9


def _margin(cores: int) -> float:
    return FASTER_MARGIN_ONE_CORE if cores == 1 else FASTER_MARGIN_MULTICORE


def _bands(total: int, parts: int, granule: int = 1) -> list[tuple[int, int]]:
    units = -(-total // granule)
    per = -(-units // parts)
    return [(min(total, c * per * granule), min(total, (c + 1) * per * granule))
            for c in range(parts)]


def _splits(g: GroupGeometry) -> list[str]:
    """Channel splits need 2+ cores, 2+ channel blocks, and (fused) no stored upstream
    layer: every core computes the upstream layers whole, only one could store them; nor
    a matmul whose second operand is produced in the group: every core would compute that
    operand whole into its weight buffer, while the weight check counts only its slice."""
    if g.cores == 1 or pad(g.last.c_out, g.bo) <= g.bo:
        return ["rows"]
    if g.n > 1 and (any(g.spec.stores[:-1]) or g.onchip_weight):
        return ["rows"]
    return ["rows", "channels"]


def _template(g: GroupGeometry, split: str, im2col: bool = False) -> Plan:
    H, last = g.last.h_out, g.last
    if split == "rows":
        core_rows, core_couts = _bands(H, g.cores), [(0, last.c_out)] * g.cores
    else:
        core_rows, core_couts = [(0, H)] * g.cores, _bands(last.c_out, g.cores, g.bo)
    plan = Plan(split=split, vthreads=1, tile_rows=1, tile_cols=1, cout_chunk=[],
                cin_chunk=max(layer.c_in for layer in g.spec.layers), resident=False,
                core_rows=core_rows, core_couts=core_couts, im2col=im2col)
    weights = sum(g.weight_sram_bytes(layer, g.cout(plan, i), layer.c_in, im2col)
                  for i, layer in enumerate(g.spec.layers) if layer.is_gemm)
    plan.resident = weights <= g.hw.wgt_buff_bytes
    return plan


def _try(g: GroupGeometry, plan: Plan, t: int, wt: int) -> str | None:
    """Check every distinct tile position of the core with the tallest band; sets chunks."""
    W = g.last.w_out
    cout_core = g.cout(plan, g.n - 1)
    a, b = max(plan.core_rows, key=lambda r: r[1] - r[0])
    # interior tile positions cover the largest halos; border tiles are clipped smaller
    r_mid = min(max(a, (a + b) // 2 - t // 2), max(a, b - t))
    c_mid = min(max(0, W // 2 - wt // 2), max(0, W - wt))
    # what cout_chunks() and fits() read of the plan (the core count only through the
    # last layer's channels on a core): the binary searches of the different core counts,
    # heights and variants probe many of the same tiles
    fields = (plan.split, plan.vthreads, plan.cin_chunk, plan.resident, plan.line_buffer,
              plan.weight_outer, plan.im2col, cout_core)
    memo = g.fit_memo
    for r0, r1 in {(a, min(b, a + t)), (r_mid, min(b, r_mid + t))}:
        for c0, c1 in {(0, min(W, wt)), (c_mid, min(W, c_mid + wt))}:
            tile = Tile(r0, r1, c0, c1)
            above = Tile(r0 - t, r0, c0, c1) if plan.line_buffer and r0 > a else None
            key = (fields, tile, above)
            got = memo.get(key)
            if got is None:
                plan.cout_chunk = cout_chunks(g, plan, g.ranges(tile))
                got = memo[key] = (tuple(plan.cout_chunk), fits(g, plan, tile, cout_core, above))
            else:
                plan.cout_chunk = list(got[0])
            if got[1]:
                return got[1]
    return None


def _sized(g: GroupGeometry, plan: Plan, t: int) -> Plan | None:
    """``plan`` with tile height ``t`` if it fits (chunks set), else None."""
    trial = replace(plan, tile_rows=t, cout_chunk=[])
    return trial if _try(g, trial, t, trial.tile_cols) is None else None


def _tallest(g: GroupGeometry, plan: Plan) -> Plan | str:
    """The first (threads, input-channel chunk, tile width) with a tile that fits, at the
    tallest tile height that fits (binary search); else why not."""
    hw, W = g.hw, g.last.w_out
    band = max(b - a for a, b in plan.core_rows)
    reason = "no tile fits"
    for vt in sorted({hw.virtual_threads, 1}, reverse=True):
        cin_options = [plan.cin_chunk]
        if g.n == 1 and g.spec.layers[0].is_gemm:
            c = pad(plan.cin_chunk, g.bi)
            while c > g.bi:
                c = pad(c // 2, g.bi)
                cin_options.append(c)
        for cin_chunk in cin_options:
            wt = W
            while True:
                trial = replace(plan, vthreads=vt, cin_chunk=cin_chunk, tile_cols=wt)
                lo, hi, best = 1, max(1, band), 0
                while lo <= hi:
                    t = (lo + hi) // 2
                    if _try(g, trial, t, wt) is None:
                        best, lo = t, t + 1
                    else:
                        hi = t - 1
                if best:
                    return _sized(g, trial, best) or trial
                reason = _try(g, trial, 1, wt) or reason
                if wt == 1:
                    break
                wt = -(-wt // 2)
    return reason


def _windowed(g: GroupGeometry) -> bool:
    return any(layer.kernel[0] > 1 or layer.stride[0] > 1 for layer in g.spec.layers[1:]
               if layer.kind not in (LayerKind.DENSE, LayerKind.GLOBAL_AVG_POOL))


def _heights(g: GroupGeometry, tallest: Plan) -> list[Plan]:
    """The tallest tile and shorter ones (2, 4, 8 row tiles per core) where they fit."""
    band = max(b - a for a, b in tallest.core_rows)
    heights = sorted({-(-band // k) for k in TILES_PER_CORE} - {tallest.tile_rows})
    return [tallest] + [p for t in heights if t < tallest.tile_rows and (p := _sized(g, tallest, t))]


def _split_plans(g: GroupGeometry, template: Plan) -> list[Plan] | str:
    """Every plan of one split: tile heights, each also with a line buffer (a fused group
    with windowed layers, whole-row tiles, no stored upstream layer: at the same heights,
    which it always fits since it shares the overlap between threads; not with a matmul
    whose second operand is produced in the group: that producer computes its whole map
    for every tile, which is no halo to keep), and the
    weight-stationary order (a single layer with streamed weights: its own tile search,
    its threads split the input buffer)."""
    tallest = _tallest(g, template)
    if isinstance(tallest, str):
        return tallest
    plans = _heights(g, tallest)
    if (g.n > 1 and _windowed(g) and not any(g.spec.stores[:-1]) and not g.onchip_weight
            and not g.onchip_broadcast  # (an in-group SE vector: the same, whole map per tile)
            and tallest.tile_cols == g.last.w_out):
        plans += [p for q in list(plans) if (p := _sized(g, replace(q, line_buffer=True),
                                                         q.tile_rows))]
    layer = g.spec.layers[0]
    if g.n == 1 and layer.is_gemm and not template.resident:
        stationary = _tallest(g, replace(template, weight_outer=True))
        if not isinstance(stationary, str) and stationary.cin_chunk >= layer.c_in:
            plans += _heights(g, stationary)
    return plans


def _candidates(g: GroupGeometry) -> list[Plan]:
    plans, reason = [], "no tile fits"
    packing = (False, True) if g.packs_taps(g.spec.layers[0]) else (False,)
    for split in _splits(g):
        for im2col in packing:
            found = _split_plans(g, _template(g, split, im2col))
            if isinstance(found, str):
                reason = found if not im2col else reason
            else:
                plans += found
    if not plans:
        raise Infeasible(Refusal(RefusalKind.NO_TILE_FITS, reason))
    for p in plans:
        p.cost = estimate(g, p)
    return plans + _fewer_cores(g, plans)


def _padded(plan: Plan, cores: int) -> Plan:
    """``plan`` (made for fewer cores) on ``cores`` cores: the extra cores get no rows and no
    channels, so their streams are empty; its cost is the same (idle cores neither compute
    nor take a share of the bus)."""
    idle = cores - len(plan.core_rows)
    return replace(plan, core_rows=plan.core_rows + [(0, 0)] * idle,
                   core_couts=plan.core_couts + [(0, 0)] * idle)


def _fewer_cores(g: GroupGeometry, plans: list[Plan]) -> list[Plan]:
    """When even the fastest of this core count's own plans leaves cores idle (the rows or
    the channel blocks ran out: a 2-block channel split on 16 cores), it is a plan on fewer
    cores already; so the plans the planner chose for the smaller core counts it could run
    on (at least its active cores) compete with it, on a subset of the cores. A core count's
    plan is then never modelled slower than one of those. (When every core gets work no
    subset is offered: that more cores can be slower — duplicated weights, contention — is
    the machine's, not the planner's.)"""
    best = min(plans, key=lambda p: (p.cost.cycles, p.cost.dram_bytes))
    used = active_cores(best)
    if used >= g.cores:
        return []
    extra = []
    for k in g.hw.allowed_core_counts:
        if used <= k < g.cores:
            planned = plan_cached(g.spec, k, g.hw)
            if isinstance(planned, Planned):
                extra.append(_padded(planned.plan, g.cores))
    return extra


def active_cores(plan: Plan) -> int:
    """Cores of the plan that get work (an idle core's stream is empty)."""
    return sum(1 for (a, b), (k0, k1) in zip(plan.core_rows, plan.core_couts)
               if b > a and k1 > k0)


def with_overheads(hw: HardwareConfig, cores: int, plan: Plan) -> float:
    """The plan's modelled latency as the evaluator will count it: the very overhead formula
    (``results.group_overhead``) on the modelled run and the plan's active cores, so an
    overlapped launch (``launch_overlap``) hides the driver time behind a long run and
    not behind a short one."""
    run = plan.cost.cycles
    return run + group_overhead(hw, cores, active_cores(plan), run).total_cycles


def _apart(spec: GroupSpec, cores: int, hw: HardwareConfig) -> tuple[float, int] | None:
    """Modelled (latency, bytes) of the group's layers run as groups of their own (launch
    and barrier included; None if one of them cannot run alone)."""
    cycles, data_bytes = 0.0, 0
    for i in range(len(spec.layers)):
        planned = plan_cached(spec.layer_alone(i), cores, hw)
        if isinstance(planned, Refusal):
            return None
        cycles += with_overheads(hw, cores, planned.plan)
        data_bytes += planned.plan.cost.dram_bytes
    return cycles, data_bytes


def choose(g: GroupGeometry) -> Plan:
    """The fastest modelled plan. A fused group keeps it only if it moves no more DRAM bytes
    than its layers apart or is clearly faster than them (launch and barrier included, by
    the FASTER_MARGIN_* of its core count); otherwise the fastest plan within the apart bytes; if there is none,
    fusing these layers does not pay (more bytes, no clear gain in time) and the planner
    refuses the fusion, as a fusing compiler would: the group is infeasible, with why."""
    plans = _candidates(g)
    best = min(plans, key=lambda p: (p.cost.cycles, p.cost.dram_bytes))
    apart = _apart(g.spec, g.cores, g.hw) if g.n > 1 else None
    if apart is None:
        return best
    apart_cycles, apart_bytes = apart
    fused_cycles = with_overheads(g.hw, g.cores, best)
    if best.cost.dram_bytes <= apart_bytes or fused_cycles < _margin(g.cores) * apart_cycles:
        return best
    frugal = [p for p in plans if p.cost.dram_bytes <= apart_bytes]
    if frugal:
        return min(frugal, key=lambda p: (p.cost.cycles, p.cost.dram_bytes))
    least = min(p.cost.dram_bytes for p in plans)
    raise Infeasible(Refusal(RefusalKind.FUSION_DOES_NOT_PAY, (
        f"{RefusalKind.FUSION_DOES_NOT_PAY.value}: fused, these {g.n} layers on {g.cores} "
        f"cores move at least {least} B of DRAM (apart {apart_bytes} B) and are not modelled "
        f"{round(100 * (1 - _margin(g.cores)))}% faster ({round(best.cost.cycles)} cycles + "
        f"overheads vs {round(apart_cycles)} apart)")))


def zero_copy(g: GroupGeometry) -> bool:
    """A Concat alone, every input from DRAM: its producers stored straight into their
    channel slices of the concatenated tensor (the same bytes at other addresses), so there
    is nothing left to do: no instructions, no DRAM traffic, no launch."""
    return g.n == 1 and g.last.kind == LayerKind.CONCAT


def _nothing(g: GroupGeometry) -> Plan:
    """The plan of a zero-copy group: every core idle (empty streams), modelled at 0."""
    plan = Plan(split="rows", vthreads=1, tile_rows=1, tile_cols=1, cout_chunk=[0],
                cin_chunk=g.last.c_in, resident=True, core_rows=[(0, 0)] * g.cores,
                core_couts=[(0, 0)] * g.cores)
    plan.cost = PlanCost(0.0, 0)
    return plan


def _prefix(spec: GroupSpec) -> GroupSpec:
    """The group without its last layer (what GroupSpec.from_network gives for end - 1)."""
    n = len(spec.layers) - 1
    read_by_last = set(spec.sources[-1])
    stores = tuple(st or i in read_by_last for i, st in enumerate(spec.stores[:n]))
    return GroupSpec(spec.layers[:n], spec.sources[:n], stores)


@dataclass(frozen=True)
class Planned:
    """The planner's outcome when there is a plan: the group's geometry and its plan."""

    geometry: GroupGeometry
    plan: Plan


@lru_cache(maxsize=16384)
def plan_cached(spec: GroupSpec, cores: int, hw: HardwareConfig) -> Planned | Refusal:
    """The tiling plan (small), or the refusal that says why there is none. Feasibility
    needs only this.

    A refusal to fuse is inherited by every longer group with the same first layers:
    schedules (and the env's masks) grow a group one layer at a time through feasible
    prefixes."""
    if len(spec.layers) > 2:
        prefix = plan_cached(_prefix(spec), cores, hw)
        if isinstance(prefix, Refusal) and prefix.kind is RefusalKind.FUSION_DOES_NOT_PAY:
            return Refusal(RefusalKind.FUSION_DOES_NOT_PAY, (
                f"{RefusalKind.FUSION_DOES_NOT_PAY.value}: its first {len(spec.layers) - 1} "
                f"layers are refused (a group grows one layer at a time)"))
    g = GroupGeometry(spec, cores, hw)
    if zero_copy(g):
        return Planned(g, _nothing(g))
    try:
        return Planned(g, choose(g))
    except Infeasible as err:
        return err.refusal
