"""The DRAM every core shares: two arbitration models, per-core ports and multicast reads.

- :class:`FairShareDram` (default, fast): the bandwidth is shared by the transfers in
  flight, max-min fair under the bus and every core's port (progressive filling). With no
  port cap that is an equal share, the fluid limit of round-robin burst interleaving. A few
  events per *transfer* (arrival, completion, re-planning when the set of transfers
  changes).
- :class:`BurstDram` (reference): one bus arbitrated burst by burst, first come first
  served; a core's port holds each of its bursts for ``burst / port`` cycles, so its own
  next burst waits for the port while other cores use the bus. A few events per *burst*.

Multicast (``dram_multicast``, see :func:`read`): a LOAD whose ``share_key`` another core
is already reading joins that transfer. A core that joins while it is still in its access
latency receives all of it; one that joins mid-transfer receives the rest by multicast and
reads the prefix it missed itself, in parallel (both counted as DRAM bytes); in the fair
share model the joined transfer also counts against the joining core's port. A key asked
for after its transfer ended is read again: the data went only to the cores that asked in
time, whose buffers were the ones ready for it.
"""

from __future__ import annotations

import math

import simpy

from fusiongym.accelerator.config import HardwareConfig

_DONE = 1e-6  # bytes: a transfer with less left than this has finished


def bus_cycles(nbytes: float, bytes_per_cycle: float) -> int:
    """Whole cycles to move ``nbytes`` at ``bytes_per_cycle`` (at least one)."""
    return max(1, math.ceil(nbytes / bytes_per_cycle - 1e-9))


class _Shared:
    """One multicast read in progress: who may still join it, and how much they missed."""

    __slots__ = ("nbytes", "done", "flow", "moved_bursts")

    def __init__(self, nbytes: int, done: simpy.Event):
        self.nbytes = nbytes
        self.done = done
        self.flow: _Flow | None = None  # fair share: set once the access latency is over
        self.moved_bursts = 0  # burst model: bytes of bursts already started

    def missed(self) -> int:
        """Bytes a core joining now has missed (call after bringing the DRAM up to date)."""
        if self.flow is not None:
            return max(0, math.ceil(self.nbytes - max(0.0, self.flow.left) - 1e-9))
        return self.moved_bursts


def _access(dram, nbytes: int, write: bool):
    """What every DRAM transfer starts with: count its bytes, then wait the access latency."""
    if write:
        dram.written += nbytes
    else:
        dram.read += nbytes
    if dram.latency:
        yield dram.env.timeout(dram.latency)


def read(dram, core: int, nbytes: int, key) -> simpy.events.ProcessGenerator:
    """Process body: a read that multicast lets several cores share (see module docstring)."""
    shared = dram.shared.get(key)
    if shared is None:
        shared = dram.shared[key] = _Shared(nbytes, dram.env.event())
        yield from dram.transfer(core, nbytes, False, shared)
        del dram.shared[key]
        shared.done.succeed()
        return
    dram.join(shared, core)
    missed = shared.missed()
    if missed:
        prefix = dram.env.process(dram.transfer(core, missed, False))
        yield shared.done & prefix
    else:
        yield shared.done


class BurstDram:
    """DRAM as one bus arbitrated burst by burst, first come first served (the reference)."""

    __slots__ = ("env", "bus", "ports", "latency", "burst", "cycles_per_burst", "bw",
                 "port_bw", "read", "written", "trace", "shared")

    def __init__(self, env: simpy.Environment, hw: HardwareConfig, cores: int, trace: bool):
        self.env = env
        self.bus = simpy.Resource(env, capacity=1)
        self.latency = hw.dram_latency_cycles
        self.burst = hw.dram_burst_bytes
        self.bw = hw.dram_bandwidth_bytes_per_cycle
        self.port_bw = hw.dram_port_bytes_per_cycle
        self.ports = ([simpy.Resource(env, capacity=1) for _ in range(cores)]
                      if self.port_bw else None)
        self.cycles_per_burst = bus_cycles(self.burst, self.bw)
        self.read = 0
        self.written = 0
        self.trace: list[tuple] | None = [] if trace else None
        self.shared: dict = {}

    def join(self, shared: _Shared, core: int) -> None:
        """A core joins a multicast read (the burst bus needs no re-planning)."""

    def transfer(self, core: int, nbytes: int, write: bool, shared: _Shared | None = None):
        """Process body: move ``nbytes`` over the shared bus, burst by burst."""
        yield from _access(self, nbytes, write)
        env = self.env
        remaining = nbytes
        burst, bus = self.burst, self.bus
        port = self.ports[core] if self.ports is not None else None
        while remaining > 0:
            moved = min(burst, remaining)
            cycles = self.cycles_per_burst if moved == burst else bus_cycles(moved, self.bw)
            if shared is not None:
                shared.moved_bursts += moved  # a core joining from now on missed it
            if port is not None:
                port_req = port.request()
                yield port_req
            req = bus.request()
            yield req
            start = env.now
            yield env.timeout(cycles)
            bus.release(req)
            if self.trace is not None:  # the bus's time; the port may drain on after it
                self.trace.append((core, start, env.now, moved))
            if port is not None:
                port_free = start + bus_cycles(moved, self.port_bw)
                if port_free > env.now:  # the port is slower than the bus: it drains on
                    yield env.timeout(port_free - env.now)
                port.release(port_req)
            remaining -= moved


