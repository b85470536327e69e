"""One way to turn what a user typed into a :class:`Network`.

Every entry point (CLI commands, experiment configs, the env, the Ray oracle batch) goes
through :func:`load_network`, so they all accept the same spellings:

- a built-in network name (``resnet18``; case-insensitive: ``ResNet18`` too, since every
  zoo name is lower case there is no ambiguity);
- ``synthetic:SEED[:NLAYERS[:KIND]]`` (prefix and KIND case-insensitive);
- a path to an ONNX file, recognised by its suffix (``.onnx`` or ``.ONNX``).

Errors are one line (:class:`WorkloadError`, a ``UserInputError``): an unknown name lists
the valid ones; a missing ONNX file says it is missing.
"""

from __future__ import annotations

from pathlib import Path

from fusiongym.accelerator.workloads.network import Network

ONNX_SUFFIX = ".onnx"


def load_network(spec: str, *, onnx: bool = False) -> Network:
    """The network that ``spec`` names: zoo name, ``synthetic:...`` or an ``.onnx`` path.

    ``onnx=True`` reads ``spec`` as an ONNX file whatever its suffix (the CLI's ``--onnx
    FILE``, where the user already said what the file is).
    """
    text = str(spec).strip()
    if onnx or Path(text).suffix.lower() == ONNX_SUFFIX:
        from fusiongym.accelerator.workloads.onnx_import import load_onnx  # onnx is imported lazily

        return load_onnx(text)
    from fusiongym.accelerator.workloads.zoo import ZOO, SYNTHETIC_PREFIX, get_network

    lowered = text.lower()
    if lowered in ZOO or lowered.startswith(SYNTHETIC_PREFIX):
        return get_network(lowered)
    return get_network(text)  # raises the one-line "unknown network" error, in the user's spelling


def as_network(item: Network | str) -> Network:
    """``item`` itself when it already is a Network, else :func:`load_network` of it."""
    return item if isinstance(item, Network) else load_network(item)
