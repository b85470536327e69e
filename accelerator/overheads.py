"""Host launch and end-of-group barrier: the two fixed costs of running a fused group.

Each is a hardware knob with a cited magnitude (see ``presets/mlu100.yaml``) that a file
can set to 0, so no trade-off the model shows has to hinge on them.

**Barrier.** When a group's cores finish, they synchronise before the next group may start.
The model is a dissemination (butterfly) barrier over the *active* cores, the ones that got
work: in round ``r`` core ``i`` signals core ``(i + 2^r) mod n`` and waits for the signal of
core ``(i - 2^r) mod n``; each signal takes ``barrier_hop_cycles``. ``accelerator.sim``
runs it as SimPy events; every chain of signals from the last core to finish is at most
``ceil(log2(n))`` hops and one chain is exactly that long, so it always ends
``ceil(log2(n)) x barrier_hop_cycles`` after the last core finishes: :func:`barrier_cycles`
is that closed form (a test checks the two agree). The legacy host-polled barrier
(``sync_cycles_per_core`` x allocated cores, kept so the ``vta16`` preset reproduces) is
added after it.

**Launch.** Each group costs ``launch_overhead_cycles`` of host driver/runtime work plus
``launch_dispatch_cycles`` of doorbell and command fetch (the instruction stream itself is
fetched from DRAM by each core, inside the simulation). Without a command queue the two are
serial with the run. With one (``launch_overlap``) the host prepares the next group's launch
while this group runs, so a group costs ``dispatch + max(device, driver)``: its own run, or
the host's preparation of the next group if that is longer. Charging the wait to the group
whose run failed to cover it keeps a schedule's latency a *sum over groups*, so the DP
oracle stays exact for this cost model. Against a two-stage (host, device) pipeline it omits
the first group's unhidden driver time (a per-schedule constant, which moves no argmin) and
is pessimistic where the host could run ahead across a long group.
"""

from __future__ import annotations

import math

from accelerator.config import HardwareConfig


def barrier_rounds(active_cores: int) -> int:
    """Rounds of a dissemination barrier over ``active_cores`` cores (0 for one core)."""
    return math.ceil(math.log2(active_cores)) if active_cores > 1 else 0


def barrier_cycles(active_cores: int, cores: int, hw: HardwareConfig) -> int:
    """End-of-group barrier: the tree over the active cores, then the legacy host poll over
    the ``cores`` allocated to the group."""
    legacy = hw.sync_cycles_per_core * cores if cores > 1 else 0
    return barrier_rounds(active_cores) * hw.barrier_hop_cycles + legacy


def launch_cycles(device_cycles: float, hw: HardwareConfig) -> tuple[float, float]:
    """(before, after): host launch cycles a group adds before its cores start and after its
    device time (run + barrier) ends. ``device_cycles`` may be a lower bound of the device
    time: both parts and their sum with it are monotone in it."""
    if hw.launch_overlap:
        return hw.launch_dispatch_cycles, max(0, hw.launch_overhead_cycles - device_cycles)
    return hw.launch_dispatch_cycles + hw.launch_overhead_cycles, 0


def group_wall_cycles(device_cycles: float, hw: HardwareConfig) -> float:
    """A group's contribution to a schedule's latency: launch + device time (the cores' run
    plus the barrier). The one formula the evaluator, the bounds and the features use."""
    before, after = launch_cycles(device_cycles, hw)
    return before + device_cycles + after