class _Flow:
    """A transfer in flight: bytes left, its rate, the cores whose ports it uses."""

    __slots__ = ("left", "done", "cores", "start", "nbytes", "rate")

    def __init__(self, nbytes: int, done: simpy.Event, core: int, start: float):
        self.left = float(nbytes)
        self.done = done
        self.cores = [core]
        self.start = start
        self.nbytes = nbytes
        self.rate = 0.0


class FairShareDram:
    """DRAM whose bandwidth is shared max-min fairly by the transfers in flight.

    Completion times are rounded up to whole cycles, so the bus never moves more than
    ``bandwidth`` bytes per cycle and no port more than its cap.
    """

    __slots__ = ("env", "latency", "bw", "port_bw", "read", "written", "trace", "active",
                 "last", "version", "shared", "equal")

    def __init__(self, env: simpy.Environment, hw: HardwareConfig, cores: int, trace: bool):
        self.env = env
        self.latency = hw.dram_latency_cycles
        self.bw = hw.dram_bandwidth_bytes_per_cycle
        self.port_bw = hw.dram_port_bytes_per_cycle
        self.read = 0
        self.written = 0
        self.trace: list[tuple] | None = [] if trace else None
        self.active: list[_Flow] = []
        self.last = 0  # time the bytes-left figures were last brought up to date
        self.version = 0  # invalidates wake-ups planned before the set of transfers changed
        self.shared: dict = {}
        self.equal = True  # every flow has the same rate (no port binds)

    def transfer(self, core: int, nbytes: int, write: bool, shared: _Shared | None = None):
        """Process body: move ``nbytes``, sharing the bandwidth with concurrent transfers."""
        yield from _access(self, nbytes, write)
        env = self.env
        if nbytes <= 0:
            return
        flow = _Flow(nbytes, env.event(), core, env.now)
        if shared is not None:
            shared.flow = flow
        self._advance()
        self.active.append(flow)
        self._plan()
        yield flow.done

    def join(self, shared: _Shared, core: int) -> None:
        """A core joins a multicast read: bring it up to date, add the core's port to it."""
        self._advance()
        flow = shared.flow
        if flow is not None and core not in flow.cores:
            flow.cores.append(core)
            self._plan()

    def _advance(self) -> None:
        now = self.env.now
        active = self.active
        if active and now > self.last:
            if self.equal:  # bw * dt / n, bit for bit what the equal-share model always did
                share = self.bw * (now - self.last) / len(active)
                for flow in active:
                    flow.left -= share
            else:
                dt = now - self.last
                for flow in active:
                    flow.left -= flow.rate * dt
        self.last = now

    def _share(self) -> None:
        """Set every flow's rate: equal shares when no port binds, else progressive filling
        (raise every unfrozen flow's rate together until the bus or a port is full, freeze
        the flows that use a full port, repeat)."""
        active, bw, port = self.active, self.bw, self.port_bw
        equal = bw / len(active)
        load: dict[int, int] = {}
        if port:
            for flow in active:
                for c in flow.cores:
                    load[c] = load.get(c, 0) + 1
        self.equal = not port or max(load.values()) * equal <= port
        if self.equal:
            return  # _advance and _plan use bw / n directly
        for flow in active:
            flow.rate = 0.0
        used = {c: 0.0 for c in load}
        room, unfrozen = bw, active
        while unfrozen and room > 1e-12:
            count: dict[int, int] = {}
            for flow in unfrozen:
                for c in flow.cores:
                    count[c] = count.get(c, 0) + 1
            step = min([room / len(unfrozen)] + [(port - used[c]) / k for c, k in count.items()])
            for flow in unfrozen:
                flow.rate += step
            room -= step * len(unfrozen)
            for c, k in count.items():
                used[c] += step * k
            full = {c for c in count if port - used[c] <= 1e-12}
            unfrozen = [f for f in unfrozen if not any(c in full for c in f.cores)]

    def _plan(self) -> None:
        active = self.active
        if not active:
            return
        self._share()
        self.version += 1
        version = self.version
        if self.equal:
            cycles = min(f.left for f in active) * len(active) / self.bw
        else:
            cycles = min(f.left / f.rate for f in active)
        delay = max(1, math.ceil(cycles - 1e-9))
        wake = self.env.timeout(delay)
        wake.callbacks.append(lambda _event: self._wake(version))

    def _wake(self, version: int) -> None:
        if version != self.version:
            return  # a transfer arrived or left since this wake-up was planned
        self._advance()
        finished = [f for f in self.active if f.left <= _DONE]
        if finished:
            self.active = [f for f in self.active if f.left > _DONE]
            now = self.env.now
            for flow in finished:
                flow.done.succeed()
                if self.trace is not None:
                    self.trace.append((flow.cores[0], flow.start, now, flow.nbytes))
        self._plan()


def make_dram(env: simpy.Environment, hw: HardwareConfig, cores: int, trace: bool):
    """The DRAM model ``hw.dram_arbitration`` names."""
    model = FairShareDram if hw.dram_arbitration == "fair_share" else BurstDram
    return model(env, hw, cores, trace)
