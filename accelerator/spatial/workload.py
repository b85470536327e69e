"""Workloads: one network or several requests of networks, each arriving at a time.

A request is one inference of one network. Several requests of the same network
(``resnet50x4``) and tenants of different networks (``resnet50 bert_base``) make a
workload; a placement (:mod:`accelerator.spatial.placement`) says how all their groups
share the chip. Spellings, from the CLI and from a YAML file:

- ``NET`` — one request of a network as :func:`accelerator.workloads.loader.load_network`
  reads it (zoo name, ``synthetic:...``, an ``.onnx`` path);
- ``NETxK`` — K requests of it (``resnet50x4``), all arriving at cycle 0;
- a YAML file::

      name: mix                 # optional
      requests:
        - network: resnet50
          count: 2              # optional, default 1
          arrival_cycles: 0     # optional, default 0; with count, every copy arrives then
        - {network: bert_base, arrival_cycles: 100000}

Every error is one line (:class:`WorkloadError`) naming what is wrong.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from fusiongym.accelerator.fileio import read_yaml
from fusiongym.accelerator.workloads.loader import load_network
from fusiongym.accelerator.workloads.network import Network, WorkloadError

_COUNT = re.compile(r"^(?P<net>.+?)x(?P<count>\d+)$")
_MAX_REQUESTS = 256  # a typo like resnet50x10000 should fail fast, not build 10k networks


@dataclass(frozen=True)
class Request:
    """One inference: ``network`` arriving at ``arrival_cycles``; ``name`` is unique."""

    name: str
    network: Network
    arrival_cycles: int = 0


@dataclass(frozen=True)
class Workload:
    requests: tuple[Request, ...]
    name: str = ""

    def __post_init__(self) -> None:
        if not self.requests:
            raise WorkloadError("a workload needs at least one request")
        names = [r.name for r in self.requests]
        if len(set(names)) != len(names):
            raise WorkloadError(f"workload {self.name!r}: duplicate request names")
        for r in self.requests:
            if r.arrival_cycles < 0:
                raise WorkloadError(f"request {r.name!r}: arrival_cycles must be >= 0, "
                                    f"got {r.arrival_cycles}")

    def __len__(self) -> int:
        return len(self.requests)

    @property
    def networks(self) -> list[Network]:
        return [r.network for r in self.requests]

    def content_hash(self) -> str:
        """What the workload is (networks and arrivals), independent of its name."""
        h = hashlib.sha256()
        for r in self.requests:
            h.update(f"{r.network.content_hash()}@{r.arrival_cycles};".encode())
        return h.hexdigest()[:16]

    def to_dict(self) -> dict:
        return {"name": self.name,
                "requests": [{"name": r.name, "network": r.network.name,
                              "network_hash": r.network.content_hash(),
                              "arrival_cycles": r.arrival_cycles} for r in self.requests]}

    # ---- construction ------------------------------------------------------------------
    @staticmethod
    def single(network: Network) -> "Workload":
        return Workload((Request(network.name, network),), network.name)

    @staticmethod
    def from_entries(entries: list[tuple[str, int, int]], name: str = "") -> "Workload":
        """Requests from ``(network spec, count, arrival_cycles)`` entries; request names are
        the network's name, numbered (``resnet50#1``) where it occurs more than once."""
        loaded: list[tuple[Network, int]] = []
        cache: dict[str, Network] = {}
        total = 0
        for spec, count, arrival in entries:
            if count < 1:
                raise WorkloadError(f"{spec!r}: a request count must be >= 1, got {count}")
            total += count
            if total > _MAX_REQUESTS:
                raise WorkloadError(f"a workload may have at most {_MAX_REQUESTS} requests")
            if arrival < 0:
                raise WorkloadError(f"{spec!r}: arrival_cycles must be >= 0, got {arrival}")
            net = cache.get(spec)
            if net is None:
                net = cache[spec] = load_network(spec)
            loaded.extend([(net, arrival)] * count)
        occurrences: dict[str, int] = {}
        for net, _ in loaded:
            occurrences[net.name] = occurrences.get(net.name, 0) + 1
        seen: dict[str, int] = {}
        requests = []
        for net, arrival in loaded:
            k = seen.get(net.name, 0)
            seen[net.name] = k + 1
            label = net.name if occurrences[net.name] == 1 else f"{net.name}#{k}"
            requests.append(Request(label, net, int(arrival)))
        if not name:
            name = "+".join(_spelled(entries))
        return Workload(tuple(requests), name)

    @staticmethod
    def parse(specs: list[str] | tuple[str, ...]) -> "Workload":
        """``NET`` / ``NETxK`` spellings (the CLI's ``--networks``)."""
        return Workload.from_entries([parse_request(s) for s in specs])

    @staticmethod
    def load(path: str | Path) -> "Workload":
        """A workload YAML file (format in the module docstring)."""
        path = Path(path)
        data = read_yaml(path, WorkloadError, "workload")
        if not isinstance(data, dict) or not isinstance(data.get("requests"), list):
            raise WorkloadError(f"{path}: expected a mapping with a 'requests' list")
        unknown = set(data) - {"name", "requests"}
        if unknown:
            raise WorkloadError(f"{path}: unknown key(s) {sorted(unknown)} (expected name, requests)")
        entries = []
        for k, item in enumerate(data["requests"]):
            where = f"{path}: requests[{k}]"
            if isinstance(item, str):
                entries.append(parse_request(item))
                continue
            if not isinstance(item, dict) or "network" not in item:
                raise WorkloadError(f"{where}: expected a mapping with 'network'")
            extra = set(item) - {"network", "count", "arrival_cycles"}
            if extra:
                raise WorkloadError(f"{where}: unknown key(s) {sorted(extra)} "
                                    "(expected network, count, arrival_cycles)")
            try:
                count, arrival = int(item.get("count", 1)), int(item.get("arrival_cycles", 0))
            except (TypeError, ValueError):
                raise WorkloadError(f"{where}: count and arrival_cycles must be integers") from None
            if arrival < 0:
                raise WorkloadError(f"{where}: arrival_cycles must be >= 0, got {arrival}")
            entries.append((str(item["network"]), count, arrival))
        if not entries:
            raise WorkloadError(f"{path}: 'requests' is empty")
        return Workload.from_entries(entries, str(data.get("name") or path.stem))


def parse_request(spec: str) -> tuple[str, int, int]:
    """``NET`` -> (NET, 1, 0); ``NETxK`` -> (NET, K, 0). A name that is itself a network
    (an ONNX path ending in x2, say) is read whole."""
    text = str(spec).strip()
    m = _COUNT.match(text)
    if m is None or Path(text).exists():
        return text, 1, 0
    return m.group("net"), int(m.group("count")), 0


def _spelled(entries: list[tuple[str, int, int]]) -> list[str]:
    return [f"{Path(s).stem if s.lower().endswith('.onnx') else s}"
            + (f"x{c}" if c > 1 else "") for s, c, _ in entries]
