"""Ray, optional: the one place that imports it, starts or joins a cluster and shuts it down.

Ray is an extra (``pip install .[ray]``); nothing else in fusiongym needs it, so every
import of it goes through :func:`import_ray`, which turns its absence into a one-line
error. :func:`ray_session` either reuses a Ray the caller already started (and leaves it
running), joins a cluster (``address="auto"`` or ``HEAD:6379``; ``$RAY_ADDRESS`` when no
address is given), or starts a local one with ``num_workers`` CPUs. A session it opened
it also shuts down, on errors and Ctrl-C too.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Iterator

from fusiongym.accelerator.errors import UserInputError

INSTALL_HINT = "pip install '.[ray]'"


class RayUnavailableError(UserInputError):
    """Ray is not installed, or the cluster it should join cannot be reached."""


def import_ray(what: str = "this command", alternative: str = ""):
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        also = f", or {alternative}" if alternative else ""
        raise RayUnavailableError(f"{what} runs on Ray, which is not installed: "
                                  f"{INSTALL_HINT}{also}") from None
    return ray


def check_workers(num_workers: int | None) -> None:
    if num_workers is not None and num_workers < 1:
        raise UserInputError(f"--num-workers must be >= 1, got {num_workers}")


@contextmanager
def ray_session(address: str | None = None, num_workers: int | None = None,
                what: str = "this command", alternative: str = "") -> Iterator[object]:
    """Yield the ``ray`` module with a session up; shut down only what was started here."""
    check_workers(num_workers)
    ray = import_ray(what, alternative)
    if ray.is_initialized():  # the caller's session (a test, a notebook): leave it running
        yield ray
        return
    # Ray may report usage statistics over the network; nothing here goes out at run time.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = address or os.environ.get("RAY_ADDRESS") or None  # Ray's own convention
    if address:
        _check_reachable(address)
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            # "local": a new Ray of our own, even where a `ray start` cluster runs here
            ray.init(address="local", num_cpus=num_workers or os.cpu_count(),
                     include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        where = f"the Ray cluster at {address!r}" if address else "a local Ray"
        hint = " (start one with `ray start --head`)" if address else ""
        raise RayUnavailableError(f"cannot start or join {where}: {first}{hint}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a HOST:PORT nobody listens on (Ray itself retries for minutes)."""
    import socket

    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if address == "auto" or not sep or not port.isdigit():
        return  # 'auto' (Ray finds the local head itself) or a form Ray will judge
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as err:
        raise RayUnavailableError(f"no Ray cluster answers at {address}: "
                                  f"{err.strerror or err} (start one with `ray start --head`)"
                                  ) from None


def cluster_cpus(ray) -> int:
    """CPUs the session can use (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))
