"""Small networks (16x16 maps: a few ms per group simulation), a cheap-launch hardware and
one shared evaluator per hardware, used by the oracle, scheduler and env tests."""

from __future__ import annotations

from fusiongym.accelerator.evaluator import GroupEvaluator
from fusiongym.accelerator.config import load_config
from fusiongym.accelerator.workloads.network import NetworkBuilder

HW = load_config()
# Cheap launches and barriers: fusing everything is no longer the obvious answer, so the
# cross-check exercises real trade-offs between boundaries and core counts.
CHEAP_LAUNCH_HW = HW.with_(name="cheap-launch", launch_overhead_cycles=300,
                           sync_cycles_per_core=40)


# ---- small networks (16x16 maps: a few ms per group simulation) -----------------------
def small_chain():
    b = NetworkBuilder("small_chain", (16, 16, 16))
    x = b.conv(None, 32, 3, 1, name="c1")
    x = b.conv(x, 32, 3, 2, name="c2")
    x = b.pool(x, 2, 2, name="pool")
    b.conv(x, 64, 1, 1, name="c3")
    return b.build()


def small_branchy():
    """A concat of two branches and a residual add over it."""
    b = NetworkBuilder("small_branchy", (16, 16, 16))
    x = b.conv(None, 32, 3, 1, name="stem")
    a = b.conv(x, 16, 1, 1, name="b1")
    c = b.conv(x, 32, 3, 1, name="b3")
    x = b.concat(a, c, name="cat")
    y = b.conv(x, 48, 3, 1, name="c")
    b.add(y, x, name="add")
    return b.build()


def small_mobile():
    """An inverted-residual block, a global pool and a classifier."""
    b = NetworkBuilder("small_mobile", (32, 16, 16))
    x = b.conv(None, 32, 1, 1, name="expand")
    y = b.conv(x, 32, 3, 1, groups=32, name="dw")
    y = b.conv(y, 32, 1, 1, activation="none", name="project")
    x = b.add(y, x, name="add")
    x = b.global_pool(x, name="gap")
    b.dense(x, 10, name="fc")
    return b.build()


SMALL_NETWORKS = {"small_chain": small_chain, "small_branchy": small_branchy,
                  "small_mobile": small_mobile}

_EVALUATORS: dict[str, GroupEvaluator] = {}


def evaluator_for(hw):
    """One memo per hardware for the whole test session (tests share simulations)."""
    if hw.key not in _EVALUATORS:
        _EVALUATORS[hw.key] = GroupEvaluator(hw)
    return _EVALUATORS[hw.key]
